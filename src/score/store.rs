//! The live pod state: every scored pod's facts, kept compact, with its current score.
//!
//! In: pod facts from the watch (applied, deleted, relisted) and the policy set. Out:
//! namespace and cluster [`Score`]s, per-pod scores, and [`NamespaceEvaluation`]s (every
//! finding of every pod of a namespace) computed from the stored facts, so a policy
//! change re-judges a namespace and an operator reconcile evaluates it without a relist.
//!
//! Facts are the state that is judged again, so they are kept, but small: what a pod
//! shares with its siblings (containers, images, probes, security settings, owners,
//! exemptions) is one immutable template per controller, shared by every replica whose
//! template is equal; a pod adds only its name, restart counts, phase and creation time.
//! Pods of excluded namespaces and pods that have terminated are not kept. Every event
//! costs O(1) apart from the one evaluation; re-judging a namespace costs its pods.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use jiff::Timestamp;

use super::{Aggregate, PodScore, Score};
#[cfg(test)]
use crate::checks::evaluate;
use crate::checks::{Finding, pod_score};
use crate::facts::{OwnerRef, PodFacts, PodRuntime};
use crate::policy::PolicySet;

/// `restarts` entry of a container that reports no restart count.
const NO_RESTARTS: i32 = i32::MIN;

/// A pod's phase, without a string for the common ones.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Unset,
    Pending,
    Running,
    Unknown,
    Other(Box<str>),
}

impl Phase {
    fn of(phase: Option<&str>) -> Phase {
        match phase {
            None => Phase::Unset,
            Some("Pending") => Phase::Pending,
            Some("Running") => Phase::Running,
            Some("Unknown") => Phase::Unknown,
            Some(other) => Phase::Other(other.into()),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Phase::Unset => None,
            Phase::Pending => Some("Pending"),
            Phase::Running => Some("Running"),
            Phase::Unknown => Some("Unknown"),
            Phase::Other(s) => Some(s),
        }
    }
}

/// One stored pod.
#[derive(Debug)]
struct Slot {
    uid: Arc<str>,
    name: Arc<str>,
    namespace: Arc<str>,
    template: Arc<PodFacts>,
    /// Restart count per container of the template, [`NO_RESTARTS`] when not reported;
    /// empty when no container reports one.
    restarts: Box<[i32]>,
    /// `None` when the facts carried no live status at all.
    phase: Option<Phase>,
    /// Creation time in whole seconds (the API server's precision).
    pending_since: Option<i64>,
    score: PodScore,
    /// Position in its namespace's pod list.
    pos: u32,
}

impl Slot {
    /// Writes this pod's own fields into `facts`, a copy of its template (or of a sibling
    /// pod's facts: everything per pod is overwritten).
    fn fill(&self, facts: &mut PodFacts) {
        for (i, c) in facts.containers.iter_mut().enumerate() {
            c.restart_count = self.restarts.get(i).copied().filter(|r| *r != NO_RESTARTS);
        }
        let pending_since = self
            .pending_since
            .and_then(|s| Timestamp::from_second(s).ok());
        match (&mut facts.runtime, &self.phase) {
            (_, None) => facts.runtime = None,
            (Some(rt), Some(phase)) => {
                if rt.phase.as_deref() != phase.as_str() {
                    rt.phase = phase.as_str().map(str::to_owned);
                }
                rt.pending_since = pending_since;
            }
            (None, Some(phase)) => {
                facts.runtime = Some(PodRuntime {
                    phase: phase.as_str().map(str::to_owned),
                    pending_since,
                });
            }
        }
    }

    fn facts(&self) -> PodFacts {
        let mut facts = (*self.template).clone();
        facts.object.name = self.name.to_string();
        self.fill(&mut facts);
        facts
    }

    fn is_pending(&self) -> bool {
        self.phase == Some(Phase::Pending)
    }
}

#[derive(Debug, Default)]
struct NamespaceState {
    pods: Vec<u32>,
    aggregate: Aggregate,
}

/// What an event did to a namespace's score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The namespace.
    pub namespace: Arc<str>,
    /// The pod's score before, `None` for a pod not held.
    pub before: Option<PodScore>,
    /// The pod's score after, `None` when it is no longer held.
    pub after: Option<PodScore>,
}

/// One pod of a [`NamespaceEvaluation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvaluation {
    /// The pod's uid.
    pub uid: Arc<str>,
    /// The pod's name.
    pub name: Arc<str>,
    /// What it shares with its siblings: containers, owners, exemptions.
    pub template: Arc<PodFacts>,
    /// Every finding, counted and exempt.
    pub findings: Vec<Finding>,
}

