//! Least-privilege RBAC made from [`crate::rbac::PERMISSIONS`], nothing more.
//!
//! In: the permission table and the install settings. Out: three rule sets (cluster-wide,
//! enforcement's workload writes, the leader-election lease in the controller's own
//! namespace) and the ServiceAccount, Roles and bindings that carry them.

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{Value, json};

use super::InstallSettings;
use crate::rbac::{PERMISSIONS, Permission};

/// Verbs that change objects.
const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// Which of the three rule sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSet {
    /// Cluster-wide rules every installation needs.
    Cluster,
    /// Write verbs on workloads, granted only when enforcement is enabled.
    Enforcement,
    /// The leader-election lease, in the controller's own namespace.
    LeaderElection,
}

impl RuleSet {
    /// Every rule set.
    pub const ALL: [RuleSet; 3] = [
        RuleSet::Cluster,
        RuleSet::Enforcement,
        RuleSet::LeaderElection,
    ];

    /// A short name (the chart's rule file is `files/rbac/<name>.yaml`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSet::Cluster => "cluster",
            RuleSet::Enforcement => "enforcement",
            RuleSet::LeaderElection => "leader-election",
        }
    }
}

fn is_lease(p: &Permission) -> bool {
    p.group == "coordination.k8s.io" && p.resource == "leases"
}

fn is_enforcement(p: &Permission) -> bool {
    p.used_by.split(',').any(|u| u.trim() == "enforcement")
}

/// The verbs of `p` that belong to `set`.
fn verbs_in(set: RuleSet, p: &Permission) -> Vec<&'static str> {
    let enforcement_write = |v: &&str| is_enforcement(p) && WRITE_VERBS.contains(v);
    p.verbs
        .iter()
        .copied()
        .filter(|v| match set {
            RuleSet::LeaderElection => is_lease(p),
            RuleSet::Enforcement => !is_lease(p) && enforcement_write(v),
            RuleSet::Cluster => !is_lease(p) && !enforcement_write(v),
        })
        .collect()
}

/// The rules of one set: one rule per permission that has verbs in it, in table order.
pub fn rules(set: RuleSet) -> Vec<PolicyRule> {
    PERMISSIONS
        .iter()
        .filter_map(|p| {
            let verbs = verbs_in(set, p);
            if verbs.is_empty() {
                return None;
            }
            let resource = match p.subresource {
                Some(sub) => format!("{}/{sub}", p.resource),
                None => p.resource.to_owned(),
            };
            Some(PolicyRule {
                api_groups: Some(vec![p.group.to_owned()]),
                resources: Some(vec![resource]),
                verbs: verbs.into_iter().map(str::to_owned).collect(),
                ..PolicyRule::default()
            })
        })
        .collect()
}

/// The rules of one set as a YAML sequence (the chart's generated rule files).
pub fn rules_yaml(set: RuleSet) -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&rules(set))
}

fn role(kind: &str, meta: Value, set: RuleSet) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "rules": rules(set),
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
        out.push(role("ClusterRole", s.metadata(&name, false), set));
        out.push(binding(s, "ClusterRoleBinding", "ClusterRole", &name));
    }
    let lease = format!("{}-leader-election", s.name);
    out.push(role(
        "Role",
        s.metadata(&lease, true),
        RuleSet::LeaderElection,
    ));
    out.push(binding(s, "RoleBinding", "Role", &lease));
    out
}
