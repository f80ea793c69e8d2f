//! AdmissionActor: keeps the DevOpsPolicy set current and publishes it as a snapshot; and
//! [`start`], which runs it with the webhook's HTTPS server.
//!
//! In: a `kube_runtime::watcher` stream of DevOpsPolicies in every namespace (with the
//! default backoff, so errors never become a hot loop). Out: an immutable
//! `Arc<PolicySnapshot>` stored in a shared [`SnapshotCell`], which request handlers load
//! without a mailbox round-trip, and the readiness flag, set once the first list has been
//! seen. A relist (`Init`..`InitDone`) is buffered and replaces the set at `InitDone`, so
//! deleted policies are pruned and requests never see a half-listed set.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::net::SocketAddr;
use std::time::Duration;

use actix::prelude::*;
use arc_swap::ArcSwapOption;
use futures::StreamExt;
use kube::Client;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube_devops::admission::PolicySnapshot;
use kube_devops::policy::{DevOpsPolicy, DevOpsPolicySpec, NamespaceExclusions};

use crate::http::{RunningServer, WebhookError, WebhookOptions, WebhookState, serve};
use crate::metrics::Metrics;

/// Resource label of the policy watch in metrics.
const RESOURCE: &str = "devopspolicies";

/// The published snapshot: `None` until the policy set has synced once.
pub type SnapshotCell = Arc<ArcSwapOption<PolicySnapshot>>;

/// Readiness of the webhook: the policy set has synced and no shutdown has begun.
#[derive(Debug, Default)]
pub struct Readiness {
    synced: AtomicBool,
    stopping: AtomicBool,
}

impl Readiness {
    /// Marks the policy set synced.
    pub fn set_synced(&self) {
        self.synced.store(true, Ordering::SeqCst);
    }

    /// Marks the start of shutdown: not ready from now on.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// True once the policy set has synced.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// True while shutting down.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Ready to serve admission: synced and not stopping.
    pub fn is_ready(&self) -> bool {
        self.is_synced() && !self.is_stopping()
    }
}

/// Stops the policy watch (shutdown); the last snapshot keeps serving.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopWatching {
    /// Why, for the log.
    pub reason: &'static str,
}

/// Asks how many policies the actor holds, for diagnostics and tests.
#[derive(Debug, Message)]
#[rtype(result = "PolicyCount")]
pub struct CountPolicies {
    /// Restrict the count to this namespace.
    pub namespace: Option<String>,
}

/// The answer to [`CountPolicies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct PolicyCount {
    /// Policies held.
    pub policies: usize,
}

type PolicyKey = (String, String);

/// The policy watch and snapshot publisher.
pub struct AdmissionActor {
    client: Client,
    exclusions: NamespaceExclusions,
    snapshot: SnapshotCell,
    readiness: Arc<Readiness>,
    metrics: Metrics,
    policies: BTreeMap<PolicyKey, DevOpsPolicySpec>,
    relist: Option<BTreeMap<PolicyKey, DevOpsPolicySpec>>,
    stream: Option<SpawnHandle>,
    stopped: bool,
}

impl AdmissionActor {
    /// An actor that publishes into `snapshot` and marks `readiness`.
    pub fn new(
        client: Client,
        exclusions: NamespaceExclusions,
        snapshot: SnapshotCell,
        readiness: Arc<Readiness>,
        metrics: Metrics,
    ) -> Self {
        AdmissionActor {
            client,
            exclusions,
            snapshot,
            readiness,
            metrics,
            policies: BTreeMap::new(),
            relist: None,
            stream: None,
            stopped: false,
        }
    }

    fn start_stream(&mut self, ctx: &mut Context<Self>) {
        let api: Api<DevOpsPolicy> = Api::all(self.client.clone());
        let stream = watcher::watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .boxed();
        self.stream = Some(ctx.add_stream(stream));
    }

    fn publish(&self) {
        let snapshot = PolicySnapshot::from_policies(
            self.policies
                .iter()
                .map(|((ns, name), spec)| (ns.as_str(), name.as_str(), spec)),
            self.exclusions.clone(),
        );
        tracing::debug!(
            policies = self.policies.len(),
            namespaces = snapshot.namespace_count(),
            "admission policy snapshot published"
        );
        self.snapshot.store(Some(Arc::new(snapshot)));
    }

    fn key(policy: &DevOpsPolicy) -> Option<PolicyKey> {
        Some((
            policy.metadata.namespace.clone()?,
            policy.metadata.name.clone()?,
        ))
    }
}

impl Actor for AdmissionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if !self.stopped {
            self.start_stream(ctx);
        }
    }
}

impl Supervised for AdmissionActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!("AdmissionActor restarting; the last snapshot keeps serving");
        self.stream = None;
        self.relist = None;
    }
}

