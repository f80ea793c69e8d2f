//! The Kubernetes permissions kube-devops uses, in one table.
//!
//! In: nothing. Out: [`PERMISSIONS`], what each component asks the API server for and
//! where, and [`checks`], the verbs one [`Mode`] needs. `check` reviews exactly these with
//! SelfSubjectAccessReviews, and the installation's RBAC grants exactly the controller's
//! and (when enabled) enforcement's: a verb appears here only when code calls it.

use Component::{Certificates, Controller, Enforcement};

/// Who needs a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// `kube-devops run` in the cluster: the watches, the operator, admission and leader
    /// election. Always granted by the installation.
    Controller,
    /// Enforcement's writes on workloads: granted only when enforcement is enabled.
    Enforcement,
    /// The controller's own webhook certificates (`run --manage-certificates`): granted
    /// when neither cert-manager nor a given CA provides them.
    Certificates,
    /// `kube-devops analyze` of a live cluster, run with a user's own credentials; never
    /// granted to the controller.
    Analyze,
}

/// Where a permission is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// In every namespace (a ClusterRole).
    Cluster,
    /// Only in the controller's own namespace (a Role there).
    ControllerNamespace,
}

/// One resource, the verbs one component uses on it, and where.
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
    /// The component that uses them.
    pub component: Component,
    /// Where.
    pub scope: Scope,
    /// Only on one object of the installation (RBAC `resourceNames`; a list or watch must
    /// then select it by `metadata.name`).
    pub only: Option<Named>,
    /// What in that component needs it.
    pub used_by: &'static str,
}

impl Permission {
    /// The resource as RBAC rules name it: `devopspolicies/status`, `pods`.
    pub fn rule_resource(&self) -> String {
        match self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.to_owned(),
        }
    }
}

/// The objects of an installation a permission can be limited to by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// The webhook certificate Secret.
    CertificateSecret,
    /// The ValidatingWebhookConfiguration.
    WebhookConfiguration,
}

/// What `check` reviews: the components in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The controller as installed, enforcement's writes included when `enforcement`, the
    /// certificate keeper's when `certificates`.
    Controller {
        /// Whether enforcement is enabled.
        enforcement: bool,
        /// Whether the controller keeps its own webhook certificates.
        certificates: bool,
    },
    /// `analyze` of a live cluster.
    Analyze,
}

impl Mode {
    /// Whether this mode uses `component`.
    pub fn uses(self, component: Component) -> bool {
        match self {
            Mode::Controller {
                enforcement,
                certificates,
            } => match component {
                Component::Controller => true,
                Component::Enforcement => enforcement,
                Component::Certificates => certificates,
                Component::Analyze => false,
            },
            Mode::Analyze => component == Component::Analyze,
        }
    }
}

/// One (verb, permission) pair per verb of every permission `mode` uses, in table order.
pub fn checks(mode: Mode) -> impl Iterator<Item = (&'static str, &'static Permission)> {
    PERMISSIONS
        .iter()
        .filter(move |p| mode.uses(p.component))
        .flat_map(|p| p.verbs.iter().map(move |v| (*v, p)))
}

/// One (verb, permission) pair per verb of the whole table, in table order.
pub fn verb_checks() -> impl Iterator<Item = (&'static str, &'static Permission)> {
    PERMISSIONS
        .iter()
        .flat_map(|p| p.verbs.iter().map(move |v| (*v, p)))
}

impl Permission {
    /// The resource as `check` and the docs show it: `devopspolicies/status.devops.stochastic.io`.
    pub fn display_name(&self) -> String {
        if self.group.is_empty() {
            self.rule_resource()
        } else {
            format!("{}.{}", self.rule_resource(), self.group)
        }
    }
}

/// The permissions `mode` uses as a Markdown table (resource, where, verbs, what needs
/// it): the one in the operations guide, held equal to this by a test.
pub fn markdown_table(mode: Mode) -> String {
    let mut out = String::from("| resource | where | verbs | used by |\n|---|---|---|---|\n");
    for p in PERMISSIONS.iter().filter(|p| mode.uses(p.component)) {
        let scope = match (p.scope, p.only) {
            (_, Some(Named::CertificateSecret)) => "the certificate Secret only",
            (_, Some(Named::WebhookConfiguration)) => "the webhook configuration only",
            (Scope::Cluster, None) => "cluster-wide",
            (Scope::ControllerNamespace, None) => "the controller's namespace",
        };
        out.push_str(&format!(
            "| {} | {scope} | {} | {} |\n",
            p.display_name(),
            p.verbs.join(", "),
            p.used_by
        ));
    }
    out
}

const fn perm(
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    component: Component,
    used_by: &'static str,
) -> Permission {
    Permission {
        group,
        resource,
        subresource: None,
        verbs,
        component,
        scope: Scope::Cluster,
        only: None,
        used_by,
    }
}

