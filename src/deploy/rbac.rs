//! Least-privilege RBAC made from [`crate::rbac::PERMISSIONS`], nothing more.
//!
//! In: the permission table and the install settings. Out: three rule sets (the
//! controller's cluster-wide rules, enforcement's workload writes, the leader-election lease
//! in the controller's own namespace) and the ServiceAccount, Roles and bindings that carry
//! them.

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{Value, json};

use super::InstallSettings;
use crate::rbac::{Component, Named, PERMISSIONS, Permission, Scope};

/// Which of the three rule sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSet {
    /// Cluster-wide rules every installation needs.
    Cluster,
    /// Write verbs on workloads, granted only when enforcement is enabled.
    Enforcement,
    /// The leader-election lease, in the controller's own namespace.
    LeaderElection,
    /// The certificate Secret, in the controller's own namespace, when the controller
    /// keeps its webhook certificates.
    CertificateSecret,
    /// The webhook configuration's `caBundle`, when the controller keeps its certificates.
    CertificateWebhook,
}

impl RuleSet {
    /// Every rule set.
    pub const ALL: [RuleSet; 5] = [
        RuleSet::Cluster,
        RuleSet::Enforcement,
        RuleSet::LeaderElection,
        RuleSet::CertificateSecret,
        RuleSet::CertificateWebhook,
    ];

    /// A short name (the chart's rule file is `files/rbac/<name>.yaml`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSet::Cluster => "cluster",
            RuleSet::Enforcement => "enforcement",
            RuleSet::LeaderElection => "leader-election",
            RuleSet::CertificateSecret => "certificate-secret",
            RuleSet::CertificateWebhook => "certificate-webhook",
        }
    }
}

impl RuleSet {
    /// Whether `p` belongs to this set.
    fn holds(self, p: &Permission) -> bool {
        match self {
            RuleSet::Cluster => p.component == Component::Controller && p.scope == Scope::Cluster,
            RuleSet::Enforcement => p.component == Component::Enforcement,
            RuleSet::LeaderElection => {
                p.component == Component::Controller && p.scope == Scope::ControllerNamespace
            }
            RuleSet::CertificateSecret => {
                p.component == Component::Certificates && p.scope == Scope::ControllerNamespace
            }
            RuleSet::CertificateWebhook => {
                p.component == Component::Certificates && p.scope == Scope::Cluster
            }
        }
    }
}

/// The chart's names of the certificate Secret and the webhook configuration, rendered by
/// Helm (`tpl`) in the rule files.
const CHART_NAMES: Names<'static> = Names {
    tls_secret: "{{ include \"kube-devops.tlsSecret\" . }}",
    webhook_configuration: "{{ .Release.Name }}",
};

/// The names of an installation's objects that rules may be limited to.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// The webhook certificate Secret.
    pub tls_secret: &'a str,
    /// The ValidatingWebhookConfiguration.
    pub webhook_configuration: &'a str,
}

/// The rules of one set: one rule per permission in it, in table order, naming
/// the object from `names` where a permission is only on one. `analyze`'s reads are in
/// none: the controller never makes them.
pub fn rules(set: RuleSet, names: Names<'_>) -> Vec<PolicyRule> {
    PERMISSIONS
        .iter()
        .filter(|p| set.holds(p))
        .map(|p| PolicyRule {
            api_groups: Some(vec![p.group.to_owned()]),
            resources: Some(vec![p.rule_resource()]),
            resource_names: p.only.map(|only| {
                vec![
                    match only {
                        Named::CertificateSecret => names.tls_secret,
                        Named::WebhookConfiguration => names.webhook_configuration,
                    }
                    .to_owned(),
                ]
            }),
            verbs: p.verbs.iter().map(|v| (*v).to_owned()).collect(),
            ..PolicyRule::default()
        })
        .collect()
}

/// The rules of one set as a YAML sequence (the chart's generated rule files, which the
/// chart renders with `tpl` to fill in the Secret's name).
pub fn rules_yaml(set: RuleSet) -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&rules(set, CHART_NAMES))
}

fn role(s: &InstallSettings, kind: &str, meta: Value, set: RuleSet) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "rules": rules(
            set,
            Names {
                tls_secret: &s.tls_secret(),
                webhook_configuration: &s.name,
            },
        ),
    })
}

fn binding(s: &InstallSettings, kind: &str, role_kind: &str, name: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": s.metadata(name, kind == "RoleBinding"),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": name,
        },
        "subjects": [{
            "kind": "ServiceAccount",
            "name": s.name,
            "namespace": s.namespace,
        }],
    })
}

/// ServiceAccount, ClusterRole(s), Role and bindings for `s`.
pub(super) fn objects(s: &InstallSettings) -> Vec<Value> {
    let mut out = vec![json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": s.metadata(&s.name, true),
        "automountServiceAccountToken": true,
    })];
    let mut cluster_roles = vec![(s.name.clone(), RuleSet::Cluster)];
    if s.enforcement {
        cluster_roles.push((format!("{}-enforcement", s.name), RuleSet::Enforcement));
    }
    for (name, set) in cluster_roles {
        out.push(role(s, "ClusterRole", s.metadata(&name, false), set));
        out.push(binding(s, "ClusterRoleBinding", "ClusterRole", &name));
    }
    let mut roles = vec![(
        format!("{}-leader-election", s.name),
        RuleSet::LeaderElection,
    )];
    if s.manage_certificates {
        let name = format!("{}-certificates", s.name);
        out.push(role(
            s,
            "ClusterRole",
            s.metadata(&name, false),
            RuleSet::CertificateWebhook,
        ));
        out.push(binding(s, "ClusterRoleBinding", "ClusterRole", &name));
        roles.push((name, RuleSet::CertificateSecret));
    }
    for (name, set) in roles {
        out.push(role(s, "Role", s.metadata(&name, true), set));
        out.push(binding(s, "RoleBinding", "Role", &name));
    }
    out
}
