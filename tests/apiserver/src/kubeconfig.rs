//! The kubeconfig handed to clients: one cluster at the server URL (with the CA's data
//! for an HTTPS URL), one user with a bearer token (the admin token, or a
//! ServiceAccount's), and a current context named `test` in the given namespace.

use base64::Engine;

/// The kubeconfig text for a server URL, a token, the context's namespace and, for an
/// HTTPS URL, the CA certificate (PEM) to trust.
pub fn render(url: &str, token: &str, namespace: &str, ca_pem: Option<&str>) -> String {
    let ca = ca_pem
        .map(|pem| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n{ca}\
         users:\n- name: test\n  user:\n    token: {token}\n\
         contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: {namespace}\n\
         current-context: test\npreferences: {{}}\n"
    )
}
