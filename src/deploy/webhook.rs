//! The ValidatingWebhookConfiguration that sends workload writes to the admission webhook.
//!
//! In: a [`WebhookConfig`] (where the webhook is, what to leave out, the CA if known). Out:
//! the configuration object, and the excluded globs a label selector cannot express (the
//! webhook itself leaves those namespaces alone).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    RuleWithOperations, ServiceReference, ValidatingWebhook, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};

use crate::policy::NamespaceExclusions;
use crate::policy::namespaces::BadGlob;

/// Name of the webhook inside the configuration.
pub const WEBHOOK_NAME: &str = "validate.devops.stochastic.io";

/// The kinds judged, as webhook rules: (group, resources). `pods/ephemeralcontainers` is
/// what `kubectl debug` writes: admission judges the containers it adds.
const RULES: [(&str, &[&str]); 3] = [
    (
        "",
        &["pods", "pods/ephemeralcontainers", "replicationcontrollers"],
    ),
    (
        "apps",
        &["deployments", "statefulsets", "daemonsets", "replicasets"],
    ),
    ("batch", &["jobs", "cronjobs"]),
];

/// Where the API server calls the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookTarget {
    /// A Service in the controller's namespace, on `port`, path `/validate`.
    Service {
        /// Service name.
        name: String,
        /// Service port.
        port: i32,
    },
    /// A URL (a webhook outside the cluster, e.g. during development).
    Url(String),
}

/// What the configuration is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Name of the configuration object.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The controller's namespace: holds the Service, and is never judged.
    pub namespace: String,
    /// Where the webhook is.
    pub target: WebhookTarget,
    /// `failurePolicy: Fail` instead of `Ignore`.
    pub fail_closed: bool,
    /// Namespaces to leave alone, as globs (empty: the defaults).
    pub exclude_namespaces: Vec<String>,
    /// PEM of the CA that signed the serving certificate, when known.
    pub ca_bundle: Option<Vec<u8>>,
}

/// A configuration and the globs its namespace selector could not express.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfiguration {
    /// The object.
    pub config: ValidatingWebhookConfiguration,
    /// Excluded patterns that are globs, left to the webhook itself.
    pub globs: Vec<String>,
}

/// Whether a pattern is a plain name a label selector can match exactly.
pub fn is_plain_name(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// The ValidatingWebhookConfiguration for `cfg`.
pub fn webhook_configuration(cfg: &WebhookConfig) -> Result<WebhookConfiguration, BadGlob> {
    let excl = NamespaceExclusions::from_flags(Some(&cfg.namespace), &cfg.exclude_namespaces)?;
    let (names, globs): (Vec<String>, Vec<String>) = excl
        .names_and_globs()
        .into_iter()
        .partition(|p| is_plain_name(p));
    let ca_bundle = cfg.ca_bundle.clone().map(ByteString);
    let client_config = match &cfg.target {
        WebhookTarget::Url(url) => WebhookClientConfig {
            url: Some(url.clone()),
            ca_bundle,
            service: None,
        },
        WebhookTarget::Service { name, port } => WebhookClientConfig {
            service: Some(ServiceReference {
                name: name.clone(),
                namespace: cfg.namespace.clone(),
                path: Some("/validate".to_owned()),
                port: Some(*port),
            }),
            ca_bundle,
            url: None,
        },
    };
    let rules = RULES
        .iter()
        .map(|(group, resources)| RuleWithOperations {
            api_groups: Some(vec![(*group).to_owned()]),
            api_versions: Some(vec!["v1".to_owned()]),
            operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
            resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
            scope: Some("Namespaced".to_owned()),
        })
        .collect();
    let webhook = ValidatingWebhook {
        name: WEBHOOK_NAME.to_owned(),
        admission_review_versions: vec!["v1".to_owned()],
        client_config,
        failure_policy: Some(if cfg.fail_closed { "Fail" } else { "Ignore" }.to_owned()),
        match_policy: Some("Equivalent".to_owned()),
        namespace_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "kubernetes.io/metadata.name".to_owned(),
                operator: "NotIn".to_owned(),
                values: Some(names),
            }]),
            match_labels: None,
        }),
        rules: Some(rules),
        side_effects: "None".to_owned(),
        timeout_seconds: Some(3),
        ..ValidatingWebhook::default()
    };
    let config = ValidatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(cfg.name.clone()),
            labels: Some(cfg.labels.clone()),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![webhook]),
    };
    Ok(WebhookConfiguration { config, globs })
}
