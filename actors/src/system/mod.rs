//! The controller runtime: one actix system of supervised actors behind an ops HTTP server
//! (and, in `run`, the webhook).
//!
//! In: [`ControllerOptions`] and a way to reach the cluster. Out: a running process that
//! watches pods, keeps the one policy snapshot, scores namespaces, elects a leader,
//! reconciles DevOpsPolicies (`reconcile`, `run`) and serves `/healthz`, `/readyz`,
//! `/metrics`, `/api/v1/scores` and the dashboard, until SIGTERM or SIGINT. The
//! `kube::Client` is created once inside the running system and cloned into every actor.
//! Shutdown has one owner and one order: readiness off, stop the watches and the operator,
//! release the lease, drain HTTP, exit 0.

pub mod admission;
pub mod certificates;
pub mod health;
pub mod lease;
pub mod liveness;
pub mod messages;
pub mod policy;
pub mod scores;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, Supervisor};
use actix_web::{App, HttpServer, web};
use arc_swap::ArcSwapOption;
use kube_devops::policy::PolicySet;

use self::admission::SnapshotCell;
use self::health::{Health, PODS, POLICIES, Readiness};
use self::lease::{LeadershipGuard, LeaseActor, LeaseSettings};
use self::messages::{NotifyPodChanges, Shutdown};
use self::policy::{OperatorOptions, PolicyReconcilerActor, ReconcilerOptions};
use self::scores::NamespaceScoreActor;
use self::watch::WatchActor;
use crate::http::ops::{self, OpsState};
use crate::metrics::Metrics;

/// How long HTTP connections may drain at shutdown.
pub const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// The operator's settings (`reconcile`, `run`).
#[derive(Debug, Clone)]
pub struct OperatorSettings {
    /// Full resync period.
    pub resync: Duration,
    /// Debounce of pod changes.
    pub debounce: Duration,
    /// Report writes per second.
    pub report_writes_per_second: f64,
    /// The cluster's name in audit results.
    pub cluster_name: String,
}

/// Everything a controller process needs to know.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Address of the ops HTTP server.
    pub http_addr: SocketAddr,
    /// The default policy (`--policy`, `--bundle` or built-in), its origin and the
    /// excluded namespaces: the policy set before any DevOpsPolicy is known.
    pub defaults: PolicySet,
    /// Leader election settings.
    pub lease: LeaseSettings,
    /// Time between turning not-ready and stopping work at shutdown, so endpoints stop
    /// routing here first.
    pub shutdown_delay: Duration,
    /// The admission webhook, when this process serves it (`run`).
    pub webhook: Option<crate::http::WebhookOptions>,
    /// The operator, when this process reconciles policies (`reconcile`, `run`).
    pub operator: Option<OperatorSettings>,
    /// The webhook's own certificates, when the controller keeps them (the webhook then
    /// serves what their Secret holds).
    pub certificates: Option<self::certificates::CertificateSettings>,
}

/// The running actors, for shutdown.
struct Running {
    watch: Addr<WatchActor>,
    policies: Addr<PolicyReconcilerActor>,
    lease: Addr<LeaseActor>,
    server: actix_web::dev::ServerHandle,
    webhook: Option<self::admission::WebhookRuntime>,
    certificates: Option<Addr<self::certificates::CertificateActor>>,
}

