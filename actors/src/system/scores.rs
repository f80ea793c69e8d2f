//! NamespaceScoreActor: the live score state.
//!
//! In: [`PodEvent`]s from the WatchActor, [`PoliciesChanged`] and [`EvaluateNamespaces`]
//! from the PolicyReconcilerActor, [`GetScores`] and [`GetDashboard`] from HTTP. Out:
//! namespace and cluster gauges, evaluations for the operator, the dashboard's data and
//! its change announcements (see [`super::dashboard`]), [`PodsChanged`] notices for namespaces that hold a
//! DevOpsPolicy (batched every [`NOTIFY_INTERVAL`]), and log events when a namespace changes
//! classification or a pod gains or loses a finding (not on every event).
//!
//! Each pod is judged by its namespace's resolution in the current policy snapshot (the
//! one the webhook serves), and its facts are kept compactly in a [`PodStore`], so a policy
//! change re-judges a namespace from stored facts, without a relist, and the operator never
//! lists pods. Each pod event costs O(1): one evaluation, one store update, two gauge
//! writes. Until the first snapshot arrives, pods are stored but no gauge is published. A
//! relist keeps the old scores until it completes, then drops the pods it did not see
//! again, so scores never flap to empty. Pending pods are re-judged on a timer, since a pod
//! becomes "pending too long" without any event.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, MessageResult, Recipient, Supervised};
use jiff::Timestamp;
use kube_devops::admission::PolicySnapshot;
use kube_devops::checks::CheckId;
use kube_devops::policy::{NamespaceExclusions, PolicySet};
use kube_devops::score::Classification;
use kube_devops::score::store::{Change, NamespaceEvaluation, PodStore};

use super::dashboard::{DashboardCache, NOTIFY_INTERVAL as DASHBOARD_NOTIFY, TREND_INTERVAL};
use super::health::{HEARTBEAT_INTERVAL, Health};
use super::messages::{
    EvaluateNamespaces, GetDashboard, GetScores, NamespaceView, NotifyPodChanges,
    NotifyRelatedKinds, PodEvent, PodsChanged, PoliciesChanged, RelatedEvent, ScoresView,
    TopFinding,
};
use super::related::state::RelatedState;
use crate::metrics::Metrics;

/// How often Pending pods are re-judged.
pub const PENDING_RECHECK: Duration = Duration::from_secs(10);
/// Mailbox capacity: events beyond it make the watcher wait (backpressure), never drop.
pub const MAILBOX: usize = 4096;
/// How often pod changes are passed on to the reconciler.
pub const NOTIFY_INTERVAL: Duration = Duration::from_millis(250);

/// The live score state.
pub struct NamespaceScoreActor {
    store: PodStore,
    snapshot: Arc<PolicySnapshot>,
    synced_policies: bool,
    metrics: Metrics,
    health: Arc<Health>,
    relist_seen: Option<HashSet<String>>,
    reconciler: Option<Recipient<PodsChanged>>,
    touched: BTreeSet<Arc<str>>,
    dashboard: DashboardCache,
    related: RelatedState,
}

impl NamespaceScoreActor {
    /// A fresh state. Until a [`PoliciesChanged`] arrives, pods are judged by `defaults`
    /// (the controller's default policy and exclusions) but no gauge is published.
    pub fn new(defaults: PolicySet, metrics: Metrics, health: Arc<Health>) -> Self {
        NamespaceScoreActor {
            store: PodStore::new(),
            snapshot: Arc::new(PolicySnapshot::new(defaults)),
            synced_policies: false,
            metrics,
            health,
            relist_seen: None,
            reconciler: None,
            touched: BTreeSet::new(),
            dashboard: DashboardCache::default(),
            related: RelatedState::default(),
        }
    }

