//! The admission webhook: AdmissionActor, the HTTPS server and TLS material.
//!
//! In: DevOpsPolicies from the cluster (watched by [`AdmissionActor`]), AdmissionReviews
//! over HTTPS, and the certificate files. Out: admission verdicts from the domain crate's
//! pure `review`, metrics in the shared registry, and readiness. [`start`] runs the whole
//! webhook inside an already running actix System (used by `webhook serve` and `run`);
//! [`serve`] runs only the HTTPS server over a snapshot cell, for tests and load runs.

mod actor;
pub mod certs;
mod http;
pub mod tls;

pub use actor::{
    AdmissionActor, CountPolicies, PolicyCount, Readiness, SnapshotCell, StopWatching,
};
pub use http::{FailureMode, MAX_BODY_BYTES, WebhookState, configure};

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, Supervisor};
use actix_web::dev::ServerHandle;
use actix_web::http::KeepAlive;
use actix_web::{App, HttpServer, web};
use arc_swap::ArcSwapOption;
use kube_devops::policy::NamespaceExclusions;

use crate::metrics::Metrics;
use tls::{CertReloader, TlsError};

/// Default listen address.
pub const DEFAULT_ADDR: &str = "0.0.0.0:8443";
/// How often the certificate files are checked for changes.
pub const CERT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Idle keep-alive: longer than the API server's idle connection timeout (90 s), so the
/// server never closes a connection the client is about to reuse.
pub const KEEP_ALIVE: Duration = Duration::from_secs(120);
/// Time a client gets to finish its TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a client gets to send its request head.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time in-flight requests get to finish at shutdown.
pub const DRAIN_SECONDS: u64 = 5;

/// Why the webhook could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The certificate pair is not usable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// How to run the webhook.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Listen address (port 0 picks a free port; see [`WebhookRuntime::local_addr`]).
    pub addr: SocketAddr,
    /// PEM certificate chain, reloaded when it changes.
    pub tls_cert: PathBuf,
    /// PEM private key, reloaded when it changes.
    pub tls_key: PathBuf,
    /// Answer to internal errors.
    pub failure_mode: FailureMode,
    /// Namespaces never judged.
    pub exclusions: NamespaceExclusions,
    /// How often the certificate files are checked.
    pub cert_poll_interval: Duration,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
}

impl WebhookOptions {
    /// Options with the defaults for everything but the certificate paths.
    pub fn new(tls_cert: PathBuf, tls_key: PathBuf) -> Self {
        WebhookOptions {
            addr: SocketAddr::from(([0, 0, 0, 0], 8443)),
            tls_cert,
            tls_key,
            failure_mode: FailureMode::Open,
            exclusions: NamespaceExclusions::default(),
            cert_poll_interval: CERT_POLL_INTERVAL,
            workers: 0,
        }
    }
}

/// A running HTTPS server.
pub struct RunningServer {
    /// Stops the server (`stop(true)` drains in-flight requests).
    pub handle: ServerHandle,
    /// The address actually bound.
    pub local_addr: SocketAddr,
    /// The certificate reloader serving the handshakes.
    pub certs: Arc<CertReloader>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    poller: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Drains in-flight requests, stops the server and the certificate polling.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.poller.abort();
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "webhook server ended with an error"),
            Err(error) => tracing::warn!(%error, "webhook server task failed"),
        }
    }
}

/// Starts the HTTPS server (inside a running actix System or tokio runtime) on `addr`
/// with the routes of [`configure`] over `state`.
pub fn serve(
    addr: SocketAddr,
    tls_cert: &std::path::Path,
    tls_key: &std::path::Path,
    cert_poll_interval: Duration,
    workers: usize,
    state: WebhookState,
) -> Result<RunningServer, WebhookError> {
    let certs = Arc::new(CertReloader::new(tls_cert, tls_key)?);
    let config = tls::server_config(certs.clone())?;
    let bind = |source| WebhookError::Bind { addr, source };
    let listener = TcpListener::bind(addr).map_err(bind)?;
    let local_addr = listener.local_addr().map_err(bind)?;
    let data = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        let data = data.clone();
        App::new().configure(move |cfg| configure(cfg, data))
    })
    .keep_alive(KeepAlive::Timeout(KEEP_ALIVE))
    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
    .tls_handshake_timeout(TLS_HANDSHAKE_TIMEOUT)
    .shutdown_timeout(DRAIN_SECONDS)
    .disable_signals();
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = server
        .listen_rustls_0_23(listener, config)
        .map_err(bind)?
        .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    let poller = certs.spawn_polling(cert_poll_interval);
    tracing::info!(addr = %local_addr, "webhook listening (HTTPS)");
    Ok(RunningServer {
        handle,
        local_addr,
        certs,
        task,
        poller,
    })
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
    let state = WebhookState {
        snapshot: snapshot.clone(),
        readiness: readiness.clone(),
        metrics: metrics.clone(),
        failure_mode: options.failure_mode,
    };
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
