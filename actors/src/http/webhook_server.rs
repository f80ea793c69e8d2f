//! The webhook's HTTPS server: listener, TLS with certificate reload, deadlines and caps.
//!
//! In: [`WebhookOptions`] and the routes' shared [`WebhookState`]. Out: a running actix-web
//! server on rustls ([`serve`]), used by `webhook serve` and `run` (through
//! `system::admission::start`) and by tests and load runs over a snapshot cell of their own.
//! The deadlines and connection caps ([`ConnectionLimits`]) keep hostile clients from
//! holding connections or file descriptors (see `limits.rs`); over the cap of established
//! connections the one idle the longest is evicted (see `connections.rs`).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{ServerHandle, Service};
use actix_web::http::KeepAlive;
use actix_web::{App, HttpServer, web};
use kube_devops::policy::NamespaceExclusions;

use super::connections::{ConnectionTable, Ticket};
use super::limits::{BACKLOG, ConnectionLimits, DISCONNECT_TIMEOUT};
use super::tls::{self, CertReloader, TlsError};
use super::webhook::{FailureMode, WebhookState, configure};

/// Default listen address.
pub const DEFAULT_ADDR: &str = "0.0.0.0:8443";
/// How often the certificate files are checked for changes.
pub const CERT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Idle keep-alive: longer than the API server's idle connection timeout (90 s), so the
/// server never closes a connection the client is about to reuse.
pub const KEEP_ALIVE: Duration = Duration::from_secs(120);
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
    /// The established connections, evicted oldest idle first over the cap.
    pub connections: Arc<ConnectionTable>,
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
    let worker_count = if workers > 0 {
        workers
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let limits = ConnectionLimits::current(worker_count);
    serve_with_limits(
        addr,
        tls_cert,
        tls_key,
        cert_poll_interval,
        workers,
        state,
        limits,
    )
}

/// [`serve`] with explicit deadlines and caps (tests and load runs shorten them).
pub fn serve_with_limits(
    addr: SocketAddr,
    tls_cert: &std::path::Path,
    tls_key: &std::path::Path,
    cert_poll_interval: Duration,
    workers: usize,
    state: WebhookState,
    limits: ConnectionLimits,
) -> Result<RunningServer, WebhookError> {
    // No certificate path: the pair comes from the controller's Secret (`install_pem`).
    let certs = Arc::new(if tls_cert.as_os_str().is_empty() {
        CertReloader::waiting(tls_cert, tls_key)
    } else {
        CertReloader::new(tls_cert, tls_key)?
    });
    let config = tls::server_config(certs.clone())?;
    let bind = |source| WebhookError::Bind { addr, source };
    let listener = TcpListener::bind(addr).map_err(bind)?;
    let local_addr = listener.local_addr().map_err(bind)?;
    let data = web::Data::new(state);
    let connections = ConnectionTable::new(limits.established);
    let table = connections.clone();
    let mut server = HttpServer::new(move || {
        let data = data.clone();
        App::new()
            .wrap_fn(|req, service| {
                // A connection with a request in progress is not idle, so not evicted.
                let request = req.conn_data::<Ticket>().map(Ticket::request);
                let response = service.call(req);
                async move {
                    let response = response.await;
                    drop(request);
                    response
                }
            })
            .configure(move |cfg| configure(cfg, data))
    })
    .on_connect(move |io, data| table.on_connect(io, data))
    .keep_alive(KeepAlive::Timeout(KEEP_ALIVE))
    // Without it, a response written right after the handshake's last message (the session
    // tickets) waits for the client's delayed ACK, 40 ms on Linux (Nagle's algorithm).
    .tcp_nodelay(true)
    .client_request_timeout(limits.head_timeout)
    .client_disconnect_timeout(DISCONNECT_TIMEOUT)
    .tls_handshake_timeout(limits.handshake_timeout)
    .max_connections(limits.connections_per_worker)
    .max_connection_rate(limits.handshakes_per_worker)
    .backlog(BACKLOG)
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
    tracing::info!(
        addr = %local_addr,
        connections_per_worker = limits.connections_per_worker,
        established = limits.established,
        handshake_timeout = ?limits.handshake_timeout,
        "webhook listening (HTTPS)"
    );
    Ok(RunningServer {
        handle,
        local_addr,
        certs,
        connections,
        task,
        poller,
    })
}