    /// A state that judges by `defaults` alone and publishes at once (a process without a
    /// policy source, and tests).
    pub fn with_fixed_policy(
        policy: kube_devops::policy::EffectivePolicy,
        exclusions: NamespaceExclusions,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> Self {
        let mut actor = Self::new(
            PolicySet::new(policy, "default", exclusions),
            metrics,
            health,
        );
        actor.synced_policies = true;
        actor
    }

    fn policies(&self) -> &PolicySet {
        self.snapshot.set()
    }

    fn classification(&self, ns: &str) -> Option<Classification> {
        self.store.namespace(ns).map(|s| s.classification())
    }

    /// The dashboard's change counter: it grows when scores change (at most every
    /// [`DASHBOARD_NOTIFY`]).
    pub fn dashboard_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.dashboard.subscribe()
    }

    /// Marks a namespace changed for the dashboard and writes its gauges.
    fn publish(&mut self, ns: &str) {
        self.dashboard.touch(ns);
        self.write_gauges(ns);
    }

    /// Writes the gauges of one namespace and of the cluster.
    fn write_gauges(&self, ns: &str) {
        if !self.synced_policies {
            return;
        }
        match self.store.namespace(ns) {
            Some(score) => self.metrics.namespace_health_score.set([ns], score.value()),
            None => {
                // No scored pods: no series (never a stale 100).
                self.metrics.namespace_health_score.remove([ns]);
            }
        }
        match self.store.cluster() {
            Some(score) => self.metrics.cluster_health_score.set(score.value()),
            None => self.metrics.cluster_health_score.set(100.0),
        }
        self.metrics.pods_tracked.set(self.store.len() as i64);
    }

    fn after(&mut self, change: Option<Change>, pod: &str, before: Option<Classification>) {
        let Some(change) = change else {
            return;
        };
        let ns = change.namespace.clone();
        match (change.before, change.after) {
            (Some(prev), Some(now)) if prev.checks != now.checks => {
                let gained: Vec<&str> =
                    now.checks.minus(prev.checks).map(CheckId::as_str).collect();
                let lost: Vec<&str> = prev.checks.minus(now.checks).map(CheckId::as_str).collect();
                tracing::info!(%ns, %pod, ?gained, ?lost, "pod findings changed");
            }
            (None, Some(now)) if now.checks.0 != 0 => {
                let checks: Vec<&str> = now
                    .checks
                    .minus(Default::default())
                    .map(CheckId::as_str)
                    .collect();
                tracing::debug!(%ns, %pod, ?checks, "new pod with findings");
            }
            _ => {}
        }
        self.publish(&ns);
        self.log_classification(&ns, before);
        if self.policies().namespace(&ns).is_some() {
            self.touched.insert(ns);
        }
    }

    fn log_classification(&self, ns: &str, before: Option<Classification>) {
        let after = self.classification(ns);
        if before.is_some() && before != after {
            let score = self.store.namespace(ns).map(|s| s.to_string());
            tracing::info!(%ns, from = ?before, to = ?after, ?score, "namespace classification changed");
        }
    }

    fn apply(&mut self, facts: kube_devops::facts::PodFacts, relist: bool) {
        let Some(uid) = facts.uid.as_deref() else {
            return;
        };
        if let Some(seen) = self.relist_seen.as_mut().filter(|_| relist) {
            seen.insert(uid.to_owned());
        }
        let before = self.classification(&facts.object.namespace);
        let pod = facts.object.name.clone();
        let affected = self.related.pod_applied(&facts);
        self.judge_related(affected);
        let snapshot = self.snapshot.clone();
        let change = self.store.apply(facts, snapshot.set(), Timestamp::now());
        self.after(change, &pod, before);
    }

    fn delete(&mut self, uid: &str) {
        let before = self
            .store
            .namespace_of(uid)
            .and_then(|ns| self.classification(ns));
        let change = self.store.delete(uid);
        self.after(change, uid, before);
        let affected = self.related.pod_deleted(uid);
        self.judge_related(affected);
    }

