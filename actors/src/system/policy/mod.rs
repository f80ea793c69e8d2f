//! PolicyReconcilerActor: the one DevOpsPolicy watch, the policy snapshot, and the
//! operator that writes statuses, audit results, finalizers, events and policy reports.
//!
//! In: the DevOpsPolicy watch (and, as an operator, watches of its own audit results and
//! reports, of the report CRDs and of ReplicaSet and Job metadata), [`LeadershipChanged`],
//! [`PodsChanged`] from the score actor. Out: an immutable `Arc<PolicySnapshot>` in the
//! [`SnapshotCell`] the webhook reads without a mailbox, [`PoliciesChanged`] to the score
//! actor when a namespace's resolution changes, readiness of the policy watch, and (as the
//! leader) the writes of each namespace's plan.
//!
//! Reconcile is per namespace (a namespace's policies share one evaluation): on a policy
//! change (at once), on pod changes in a namespace that holds a policy (debounced: at most
//! once per debounce window), on every resync period, on becoming leader, and after a
//! failure (per-namespace exponential backoff). Each reconcile asks the score actor to
//! evaluate the namespace from stored facts (never a LIST of pods), plans the writes
//! against what the watches show the cluster holds (`kube_devops::operator::plan`), and,
//! only while the [`LeadershipGuard`] allows, performs them. A standby plans too (its
//! metrics are current and its held state warm) but writes nothing; the moment it leads it
//! reconciles every namespace against its warm state, without a relist.

mod state;
mod watches;
mod writer;

pub use watches::established;
pub use writer::TokenBucket;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use kube::Client;
use kube_devops::admission::PolicySnapshot;
use kube_devops::operator::{Held, ReportApi};
use kube_devops::owners::OwnerIndex;
use kube_devops::policy::PolicySet;

use self::state::HeldPolicy;
use self::writer::{NamespaceJob, Writer};
use super::admission::SnapshotCell;
use super::health::{HEARTBEAT_INTERVAL, Health};
use super::lease::LeadershipGuard;
use super::liveness::{Liveness, PROBE_TICK};
use super::messages::{
    EvaluateNamespaces, GetPolicies, LeadershipChanged, PodsChanged, PoliciesChanged, PolicyView,
    Shutdown,
};
use crate::metrics::Metrics;

/// Default period of the full resync.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(300);
/// Default debounce of pod changes.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(1);
/// Default rate of report writes.
pub const DEFAULT_REPORT_WRITES_PER_SECOND: f64 = 20.0;
/// Namespaces evaluated per request to the score actor.
const BATCH: usize = 64;
/// How long an evaluation request may take.
const EVALUATE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the queue is looked at.
const TICK: Duration = Duration::from_millis(100);
/// Longest backoff of a failing namespace.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// (namespace, name) of a policy.
pub type PolicyKey = (String, String);

/// What the operator part needs (absent for a pure policy source, as `webhook serve`).
#[derive(Clone)]
pub struct OperatorOptions {
    /// The score actor, which evaluates namespaces.
    pub scores: Recipient<EvaluateNamespaces>,
    /// The guard every write asks first.
    pub guard: LeadershipGuard,
    /// Full resync period.
    pub resync: Duration,
    /// Debounce of pod changes.
    pub debounce: Duration,
    /// Report writes per second (token bucket).
    pub report_writes_per_second: f64,
    /// The cluster's name in audit results.
    pub cluster_name: String,
    /// This replica's identity (events name it).
    pub identity: String,
    /// The enforcer, told about every reconciled namespace whose policies enforce.
    pub enforcer: Option<Recipient<super::enforcer::Enforce>>,
}

/// How the reconciler runs.
#[derive(Clone)]
pub struct ReconcilerOptions {
    /// The default policy, its origin and the exclusions (no DevOpsPolicies).
    pub defaults: PolicySet,
    /// Whether readiness needs the DevOpsPolicy CRD; when not, a missing CRD means "no
    /// policies" and every namespace uses the default.
    pub policies_required: bool,
    /// The score actor, told when resolutions change.
    pub scores: Option<Recipient<PoliciesChanged>>,
    /// The operator part.
    pub operator: Option<OperatorOptions>,
}

/// The operator's state.
struct Operator {
    options: OperatorOptions,
    writer: Arc<Writer>,
    held: Held,
    owners: OwnerIndex,
    /// Report APIs whose CRD is installed and whose report watch has listed.
    report_apis: BTreeSet<ReportApi>,
    queue: BTreeMap<String, Instant>,
    failures: HashMap<String, u32>,
    busy: bool,
}

/// The policy watch, the snapshot and the operator.
pub struct PolicyReconcilerActor {
    client: Client,
    health: Arc<Health>,
    metrics: Metrics,
    cell: SnapshotCell,
    options: ReconcilerOptions,
    liveness: Liveness,
    stream: Option<SpawnHandle>,
    policies: BTreeMap<PolicyKey, HeldPolicy>,
    relist: Option<BTreeMap<PolicyKey, HeldPolicy>>,
    set: PolicySet,
    synced: bool,
    stopped: bool,
    op: Option<Operator>,
    watches: watches::Watches,
}

