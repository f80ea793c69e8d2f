//! Cross-resource checks: verdicts that need more than one object, and the index that
//! holds what they read.
//!
//! In: the placement facts of workloads ([`PodFacts`]: labels, replicas, service account)
//! and compact facts of PodDisruptionBudgets, HorizontalPodAutoscalers, NetworkPolicies,
//! Services, Ingresses, ServiceAccounts and RBAC objects ([`RelatedObject`]), applied and
//! deleted one at a time. Out: the findings of one subject (a workload, a Service, an
//! Ingress, or an RBAC object) under a policy, and, on every change, the subjects whose
//! findings may have changed, so a controller re-judges only those. The same index serves
//! the offline audit (every object in the given files), the cluster audit (listed objects)
//! and the live controller (watched objects: [`LiveCross`] knows workloads from their live
//! pods, and [`SlimRelated`] decodes a watch's objects reading only what the facts need).
//!
//! Some object checks depend on related objects too: a pod that says nothing about its
//! service account token inherits its ServiceAccount's `automountServiceAccountToken`, and
//! an autoscaler owns a Deployment's replica count. [`CrossIndex::refine`] clears those
//! findings of [`crate::checks::evaluate`] that related objects settle.

mod extract;
mod judge;
mod live;
mod objects;
mod rbac;
mod selector;
mod slim;

pub use extract::{Related, related_from_json, related_kind};
pub use judge::Judge;
pub use live::{LiveCross, TEMPLATE_HASH_LABEL, Verdict, kinds_needed_by, workload_of};
pub use objects::{
    Amount, BindingFacts, HpaFacts, IngressFacts, NetworkPolicyFacts, ObjectId, ObjectKind,
    PdbFacts, RelatedObject, RoleFacts, RuleFacts, ServiceAccountFacts, ServiceFacts, SubjectFacts,
};
pub use selector::{Requirement, Selector};
pub use slim::{SlimKind, SlimRelated};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::checks::{CheckId, Scope};
use crate::facts::{PodFacts, WorkloadKind};
use crate::policy::EffectivePolicy;
use crate::policy::exemptions::Exemption;

/// What the index keeps of a workload (or a bare pod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadEntry {
    /// Its pods' labels.
    pub labels: BTreeMap<String, String>,
    /// `spec.replicas`, for the kinds that have it.
    pub replicas: Option<i32>,
    /// The service account its pods run as.
    pub service_account: String,
    /// Its pods' `automountServiceAccountToken`.
    pub automount: Option<bool>,
    /// Its exemption annotations.
    pub exemptions: Vec<Exemption>,
}

impl WorkloadEntry {
    /// The entry of a workload's (or pod's) facts.
    pub fn of(facts: &PodFacts) -> Self {
        WorkloadEntry {
            labels: facts.labels.clone(),
            replicas: facts.replicas,
            service_account: facts.service_account_name().to_owned(),
            automount: facts.automount_service_account_token,
            exemptions: facts.exemptions.clone(),
        }
    }
}

/// Everything the index holds of one namespace.
#[derive(Debug, Default)]
struct Namespace {
    workloads: BTreeMap<(WorkloadKind, String), WorkloadEntry>,
    pdbs: BTreeMap<String, PdbFacts>,
    hpas: BTreeMap<String, HpaFacts>,
    policies: BTreeMap<String, NetworkPolicyFacts>,
    services: BTreeMap<String, ServiceFacts>,
    ingresses: BTreeMap<String, IngressFacts>,
    accounts: BTreeMap<String, ServiceAccountFacts>,
    roles: BTreeMap<String, RoleFacts>,
    bindings: BTreeMap<String, BindingFacts>,
}

impl Namespace {
    fn is_empty(&self) -> bool {
        self.workloads.is_empty()
            && self.pdbs.is_empty()
            && self.hpas.is_empty()
            && self.policies.is_empty()
            && self.services.is_empty()
            && self.ingresses.is_empty()
            && self.accounts.is_empty()
            && self.roles.is_empty()
            && self.bindings.is_empty()
    }

    /// Workloads whose pods any of `selectors` selects.
    fn workloads_selected<'a>(
        &self,
        namespace: &str,
        selectors: impl IntoIterator<Item = &'a Selector> + Clone,
    ) -> Vec<ObjectId> {
        self.workloads
            .iter()
            .filter(|(_, w)| selectors.clone().into_iter().any(|s| s.matches(&w.labels)))
            .map(|((kind, name), _)| workload_id(*kind, namespace, name))
            .collect()
    }
}

fn workload_id(kind: WorkloadKind, namespace: &str, name: &str) -> ObjectId {
    ObjectId::new(ObjectKind::Workload(kind), Some(namespace), name)
}

