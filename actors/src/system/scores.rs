//! NamespaceScoreActor: the live score state.
//!
//! In: [`PodEvent`]s from the WatchActor. Out: namespace and cluster gauges, answers to
//! [`GetScores`], and structured log events when a namespace changes classification or a
//! pod gains or loses a finding (not on every event). Each event costs O(1): one evaluation,
//! one board update, two gauge writes. A relist keeps the old scores until it completes,
//! then drops the pods it did not see again, so scores never flap to empty. Pending pods
//! are re-evaluated on a timer, since a pod becomes "pending too long" without any event.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Supervised};
use jiff::Timestamp;
use kube_devops::checks::{CheckId, evaluate, pod_score};
use kube_devops::facts::PodFacts;
use kube_devops::policy::{EffectivePolicy, NamespaceExclusions};
use kube_devops::score::{Classification, ScoreBoard};

use super::health::{HEARTBEAT_INTERVAL, Health};
use super::messages::{GetScores, NamespaceView, PodEvent, ScoresView, TopFinding};
use crate::metrics::Metrics;

/// How often Pending pods are re-judged.
pub const PENDING_RECHECK: Duration = Duration::from_secs(10);
/// Mailbox capacity: events beyond it make the watcher wait (backpressure), never drop.
pub const MAILBOX: usize = 4096;

/// The live score state.
pub struct NamespaceScoreActor {
    board: ScoreBoard,
    policy: EffectivePolicy,
    exclusions: NamespaceExclusions,
    metrics: Metrics,
    health: Arc<Health>,
    relist_seen: Option<HashSet<String>>,
    pending: HashMap<String, PodFacts>,
}

