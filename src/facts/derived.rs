//! Values both readers (typed and slim) derive alike from what they read, so the two
//! cannot disagree: which environment variables hold a secret in plain text, how a
//! legacy AppArmor annotation reads as a profile type, and whether SELinux options are set.
//!
//! In: strings as written in a pod spec. Out: booleans and normalised values.

use std::collections::BTreeMap;

/// Prefix of the legacy per-container AppArmor annotation (the container's name follows).
pub const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Name fragments (compared without regard to case) that mark an environment variable as
/// holding a credential.
const SENSITIVE_FRAGMENTS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "bearer",
    "apikey",
    "api_key",
    "private_key",
];

/// Whether an environment variable's name says it holds a credential: it contains one of
/// `password`, `passwd`, `secret`, `token`, `bearer`, `apikey`, `api_key`, `private_key`,
/// is `OCI_CLI_KEY_CONTENT`, or is `AZURE_...KEY` (all without regard to case).
pub fn is_sensitive_env_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE_FRAGMENTS.iter().any(|f| lower.contains(f))
        || lower == "oci_cli_key_content"
        || (lower.starts_with("azure_")
            && lower.ends_with("key")
            && lower.len() > "azure_key".len())
}

/// Whether a literal value holds a PEM private key (`-----BEGIN ... PRIVATE KEY-----`).
fn holds_private_key(value: &str) -> bool {
    let upper = value.to_ascii_uppercase();
    upper
        .find("-BEGIN")
        .is_some_and(|at| upper[at..].contains("PRIVATE KEY-"))
}

/// Whether an `env` entry with this name and literal value keeps a secret in plain text.
/// An empty value holds nothing.
fn plain_secret(name: &str, value: Option<&str>) -> bool {
    match value {
        Some(v) if !v.is_empty() => is_sensitive_env_name(name) || holds_private_key(v),
        _ => false,
    }
}

/// The names of the `(name, literal value)` entries of an `env` list that keep a secret in
/// plain text.
pub(super) fn plain_secrets<'a>(
    env: impl Iterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<String> {
    env.filter(|(name, value)| plain_secret(name, *value))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The legacy AppArmor annotation of `container`, read as a profile type:
/// `runtime/default` is `RuntimeDefault`, `localhost/<profile>` is `Localhost`,
/// `unconfined` is `Unconfined`; anything else is kept as written.
pub(super) fn apparmor_annotation(
    annotations: Option<&BTreeMap<String, String>>,
    container: &str,
) -> Option<String> {
    let value = annotations?
        .iter()
        .find(|(k, _)| {
            k.strip_prefix(APPARMOR_ANNOTATION_PREFIX)
                .is_some_and(|name| name == container)
        })
        .map(|(_, v)| v.trim())?;
    Some(match value {
        "runtime/default" => "RuntimeDefault".to_owned(),
        "unconfined" => "Unconfined".to_owned(),
        v if v.starts_with("localhost/") => "Localhost".to_owned(),
        v => v.to_owned(),
    })
}

/// Whether `seLinuxOptions` sets anything.
pub(super) fn se_linux_set<'a>(fields: impl IntoIterator<Item = Option<&'a str>>) -> bool {
    fields.into_iter().flatten().any(|f| !f.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_are_sensitive_and_others_are_not() {
        for name in [
            "DB_PASSWORD",
            "password",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "Bearer",
            "STRIPE_APIKEY",
            "MY_API_KEY",
            "AZURE_STORAGE_KEY",
            "OCI_CLI_KEY_CONTENT",
            "TLS_PRIVATE_KEY",
            "MYSQL_ROOT_PASSWD",
        ] {
            assert!(is_sensitive_env_name(name), "{name}");
        }
        for name in [
            "LOG_LEVEL",
            "AZURE_KEY",
            "AZURE_REGION",
            "PORT",
            "KEYCLOAK_URL",
        ] {
            assert!(!is_sensitive_env_name(name), "{name}");
        }
    }

    #[test]
    fn a_literal_value_is_a_plain_secret_only_when_present() {
        assert!(plain_secret("DB_PASSWORD", Some("hunter2")));
        assert!(!plain_secret("DB_PASSWORD", Some("")));
        assert!(!plain_secret("DB_PASSWORD", None));
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----";
        assert!(plain_secret("CERT", Some(pem)));
        assert!(plain_secret("CERT", Some("-----begin private key-----")));
        assert!(!plain_secret("CERT", Some("-----BEGIN CERTIFICATE-----")));
    }

    #[test]
    fn legacy_apparmor_annotations_read_as_profile_types() {
        let annotations = BTreeMap::from([
            (
                format!("{APPARMOR_ANNOTATION_PREFIX}app"),
                "runtime/default".to_owned(),
            ),
            (
                format!("{APPARMOR_ANNOTATION_PREFIX}side"),
                "localhost/k8s-nginx".to_owned(),
            ),
            (
                format!("{APPARMOR_ANNOTATION_PREFIX}dbg"),
                "unconfined".to_owned(),
            ),
        ]);
        let read = |c| apparmor_annotation(Some(&annotations), c);
        assert_eq!(read("app").as_deref(), Some("RuntimeDefault"));
        assert_eq!(read("side").as_deref(), Some("Localhost"));
        assert_eq!(read("dbg").as_deref(), Some("Unconfined"));
        assert_eq!(read("other"), None);
        assert_eq!(apparmor_annotation(None, "app"), None);
    }
}