/// The related objects and workload placements that cross-resource checks read.
#[derive(Debug, Default)]
pub struct CrossIndex {
    namespaces: HashMap<String, Namespace>,
    cluster_roles: BTreeMap<String, RoleFacts>,
    cluster_bindings: BTreeMap<String, BindingFacts>,
}

/// Whether a policy turns on any check the index decides or refines: when it does not,
/// audits need not build an index (or gather related objects) at all.
pub fn needed(policy: &EffectivePolicy) -> bool {
    policy.enabled().any(|(id, _)| {
        id.spec().scope == Scope::Related
            || matches!(
                id,
                CheckId::AutomountServiceAccountToken | CheckId::DeploymentMissingReplicas
            )
    })
}

/// The related kinds the enabled checks read: what a cluster audit must list.
pub fn kinds_needed(policy: &EffectivePolicy) -> BTreeSet<ObjectKind> {
    let mut kinds = BTreeSet::new();
    for (id, _) in policy.enabled() {
        let needs: &[ObjectKind] = match id {
            CheckId::AutomountServiceAccountToken => &[ObjectKind::ServiceAccount],
            CheckId::DeploymentMissingReplicas
            | CheckId::HpaMaxAvailability
            | CheckId::HpaMinAvailability => &[ObjectKind::HorizontalPodAutoscaler],
            CheckId::MissingPodDisruptionBudget
            | CheckId::PdbDisruptionsIsZero
            | CheckId::PdbMinAvailableGreaterThanHpaMinReplicas => &[
                ObjectKind::PodDisruptionBudget,
                ObjectKind::HorizontalPodAutoscaler,
            ],
            CheckId::MissingNetworkPolicy => &[ObjectKind::NetworkPolicy],
            CheckId::ServiceSelectorMatchesNothing => &[ObjectKind::Service],
            CheckId::IngressTlsMissing => &[ObjectKind::Ingress],
            CheckId::RoleWildcard | CheckId::PodExecAttachAllowed => {
                &[ObjectKind::Role, ObjectKind::ClusterRole]
            }
            CheckId::ClusterAdminBinding => {
                &[ObjectKind::RoleBinding, ObjectKind::ClusterRoleBinding]
            }
            CheckId::SecretsReadableByServiceAccount => &[
                ObjectKind::Role,
                ObjectKind::ClusterRole,
                ObjectKind::RoleBinding,
                ObjectKind::ClusterRoleBinding,
            ],
            _ => &[],
        };
        kinds.extend(needs.iter().copied());
    }
    kinds
}