impl StreamHandler<Result<Event<DevOpsPolicy>, watcher::Error>> for AdmissionActor {
    fn handle(&mut self, item: Result<Event<DevOpsPolicy>, watcher::Error>, _: &mut Context<Self>) {
        match item {
            Ok(Event::Apply(policy)) => {
                if let Some(key) = Self::key(&policy) {
                    tracing::debug!(ns = %key.0, policy = %key.1, "policy applied");
                    self.policies.insert(key, policy.spec);
                    if self.readiness.is_synced() {
                        self.publish();
                    }
                }
            }
            Ok(Event::Delete(policy)) => {
                if let Some(key) = Self::key(&policy) {
                    tracing::debug!(ns = %key.0, policy = %key.1, "policy deleted");
                    self.policies.remove(&key);
                    if self.readiness.is_synced() {
                        self.publish();
                    }
                }
            }
            Ok(Event::Init) => self.relist = Some(BTreeMap::new()),
            Ok(Event::InitApply(policy)) => {
                if let (Some(key), Some(buffer)) = (Self::key(&policy), self.relist.as_mut()) {
                    buffer.insert(key, policy.spec);
                }
            }
            Ok(Event::InitDone) => {
                if let Some(buffer) = self.relist.take() {
                    self.policies = buffer;
                }
                self.publish();
                if !self.readiness.is_synced() {
                    tracing::info!(policies = self.policies.len(), "policy set synced");
                }
                self.readiness.set_synced();
            }
            Err(error) => {
                self.metrics
                    .watch_errors_total
                    .with_label_values(&[RESOURCE])
                    .inc();
                tracing::warn!(%error, resource = RESOURCE, "watch error; retrying with backoff");
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The watcher retries forever, so an end means something stopped it; unless we
        // were told to stop, start it again rather than serve a frozen set.
        if self.stopped {
            return;
        }
        tracing::warn!(resource = RESOURCE, "policy watch ended; restarting it");
        self.start_stream(ctx);
    }
}

impl Handler<StopWatching> for AdmissionActor {
    type Result = ();

    fn handle(&mut self, msg: StopWatching, ctx: &mut Context<Self>) {
        tracing::info!(reason = msg.reason, "policy watch stopping");
        self.stopped = true;
        if let Some(handle) = self.stream.take() {
            ctx.cancel_future(handle);
        }
    }
}

impl Handler<CountPolicies> for AdmissionActor {
    type Result = PolicyCount;

    fn handle(&mut self, msg: CountPolicies, _: &mut Context<Self>) -> PolicyCount {
        let policies = match &msg.namespace {
            Some(ns) => self.policies.keys().filter(|(n, _)| n == ns).count(),
            None => self.policies.len(),
        };
        PolicyCount { policies }
    }
}

/// The webhook running inside an actix System.
pub struct WebhookRuntime {
    /// The HTTPS server.
    pub server: RunningServer,
    /// Readiness (`/readyz`): the policy set has synced and no shutdown has begun.
    pub readiness: Arc<Readiness>,
    /// The policy watch.
    pub actor: Addr<AdmissionActor>,
    /// The snapshot the handlers read.
    pub snapshot: SnapshotCell,
}

impl WebhookRuntime {
    /// The address the server bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr
    }

    /// Shuts down in order: readiness off, policy watch stopped, in-flight requests
    /// drained, server stopped.
    pub async fn stop(self) {
        self.readiness.set_stopping();
        let stop = self.actor.send(StopWatching { reason: "shutdown" });
        if tokio::time::timeout(Duration::from_secs(2), stop)
            .await
            .is_err()
        {
            tracing::warn!("policy watch did not acknowledge the stop in time");
        }
        self.server.stop().await;
    }
}

/// Starts the AdmissionActor (supervised) and the HTTPS server inside the actix System
/// that is already running on this thread, and returns at once: readiness turns on when
/// the policy set has synced. `client` is the process's one kube client; `metrics` the
/// one registry (webhook requests, denials, errors and latency are recorded there).
/// Stop it with [`WebhookRuntime::stop`].
pub async fn start(
    options: WebhookOptions,
    client: kube::Client,
    metrics: Metrics,
) -> Result<WebhookRuntime, WebhookError> {
    let snapshot: SnapshotCell = Arc::new(ArcSwapOption::empty());
    let readiness = Arc::new(Readiness::default());
    let state = WebhookState::new(
        snapshot.clone(),
        readiness.clone(),
        metrics.clone(),
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
    let (cell, ready, exclusions) = (snapshot.clone(), readiness.clone(), options.exclusions);
    let actor =
        Supervisor::start(move |_| AdmissionActor::new(client, exclusions, cell, ready, metrics));
    Ok(WebhookRuntime {
        server,
        readiness,
        actor,
        snapshot,
    })
}
