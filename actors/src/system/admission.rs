//! AdmissionActor and the webhook's start-up: the HTTPS server over the policy snapshot.
//!
//! In: the [`SnapshotCell`] the PolicyReconcilerActor publishes into (the one policy
//! source: the webhook never watches policies itself), the process's [`Readiness`] view
//! (the webhook is ready once the policy watch has listed and stays live), the metrics.
//! Out: a running webhook whose request handlers load the immutable snapshot from the cell
//! without a mailbox round-trip. The AdmissionActor answers diagnostics about the snapshot
//! served and beats for `/healthz`. [`start`] is the webhook on its own (`webhook serve`):
//! it starts a policy source of its own, the same PolicyReconcilerActor without the
//! operator; [`start_with`] serves a snapshot some other part of the process keeps (`run`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use arc_swap::ArcSwapOption;
use kube::Client;
use kube_devops::admission::PolicySnapshot;
use kube_devops::policy::{EffectivePolicy, PolicySet};

pub use super::health::Readiness;
use super::health::{HEARTBEAT_INTERVAL, Health, POLICIES};
use super::messages::Shutdown;
use super::policy::{PolicyReconcilerActor, ReconcilerOptions};
use crate::http::{RunningServer, WebhookError, WebhookOptions, WebhookState, serve};
use crate::metrics::Metrics;

/// The published snapshot: `None` until the policy set has synced once.
pub type SnapshotCell = Arc<ArcSwapOption<PolicySnapshot>>;

/// Stops the webhook's own policy source (shutdown); the last snapshot keeps serving.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopWatching {
    /// Why, for the log.
    pub reason: &'static str,
}

/// Asks how many policies the snapshot served holds, for diagnostics and tests.
#[derive(Debug, Message)]
#[rtype(result = "PolicyCount")]
pub struct CountPolicies {
    /// Restrict the count to this namespace.
    pub namespace: Option<String>,
}

/// The answer to [`CountPolicies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct PolicyCount {
    /// Policies held (valid or not).
    pub policies: usize,
}

/// Diagnostics over the snapshot the webhook serves.
pub struct AdmissionActor {
    snapshot: SnapshotCell,
    health: Arc<Health>,
    source: Option<Addr<PolicyReconcilerActor>>,
}

impl Actor for AdmissionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.health.beat("admission");
        ctx.run_interval(HEARTBEAT_INTERVAL, |act, _| act.health.beat("admission"));
    }
}

impl Supervised for AdmissionActor {}

impl Handler<StopWatching> for AdmissionActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: StopWatching, _: &mut Context<Self>) -> Self::Result {
        tracing::info!(reason = msg.reason, "webhook policy source stopping");
        let source = self.source.take();
        Box::pin(async move {
            if let Some(source) = source {
                let _ = source.send(Shutdown).await;
            }
        })
    }
}

impl Handler<CountPolicies> for AdmissionActor {
    type Result = PolicyCount;

    fn handle(&mut self, msg: CountPolicies, _: &mut Context<Self>) -> PolicyCount {
        let Some(snapshot) = self.snapshot.load_full() else {
            return PolicyCount { policies: 0 };
        };
        let set = snapshot.set();
        let count = |ns: &str| set.namespace(ns).map_or(0, |p| p.all_names().count());
        let policies = match &msg.namespace {
            Some(ns) => count(ns),
            None => set.namespaces().map(count).sum(),
        };
        PolicyCount { policies }
    }
}

/// The webhook running inside an actix System.
pub struct WebhookRuntime {
    /// The HTTPS server.
    pub server: RunningServer,
    /// Readiness (`/readyz`): the policy set has synced, its watch is live, and no shutdown
    /// has begun.
    pub readiness: Arc<Readiness>,
    /// Diagnostics over the snapshot served.
    pub actor: Addr<AdmissionActor>,
    /// The snapshot the handlers read.
    pub snapshot: SnapshotCell,
}

impl WebhookRuntime {
    /// The address the server bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr
    }

    /// Shuts down in order: readiness off, the webhook's own policy source stopped (when
    /// it has one), in-flight requests drained, server stopped.
    pub async fn stop(self) {
        self.readiness.set_stopping();
        let stop = self.actor.send(StopWatching { reason: "shutdown" });
        if tokio::time::timeout(Duration::from_secs(2), stop)
            .await
            .is_err()
        {
            tracing::warn!("policy source did not acknowledge the stop in time");
        }
        self.server.stop().await;
    }
}

/// Starts the webhook on its own inside the actix System running on this thread: a policy
/// source (PolicyReconcilerActor without the operator, supervised) and the HTTPS server.
/// Returns at once; readiness turns on when the policy set has synced. `client` is the
/// process's one kube client; `metrics` the one registry.
pub async fn start(
    options: WebhookOptions,
    client: Client,
    metrics: Metrics,
) -> Result<WebhookRuntime, WebhookError> {
    let health = Arc::new(Health::default());
    let snapshot: SnapshotCell = Arc::new(ArcSwapOption::empty());
    let reconciler = ReconcilerOptions {
        defaults: PolicySet::new(
            EffectivePolicy::default(),
            "default",
            options.exclusions.clone(),
        ),
        policies_required: true,
        scores: None,
        operator: None,
    };
    let source = {
        let (cell, health, metrics) = (snapshot.clone(), health.clone(), metrics.clone());
        Supervisor::start(move |_| {
            PolicyReconcilerActor::new(client, reconciler, cell, health, metrics)
        })
    };
    let readiness = Readiness::new(health, &[POLICIES]);
    start_with(options, snapshot, readiness, metrics, Some(source))
}

/// Starts the HTTPS server over a snapshot kept by another part of the process, with the
/// given readiness view. `source` is stopped with the webhook when given.
pub fn start_with(
    options: WebhookOptions,
    snapshot: SnapshotCell,
    readiness: Readiness,
    metrics: Metrics,
    source: Option<Addr<PolicyReconcilerActor>>,
) -> Result<WebhookRuntime, WebhookError> {
    let readiness = Arc::new(readiness);
    metrics
        .webhook_errors_total
        .with_label_values(&[options.failure_mode.as_str()])
        .inc_by(0);
    let state = WebhookState::new(
        snapshot.clone(),
        readiness.clone(),
        metrics,
        options.failure_mode,
    );
    let server = serve(
        options.addr,
        &options.tls_cert,
        &options.tls_key,
        options.cert_poll_interval,
        options.workers,
        state,
    )?;
    let (cell, health) = (snapshot.clone(), readiness.health().clone());
    let actor = Supervisor::start(move |_| AdmissionActor {
        snapshot: cell,
        health,
        source,
    });
    Ok(WebhookRuntime {
        server,
        readiness,
        actor,
        snapshot,
    })
}