impl PodEvaluation {
    /// The pod's controller (`ownerReferences` entry with `controller: true`), if any.
    pub fn controller(&self) -> Option<&OwnerRef> {
        self.template.controller()
    }
}

/// Every finding of every scored pod of one namespace, at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceEvaluation {
    /// The namespace.
    pub namespace: String,
    /// Its score; `None` when no pod is scored.
    pub score: Option<Score>,
    /// The scored pods, by name.
    pub pods: Vec<PodEvaluation>,
}

impl NamespaceEvaluation {
    /// Counted findings of every pod.
    pub fn counted(&self) -> impl Iterator<Item = (&PodEvaluation, &Finding)> {
        self.pods
            .iter()
            .flat_map(|p| p.findings.iter().map(move |f| (p, f)))
            .filter(|(_, f)| f.is_counted())
    }
}

/// The stored pods and their scores.
#[derive(Debug, Default)]
pub struct PodStore {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_uid: HashMap<Arc<str>, u32>,
    namespaces: HashMap<Arc<str>, NamespaceState>,
    cluster: Aggregate,
    templates: HashMap<Box<str>, Weak<PodFacts>>,
    pending: HashSet<u32>,
    related: cross::RelatedFindings,
}

impl PodStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, index: u32) -> Option<&Slot> {
        self.slots.get(index as usize).and_then(Option::as_ref)
    }

    /// The shared template equal to `template` (a pod's facts without its own fields),
    /// or `template` itself, shared from now on.
    fn share(&mut self, template: PodFacts) -> Arc<PodFacts> {
        if let Some(existing) = template
            .controller()
            .and_then(|o| self.templates.get(o.uid.as_str()))
            .and_then(Weak::upgrade)
            .filter(|t| **t == template)
        {
            return existing;
        }
        let key: Option<Box<str>> = template.controller().map(|o| o.uid.as_str().into());
        let shared = Arc::new(template);
        if let Some(k) = key {
            self.templates.insert(k, Arc::downgrade(&shared));
        }
        shared
    }

    fn namespace_key(&self, ns: &str) -> Arc<str> {
        match self.namespaces.get_key_value(ns) {
            Some((k, _)) => k.clone(),
            None => Arc::from(ns),
        }
    }

    /// Records a pod's facts and judges it under `policies`. A pod of an excluded
    /// namespace or one that has terminated is dropped (and forgotten if it was held).
    /// `None` when nothing was held before and nothing is held now. The facts are taken
    /// apart, not copied: what is the pod's own is kept in its slot, the rest becomes (or
    /// joins) a shared template.
    pub fn apply(
        &mut self,
        mut facts: PodFacts,
        policies: &PolicySet,
        now: Timestamp,
    ) -> Option<Change> {
        let uid = facts.uid.take()?;
        let ns = facts.object.namespace.as_str();
        let policy = policies.resolve(ns).policy();
        let Some(policy) = policy.filter(|_| !facts.is_terminated()) else {
            return self.delete(&uid);
        };
        let score = pod_score(&self.related.judged(&facts, &facts.object.name, policy, now));
        let reported = facts.containers.iter().any(|c| c.restart_count.is_some());
        let restarts: Vec<i32> = facts
            .containers
            .iter_mut()
            .map(|c| c.restart_count.take().unwrap_or(NO_RESTARTS))
            .filter(|_| reported)
            .collect();
        let runtime = facts.runtime.take();
        let phase = runtime.as_ref().map(|r| Phase::of(r.phase.as_deref()));
        let pending_since = runtime.and_then(|r| r.pending_since).map(|t| t.as_second());
        let name = std::mem::take(&mut facts.object.name);
        // The common event: a known pod changed (status, restarts) in place.
        if let Some(&index) = self.by_uid.get(uid.as_str())
            && self
                .slot(index)
                .is_some_and(|s| *s.namespace == *facts.object.namespace)
        {
            let template = match self.slot(index) {
                Some(s) if *s.template == facts => s.template.clone(),
                _ => self.share(facts),
            };
            let slot = self.slots.get_mut(index as usize)?.as_mut()?;
            if *slot.name != *name {
                slot.name = Arc::from(name.as_str());
            }
            if *slot.restarts != *restarts {
                slot.restarts = restarts.into_boxed_slice();
            }
            let old = std::mem::replace(&mut slot.template, template);
            slot.phase = phase;
            slot.pending_since = pending_since;
            let (namespace, before, pending) =
                (slot.namespace.clone(), slot.score, slot.is_pending());
            self.release(old);
            self.rescore(index, score);
            if pending {
                self.pending.insert(index);
            } else {
                self.pending.remove(&index);
            }
            return Some(Change {
                namespace,
                before: Some(before),
                after: Some(score),
            });
        }
        let before = self.remove_slot(&uid).map(|(_, s)| s);
        let namespace = self.namespace_key(ns);
        let slot = Slot {
            uid: Arc::from(uid.as_str()),
            name: Arc::from(name.as_str()),
            namespace: namespace.clone(),
            template: self.share(facts),
            restarts: restarts.into_boxed_slice(),
            phase,
            pending_since,
            score,
            pos: 0,
        };
        self.insert_slot(slot);
        Some(Change {
            namespace,
            before,
            after: Some(score),
        })
    }

    fn insert_slot(&mut self, mut slot: Slot) {
        let state = self.namespaces.entry(slot.namespace.clone()).or_default();
        state.aggregate.add(slot.score.penalty);
        self.cluster.add(slot.score.penalty);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        slot.pos = state.pods.len() as u32;
        state.pods.push(index);
        if slot.is_pending() {
            self.pending.insert(index);
        }
        self.by_uid.insert(slot.uid.clone(), index);
        self.slots[index as usize] = Some(slot);
    }

    fn remove_slot(&mut self, uid: &str) -> Option<(Arc<str>, PodScore)> {
        let index = self.by_uid.remove(uid)?;
        let slot = self.slots.get_mut(index as usize)?.take()?;
        self.free.push(index);
        self.pending.remove(&index);
        self.cluster.remove(slot.score.penalty);
        if let Some(state) = self.namespaces.get_mut(&slot.namespace) {
            state.aggregate.remove(slot.score.penalty);
            let pos = slot.pos as usize;
            state.pods.swap_remove(pos);
            if let Some(&moved) = state.pods.get(pos)
                && let Some(Some(m)) = self.slots.get_mut(moved as usize)
            {
                m.pos = pos as u32;
            }
            if state.pods.is_empty() {
                self.namespaces.remove(&slot.namespace);
            }
        }
        let (namespace, score) = (slot.namespace.clone(), slot.score);
        self.release(slot.template);
        Some((namespace, score))
    }

    /// Drops a slot's hold on a template: the last pod of a template takes its sharing
    /// entry with it.
    fn release(&mut self, template: Arc<PodFacts>) {
        if Arc::strong_count(&template) == 1
            && let Some(owner) = template.controller()
            && self
                .templates
                .get(owner.uid.as_str())
                .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&template)))
        {
            self.templates.remove(owner.uid.as_str());
        }
    }

    /// Forgets a pod. `None` when it was not held.
    pub fn delete(&mut self, uid: &str) -> Option<Change> {
        let (namespace, before) = self.remove_slot(uid)?;
        Some(Change {
            namespace,
            before: Some(before),
            after: None,
        })
    }

    /// Forgets every pod whose uid `keep` refuses (the pods a relist did not see again).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) -> Vec<Change> {
        let gone: Vec<Arc<str>> = self
            .by_uid
            .keys()
            .filter(|uid| !keep(uid))
            .cloned()
            .collect();
        gone.iter().filter_map(|uid| self.delete(uid)).collect()
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    fn rescore(&mut self, index: u32, score: PodScore) -> bool {
        let Some(Some(slot)) = self.slots.get_mut(index as usize) else {
            return false;
        };
        if slot.score == score {
            return false;
        }
        let old = std::mem::replace(&mut slot.score, score);
        self.cluster.remove(old.penalty);
        self.cluster.add(score.penalty);
        if let Some(state) = self.namespaces.get_mut(&slot.namespace) {
            state.aggregate.remove(old.penalty);
            state.aggregate.add(score.penalty);
        }
        true
    }

    /// Evaluates every pod of `ns` under its current resolution and refreshes their
    /// scores: what a reconcile reads, and how a policy change re-judges a namespace.
    pub fn evaluate(
        &mut self,
        ns: &str,
        policies: &PolicySet,
        now: Timestamp,
    ) -> NamespaceEvaluation {
        let mut pods = Vec::new();
        let mut indices: Vec<u32> = self
            .namespaces
            .get(ns)
            .map(|s| s.pods.clone())
            .unwrap_or_default();
        match policies.resolve(ns).policy() {
            Some(policy) => {
                // Siblings one after another: each template is copied once, and each pod
                // only writes its own fields into the copy.
                indices.sort_by_key(|i| self.slot(*i).map(|s| Arc::as_ptr(&s.template)));
                let mut scratch: Option<(*const PodFacts, PodFacts)> = None;
                for index in indices {
                    let Some(slot) = self.slot(index) else {
                        continue;
                    };
                    let shared = Arc::as_ptr(&slot.template);
                    let facts = match &mut scratch {
                        Some((ptr, facts)) if *ptr == shared => facts,
                        _ => &mut scratch.insert((shared, (*slot.template).clone())).1,
                    };
                    slot.fill(facts);
                    let findings = self.related.judged(facts, &slot.name, policy, now);
                    let pod = PodEvaluation {
                        uid: slot.uid.clone(),
                        name: slot.name.clone(),
                        template: slot.template.clone(),
                        findings,
                    };
                    self.rescore(index, pod_score(&pod.findings));
                    pods.push(pod);
                }
            }
            None => {
                // Newly excluded: nothing here is scored any more.
                let uids: Vec<Arc<str>> = indices
                    .iter()
                    .filter_map(|i| self.slot(*i).map(|s| s.uid.clone()))
                    .collect();
                for uid in uids {
                    self.remove_slot(&uid);
                }
            }
        }
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        NamespaceEvaluation {
            namespace: ns.to_owned(),
            score: self.namespace(ns),
            pods,
        }
    }

    /// Re-judges the Pending pods (a pod becomes "pending too long" without any event).
    /// Returns the namespaces whose score changed.
    pub fn recheck_pending(&mut self, policies: &PolicySet, now: Timestamp) -> Vec<Arc<str>> {
        let mut changed: Vec<Arc<str>> = Vec::new();
        let pending: Vec<u32> = self.pending.iter().copied().collect();
        for index in pending {
            let Some(slot) = self.slot(index) else {
                continue;
            };
            let Some(policy) = policies.resolve(&slot.namespace).policy() else {
                continue;
            };
            let namespace = slot.namespace.clone();
            let score = pod_score(&self.related.judged(&slot.facts(), &slot.name, policy, now));
            if self.rescore(index, score) && !changed.contains(&namespace) {
                changed.push(namespace);
            }
        }
        changed
    }

    /// A namespace's score; `None` when it has no scored pods.
    pub fn namespace(&self, ns: &str) -> Option<Score> {
        self.namespaces
            .get(ns)
            .and_then(|s| self.with_objects(ns, s.aggregate).score())
    }

    /// Every namespace with pods and its aggregate (its objects' penalties included).
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, Aggregate)> {
        self.namespaces
            .iter()
            .map(|(k, v)| (&**k, self.with_objects(k, v.aggregate)))
    }

    fn with_objects(&self, ns: &str, mut aggregate: Aggregate) -> Aggregate {
        aggregate.penalty = aggregate.penalty + self.related.namespace_penalty(ns);
        aggregate
    }

    /// The cluster score over every scored pod (and every judged object's penalty).
    pub fn cluster(&self) -> Option<Score> {
        let mut aggregate = self.cluster;
        aggregate.penalty = aggregate.penalty + self.related.total();
        aggregate.score()
    }

    /// Pods held.
    pub fn len(&self) -> usize {
        self.by_uid.len()
    }

    /// True when no pod is held.
    pub fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }

    /// Uids of the pods held.
    pub fn uids(&self) -> impl Iterator<Item = &str> {
        self.by_uid.keys().map(|k| &**k)
    }

    /// The namespace of a held pod.
    pub fn namespace_of(&self, uid: &str) -> Option<&str> {
        self.by_uid
            .get(uid)
            .and_then(|i| self.slot(*i))
            .map(|s| &*s.namespace)
    }

    /// A held pod's score.
    pub fn pod(&self, uid: &str) -> Option<PodScore> {
        self.by_uid
            .get(uid)
            .and_then(|i| self.slot(*i))
            .map(|s| s.score)
    }

    /// Every held pod's score.
    pub fn scores(&self) -> impl Iterator<Item = PodScore> + '_ {
        self.slots.iter().flatten().map(|s| s.score)
    }

    /// Distinct pod templates held (for memory diagnostics).
    pub fn template_count(&self) -> usize {
        let mut seen: HashSet<*const PodFacts> = HashSet::new();
        for s in self.slots.iter().flatten() {
            seen.insert(Arc::as_ptr(&s.template));
        }
        seen.len()
    }
}

#[path = "store_cross.rs"]
mod cross;

#[cfg(test)]
#[path = "store_cross_tests.rs"]
mod cross_tests;

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
