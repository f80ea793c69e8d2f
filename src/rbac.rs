//! The Kubernetes permissions kube-devops uses, in one table.
//!
//! In: nothing. Out: [`PERMISSIONS`], what each component asks the API server for. `check`
//! reviews exactly these with SelfSubjectAccessReviews, and the RBAC manifests are meant to
//! grant exactly these: a verb appears here only when code calls it.

/// One resource and the verbs used on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Resource (plural).
    pub resource: &'static str,
    /// Subresource, if any.
    pub subresource: Option<&'static str>,
    /// Verbs used.
    pub verbs: &'static [&'static str],
    /// Which part of kube-devops needs it.
    pub used_by: &'static str,
}

const fn perm(
    group: &'static str,
    resource: &'static str,
    subresource: Option<&'static str>,
    verbs: &'static [&'static str],
    used_by: &'static str,
) -> Permission {
    Permission {
        group,
        resource,
        subresource,
        verbs,
        used_by,
    }
}

/// Everything the controller reads and writes, cluster-wide.
pub const PERMISSIONS: &[Permission] = &[
    perm(
        "",
        "pods",
        None,
        &["get", "list", "watch"],
        "watch, analyze, operator",
    ),
    perm(
        "apps",
        "replicasets",
        None,
        &["get", "list", "watch"],
        "analyze, operator (owners of pods for reports: metadata-only watch)",
    ),
    perm(
        "apps",
        "deployments",
        None,
        &["get", "list", "patch"],
        "analyze, enforcement",
    ),
    perm(
        "apps",
        "statefulsets",
        None,
        &["get", "list", "patch"],
        "analyze, enforcement",
    ),
    perm(
        "apps",
        "daemonsets",
        None,
        &["get", "list", "patch"],
        "analyze, enforcement",
    ),
    perm("", "replicationcontrollers", None, &["list"], "analyze"),
    perm(
        "batch",
        "jobs",
        None,
        &["list", "watch"],
        "analyze, operator (owners of pods for reports: metadata-only watch)",
    ),
    perm("batch", "cronjobs", None, &["list"], "analyze"),
    perm(
        "policy",
        "poddisruptionbudgets",
        None,
        &["list"],
        "analyze (missingPodDisruptionBudget, pdb checks)",
    ),
    perm(
        "autoscaling",
        "horizontalpodautoscalers",
        None,
        &["list"],
        "analyze (hpa and pdb checks, deploymentMissingReplicas)",
    ),
    perm(
        "networking.k8s.io",
        "networkpolicies",
        None,
        &["list"],
        "analyze (missingNetworkPolicy)",
    ),
    perm(
        "",
        "services",
        None,
        &["list"],
        "analyze (serviceSelectorMatchesNothing)",
    ),
    perm(
        "networking.k8s.io",
        "ingresses",
        None,
        &["list"],
        "analyze (ingressTlsMissing)",
    ),
    perm(
        "",
        "serviceaccounts",
        None,
        &["list"],
        "analyze (automountServiceAccountToken)",
    ),
    perm(
        "rbac.authorization.k8s.io",
        "roles",
        None,
        &["list"],
        "analyze (roleWildcard, podExecAttachAllowed, secretsReadableByServiceAccount)",
    ),
    perm(
        "rbac.authorization.k8s.io",
        "clusterroles",
        None,
        &["list"],
        "analyze (roleWildcard, podExecAttachAllowed, secretsReadableByServiceAccount)",
    ),
    perm(
        "rbac.authorization.k8s.io",
        "rolebindings",
        None,
        &["list"],
        "analyze (clusterAdminBinding, secretsReadableByServiceAccount)",
    ),
    perm(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        None,
        &["list"],
        "analyze (clusterAdminBinding, secretsReadableByServiceAccount)",
    ),
    perm(
        "devops.stochastic.io",
        "devopspolicies",
        None,
        &["get", "list", "watch", "patch"],
        "policy source (watch), operator (finalizer: JSON patch), admission",
    ),
    perm(
        "devops.stochastic.io",
        "devopspolicies",
        Some("status"),
        &["patch"],
        "operator",
    ),
    perm(
        "devops.stochastic.io",
        "policyauditresults",
        None,
        &["list", "watch", "create", "delete", "deletecollection"],
        "operator (watch: what is held; delete: retention; deletecollection: finalizer)",
    ),
    perm(
        "coordination.k8s.io",
        "leases",
        None,
        &["get", "list", "watch", "create", "patch"],
        "leader election (watch: take a released lease at once)",
    ),
    perm(
        "events.k8s.io",
        "events",
        None,
        &["create", "patch"],
        "operator (events on policies; patch: repeated events)",
    ),
    perm(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        None,
        &["list", "watch"],
        "operator (notices the report CRDs being installed or removed)",
    ),
    perm(
        "wgpolicyk8s.io",
        "policyreports",
        None,
        &["list", "watch", "patch", "delete"],
        "operator (reports: server-side apply, watched to write only on change)",
    ),
    perm(
        "openreports.io",
        "reports",
        None,
        &["list", "watch", "patch", "delete"],
        "operator (reports: server-side apply, watched to write only on change)",
    ),
];

/// One (verb, permission) pair per verb, in table order.
pub fn verb_checks() -> impl Iterator<Item = (&'static str, &'static Permission)> {
    PERMISSIONS
        .iter()
        .flat_map(|p| p.verbs.iter().map(move |v| (*v, p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_names_verbs_kubernetes_knows() {
        const KNOWN: [&str; 8] = [
            "get",
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
        ];
        for (verb, p) in verb_checks() {
            assert!(KNOWN.contains(&verb), "{verb} on {}", p.resource);
        }
        assert!(verb_checks().count() > PERMISSIONS.len());
    }
}
