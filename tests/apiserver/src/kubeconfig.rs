//! The kubeconfig handed to clients: one cluster at the server URL, one user with a
//! token (the server accepts any), and a current context named `test` in `default`.

/// The kubeconfig text for a server URL.
pub fn render(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n\
         users:\n- name: test\n  user:\n    token: test-token\n\
         contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: default\n\
         current-context: test\npreferences: {{}}\n"
    )
}
