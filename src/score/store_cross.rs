//! What related objects add to the live pod state: the cross-resource verdicts of
//! workloads and the penalties of the other judged objects.
//!
//! In: a [`Verdict`] per workload and a penalty per Service, Ingress or RBAC object, set by
//! the controller whenever the index says a subject may have changed. Out: pod findings
//! and scores that include their workload's verdict (a workload's cross-resource finding
//! counts once per live pod of it, its settled checks are dropped from its pods' findings),
//! and namespace and cluster scores that include the other objects' penalties, which count
//! in their namespace (a ClusterRole's or ClusterRoleBinding's in the cluster only) and
//! add no pod, as in the audit. Setting a verdict re-judges only the pods of that workload.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::PodStore;
use crate::checks::{Finding, evaluate, pod_score};
use crate::cross::{ObjectId, Verdict, workload_of};
use crate::facts::PodFacts;
use crate::policy::{EffectivePolicy, PolicySet};
use crate::score::Penalty;

/// The verdicts and object penalties the store holds.
#[derive(Debug, Default)]
pub(super) struct RelatedFindings {
    /// Workloads with a non-empty verdict.
    workloads: HashMap<ObjectId, Arc<Verdict>>,
    /// Judged objects other than workloads with a non-zero penalty.
    objects: HashMap<ObjectId, Penalty>,
    /// Sum of `objects` per namespace (`""`: the cluster-scoped ones).
    namespaces: HashMap<String, Penalty>,
    /// Sum of every object penalty.
    total: Penalty,
}

impl RelatedFindings {
    /// A pod's findings: its own under `policy`, less the checks its workload's related
    /// objects settle, plus its workload's cross-resource findings.
    pub(super) fn judged(
        &self,
        facts: &PodFacts,
        name: &str,
        policy: &EffectivePolicy,
        now: Timestamp,
    ) -> Vec<Finding> {
        let mut findings = evaluate(facts, policy, now);
        if self.workloads.is_empty() {
            return findings;
        }
        if let Some(v) = self.workloads.get(&workload_of(facts, name)) {
            findings.retain(|f| !v.settled.contains(f.check));
            findings.extend(v.findings.iter().cloned());
        }
        findings
    }

    /// What the namespace's objects other than workloads add to its penalty.
    pub(super) fn namespace_penalty(&self, ns: &str) -> Penalty {
        self.namespaces.get(ns).copied().unwrap_or_default()
    }

    /// What every object other than a workload adds to the cluster's penalty.
    pub(super) fn total(&self) -> Penalty {
        self.total
    }
}

impl PodStore {
    /// Sets a workload's verdict and re-judges its live pods under `policies` if it
    /// changed. Returns the namespace when a pod's score changed.
    pub fn set_verdict(
        &mut self,
        workload: &ObjectId,
        verdict: Verdict,
        policies: &PolicySet,
        now: Timestamp,
    ) -> Option<Arc<str>> {
        let held = self.related.workloads.get(workload);
        if held.map_or(verdict.is_empty(), |h| **h == verdict) {
            return None;
        }
        if verdict.is_empty() {
            self.related.workloads.remove(workload);
        } else {
            self.related
                .workloads
                .insert(workload.clone(), Arc::new(verdict));
        }
        let policy = policies.resolve(&workload.namespace).policy()?;
        let indices = self
            .namespaces
            .get(workload.namespace.as_str())?
            .pods
            .clone();
        let mut changed = false;
        for index in indices {
            let Some(slot) = self.slot(index) else {
                continue;
            };
            if workload_of(&slot.template, &slot.name) != *workload {
                continue;
            }
            let findings = self.related.judged(&slot.facts(), &slot.name, policy, now);
            changed |= self.rescore(index, pod_score(&findings));
        }
        changed.then(|| self.namespace_key(&workload.namespace))
    }

    /// Sets the penalty of a judged object other than a workload (a Service, an Ingress,
    /// an RBAC object). Returns whether it changed.
    pub fn set_object_penalty(&mut self, object: &ObjectId, penalty: Penalty) -> bool {
        let r = &mut self.related;
        let old = r.objects.get(object).copied().unwrap_or_default();
        if old == penalty {
            return false;
        }
        if penalty == Penalty(0) {
            r.objects.remove(object);
        } else {
            r.objects.insert(object.clone(), penalty);
        }
        let ns = r.namespaces.entry(object.namespace.clone()).or_default();
        *ns = Penalty(ns.0.saturating_sub(old.0).saturating_add(penalty.0));
        if ns.0 == 0 {
            r.namespaces.remove(&object.namespace);
        }
        r.total = Penalty(r.total.0.saturating_sub(old.0).saturating_add(penalty.0));
        true
    }

    /// The facts of every held pod, uid included (what an index of workloads is built
    /// from when it starts being needed).
    pub fn for_each_pod(&self, mut f: impl FnMut(PodFacts)) {
        for slot in self.slots.iter().flatten() {
            let mut facts = slot.facts();
            facts.uid = Some(slot.uid.to_string());
            f(facts);
        }
    }

    /// The verdict held for a workload, if it says anything.
    pub fn verdict(&self, workload: &ObjectId) -> Option<&Verdict> {
        self.related.workloads.get(workload).map(Arc::as_ref)
    }

    /// Namespaces whose objects other than workloads carry a penalty.
    pub fn penalised_namespaces(&self) -> impl Iterator<Item = &str> {
        self.related.namespaces.keys().map(String::as_str)
    }
}
