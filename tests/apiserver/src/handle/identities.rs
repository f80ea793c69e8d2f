//! Identities for tests: the admin token, ServiceAccount tokens and kubeconfigs or clients
//! that act as a ServiceAccount, the token clock, and the record of refused (403)
//! requests. In: a namespace and ServiceAccount name; out: a token, a kubeconfig file in
//! the handle's temporary directory, or a kube client.

use std::path::PathBuf;
use std::time::Duration;

use super::{ApiServerHandle, client_from};
use crate::app::lock;
use crate::rbac::ForbiddenRequest;
use crate::{Error, Result, authn, kubeconfig};

/// Lifetime of the tokens written into ServiceAccount kubeconfigs.
const KUBECONFIG_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl ApiServerHandle {
    /// The HTTPS URL of the same listener, e.g. `https://127.0.0.1:40123` (the server
    /// certificate is valid for `127.0.0.1` and `localhost`, signed by
    /// [`ApiServerHandle::ca_certificate_pem`]).
    pub fn secure_url(&self) -> String {
        self.url.replacen("http://", "https://", 1)
    }

    /// The cluster CA certificate (PEM) that signs the serving certificate.
    pub fn ca_certificate_pem(&self) -> &str {
        &self.app.ca_pem
    }

    /// The admin bearer token the server's kubeconfig carries (`kubernetes-admin`, in
    /// `system:masters`, allowed everything).
    pub fn admin_token(&self) -> String {
        lock(&self.app.tokens).admin().to_string()
    }

    /// Issues a token for an existing ServiceAccount, as a `TokenRequest` would, valid for
    /// `lifetime` on the token clock. It identifies `system:serviceaccount:<ns>:<name>`
    /// until it expires or the ServiceAccount is deleted.
    pub fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
        lifetime: Duration,
    ) -> Result<String> {
        let state = self.app.store.lock();
        let uid = authn::service_account_uid(&state, namespace, name)
            .ok_or_else(|| crate::ApiError::not_found("", "serviceaccounts", name))?;
        let seconds = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        Ok(lock(&self.app.tokens)
            .issue(namespace, name, &uid, seconds)
            .0)
    }

    /// Writes a kubeconfig (HTTPS with the cluster CA, context `test`, namespace
    /// `namespace`) that acts as the
    /// ServiceAccount `namespace/name` with a fresh 24-hour token, and answers its path.
    /// The file lives as long as the handle.
    pub fn kubeconfig_for_service_account(&self, namespace: &str, name: &str) -> Result<PathBuf> {
        let token = self.service_account_token(namespace, name, KUBECONFIG_TOKEN_LIFETIME)?;
        let path = self.identities_dir.path().join(format!(
            "{namespace}.{name}.{}.yaml",
            crate::meta::random_suffix()
        ));
        std::fs::write(
            &path,
            kubeconfig::render(
                &self.secure_url(),
                &token,
                namespace,
                Some(&self.app.ca_pem),
            ),
        )
        .map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// A kube client that acts as the ServiceAccount `namespace/name` (default namespace
    /// `namespace`).
    pub async fn client_for_service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<kube::Client> {
        client_from(&self.kubeconfig_for_service_account(namespace, name)?).await
    }

    /// Moves the token clock forward, so tokens whose lifetime has passed answer 401.
    pub fn advance_token_clock(&self, by: Duration) {
        lock(&self.app.tokens).advance(by);
    }

    /// Every request refused with 403 so far, oldest first (any identity).
    pub fn forbidden_requests(&self) -> Vec<ForbiddenRequest> {
        lock(&self.app.forbidden).clone()
    }

    /// Forgets the refused requests recorded so far.
    pub fn clear_forbidden_requests(&self) {
        lock(&self.app.forbidden).clear();
    }
}
