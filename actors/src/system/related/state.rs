//! The score state's side of the cross-resource checks: the live index, and turning its
//! changes into verdicts in the pod state.
//!
//! In: pod facts (as the score state receives them), [`RelatedEvent`]s from the related
//! watches, and the policy set. Out: [`WatchKinds`] to the related watches whenever the
//! kinds the policies need change, and for each change the affected subjects re-judged
//! into the [`PodStore`] (a workload's verdict onto its pods, another object's penalty
//! onto its namespace or the cluster), answering the namespaces whose scores moved. Only
//! the subjects the index names are re-judged, never the cluster.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix::Recipient;
use jiff::Timestamp;
use kube_devops::cross::{LiveCross, ObjectId, ObjectKind, kinds_needed_by};
use kube_devops::facts::PodFacts;
use kube_devops::policy::PolicySet;
use kube_devops::score::store::PodStore;

use crate::system::messages::{RelatedEvent, WatchKinds};

/// The live index and where to ask for watches.
#[derive(Default)]
pub struct RelatedState {
    live: LiveCross,
    watcher: Option<Recipient<WatchKinds>>,
    kinds: BTreeSet<ObjectKind>,
}

impl RelatedState {
    /// Whether any policy in force needs a related kind (else nothing is judged).
    pub fn active(&self) -> bool {
        !self.kinds.is_empty()
    }

    /// Sets the related watches and tells them what `set` needs.
    pub fn set_watcher(
        &mut self,
        watcher: Recipient<WatchKinds>,
        set: &PolicySet,
        store: &PodStore,
    ) -> Vec<ObjectId> {
        self.watcher = Some(watcher);
        let forgotten = self.policies(set, store);
        self.send_kinds();
        forgotten
    }

    /// The policies changed: asks the watches for the kinds they need now. Workloads are
    /// indexed only while some policy needs a related kind: from the held pods when one
    /// first does, and forgotten when none does any more, so that without such a policy
    /// a pod event costs nothing here. Returns the subjects that were forgotten (to
    /// judge again, which clears their verdicts).
    pub fn policies(&mut self, set: &PolicySet, store: &PodStore) -> Vec<ObjectId> {
        let kinds = kinds_needed_by(set);
        if kinds == self.kinds {
            return Vec::new();
        }
        tracing::info!(kinds = ?kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(), "related kinds the policies need");
        let was = self.active();
        self.kinds = kinds;
        self.send_kinds();
        match (was, self.active()) {
            (false, true) => {
                store.for_each_pod(|facts| drop(self.live.apply_pod(&facts)));
                Vec::new()
            }
            (true, false) => {
                let subjects = self.live.subjects(None);
                self.live.retain_pods(|_| false);
                subjects
            }
            _ => Vec::new(),
        }
    }

    fn send_kinds(&self) {
        if let Some(w) = &self.watcher {
            // Rare and small: queued in order even when the mailbox is full.
            w.do_send(WatchKinds {
                kinds: self.kinds.clone(),
            });
        }
    }

    /// Records a pod; returns the subjects to re-judge.
    pub fn pod_applied(&mut self, facts: &PodFacts) -> Vec<ObjectId> {
        if !self.active() {
            return Vec::new();
        }
        self.live.apply_pod(facts)
    }

    /// Forgets a pod; returns the subjects to re-judge.
    pub fn pod_deleted(&mut self, uid: &str) -> Vec<ObjectId> {
        if !self.active() {
            return Vec::new();
        }
        self.live.delete_pod(uid)
    }

    /// Forgets the pods `keep` refuses (after a pod relist); returns the subjects to
    /// re-judge.
    pub fn pods_retained(&mut self, keep: impl Fn(&str) -> bool) -> Vec<ObjectId> {
        if !self.active() {
            return Vec::new();
        }
        self.live.retain_pods(keep)
    }

    /// Applies a related-object event; returns the subjects to re-judge.
    pub fn event(&mut self, event: RelatedEvent) -> Vec<ObjectId> {
        match event {
            RelatedEvent::Applied {
                object,
                relist: true,
            } => self.live.relisted(*object),
            RelatedEvent::Applied { object, .. } => self.live.apply(*object),
            RelatedEvent::Deleted { id } => self.live.delete(&id),
            RelatedEvent::RelistStarted { kind } => {
                self.live.relist_started(kind);
                Vec::new()
            }
            RelatedEvent::RelistDone { kind } => {
                let affected = self.live.relist_done(kind);
                tracing::debug!(kind = %kind, affected = affected.len(), "related objects relisted");
                affected
            }
            RelatedEvent::Stopped { kind } => self.live.forget(kind),
        }
    }

    /// Every subject of `namespaces` (all when `None`), to re-judge after a policy change.
    pub fn subjects(&self, namespaces: Option<&[String]>) -> Vec<ObjectId> {
        self.live.subjects(namespaces)
    }

    /// Re-judges `subjects` under `set` into `store`. Returns the namespaces whose scores
    /// changed (`""` for the cluster-scoped objects).
    pub fn judge(
        &self,
        mut subjects: Vec<ObjectId>,
        store: &mut PodStore,
        set: &PolicySet,
        now: Timestamp,
    ) -> Vec<Arc<str>> {
        subjects.sort();
        subjects.dedup();
        let mut changed: Vec<Arc<str>> = Vec::new();
        for subject in subjects {
            let verdict = self.live.verdict_in(&subject, set, now);
            if subject.workload_kind().is_some() {
                changed.extend(store.set_verdict(&subject, verdict, set, now));
                continue;
            }
            let penalty = verdict.penalty();
            if store.set_object_penalty(&subject, penalty) {
                let checks: Vec<&str> = verdict
                    .findings
                    .iter()
                    .filter(|f| f.is_counted())
                    .map(|f| f.check.as_str())
                    .collect();
                tracing::info!(object = %subject, ?checks, "object findings changed");
                changed.push(Arc::from(subject.namespace.as_str()));
            }
        }
        changed.sort();
        changed.dedup();
        changed
    }
}
