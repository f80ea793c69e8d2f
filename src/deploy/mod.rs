//! The in-cluster installation as Kubernetes objects: RBAC, the Deployment and its
//! Services, the PodDisruptionBudget and the admission webhook configuration.
//!
//! In: [`InstallSettings`] (the same knobs as the Helm chart's values, at their defaults
//! unless changed) and [`crate::rbac::PERMISSIONS`]. Out: objects as JSON values in a fixed
//! order, and multi-document YAML. `kube-devops deploy generate-*` prints these, and the
//! Helm chart's default render is held equal to them.

mod rbac;
mod webhook;
mod workload;

pub use rbac::{Names, RuleSet, rules, rules_yaml};
pub use webhook::{
    WEBHOOK_NAME, WebhookConfig, WebhookConfiguration, WebhookTarget, webhook_configuration,
};

use std::collections::BTreeMap;

use serde_json::Value;

/// Settings of one installation; `Default` is the Helm chart's default values with the
/// release name and namespace `kube-devops`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSettings {
    /// Release name: the prefix of every object's name.
    pub name: String,
    /// Namespace of the controller.
    pub namespace: String,
    /// Container image, `repository:tag`.
    pub image: String,
    /// Replicas of the controller (one leads, the others stand by).
    pub replicas: u32,
    /// Namespaces to leave alone, as globs (`--exclude-namespace`).
    pub exclude_namespaces: Vec<String>,
    /// Whether enforcement's write verbs on workloads are granted.
    pub enforcement: bool,
    /// Whether the controller keeps its own webhook certificates (`run
    /// --manage-certificates`): the chart's default, when neither cert-manager nor a
    /// `caBundle` is given.
    pub manage_certificates: bool,
}

/// The image registry and repository the release images are published to.
pub const IMAGE_REPOSITORY: &str = "ghcr.io/stochastic-io/kube-devops";

impl Default for InstallSettings {
    fn default() -> Self {
        InstallSettings {
            name: "kube-devops".to_owned(),
            namespace: "kube-devops".to_owned(),
            image: format!("{IMAGE_REPOSITORY}:{}", crate::VERSION),
            replicas: 2,
            exclude_namespaces: crate::policy::namespaces::DEFAULT_EXCLUDE_GLOBS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            enforcement: false,
            manage_certificates: true,
        }
    }
}

impl InstallSettings {
    /// Labels every object carries.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels();
        labels.insert(
            "app.kubernetes.io/version".to_owned(),
            crate::VERSION.to_owned(),
        );
        labels
    }

    /// Labels that select the controller's pods.
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "app.kubernetes.io/name".to_owned(),
                "kube-devops".to_owned(),
            ),
            ("app.kubernetes.io/instance".to_owned(), self.name.clone()),
        ])
    }

    /// Name of the webhook Service (also its certificate's host name).
    pub fn webhook_service(&self) -> String {
        format!("{}-webhook", self.name)
    }

    /// Name of the Secret holding the webhook's serving certificate.
    pub fn tls_secret(&self) -> String {
        format!("{}-webhook-tls", self.name)
    }

    /// Object metadata with a name, the namespace when `namespaced`, and the labels.
    pub(crate) fn metadata(&self, name: &str, namespaced: bool) -> Value {
        let mut meta = serde_json::json!({ "name": name, "labels": self.labels() });
        if namespaced {
            meta["namespace"] = Value::String(self.namespace.clone());
        }
        meta
    }
}

/// ServiceAccount, ClusterRoles, Role and their bindings.
pub fn rbac_objects(settings: &InstallSettings) -> Vec<Value> {
    rbac::objects(settings)
}

/// Deployment, Services, PodDisruptionBudget and the ValidatingWebhookConfiguration
/// (without a `caBundle`: see the installation guide).
pub fn deployment_objects(settings: &InstallSettings) -> Result<Vec<Value>, DeployError> {
    let mut objects = workload::objects(settings);
    let config = webhook_configuration(&WebhookConfig {
        name: settings.name.clone(),
        labels: settings.labels(),
        namespace: settings.namespace.clone(),
        target: WebhookTarget::Service {
            name: settings.webhook_service(),
            port: 443,
        },
        fail_closed: false,
        exclude_namespaces: settings.exclude_namespaces.clone(),
        ca_bundle: None,
    })?;
    objects.push(serde_json::to_value(config.config)?);
    Ok(objects)
}

/// Objects as a multi-document YAML stream, each document opened by `---`.
pub fn to_yaml_stream(objects: &[Value]) -> Result<String, DeployError> {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(object)?);
    }
    Ok(out)
}

/// Why objects could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// An `--exclude-namespace` glob does not parse.
    #[error(transparent)]
    BadGlob(#[from] crate::policy::namespaces::BadGlob),
    /// An object could not be serialized.
    #[error("cannot serialize an object: {0}")]
    Json(#[from] serde_json::Error),
    /// An object could not be written as YAML.
    #[error("cannot write YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
}

#[cfg(test)]
mod tests;
