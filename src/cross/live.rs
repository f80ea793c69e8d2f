//! The live controller's side of the index: workloads as their watched pods show them.
//!
//! In: pod facts as the pod watch delivers them (applied, deleted, pruned after a relist)
//! and related objects as their watches deliver them (applied, deleted, pruned after a
//! relist of their kind, forgotten when their watch stops). Out: on every change the
//! subjects whose findings may have changed (the [`CrossIndex`] decides which), and for a
//! subject under a policy its [`Verdict`]: its cross-resource findings and, for a
//! workload, the pod findings that related objects settle.
//!
//! The controller watches pods, not workload objects, so a workload here is what its live
//! pods show: found from a pod's controller reference ([`workload_of`]); its labels,
//! service account and exemptions are those of its latest pod; its replicas, for the kinds
//! that have them, the number of its live pods. A Deployment scaled to three runs three
//! pods, so this agrees with its `spec.replicas` except while it rolls out or scales.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;

use super::{CrossIndex, Judge, ObjectId, ObjectKind, RelatedObject, WorkloadEntry, kinds_needed};
use crate::checks::{CheckId, Finding, finding};
use crate::facts::{PodFacts, WorkloadKind};
use crate::policy::{EffectivePolicy, PolicySet};
use crate::score::{CheckMask, Penalty};

/// The related kinds the policies of a set need: over its default policy and every
/// namespace's DevOpsPolicies (what the live controller watches).
pub fn kinds_needed_by(set: &PolicySet) -> BTreeSet<ObjectKind> {
    let mut kinds = kinds_needed(set.default_policy());
    for ns in set.namespaces() {
        if let Some(policy) = set.namespace(ns).and_then(|p| p.union()) {
            kinds.extend(kinds_needed(policy));
        }
    }
    kinds
}

/// The label the Deployment controller gives a ReplicaSet and its pods: the hash that
/// also ends the ReplicaSet's name (`<deployment>-<hash>`).
pub const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// The workload a live pod belongs to: its controller, except that a ReplicaSet made by a
/// Deployment (named `<deployment>-<pod-template-hash>`, the pod labelled with that hash)
/// stands for its Deployment; a pod without a controller of a known kind is its own
/// workload. `name` is the pod's name (facts of a shared template may not carry it).
pub fn workload_of(facts: &PodFacts, name: &str) -> ObjectId {
    let ns = Some(facts.object.namespace.as_str());
    let pod = || ObjectId::new(ObjectKind::Workload(WorkloadKind::Pod), ns, name);
    let Some(owner) = facts.controller() else {
        return pod();
    };
    let Some(kind) = WorkloadKind::from_kind(&owner.kind).filter(|k| *k != WorkloadKind::Pod)
    else {
        return pod();
    };
    if kind == WorkloadKind::ReplicaSet
        && let Some(deployment) = facts
            .labels
            .get(TEMPLATE_HASH_LABEL)
            .and_then(|hash| owner.name.strip_suffix(hash.as_str()))
            .and_then(|n| n.strip_suffix('-'))
            .filter(|n| !n.is_empty())
    {
        return ObjectId::new(
            ObjectKind::Workload(WorkloadKind::Deployment),
            ns,
            deployment,
        );
    }
    ObjectId::new(ObjectKind::Workload(kind), ns, &owner.name)
}

/// Kinds whose replicas the live pods count.
fn counts_replicas(kind: Option<WorkloadKind>) -> bool {
    matches!(
        kind,
        Some(
            WorkloadKind::Deployment
                | WorkloadKind::StatefulSet
                | WorkloadKind::ReplicaSet
                | WorkloadKind::ReplicationController
        )
    )
}

/// A workload's live pods and the entry they make.
#[derive(Debug)]
struct Placement {
    pods: HashSet<Arc<str>>,
    entry: WorkloadEntry,
}

/// What a subject's related objects say under a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Its cross-resource findings, counted and skipped.
    pub findings: Vec<Finding>,
    /// For a workload: the checks its pods fail that related objects settle (a
    /// ServiceAccount that opts out of token mounting), to be dropped from their findings.
    pub settled: CheckMask,
}