impl PolicyReconcilerActor {
    /// A reconciler publishing into `cell`.
    pub fn new(
        client: Client,
        options: ReconcilerOptions,
        cell: SnapshotCell,
        health: Arc<Health>,
        metrics: Metrics,
    ) -> Self {
        let op = options.operator.clone().map(|o| Operator {
            writer: Arc::new(Writer::new(client.clone(), &o)),
            options: o,
            held: Held::default(),
            owners: OwnerIndex::new(),
            report_apis: BTreeSet::new(),
            queue: BTreeMap::new(),
            failures: HashMap::new(),
            busy: false,
        });
        PolicyReconcilerActor {
            liveness: Liveness::new(super::health::POLICIES, health.clone()),
            set: options.defaults.clone(),
            client,
            health,
            metrics,
            cell,
            options,
            stream: None,
            policies: BTreeMap::new(),
            relist: None,
            synced: false,
            stopped: false,
            op,
            watches: watches::Watches::default(),
        }
    }

    /// Cuts a snapshot of the current set, stores it for the webhook and tells the score
    /// actor which namespaces to re-judge (`None`: all).
    fn publish(&mut self, namespaces: Option<Vec<String>>) {
        let snapshot = Arc::new(PolicySnapshot::new(self.set.clone()));
        self.cell.store(Some(snapshot.clone()));
        tracing::debug!(
            policies = self.policies.len(),
            namespaces = snapshot.namespace_count(),
            "policy snapshot published"
        );
        if let Some(scores) = &self.options.scores {
            // Rare, and it must reach the score actor before any evaluation asked after
            // it: `do_send` queues it in order even when the mailbox is full.
            scores.do_send(PoliciesChanged {
                snapshot,
                namespaces,
            });
        }
    }

    /// Schedules a namespace's reconcile `after` from now, unless it is due sooner.
    fn enqueue(&mut self, ns: &str, after: Duration) {
        let Some(op) = self.op.as_mut() else {
            return;
        };
        let at = Instant::now() + after;
        op.queue
            .entry(ns.to_owned())
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }

    /// Every namespace that holds a policy or kube-devops objects.
    fn all_namespaces(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = self.set.namespaces().map(str::to_owned).collect();
        all.extend(self.policies.keys().map(|(ns, _)| ns.clone()));
        if let Some(op) = &self.op {
            all.extend(op.held.namespaces().map(str::to_owned));
        }
        all
    }

    fn enqueue_all(&mut self) {
        for ns in self.all_namespaces() {
            self.enqueue(&ns, Duration::ZERO);
        }
    }

    fn is_leading(&self) -> bool {
        self.op
            .as_ref()
            .is_some_and(|op| op.options.guard.is_leading())
    }