/// Starts every actor of `options` and the ops server in the current actix system.
async fn start(
    options: ControllerOptions,
    client: kube::Client,
    health: Arc<Health>,
) -> anyhow::Result<Running> {
    let metrics = Metrics::new()?;
    let cell: SnapshotCell = Arc::new(ArcSwapOption::empty());
    let guard = LeadershipGuard::new(Duration::from_secs(options.lease.duration));
    let scores = {
        let (defaults, metrics, health) =
            (options.defaults.clone(), metrics.clone(), health.clone());
        Supervisor::start(move |_| NamespaceScoreActor::new(defaults, metrics, health))
    };
    let operator = options.operator.as_ref().map(|o| OperatorOptions {
        scores: scores.clone().recipient(),
        guard: guard.clone(),
        resync: o.resync,
        debounce: o.debounce,
        report_writes_per_second: o.report_writes_per_second,
        cluster_name: o.cluster_name.clone(),
        identity: options.lease.identity.clone(),
    });
    let reconciler = ReconcilerOptions {
        defaults: options.defaults.clone(),
        policies_required: options.operator.is_some() || options.webhook.is_some(),
        scores: Some(scores.clone().recipient()),
        operator,
    };
    let policies = {
        let (client, cell, health, metrics) = (
            client.clone(),
            cell.clone(),
            health.clone(),
            metrics.clone(),
        );
        Supervisor::start(move |_| {
            PolicyReconcilerActor::new(client, reconciler, cell, health, metrics)
        })
    };
    if options.operator.is_some() {
        scores.do_send(NotifyPodChanges {
            reconciler: policies.clone().recipient(),
        });
    }
    let watch = {
        let (client, recipient, health, metrics) = (
            client.clone(),
            scores.clone().recipient(),
            health.clone(),
            metrics.clone(),
        );
        Supervisor::start(move |_| WatchActor::new(client, recipient, health, metrics))
    };
    let subscribers = vec![policies.clone().recipient()];
    let lease = {
        let (client, settings, metrics, guard) = (
            client.clone(),
            options.lease.clone(),
            metrics.clone(),
            guard.clone(),
        );
        Supervisor::start(move |_| LeaseActor::new(client, settings, subscribers, guard, metrics))
    };
    let webhook = match options.webhook.clone() {
        Some(webhook) => {
            let addr = webhook.addr;
            let readiness = Readiness::new(health.clone(), &[POLICIES]);
            let runtime =
                self::admission::start_with(webhook, cell, readiness, metrics.clone(), None)
                    .map_err(|e| {
                        anyhow::anyhow!("cannot start the admission webhook on {addr}: {e}")
                    })?;
            Some(runtime)
        }
        None => None,
    };
    let certificates = match (&webhook, options.certificates.clone()) {
        (Some(runtime), Some(settings)) => {
            let (client, reloader, guard) =
                (client.clone(), runtime.server.certs.clone(), guard.clone());
            Some(Supervisor::start(move |_| {
                self::certificates::CertificateActor::new(client, settings, reloader, guard)
            }))
        }
        _ => None,
    };
    let ops_watches: &[&'static str] = if options.operator.is_some() || options.webhook.is_some() {
        &[PODS, POLICIES]
    } else {
        &[PODS]
    };
    let state = OpsState {
        health: health.clone(),
        readiness: Readiness::new(health.clone(), ops_watches),
        metrics,
        scores: Some(scores.recipient()),
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .wrap(tracing_actix_web::TracingLogger::default())
            .configure(ops::configure)
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(HTTP_DRAIN.as_secs())
    .bind(options.http_addr)
    .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.http_addr))?
    .run();
    let handle = server.handle();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "ops server failed");
        }
    });
    tracing::info!(addr = %options.http_addr, identity = %options.lease.identity, "controller started");
    Ok(Running {
        watch,
        policies,
        lease,
        server: handle,
        webhook,
        certificates,
    })
}

/// Waits for SIGTERM or SIGINT.
async fn signalled() {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = actix_rt::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the process");
                let _ = actix_rt::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = actix_rt::signal::ctrl_c().await;
    }
}

/// Runs the controller until a signal, then shuts down in order. Returns the exit code.
pub fn run(
    options: ControllerOptions,
    target: crate::cluster::ClusterTarget,
) -> anyhow::Result<u8> {
    let system = actix::System::new();
    let shutdown_delay = options.shutdown_delay;
    let result = system.block_on(async move {
        let client = target.connect().await?;
        let health = Arc::new(Health::default());
        let running = start(options, client, health.clone()).await?;
        signalled().await;
        // 1. Not ready: load balancers and the API server stop sending traffic (both
        //    servers read the same health).
        health.set_shutting_down();
        actix_rt::time::sleep(shutdown_delay).await;
        // 2. Stop watching and reconciling.
        let _ = running.watch.send(Shutdown).await;
        let _ = running.policies.send(Shutdown).await;
        // 3. Release the lease so a standby takes over at once.
        if let Some(certificates) = &running.certificates {
            let _ = certificates.send(Shutdown).await;
        }
        let _ = running.lease.send(Shutdown).await;
        // 4. Drain HTTP.
        if let Some(webhook) = running.webhook {
            webhook.stop().await;
        }
        running.server.stop(true).await;
        tracing::info!("shutdown complete");
        anyhow::Ok(0)
    });
    actix::System::current().stop();
    result
}