impl Verdict {
    /// The sum of the counted findings' penalties.
    pub fn penalty(&self) -> Penalty {
        self.findings
            .iter()
            .filter(|f| f.is_counted())
            .map(|f| f.penalty)
            .sum()
    }

    /// Whether it says nothing.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty() && self.settled == CheckMask::default()
    }
}

/// The index of the live controller: related objects from their watches and workloads
/// from the pod watch.
#[derive(Debug, Default)]
pub struct LiveCross {
    index: CrossIndex,
    pods: HashMap<Arc<str>, ObjectId>,
    workloads: HashMap<ObjectId, Placement>,
    relists: HashMap<ObjectKind, HashSet<ObjectId>>,
}

impl LiveCross {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index the verdicts are read from.
    pub fn index(&self) -> &CrossIndex {
        &self.index
    }

    /// Records a live pod (a terminated one is forgotten). Returns the affected subjects.
    pub fn apply_pod(&mut self, facts: &PodFacts) -> Vec<ObjectId> {
        let Some(uid) = facts.uid.as_deref() else {
            return Vec::new();
        };
        if facts.is_terminated() {
            return self.delete_pod(uid);
        }
        let id = workload_of(facts, &facts.object.name);
        let mut affected = match self.pods.get(uid) {
            Some(old) if *old != id => self.delete_pod(uid),
            _ => Vec::new(),
        };
        let uid: Arc<str> = Arc::from(uid);
        self.pods.insert(uid.clone(), id.clone());
        let mut entry = WorkloadEntry::of(facts);
        if id.kind == ObjectKind::Workload(WorkloadKind::Deployment) {
            // The Deployment's template labels, as a Service or a PDB sees them.
            entry.labels.remove(TEMPLATE_HASH_LABEL);
        }
        let placement = self.workloads.entry(id.clone()).or_insert(Placement {
            pods: HashSet::new(),
            entry: entry.clone(),
        });
        placement.pods.insert(uid);
        entry.replicas = counts_replicas(id.workload_kind())
            .then(|| i32::try_from(placement.pods.len()).unwrap_or(i32::MAX));
        if placement.pods.len() > 1 && placement.entry == entry {
            return affected;
        }
        placement.entry = entry.clone();
        affected.extend(self.index.apply_entry(id, entry));
        affected
    }

    /// Forgets a pod. Returns the affected subjects.
    pub fn delete_pod(&mut self, uid: &str) -> Vec<ObjectId> {
        let Some(id) = self.pods.remove(uid) else {
            return Vec::new();
        };
        let Some(placement) = self.workloads.get_mut(&id) else {
            return Vec::new();
        };
        placement.pods.remove(uid);
        if placement.pods.is_empty() {
            self.workloads.remove(&id);
            let mut affected = self.index.delete_workload(&id);
            affected.push(id);
            return affected;
        }
        if counts_replicas(id.workload_kind()) {
            placement.entry.replicas = i32::try_from(placement.pods.len()).ok();
            let entry = placement.entry.clone();
            return self.index.apply_entry(id, entry);
        }
        Vec::new()
    }

    /// Forgets every pod whose uid `keep` refuses (those a relist did not list again).
    pub fn retain_pods(&mut self, keep: impl Fn(&str) -> bool) -> Vec<ObjectId> {
        let gone: Vec<Arc<str>> = self.pods.keys().filter(|u| !keep(u)).cloned().collect();
        let mut affected: Vec<ObjectId> = gone.iter().flat_map(|u| self.delete_pod(u)).collect();
        affected.sort();
        affected.dedup();
        affected
    }

    /// Records a related object. Returns the affected subjects.
    pub fn apply(&mut self, object: RelatedObject) -> Vec<ObjectId> {
        self.index.apply(object)
    }

    /// Forgets a related object. Returns the affected subjects (the object itself among
    /// them when it was a subject).
    pub fn delete(&mut self, id: &ObjectId) -> Vec<ObjectId> {
        let mut affected = self.index.delete(id);
        affected.push(id.clone());
        affected.sort();
        affected.dedup();
        affected
    }

