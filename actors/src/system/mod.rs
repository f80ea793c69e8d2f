//! The controller runtime: one actix system of supervised actors behind an ops HTTP server
//! (and, in `run`, the webhook).
//!
//! In: [`ControllerOptions`] and a way to reach the cluster. Out: a running process that
//! watches pods, keeps the one policy snapshot, scores namespaces, elects a leader,
//! reconciles DevOpsPolicies (`reconcile`, `run`) and serves `/healthz`, `/readyz`,
//! `/metrics`, `/api/v1/scores` and the web dashboard with its JSON API (under
//! `--dashboard-base-path`), until SIGTERM or SIGINT. The
//! `kube::Client` is created once inside the running system and cloned into every actor.
//! Cross-resource checks are judged live from watches of the related kinds the policies
//! in force need ([`related`]).
//! Shutdown has one owner and one order: readiness off, stop the watches and the operator,
//! release the lease, drain HTTP, exit 0.

pub mod admission;
pub mod certificates;
pub mod dashboard;
pub mod enforcer;
pub mod health;
pub mod lease;
pub mod lists;
pub mod liveness;
pub mod messages;
pub mod policy;
pub mod related;
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
use self::enforcer::EnforcerActor;
use self::health::{Health, PODS, POLICIES, RELATED, Readiness};
use self::lease::{LeadershipGuard, LeaseActor, LeaseSettings};
use self::messages::{NotifyPodChanges, NotifyRelatedKinds, Shutdown};
use self::policy::{OperatorOptions, PolicyReconcilerActor, ReconcilerOptions};
use self::related::RelatedWatchActor;
use self::scores::NamespaceScoreActor;
use self::watch::WatchActor;
use crate::http::dashboard::{DashboardState, configure as dashboard_routes};
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
    /// Prefix of the dashboard's routes (`""` for the root; see
    /// [`crate::http::dashboard::base_path`]).
    pub dashboard_base_path: String,
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
    /// The bearer token `/metrics` and `/api/v1/scores` require, when one is set.
    pub ops_access: Option<Arc<crate::http::ops_access::OpsAccess>>,
    /// The webhook's own certificates, when the controller keeps them (the webhook then
    /// serves what their Secret holds).
    pub certificates: Option<self::certificates::CertificateSettings>,
}

/// The running actors, for shutdown.
struct Running {
    watch: Addr<WatchActor>,
    related: Addr<RelatedWatchActor>,
    policies: Addr<PolicyReconcilerActor>,
    enforcer: Option<Addr<EnforcerActor>>,
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
    let (scores, dashboard_changes) = {
        let actor =
            NamespaceScoreActor::new(options.defaults.clone(), metrics.clone(), health.clone());
        let changes = actor.dashboard_changes();
        (Supervisor::start(move |_| actor), changes)
    };
    let enforcer = options.operator.as_ref().map(|_| {
        let (client, guard, metrics, identity) = (
            client.clone(),
            guard.clone(),
            metrics.clone(),
            options.lease.identity.clone(),
        );
        Supervisor::start(move |_| EnforcerActor::new(client, guard, metrics, &identity))
    });
    let operator = options.operator.as_ref().map(|o| OperatorOptions {
        scores: scores.clone().recipient(),
        guard: guard.clone(),
        resync: o.resync,
        debounce: o.debounce,
        report_writes_per_second: o.report_writes_per_second,
        cluster_name: o.cluster_name.clone(),
        identity: options.lease.identity.clone(),
        enforcer: enforcer.clone().map(Addr::recipient),
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
    let related = {
        let (client, recipient, health, metrics) = (
            client.clone(),
            scores.clone().recipient(),
            health.clone(),
            metrics.clone(),
        );
        Supervisor::start(move |_| RelatedWatchActor::new(client, recipient, health, metrics))
    };
    scores.do_send(NotifyRelatedKinds {
        watcher: related.clone().recipient(),
    });
    let mut subscribers = vec![policies.clone().recipient()];
    if let Some(enforcer) = &enforcer {
        subscribers.push(enforcer.clone().recipient());
    }
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
    // The related-object watches that run gate readiness too: scores need what they list.
    let readiness = Readiness::new(health.clone(), ops_watches).with_group(RELATED);
    let board = DashboardState {
        data: scores.clone().recipient(),
        policies: Some(policies.clone().recipient()),
        changes: dashboard_changes,
        readiness: readiness.clone(),
        leader: Some(guard.clone()),
        streams: Arc::default(),
    };
    let state = OpsState {
        health: health.clone(),
        readiness,
        metrics,
        scores: Some(scores.recipient()),
    };
    let access = options.ops_access.clone().map(web::Data::from);
    let base = options.dashboard_base_path.clone();
    let server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(web::Data::new(board.clone()));
        if let Some(access) = &access {
            app = app.app_data(access.clone());
        }
        app.wrap(actix_web::middleware::from_fn(
            crate::http::ops_access::protect,
        ))
        .wrap(tracing_actix_web::TracingLogger::default())
        .configure(ops::configure)
        .configure(dashboard_routes(&base))
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
        related,
        policies,
        enforcer,
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
        let _ = running.related.send(Shutdown).await;
        let _ = running.policies.send(Shutdown).await;
        if let Some(enforcer) = &running.enforcer {
            let _ = enforcer.send(Shutdown).await;
        }
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