impl CrossIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn namespace_mut(&mut self, ns: &str) -> &mut Namespace {
        self.namespaces.entry(ns.to_owned()).or_default()
    }

    fn prune(&mut self, ns: &str) {
        if self.namespaces.get(ns).is_some_and(Namespace::is_empty) {
            self.namespaces.remove(ns);
        }
    }

    /// Records a workload's (or bare pod's) placement, replacing what it had. Returns the
    /// subjects whose findings may have changed: the workload and the Services of its
    /// namespace that selected its pods before or select them now.
    pub fn apply_workload(&mut self, facts: &PodFacts) -> Vec<ObjectId> {
        self.apply_entry(ObjectId::from(&facts.object), WorkloadEntry::of(facts))
    }

    /// Records a workload's placement from its entry (the live controller builds entries
    /// from the pods it watches); returns what [`CrossIndex::apply_workload`] returns.
    /// An id of another kind than a workload changes nothing.
    pub fn apply_entry(&mut self, id: ObjectId, entry: WorkloadEntry) -> Vec<ObjectId> {
        let Some(kind) = id.workload_kind() else {
            return Vec::new();
        };
        let ns = self.namespace_mut(&id.namespace);
        let old = ns.workloads.insert((kind, id.name.clone()), entry.clone());
        let mut affected = vec![id.clone()];
        affected.extend(services_selecting(ns, &id.namespace, |s| {
            s.matches(&entry.labels) || old.as_ref().is_some_and(|o| s.matches(&o.labels))
        }));
        affected
    }

    /// Forgets a workload; returns the subjects whose findings may have changed (the
    /// Services that selected it).
    pub fn delete_workload(&mut self, id: &ObjectId) -> Vec<ObjectId> {
        let Some(kind) = id.workload_kind() else {
            return Vec::new();
        };
        let Some(ns) = self.namespaces.get_mut(&id.namespace) else {
            return Vec::new();
        };
        let Some(old) = ns.workloads.remove(&(kind, id.name.clone())) else {
            return Vec::new();
        };
        let affected = services_selecting(ns, &id.namespace, |s| s.matches(&old.labels));
        self.prune(&id.namespace);
        affected
    }

    /// Records a related object, replacing what it had; returns the subjects whose
    /// findings may have changed.
    pub fn apply(&mut self, object: RelatedObject) -> Vec<ObjectId> {
        let id = object.id().clone();
        let mut affected = self.delete(&id);
        affected.extend(self.insert(object));
        affected.sort();
        affected.dedup();
        affected
    }

    fn insert(&mut self, object: RelatedObject) -> Vec<ObjectId> {
        let id = object.id().clone();
        let name = id.name.clone();
        match object {
            RelatedObject::Role(r) if id.kind == ObjectKind::ClusterRole => {
                self.cluster_roles.insert(name, r);
                self.role_affects(&id)
            }
            RelatedObject::Binding(b) if id.kind == ObjectKind::ClusterRoleBinding => {
                self.cluster_bindings.insert(name, b);
                vec![id]
            }
            object => {
                let namespace = id.namespace.clone();
                let ns = self.namespace_mut(&namespace);
                let affected = affected_in_namespace(ns, &object, &namespace);
                match object {
                    RelatedObject::Pdb(o) => drop(ns.pdbs.insert(name, o)),
                    RelatedObject::Hpa(o) => drop(ns.hpas.insert(name, o)),
                    RelatedObject::NetworkPolicy(o) => drop(ns.policies.insert(name, o)),
                    RelatedObject::Service(o) => drop(ns.services.insert(name, o)),
                    RelatedObject::Ingress(o) => drop(ns.ingresses.insert(name, o)),
                    RelatedObject::ServiceAccount(o) => drop(ns.accounts.insert(name, o)),
                    RelatedObject::Role(o) => drop(ns.roles.insert(name, o)),
                    RelatedObject::Binding(o) => drop(ns.bindings.insert(name, o)),
                }
                if id.kind == ObjectKind::Role {
                    return self.role_affects(&id);
                }
                affected
            }
        }
    }

    /// Forgets a related object; returns the subjects whose findings may have changed.
    pub fn delete(&mut self, id: &ObjectId) -> Vec<ObjectId> {
        let removed: Option<RelatedObject> = match id.kind {
            ObjectKind::ClusterRole => self.cluster_roles.remove(&id.name).map(RelatedObject::Role),
            ObjectKind::ClusterRoleBinding => self
                .cluster_bindings
                .remove(&id.name)
                .map(RelatedObject::Binding),
            ObjectKind::Workload(_) => return self.delete_workload(id),
            kind => {
                let Some(ns) = self.namespaces.get_mut(&id.namespace) else {
                    return Vec::new();
                };
                let name = &id.name;
                match kind {
                    ObjectKind::PodDisruptionBudget => ns.pdbs.remove(name).map(RelatedObject::Pdb),
                    ObjectKind::HorizontalPodAutoscaler => {
                        ns.hpas.remove(name).map(RelatedObject::Hpa)
                    }
                    ObjectKind::NetworkPolicy => {
                        ns.policies.remove(name).map(RelatedObject::NetworkPolicy)
                    }
                    ObjectKind::Service => ns.services.remove(name).map(RelatedObject::Service),
                    ObjectKind::Ingress => ns.ingresses.remove(name).map(RelatedObject::Ingress),
                    ObjectKind::ServiceAccount => {
                        ns.accounts.remove(name).map(RelatedObject::ServiceAccount)
                    }
                    ObjectKind::Role => ns.roles.remove(name).map(RelatedObject::Role),
                    ObjectKind::RoleBinding => ns.bindings.remove(name).map(RelatedObject::Binding),
                    _ => None,
                }
            }
        };
        let Some(old) = removed else {
            return Vec::new();
        };
        let affected = match id.kind {
            ObjectKind::ClusterRole | ObjectKind::Role => self.role_affects(id),
            ObjectKind::ClusterRoleBinding | ObjectKind::RoleBinding => vec![id.clone()],
            _ => match self.namespaces.get(&id.namespace) {
                Some(ns) => affected_in_namespace(ns, &old, &id.namespace),
                None => Vec::new(),
            },
        };
        self.prune(&id.namespace);
        affected
    }

    /// A role and every binding that refers to it.
    fn role_affects(&self, role: &ObjectId) -> Vec<ObjectId> {
        let mut affected = vec![role.clone()];
        let refers = |b: &BindingFacts| {
            b.role_name == role.name
                && match role.kind {
                    ObjectKind::ClusterRole => b.role_kind == "ClusterRole",
                    _ => b.role_kind == "Role" && b.id.namespace == role.namespace,
                }
        };
        let namespaced = self.namespaces.values().flat_map(|ns| ns.bindings.values());
        affected.extend(
            namespaced
                .chain(self.cluster_bindings.values())
                .filter(|b| refers(b))
                .map(|b| b.id.clone()),
        );
        affected
    }

    /// Every object that can carry cross-resource findings: workloads, Services,
    /// Ingresses and RBAC objects, in a stable order.
    pub fn subjects(&self) -> Vec<ObjectId> {
        let mut out = Vec::new();
        let mut names: Vec<&String> = self.namespaces.keys().collect();
        names.sort();
        for name in names {
            out.extend(self.subjects_in(name));
        }
        out.extend(self.cluster_roles.values().map(|r| r.id.clone()));
        out.extend(self.cluster_bindings.values().map(|b| b.id.clone()));
        out
    }

    /// The subjects of one namespace (what a policy change there re-judges).
    pub fn subjects_in(&self, namespace: &str) -> Vec<ObjectId> {
        let Some(ns) = self.namespaces.get(namespace) else {
            return Vec::new();
        };
        let mut out: Vec<ObjectId> = ns
            .workloads
            .keys()
            .map(|(kind, w)| workload_id(*kind, namespace, w))
            .collect();
        out.extend(ns.services.values().map(|s| s.id.clone()));
        out.extend(ns.ingresses.values().map(|i| i.id.clone()));
        out.extend(ns.roles.values().map(|r| r.id.clone()));
        out.extend(ns.bindings.values().map(|b| b.id.clone()));
        out
    }

    /// The ids of every held related object of `kind` (what a relist of that kind prunes,
    /// and what a stopped watch forgets).
    pub fn ids(&self, kind: ObjectKind) -> Vec<ObjectId> {
        fn ids<T>(map: &BTreeMap<String, T>, id: impl Fn(&T) -> &ObjectId) -> Vec<ObjectId> {
            map.values().map(|o| id(o).clone()).collect()
        }
        match kind {
            ObjectKind::ClusterRole => return ids(&self.cluster_roles, |r| &r.id),
            ObjectKind::ClusterRoleBinding => return ids(&self.cluster_bindings, |b| &b.id),
            _ => {}
        }
        let mut out = Vec::new();
        for ns in self.namespaces.values() {
            out.extend(match kind {
                ObjectKind::PodDisruptionBudget => ids(&ns.pdbs, |o| &o.id),
                ObjectKind::HorizontalPodAutoscaler => ids(&ns.hpas, |o| &o.id),
                ObjectKind::NetworkPolicy => ids(&ns.policies, |o| &o.id),
                ObjectKind::Service => ids(&ns.services, |o| &o.id),
                ObjectKind::Ingress => ids(&ns.ingresses, |o| &o.id),
                ObjectKind::ServiceAccount => ids(&ns.accounts, |o| &o.id),
                ObjectKind::Role => ids(&ns.roles, |o| &o.id),
                ObjectKind::RoleBinding => ids(&ns.bindings, |o| &o.id),
                _ => Vec::new(),
            });
        }
        out
    }
}