    /// Forgets every related object of `kind` that `keep` refuses: after a relist of the
    /// kind, those it did not list again; when its watch stops, all of them.
    pub fn retain(&mut self, kind: ObjectKind, keep: impl Fn(&ObjectId) -> bool) -> Vec<ObjectId> {
        let gone: Vec<ObjectId> = self
            .index
            .ids(kind)
            .into_iter()
            .filter(|id| !keep(id))
            .collect();
        let mut affected: Vec<ObjectId> = gone.iter().flat_map(|id| self.delete(id)).collect();
        affected.sort();
        affected.dedup();
        affected
    }

    /// Records an object of a relist; when it completes ([`LiveCross::relist_done`]),
    /// the objects of its kind it did not list are forgotten.
    pub fn relisted(&mut self, object: RelatedObject) -> Vec<ObjectId> {
        let (kind, id) = (object.id().kind, object.id().clone());
        if let Some(seen) = self.relists.get_mut(&kind) {
            seen.insert(id);
        }
        self.apply(object)
    }

    /// A relist of `kind` begins.
    pub fn relist_started(&mut self, kind: ObjectKind) {
        self.relists.insert(kind, HashSet::new());
    }

    /// A relist of `kind` completed: forgets what it did not list. Returns the affected
    /// subjects.
    pub fn relist_done(&mut self, kind: ObjectKind) -> Vec<ObjectId> {
        match self.relists.remove(&kind) {
            Some(seen) => self.retain(kind, |id| seen.contains(id)),
            None => Vec::new(),
        }
    }

    /// The watch of `kind` stopped: forgets its objects. Returns the affected subjects.
    pub fn forget(&mut self, kind: ObjectKind) -> Vec<ObjectId> {
        self.relists.remove(&kind);
        self.retain(kind, |_| false)
    }

    /// What the related objects say of `subject` under a policy set: a namespaced subject
    /// under its namespace's resolution (nothing when excluded), a cluster-scoped one
    /// (ClusterRole, ClusterRoleBinding) under the default policy.
    pub fn verdict_in(&self, subject: &ObjectId, set: &PolicySet, now: Timestamp) -> Verdict {
        let policy = if subject.kind.is_cluster_scoped() {
            Some(set.default_policy())
        } else {
            set.resolve(&subject.namespace).policy()
        };
        let Some(policy) = policy else {
            return Verdict::default();
        };
        let judge = Judge {
            policy,
            exclusions: set.exclusions(),
            now,
        };
        self.verdict(subject, &judge)
    }

    /// Every subject of the namespaces in `namespaces` (every subject when `None`).
    pub fn subjects(&self, namespaces: Option<&[String]>) -> Vec<ObjectId> {
        match namespaces {
            None => self.index.subjects(),
            Some(list) => list
                .iter()
                .flat_map(|ns| self.index.subjects_in(ns))
                .collect(),
        }
    }

    /// What the related objects say of `subject` under `judge`.
    pub fn verdict(&self, subject: &ObjectId, judge: &Judge<'_>) -> Verdict {
        let findings = self.index.findings(subject, judge);
        let settled = match subject.workload_kind() {
            Some(_) => self.settled(subject, judge.policy, judge.now),
            None => CheckMask::default(),
        };
        Verdict { findings, settled }
    }

    /// The checks of a workload's pods that related objects settle: each check
    /// [`CrossIndex::refine`] would take out of the pods' findings.
    fn settled(&self, workload: &ObjectId, policy: &EffectivePolicy, now: Timestamp) -> CheckMask {
        let mut probe: Vec<Finding> = [CheckId::AutomountServiceAccountToken]
            .into_iter()
            .filter_map(|c| finding(c, None, String::new(), 1, policy, &[], now))
            .collect();
        let mut mask = CheckMask::default();
        for f in self.index.refine(workload, &mut probe) {
            mask.insert(f.check);
        }
        mask
    }

    /// Pods held.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
