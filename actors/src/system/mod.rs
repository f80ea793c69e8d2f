//! The controller runtime: one actix system of supervised actors behind an ops HTTP server.
//!
//! In: [`ControllerOptions`] and a way to reach the cluster. Out: a running process that
//! watches pods, scores namespaces, elects a leader and serves `/healthz`, `/readyz`,
//! `/metrics`, `/api/v1/scores` and the dashboard, until SIGTERM or SIGINT. The `kube::Client`
//! is created once inside the running system and cloned into every actor. Shutdown has one
//! owner and one order: readiness off, stop the watch, release the lease, drain HTTP, exit 0.

pub mod admission;
pub mod health;
pub mod lease;
pub mod messages;
pub mod scores;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, Supervisor};
use actix_web::{App, HttpServer, web};
use kube_devops::policy::{EffectivePolicy, NamespaceExclusions};

use self::health::Health;
use self::lease::{LeaseActor, LeaseSettings};
use self::messages::Shutdown;
use self::scores::NamespaceScoreActor;
use self::watch::WatchActor;
use crate::http::ops::{self, OpsState};
use crate::metrics::Metrics;

/// How long HTTP connections may drain at shutdown.
pub const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// Everything a controller process needs to know.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Address of the ops HTTP server.
    pub http_addr: SocketAddr,
    /// The policy pods are scored with.
    pub policy: EffectivePolicy,
    /// Namespaces left alone (includes the controller's own).
    pub exclusions: NamespaceExclusions,
    /// Leader election settings.
    pub lease: LeaseSettings,
    /// Time between turning not-ready and stopping work at shutdown, so endpoints stop
    /// routing here first.
    pub shutdown_delay: Duration,
    /// The admission webhook, when this process serves it (`run`).
    pub webhook: Option<crate::http::WebhookOptions>,
    /// The bearer token `/metrics` and `/api/v1/scores` require, when one is set.
    pub ops_access: Option<Arc<crate::http::ops_access::OpsAccess>>,
}

/// The running actors, for shutdown.
struct Running {
    watch: Addr<WatchActor>,
    lease: Addr<LeaseActor>,
    server: actix_web::dev::ServerHandle,
    webhook: Option<self::admission::WebhookRuntime>,
}

/// Starts the watch set (WatchActor, NamespaceScoreActor, LeaseActor) and the ops server
/// in the current actix system.
async fn start(
    options: ControllerOptions,
    client: kube::Client,
    health: Arc<Health>,
) -> anyhow::Result<Running> {
    let metrics = Metrics::new()?;
    let scores = {
        let (policy, exclusions, metrics, health) = (
            options.policy.clone(),
            options.exclusions.clone(),
            metrics.clone(),
            health.clone(),
        );
        Supervisor::start(move |_| NamespaceScoreActor::new(policy, exclusions, metrics, health))
    };
    let watch = {
        let (client, recipient, health, metrics) = (
            client.clone(),
            scores.clone().recipient(),
            health.clone(),
            metrics.clone(),
        );
        Supervisor::start(move |_| WatchActor::new(client, recipient, health, metrics))
    };
    let lease = LeaseActor::new(
        client.clone(),
        options.lease.clone(),
        Vec::new(),
        metrics.clone(),
    )
    .start();
    let webhook = match options.webhook.clone() {
        Some(webhook) => {
            let addr = webhook.addr;
            let runtime = self::admission::start(webhook, client.clone(), metrics.clone())
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot start the admission webhook on {addr}: {e}")
                })?;
            Some(runtime)
        }
        None => None,
    };
    let state = OpsState {
        health: health.clone(),
        metrics,
        scores: Some(scores.recipient()),
    };
    let access = options.ops_access.clone().map(web::Data::from);
    let server = HttpServer::new(move || {
        let mut app = App::new().app_data(web::Data::new(state.clone()));
        if let Some(access) = &access {
            app = app.app_data(access.clone());
        }
        app.wrap(tracing_actix_web::TracingLogger::default())
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
        lease,
        server: handle,
        webhook,
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
        // 1. Not ready: load balancers and the API server stop sending traffic.
        health.set_shutting_down();
        if let Some(webhook) = &running.webhook {
            webhook.readiness.set_stopping();
        }
        actix_rt::time::sleep(shutdown_delay).await;
        // 2. Stop watching.
        let _ = running.watch.send(Shutdown).await;
        // 3. Release the lease so a standby takes over at once.
        let _ = running.lease.send(Shutdown).await;
        // 4. Drain HTTP (the webhook stops its policy watch, then drains).
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