    /// Takes the due namespaces, asks for their evaluations, plans, and (leading) writes.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        if !self.synced || self.stopped {
            return;
        }
        let Some(op) = self.op.as_mut() else {
            return;
        };
        if op.busy {
            return;
        }
        let now = Instant::now();
        let due: Vec<String> = op
            .queue
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(ns, _)| ns.clone())
            .take(BATCH)
            .collect();
        if due.is_empty() {
            return;
        }
        for ns in &due {
            op.queue.remove(ns);
        }
        op.busy = true;
        let ask = op.options.scores.send(EvaluateNamespaces {
            namespaces: due.clone(),
        });
        let started = Instant::now();
        let fut = async move { tokio::time::timeout(EVALUATE_TIMEOUT, ask).await };
        ctx.spawn(
            fut.into_actor(self)
                .map(move |answer, act, ctx| match answer {
                    Ok(Ok(evaluations)) => act.plan_and_write(evaluations, started, ctx),
                    _ => {
                        tracing::warn!(
                            namespaces = due.len(),
                            "the score actor did not evaluate in time; retrying"
                        );
                        for ns in &due {
                            act.failed(ns);
                        }
                        if let Some(op) = act.op.as_mut() {
                            op.busy = false;
                        }
                    }
                }),
        );
    }

    fn plan_and_write(
        &mut self,
        evaluations: Vec<kube_devops::score::store::NamespaceEvaluation>,
        started: Instant,
        ctx: &mut Context<Self>,
    ) {
        let leading = self.is_leading();
        let jobs: Vec<NamespaceJob> = evaluations
            .iter()
            .map(|eval| self.plan(eval, started))
            .collect();
        if leading {
            self.request_enforcement(&evaluations);
        }
        let Some(op) = self.op.as_mut() else {
            return;
        };
        if !leading || jobs.iter().all(NamespaceJob::is_empty) {
            op.busy = false;
            for job in &jobs {
                self.observe(job.started, job.policies);
            }
            return;
        }
        let writer = op.writer.clone();
        ctx.spawn(
            writer
                .perform(jobs)
                .into_actor(self)
                .map(|outcomes, act, ctx| {
                    for outcome in outcomes {
                        act.performed(outcome);
                    }
                    if let Some(op) = act.op.as_mut() {
                        op.busy = false;
                    }
                    act.drive(ctx);
                }),
        );
    }

    /// Hands each evaluated namespace whose policies enforce to the enforcer (a full
    /// mailbox drops the request: the next reconcile asks again).
    fn request_enforcement(&self, evaluations: &[kube_devops::score::store::NamespaceEvaluation]) {
        let Some(enforcer) = self.op.as_ref().and_then(|op| op.options.enforcer.as_ref()) else {
            return;
        };
        for eval in evaluations {
            let ns = eval.namespace.as_str();
            let policies = self
                .policies
                .range((ns.to_owned(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .filter(|(_, p)| !p.deleting)
                .filter_map(|((_, name), p)| {
                    super::enforcer::EnforcingPolicy::new(name, &p.spec, p.status.as_ref())
                })
                .collect();
            if let Some(req) = super::enforcer::Enforce::of(eval, &self.set, policies)
                && enforcer.try_send(req).is_err()
            {
                tracing::warn!(%ns, "the enforcer's mailbox is full; the next reconcile asks again");
            }
        }
    }

    /// Records how long a namespace's reconcile took, once per policy in it.
    fn observe(&self, started: Instant, policies: usize) {
        for _ in 0..policies.max(1) {
            self.metrics
                .policy_reconcile_duration_seconds
                .observe(started.elapsed().as_secs_f64());
        }
    }

    /// Requeues a namespace after its backoff.
    fn failed(&mut self, ns: &str) {
        let Some(op) = self.op.as_mut() else {
            return;
        };
        let attempts = op.failures.entry(ns.to_owned()).or_insert(0);
        *attempts = attempts.saturating_add(1);
        let delay = Duration::from_secs(1)
            .saturating_mul(1 << (*attempts - 1).min(16))
            .min(BACKOFF_MAX);
        let policies = self.policies.keys().filter(|(n, _)| n == ns).count().max(1);
        self.metrics
            .policy_reconcile_errors_total
            .inc_by(policies as u64);
        self.enqueue(ns, delay);
    }
}

impl Actor for PolicyReconcilerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.health.beat("policies");
        ctx.run_interval(HEARTBEAT_INTERVAL, |act, _| act.health.beat("policies"));
        ctx.run_interval(PROBE_TICK, |act, ctx| act.probe(ctx));
        self.metrics
            .watch_errors_total
            .with_label_values(&[watches::POLICY_RESOURCE])
            .inc_by(0);
        if !self.stopped {
            self.start_policy_watch(ctx);
        }
        if let Some(op) = &self.op {
            let resync = op.options.resync;
            ctx.run_interval(TICK, |act, ctx| act.drive(ctx));
            ctx.run_interval(resync, |act, _| {
                tracing::debug!("periodic resync");
                act.enqueue_all();
            });
            self.start_operator_watches(ctx);
        }
    }
}

impl Supervised for PolicyReconcilerActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!("PolicyReconcilerActor restarting; the last snapshot keeps serving");
        self.stream = None;
        self.relist = None;
        self.watches = watches::Watches::default();
        if let Some(op) = self.op.as_mut() {
            op.busy = false;
        }
    }
}

impl Handler<LeadershipChanged> for PolicyReconcilerActor {
    type Result = ();

    fn handle(&mut self, msg: LeadershipChanged, ctx: &mut Context<Self>) {
        if msg.leader {
            tracing::info!("leading: reconciling every namespace against the warm state");
            self.enqueue_all();
            self.drive(ctx);
        }
    }
}

impl Handler<PodsChanged> for PolicyReconcilerActor {
    type Result = ();

    fn handle(&mut self, msg: PodsChanged, _: &mut Context<Self>) {
        let Some(debounce) = self.op.as_ref().map(|o| o.options.debounce) else {
            return;
        };
        for ns in msg.namespaces {
            self.enqueue(&ns, debounce);
        }
    }
}

impl Handler<GetPolicies> for PolicyReconcilerActor {
    type Result = MessageResult<GetPolicies>;

    fn handle(&mut self, _: GetPolicies, _: &mut Context<Self>) -> Self::Result {
        let views = self
            .policies
            .iter()
            .map(|((namespace, name), held)| PolicyView {
                namespace: namespace.clone(),
                name: name.clone(),
                mode: held.spec.enforcement_mode.unwrap_or_default(),
                error: held.error.as_ref().map(ToString::to_string),
                deleting: held.deleting,
                status: held.status.clone(),
            })
            .collect();
        MessageResult(views)
    }
}

impl Handler<Shutdown> for PolicyReconcilerActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        tracing::info!("policy watch and operator stopping");
        self.stopped = true;
        if let Some(handle) = self.stream.take() {
            ctx.cancel_future(handle);
        }
        self.watches.cancel_all(ctx);
    }
}