    fn relist_done(&mut self) {
        let Some(seen) = self.relist_seen.take() else {
            return;
        };
        let affected = self.related.pods_retained(|uid| seen.contains(uid));
        let gone = self.store.retain(|uid| seen.contains(uid));
        if !gone.is_empty() {
            tracing::info!(count = gone.len(), "relist removed vanished pods");
        }
        for change in gone {
            self.after(Some(change), "", None);
        }
        self.judge_related(affected);
    }

    /// Re-judges the subjects of the cross-resource checks a change affected, and
    /// publishes the namespaces whose scores moved.
    fn judge_related(&mut self, subjects: Vec<kube_devops::cross::ObjectId>) {
        if subjects.is_empty() {
            return;
        }
        let snapshot = self.snapshot.clone();
        let namespaces: Vec<String> = subjects.iter().map(|s| s.namespace.clone()).collect();
        let before: Vec<Option<Classification>> = namespaces
            .iter()
            .map(|ns| self.classification(ns))
            .collect();
        let changed =
            self.related
                .judge(subjects, &mut self.store, snapshot.set(), Timestamp::now());
        for ns in changed {
            if ns.is_empty() {
                // Cluster-scoped objects: the cluster's gauge only.
                self.write_gauges("");
                continue;
            }
            let was = namespaces
                .iter()
                .position(|n| **n == *ns)
                .and_then(|i| before[i]);
            self.after(
                Some(Change {
                    namespace: ns,
                    before: None,
                    after: None,
                }),
                "",
                was,
            );
        }
    }

    fn rejudge(&mut self, namespaces: Vec<String>) {
        let now = Timestamp::now();
        for ns in namespaces {
            self.evaluate(&ns, now);
            // Findings may change without the score (a severity, an exemption).
            self.dashboard.touch(&ns);
        }
    }

    fn recheck_pending(&mut self) {
        let snapshot = self.snapshot.clone();
        for ns in self.store.recheck_pending(snapshot.set(), Timestamp::now()) {
            self.after(
                Some(Change {
                    namespace: ns,
                    before: None,
                    after: None,
                }),
                "",
                None,
            );
        }
    }

    fn flush_touched(&mut self) {
        let Some(reconciler) = &self.reconciler else {
            self.touched.clear();
            return;
        };
        if self.touched.is_empty() {
            return;
        }
        let namespaces: Vec<String> = std::mem::take(&mut self.touched)
            .into_iter()
            .map(|ns| ns.to_string())
            .collect();
        // Notices are coalesced by the reconciler; when its mailbox is full, the
        // namespaces wait for the next notice instead of being lost.
        if let Err(actix::prelude::SendError::Full(msg)) =
            reconciler.try_send(PodsChanged { namespaces })
        {
            tracing::debug!("reconciler busy; pod changes wait for the next notice");
            self.touched
                .extend(msg.namespaces.into_iter().map(|ns| Arc::from(ns.as_str())));
        }
    }

    /// Evaluates a namespace from the stored facts, refreshing its pods' scores and gauges
    /// (and, when its score moved, marking it changed for the dashboard).
    fn evaluate(&mut self, ns: &str, now: Timestamp) -> NamespaceEvaluation {
        let snapshot = self.snapshot.clone();
        let (before, score) = (self.classification(ns), self.store.namespace(ns));
        let eval = self.store.evaluate(ns, snapshot.set(), now);
        if eval.score != score {
            self.dashboard.touch(ns);
        }
        self.write_gauges(ns);
        self.log_classification(ns, before);
        eval
    }