/// Services of a namespace whose selector passes `test`.
fn services_selecting(
    ns: &Namespace,
    _namespace: &str,
    test: impl Fn(&Selector) -> bool,
) -> Vec<ObjectId> {
    ns.services
        .values()
        .filter(|s| !s.selector.is_empty() && test(&Selector::from_map(s.selector.clone())))
        .map(|s| s.id.clone())
        .collect()
}

/// The subjects of one namespace that a PDB, HPA, NetworkPolicy, Service, Ingress,
/// ServiceAccount, Role or RoleBinding bears on.
fn affected_in_namespace(ns: &Namespace, object: &RelatedObject, namespace: &str) -> Vec<ObjectId> {
    match object {
        RelatedObject::Pdb(p) => match &p.selector {
            Some(s) => ns.workloads_selected(namespace, [s]),
            None => Vec::new(),
        },
        RelatedObject::NetworkPolicy(p) => ns.workloads_selected(namespace, [&p.pod_selector]),
        RelatedObject::Hpa(h) => ns
            .workloads
            .keys()
            .filter(|(kind, name)| kind.as_str() == h.target_kind && *name == h.target_name)
            .map(|(kind, name)| workload_id(*kind, namespace, name))
            .collect(),
        RelatedObject::ServiceAccount(a) => ns
            .workloads
            .iter()
            .filter(|(_, w)| w.service_account == a.id.name)
            .map(|((kind, name), _)| workload_id(*kind, namespace, name))
            .collect(),
        RelatedObject::Service(s) => vec![s.id.clone()],
        RelatedObject::Ingress(i) => vec![i.id.clone()],
        RelatedObject::Role(r) => vec![r.id.clone()],
        RelatedObject::Binding(b) => vec![b.id.clone()],
    }
}

#[cfg(test)]
mod tests;