impl NamespaceScoreActor {
    /// A fresh state judging with `policy`.
    pub fn new(
        policy: EffectivePolicy,
        exclusions: NamespaceExclusions,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> Self {
        NamespaceScoreActor {
            board: ScoreBoard::new(),
            policy,
            exclusions,
            metrics,
            health,
            relist_seen: None,
            pending: HashMap::new(),
        }
    }

    fn classification(&self, ns: &str) -> Option<Classification> {
        self.board.namespace(ns).map(|s| s.classification())
    }

    /// Writes the gauges of one namespace and of the cluster.
    fn publish(&self, ns: &str) {
        match self.board.namespace(ns) {
            Some(score) => self
                .metrics
                .namespace_health_score
                .with_label_values(&[ns])
                .set(score.value()),
            None => {
                // No scored pods: no series (never a stale 100).
                let _ = self
                    .metrics
                    .namespace_health_score
                    .remove_label_values(&[ns]);
            }
        }
        match self.board.cluster() {
            Some(score) => self.metrics.cluster_health_score.set(score.value()),
            None => self.metrics.cluster_health_score.set(100.0),
        }
        self.metrics.pods_tracked.set(self.board.len() as i64);
    }

    fn apply(&mut self, facts: PodFacts, relist: bool) {
        let Some(uid) = facts.uid.clone() else {
            return;
        };
        if let Some(seen) = self.relist_seen.as_mut().filter(|_| relist) {
            seen.insert(uid.clone());
        }
        let ns = facts.object.namespace.clone();
        if self.exclusions.is_excluded(&ns) || facts.is_terminated() {
            self.pending.remove(&uid);
            if self.board.delete(&uid).is_some() {
                self.publish(&ns);
            }
            return;
        }
        let before = self.classification(&ns);
        let findings = evaluate(&facts, &self.policy, Timestamp::now());
        let score = pod_score(&findings);
        let previous = self.board.apply(&uid, &ns, score);
        let pod = facts.object.name.as_str();
        match previous {
            Some(prev) if prev.checks != score.checks => {
                let gained: Vec<&str> = score
                    .checks
                    .minus(prev.checks)
                    .map(CheckId::as_str)
                    .collect();
                let lost: Vec<&str> = prev
                    .checks
                    .minus(score.checks)
                    .map(CheckId::as_str)
                    .collect();
                tracing::info!(%ns, %pod, ?gained, ?lost, "pod findings changed");
            }
            None if score.checks.0 != 0 => {
                let checks: Vec<&str> = score
                    .checks
                    .minus(Default::default())
                    .map(CheckId::as_str)
                    .collect();
                tracing::debug!(%ns, %pod, ?checks, "new pod with findings");
            }
            _ => {}
        }
        let phase = facts.runtime.as_ref().and_then(|r| r.phase.as_deref());
        if phase == Some("Pending") {
            self.pending.insert(uid, facts);
        } else {
            self.pending.remove(&uid);
        }
        self.after_change(&ns, before);
    }

    fn delete(&mut self, uid: &str) {
        self.pending.remove(uid);
        let Some(ns) = self.board.namespace_of(uid).map(str::to_owned) else {
            return;
        };
        let before = self.classification(&ns);
        self.board.delete(uid);
        self.after_change(&ns, before);
    }

    fn after_change(&self, ns: &str, before: Option<Classification>) {
        self.publish(ns);
        self.log_classification(ns, before);
    }

    fn log_classification(&self, ns: &str, before: Option<Classification>) {
        let after = self.classification(ns);
        if before.is_some() && before != after {
            let score = self.board.namespace(ns).map(|s| s.to_string());
            tracing::info!(%ns, from = ?before, to = ?after, ?score, "namespace classification changed");
        }
    }

    fn relist_done(&mut self) {
        let Some(seen) = self.relist_seen.take() else {
            return;
        };
        let vanished: Vec<String> = self
            .board
            .uids()
            .filter(|uid| !seen.contains(*uid))
            .map(str::to_owned)
            .collect();
        if !vanished.is_empty() {
            tracing::info!(count = vanished.len(), "relist removed vanished pods");
        }
        for uid in vanished {
            self.delete(&uid);
        }
        self.pending.retain(|uid, _| seen.contains(uid));
    }

    fn recheck_pending(&mut self) {
        let pending: Vec<PodFacts> = self.pending.values().cloned().collect();
        for facts in pending {
            self.apply(facts, false);
        }
    }

    /// The scores view, for tests and the HTTP API.
    pub fn view(&self, top: usize) -> ScoresView {
        let mut namespaces: Vec<NamespaceView> = self
            .board
            .namespaces()
            .filter_map(|(name, agg)| {
                agg.score().map(|score| NamespaceView {
                    name: name.to_owned(),
                    score,
                    classification: score.classification().to_string(),
                    pods: agg.pods,
                })
            })
            .collect();
        namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        let mut counts = [0u64; kube_devops::checks::CHECK_COUNT];
        for uid in self.board.uids() {
            if let Some(p) = self.board.pod(uid) {
                for id in CheckId::ALL {
                    if p.checks.contains(*id) {
                        counts[id.index()] += 1;
                    }
                }
            }
        }
        let mut top_findings: Vec<TopFinding> = CheckId::ALL
            .iter()
            .filter(|id| counts[id.index()] > 0)
            .map(|id| TopFinding {
                check: id.as_str().to_owned(),
                pods: counts[id.index()],
            })
            .collect();
        top_findings.sort_by(|a, b| b.pods.cmp(&a.pods).then(a.check.cmp(&b.check)));
        top_findings.truncate(top);
        let cluster = self.board.cluster();
        ScoresView {
            cluster,
            cluster_status: cluster.map(|s| s.classification().to_string()),
            pods: self.board.len(),
            namespaces,
            top_findings,
        }
    }
}

impl Actor for NamespaceScoreActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.health.beat("scores");
        ctx.run_interval(HEARTBEAT_INTERVAL, |act, _| act.health.beat("scores"));
        ctx.run_interval(PENDING_RECHECK, |act, _| act.recheck_pending());
        self.metrics.cluster_health_score.set(100.0);
    }
}

impl Supervised for NamespaceScoreActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // A restarted state must not keep half-applied data: start clean and let the
        // watcher's next relist fill it.
        tracing::warn!("NamespaceScoreActor restarting with clean state");
        self.board.reset();
        self.pending.clear();
        self.relist_seen = None;
        self.metrics.namespace_health_score.reset();
    }
}

impl Handler<PodEvent> for NamespaceScoreActor {
    type Result = ();

    fn handle(&mut self, event: PodEvent, _: &mut Context<Self>) {
        match event {
            PodEvent::Applied { facts, relist } => self.apply(*facts, relist),
            PodEvent::Deleted { uid } => self.delete(&uid),
            PodEvent::RelistStarted => self.relist_seen = Some(HashSet::new()),
            PodEvent::RelistDone => self.relist_done(),
        }
    }
}

impl Handler<GetScores> for NamespaceScoreActor {
    type Result = actix::MessageResult<GetScores>;

    fn handle(&mut self, msg: GetScores, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.view(msg.top))
    }
}