    /// The scores view, for tests and the HTTP API.
    pub fn view(&self, top: usize) -> ScoresView {
        let mut namespaces: Vec<NamespaceView> = self
            .store
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
        for p in self.store.scores() {
            for id in CheckId::ALL {
                if p.checks.contains(*id) {
                    counts[id.index()] += 1;
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
        let cluster = self.store.cluster();
        ScoresView {
            cluster,
            cluster_status: cluster.map(|s| s.classification().to_string()),
            pods: self.store.len(),
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
        ctx.run_interval(NOTIFY_INTERVAL, |act, _| act.flush_touched());
        ctx.run_interval(DASHBOARD_NOTIFY, |act, _| act.dashboard.notify());
        ctx.run_interval(TREND_INTERVAL, |act, _| {
            act.dashboard.sample(act.store.cluster(), Timestamp::now())
        });
        if self.synced_policies {
            self.metrics.cluster_health_score.set(100.0);
        }
    }
}

impl Supervised for NamespaceScoreActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // A restarted state must not keep half-applied data: start clean and let the
        // watcher's next relist fill it.
        tracing::warn!("NamespaceScoreActor restarting with clean state");
        self.store.reset();
        self.relist_seen = None;
        self.touched.clear();
        self.dashboard.reset();
        self.metrics.namespace_health_score.reset();
        // The related index was never half-applied: put its verdicts back.
        let subjects = self.related.subjects(None);
        self.judge_related(subjects);
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

impl Handler<NotifyPodChanges> for NamespaceScoreActor {
    type Result = ();

    fn handle(&mut self, msg: NotifyPodChanges, _: &mut Context<Self>) {
        self.reconciler = Some(msg.reconciler);
    }
}

impl Handler<RelatedEvent> for NamespaceScoreActor {
    type Result = ();

    fn handle(&mut self, event: RelatedEvent, _: &mut Context<Self>) {
        let affected = self.related.event(event);
        self.judge_related(affected);
    }
}

impl Handler<NotifyRelatedKinds> for NamespaceScoreActor {
    type Result = ();

    fn handle(&mut self, msg: NotifyRelatedKinds, _: &mut Context<Self>) {
        let snapshot = self.snapshot.clone();
        let forgotten = self
            .related
            .set_watcher(msg.watcher, snapshot.set(), &self.store);
        self.judge_related(forgotten);
    }
}

impl Handler<PoliciesChanged> for NamespaceScoreActor {
    type Result = ();

    fn handle(&mut self, msg: PoliciesChanged, _: &mut Context<Self>) {
        self.snapshot = msg.snapshot;
        let first = !self.synced_policies;
        self.synced_policies = true;
        let whole = first || msg.namespaces.is_none();
        let namespaces = match msg.namespaces {
            Some(ns) if !first => ns,
            _ => {
                let all: Vec<String> = self.store.namespaces().map(|(n, _)| n.to_owned()).collect();
                self.metrics.cluster_health_score.set(100.0);
                all
            }
        };
        tracing::debug!(
            namespaces = namespaces.len(),
            "re-judging namespaces under new policies"
        );
        let mut subjects = self.related.policies(self.snapshot.set(), &self.store);
        subjects.extend(
            self.related
                .subjects((!whole).then_some(namespaces.as_slice())),
        );
        self.judge_related(subjects);
        self.rejudge(namespaces);
        self.metrics.pods_tracked.set(self.store.len() as i64);
    }
}

impl Handler<EvaluateNamespaces> for NamespaceScoreActor {
    type Result = MessageResult<EvaluateNamespaces>;

    fn handle(&mut self, msg: EvaluateNamespaces, _: &mut Context<Self>) -> Self::Result {
        let now = Timestamp::now();
        let out = msg
            .namespaces
            .iter()
            .map(|ns| self.evaluate(ns, now))
            .collect();
        MessageResult(out)
    }
}

impl Handler<GetScores> for NamespaceScoreActor {
    type Result = MessageResult<GetScores>;

    fn handle(&mut self, msg: GetScores, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.view(msg.top))
    }
}

impl Handler<GetDashboard> for NamespaceScoreActor {
    type Result = MessageResult<GetDashboard>;

    fn handle(&mut self, _: GetDashboard, _: &mut Context<Self>) -> Self::Result {
        let now = Timestamp::now();
        for ns in self.dashboard.take_dirty() {
            // Not `publish`: answering the dashboard is no change to announce.
            let eval = self.evaluate(&ns, now);
            self.dashboard.put(&eval, now);
        }
        MessageResult(self.dashboard.data(self.store.cluster(), now))
    }
}