/// What enforcement's writes are for.
const ENFORCEMENT: &str = "enforcement (granted only when enabled)";
/// What enforcement's owner lookups are for.
const ENFORCEMENT_OWNERS: &str =
    "enforcement: a pod's ReplicaSet names its Deployment (granted only when enabled)";

const fn analyze(group: &'static str, resource: &'static str, used_by: &'static str) -> Permission {
    perm(group, resource, &["list"], Component::Analyze, used_by)
}

/// A kind the controller watches for the cross-resource checks `checks`.
const fn related(group: &'static str, resource: &'static str, checks: &'static str) -> Permission {
    perm(group, resource, &["list", "watch"], Controller, checks)
}

/// Everything kube-devops reads and writes.
pub const PERMISSIONS: &[Permission] = &[
    // The controller.
    perm(
        "",
        "pods",
        &["list", "watch"],
        Controller,
        "pod watch (scores), operator's pod watch",
    ),
    perm(
        "apps",
        "replicasets",
        &["list", "watch"],
        Controller,
        "operator (owners of pods for reports: metadata-only watch)",
    ),
    perm(
        "batch",
        "jobs",
        &["list", "watch"],
        Controller,
        "operator (owners of pods for reports: metadata-only watch)",
    ),
    perm(
        "devops.stochastic.io",
        "devopspolicies",
        &["list", "watch", "patch"],
        Controller,
        "policy source (watch), operator (finalizer: JSON patch)",
    ),
    Permission {
        subresource: Some("status"),
        ..perm(
            "devops.stochastic.io",
            "devopspolicies",
            &["patch"],
            Controller,
            "operator (policy status)",
        )
    },
    perm(
        "devops.stochastic.io",
        "policyauditresults",
        &["list", "watch", "create", "delete", "deletecollection"],
        Controller,
        "operator (watch: what is held; delete: retention; deletecollection: finalizer)",
    ),
    Permission {
        scope: Scope::ControllerNamespace,
        ..perm(
            "coordination.k8s.io",
            "leases",
            &["get", "list", "watch", "create", "patch"],
            Controller,
            "leader election (watch: take a released lease at once)",
        )
    },
    perm(
        "events.k8s.io",
        "events",
        &["create", "patch"],
        Controller,
        "operator (events on policies; patch: repeated events)",
    ),
    perm(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        &["list", "watch"],
        Controller,
        "operator (notices the report CRDs being installed or removed)",
    ),
    perm(
        "wgpolicyk8s.io",
        "policyreports",
        &["list", "watch", "patch", "delete"],
        Controller,
        "operator (reports: server-side apply, watched to write only on change)",
    ),
    perm(
        "openreports.io",
        "reports",
        &["list", "watch", "patch", "delete"],
        Controller,
        "operator (reports: server-side apply, watched to write only on change)",
    ),
    // The cross-resource checks, judged live: each kind is watched only while a policy in
    // force enables a check that reads it.
    related(
        "policy",
        "poddisruptionbudgets",
        "cross-resource checks (missingPodDisruptionBudget, pdb checks; watched while a policy enables them)",
    ),
    related(
        "autoscaling",
        "horizontalpodautoscalers",
        "cross-resource checks (hpa and pdb checks; watched while a policy enables them)",
    ),
    related(
        "networking.k8s.io",
        "networkpolicies",
        "cross-resource checks (missingNetworkPolicy; watched while a policy enables them)",
    ),
    related(
        "",
        "services",
        "cross-resource checks (serviceSelectorMatchesNothing; watched while a policy enables them)",
    ),
    related(
        "networking.k8s.io",
        "ingresses",
        "cross-resource checks (ingressTlsMissing; watched while a policy enables them)",
    ),
    related(
        "",
        "serviceaccounts",
        "cross-resource checks (automountServiceAccountToken; watched while a policy enables them)",
    ),
    related(
        "rbac.authorization.k8s.io",
        "roles",
        "cross-resource checks (roleWildcard, podExecAttachAllowed, secretsReadableByServiceAccount; watched while a policy enables them)",
    ),
    related(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "cross-resource checks (roleWildcard, podExecAttachAllowed, secretsReadableByServiceAccount; watched while a policy enables them)",
    ),
    related(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "cross-resource checks (clusterAdminBinding, secretsReadableByServiceAccount; watched while a policy enables them)",
    ),
    related(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "cross-resource checks (clusterAdminBinding, secretsReadableByServiceAccount; watched while a policy enables them)",
    ),
    // Enforcement: a workload is read before it is repaired (its template, its rollout),
    // and a pod's ReplicaSet is read to find its Deployment.
    perm(
        "apps",
        "deployments",
        &["get", "patch"],
        Enforcement,
        ENFORCEMENT,
    ),
    perm(
        "apps",
        "statefulsets",
        &["get", "patch"],
        Enforcement,
        ENFORCEMENT,
    ),
    perm(
        "apps",
        "daemonsets",
        &["get", "patch"],
        Enforcement,
        ENFORCEMENT,
    ),
    perm(
        "apps",
        "replicasets",
        &["get"],
        Enforcement,
        ENFORCEMENT_OWNERS,
    ),
    // The controller's own webhook certificates.
    Permission {
        scope: Scope::ControllerNamespace,
        only: Some(Named::CertificateSecret),
        ..perm(
            "",
            "secrets",
            &["get", "list", "watch", "update"],
            Certificates,
            "certificates (every replica watches the Secret it serves; the leader renews it)",
        )
    },
    Permission {
        scope: Scope::ControllerNamespace,
        ..perm(
            "",
            "secrets",
            &["create"],
            Certificates,
            "certificates (the leader creates the Secret; a name cannot restrict create)",
        )
    },
    Permission {
        only: Some(Named::WebhookConfiguration),
        ..perm(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            &["get", "patch"],
            Certificates,
            "certificates (the leader keeps the caBundle current)",
        )
    },
    // `analyze` of a live cluster.
    analyze("", "pods", "analyze (pods)"),
    analyze("apps", "deployments", "analyze (workloads)"),
    analyze("apps", "statefulsets", "analyze (workloads)"),
    analyze("apps", "daemonsets", "analyze (workloads)"),
    analyze("apps", "replicasets", "analyze (workloads)"),
    analyze("", "replicationcontrollers", "analyze (workloads)"),
    analyze("batch", "jobs", "analyze (workloads)"),
    analyze("batch", "cronjobs", "analyze (workloads)"),
    analyze(
        "devops.stochastic.io",
        "devopspolicies",
        "analyze (the policies of each namespace)",
    ),
    analyze(
        "policy",
        "poddisruptionbudgets",
        "analyze (missingPodDisruptionBudget, pdb checks)",
    ),
    analyze(
        "autoscaling",
        "horizontalpodautoscalers",
        "analyze (hpa and pdb checks, deploymentMissingReplicas)",
    ),
    analyze(
        "networking.k8s.io",
        "networkpolicies",
        "analyze (missingNetworkPolicy)",
    ),
    analyze("", "services", "analyze (serviceSelectorMatchesNothing)"),
    analyze(
        "networking.k8s.io",
        "ingresses",
        "analyze (ingressTlsMissing)",
    ),
    analyze(
        "",
        "serviceaccounts",
        "analyze (automountServiceAccountToken)",
    ),
    analyze(
        "rbac.authorization.k8s.io",
        "roles",
        "analyze (roleWildcard, podExecAttachAllowed, secretsReadableByServiceAccount)",
    ),
    analyze(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "analyze (roleWildcard, podExecAttachAllowed, secretsReadableByServiceAccount)",
    ),
    analyze(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "analyze (clusterAdminBinding, secretsReadableByServiceAccount)",
    ),
    analyze(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "analyze (clusterAdminBinding, secretsReadableByServiceAccount)",
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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

    #[test]
    fn no_verb_is_listed_twice_for_one_component() {
        let mut seen = BTreeSet::new();
        for (verb, p) in verb_checks() {
            let key = (p.component, p.group, p.rule_resource(), verb);
            assert!(seen.insert(key.clone()), "{key:?} twice");
        }
    }

    #[test]
    fn the_controller_mode_asks_enforcement_only_when_enabled_and_never_analyze() {
        let off: Vec<_> = checks(Mode::Controller {
            enforcement: false,
            certificates: false,
        })
        .collect();
        let on: Vec<_> = checks(Mode::Controller {
            enforcement: true,
            certificates: false,
        })
        .collect();
        assert!(
            off.iter()
                .all(|(_, p)| p.component == Component::Controller)
        );
        let added: Vec<_> = on.iter().filter(|c| !off.contains(c)).collect();
        assert!(!added.is_empty());
        assert!(
            added
                .iter()
                .all(|(v, p)| p.component == Component::Enforcement && *v != "list")
        );
        assert!(
            checks(Mode::Analyze).all(|(v, p)| p.component == Component::Analyze && v == "list")
        );
    }

    #[test]
    fn only_the_lease_and_the_secret_are_namespaced_and_workloads_are_written_only_by_enforcement()
    {
        for p in PERMISSIONS {
            let own = (p.group == "coordination.k8s.io" && p.resource == "leases")
                || (p.group.is_empty() && p.resource == "secrets");
            assert_eq!(p.scope == Scope::ControllerNamespace, own, "{p:?}");
            if p.group == "apps" && p.verbs.contains(&"patch") {
                assert_eq!(p.component, Component::Enforcement, "{p:?}");
            }
        }
    }
}
