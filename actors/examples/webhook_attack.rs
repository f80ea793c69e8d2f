//! Load generator: honest AdmissionReviews while hostile clients hold connections open.
//!
//! ```text
//! cargo run --release -p kube-devops-actors --example webhook_attack -- \
//!     [--silent 2000] [--slow 2000] [--requests 2000] [--seconds 30] [--actix-defaults]
//! ```
//!
//! Starts the production HTTPS server (`serve`) on loopback with its production deadlines,
//! opens `--silent` connections that never start TLS and `--slow` TLS connections that send
//! a request head and then one body byte every 5 s, re-opening each one the server closes,
//! and meanwhile sends `--requests` honest reviews, each on a new TLS connection as a
//! restarted API server would, and as many on one keep-alive connection. Prints the
//! honest latency percentiles, how many hostile connections the server closed, and the
//! server's open descriptors. `--actix-defaults` runs the server as it was before the
//! deadlines: 256 pending handshakes per worker, a 5 s handshake deadline, no body
//! deadline, no eviction. Runs are bounded by `--seconds` and stop by themselves.
//!
//! The honest client runs on a thread and runtime of its own, as the API server is a
//! process of its own, and verifies the server's certificate as the API server does. The
//! attackers do not verify it (an attacker has no reason to): on this one machine their
//! client-side work shares the cores with the server, and a real attacker's runs on
//! machines of its own. `--shared-client` measures as the first version of this tool did:
//! the honest client on the attackers' runtime, where its handshakes also waited behind
//! the attackers' own, and attackers verifying certificates.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arc_swap::ArcSwapOption;
use kube_devops::admission::PolicySnapshot;
use kube_devops::policy::{DevOpsPolicySpec, NamespaceExclusions};
use kube_devops_actors::http::body::{BodyBudget, DEFAULT_BYTES_IN_FLIGHT};
use kube_devops_actors::http::certs::{self, CertRequest};
use kube_devops_actors::http::limits::{
    BODY_READ_TIMEOUT, ConnectionLimits, raise_open_file_limit,
};
use kube_devops_actors::http::{FailureMode, WebhookState, serve_with_limits};
use kube_devops_actors::metrics::Metrics;
use kube_devops_actors::system::admission::Readiness;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Flags of the attack load generator.
#[derive(clap::Parser)]
struct Options {
    /// Connections that never start TLS.
    #[arg(long, default_value_t = 2000)]
    silent: usize,
    /// TLS connections that send a body one byte every 5 s.
    #[arg(long, default_value_t = 2000)]
    slow: usize,
    /// Honest reviews to send at most (at least 1).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// How long the run lasts, 5 to 600 s.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Serve with actix-web's defaults instead of the production deadlines.
    #[arg(long)]
    actix_defaults: bool,
    /// Send honest requests on the attackers' runtime, attackers verifying certificates.
    #[arg(long)]
    shared_client: bool,
}

fn options() -> anyhow::Result<Options> {
    let mut o: Options = clap::Parser::parse();
    o.requests = o.requests.max(1);
    o.seconds = o.seconds.clamp(5, 600);
    Ok(o)
}

fn review(i: usize) -> Vec<u8> {
    let image = if i.is_multiple_of(2) {
        "nginx:latest"
    } else {
        "nginx:1.27"
    };
    let body = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": format!("honest-{i}"), "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "shop", "operation": "CREATE", "name": "web",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                       "spec": {"containers": [{"name": "app", "image": image}]}}
        }
    })
    .to_string();
    format!(
        "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes one request and reads its response; fails on anything but 200.
async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
) -> anyhow::Result<()> {
    stream.write_all(request).await?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed");
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            bail!("{}", head.lines().next().unwrap_or(""));
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .context("no content-length")?;
        if buf.len() >= end + 4 + length {
            return Ok(());
        }
    }
}

async fn tls_connect(
    tls: &TlsConnector,
    addr: SocketAddr,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tls
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await?)
}

/// Holds a connection that never sends a byte, re-opening it whenever the server closes it.
async fn silent(addr: SocketAddr, stop: Arc<AtomicBool>, closed: Arc<AtomicUsize>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut buf = [0u8; 64];
        loop {
            tokio::select! {
                r = tcp.read(&mut buf) => {
                    if matches!(r, Ok(0) | Err(_)) { closed.fetch_add(1, Ordering::Relaxed); break; }
                }
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if stop.load(Ordering::Relaxed) { return; }
                }
            }
        }
    }
}

/// Holds a TLS connection sending its body one byte every 5 s, re-opening it when closed.
async fn slow(
    addr: SocketAddr,
    tls: TlsConnector,
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicUsize>,
) {
    let head = "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = tls_connect(&tls, addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if stream.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        let mut buf = [0u8; 512];
        let mut next_byte = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            tokio::select! {
                r = stream.read(&mut buf) => {
                    if matches!(r, Ok(0) | Err(_)) { closed.fetch_add(1, Ordering::Relaxed); break; }
                }
                _ = tokio::time::sleep_until(next_byte.min(tokio::time::Instant::now() + Duration::from_millis(500))) => {
                    if stop.load(Ordering::Relaxed) { return; }
                    if tokio::time::Instant::now() >= next_byte {
                        let _ = stream.write_all(b" ").await;
                        next_byte += Duration::from_secs(5);
                    }
                }
            }
        }
    }
}

/// An attacker's certificate check: none; only the handshake's key exchange is paid.
#[derive(Debug)]
struct NoVerification(rustls::crypto::CryptoProvider);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Latencies and failures of honest reviews: on new connections, on one kept alive.
type Measured = (Vec<Duration>, usize, Vec<Duration>, usize);

/// Sends `requests` honest reviews (until `deadline`), each on a new TLS connection and
/// as many on one kept-alive connection, alternating.
async fn honest(
    tls: TlsConnector,
    addr: SocketAddr,
    requests: usize,
    deadline: Instant,
) -> Measured {
    let (mut fresh, mut fresh_failed) = (Vec::new(), 0);
    let (mut kept, mut kept_failed) = (Vec::new(), 0);
    let mut keep_alive: Option<tokio_rustls::client::TlsStream<TcpStream>> = None;
    for i in 0..requests {
        if Instant::now() > deadline {
            break;
        }
        let request = review(i);
        let started = Instant::now();
        let attempt = tokio::time::timeout(Duration::from_secs(30), async {
            let mut s = tls_connect(&tls, addr).await?;
            exchange(&mut s, &request).await
        })
        .await;
        match attempt {
            Ok(Ok(())) => fresh.push(started.elapsed()),
            _ => fresh_failed += 1,
        }
        if keep_alive.is_none() {
            keep_alive = tls_connect(&tls, addr).await.ok();
        }
        if let Some(s) = keep_alive.as_mut() {
            let started = Instant::now();
            match tokio::time::timeout(Duration::from_secs(30), exchange(s, &request)).await {
                Ok(Ok(())) => kept.push(started.elapsed()),
                _ => {
                    kept_failed += 1;
                    keep_alive = None;
                }
            }
        }
    }
    (fresh, fresh_failed, kept, kept_failed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(name: &str, mut latencies: Vec<Duration>, failures: usize) {
    latencies.sort();
    println!(
        "{name:<28} {:>6} ok {:>5} failed   p50 {:>8.2} ms   p99 {:>8.2} ms   max {:>8.2} ms",
        latencies.len(),
        failures,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let limit = raise_open_file_limit();
    let dir = tempfile::tempdir()?;
    certs::generate(&CertRequest {
        service: "kube-devops-webhook".into(),
        namespace: "kube-devops".into(),
        ip_sans: vec!["127.0.0.1".parse()?],
        out_dir: dir.path().to_owned(),
        force: false,
        new_ca: false,
    })?;
    let spec = DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        ..DevOpsPolicySpec::default()
    };
    let snapshot =
        PolicySnapshot::from_policies([("shop", "p", &spec)], NamespaceExclusions::default());
    let readiness = Arc::new(Readiness::default());
    readiness.set_synced();
    let workers = 2;
    let (limits, body_deadline) = if o.actix_defaults {
        let defaults = ConnectionLimits {
            handshake_timeout: Duration::from_secs(5),
            head_timeout: Duration::from_secs(10),
            connections_per_worker: 25_000,
            handshakes_per_worker: 256,
            established: usize::MAX,
        };
        (defaults, Duration::from_secs(3600))
    } else {
        (ConnectionLimits::current(workers), BODY_READ_TIMEOUT)
    };
    let state = WebhookState::new(
        Arc::new(ArcSwapOption::from_pointee(snapshot)),
        readiness,
        Metrics::new()?,
        FailureMode::Open,
    )
    .with_body_budget(BodyBudget::new(DEFAULT_BYTES_IN_FLIGHT, body_deadline));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.path().join(certs::CA_CERT))? {
        roots.add(cert?)?;
    }
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = TlsConnector::from(Arc::new(client));
    let hostile_tls = if o.shared_client {
        tls.clone()
    } else {
        let provider = rustls::crypto::ring::default_provider();
        let client = rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth();
        TlsConnector::from(Arc::new(client))
    };
    println!(
        "open-file limit {limit:?}; {} silent + {} slow hostile connections; {}",
        o.silent,
        o.slow,
        if o.actix_defaults {
            "actix-web defaults, no body deadline"
        } else {
            "production deadlines"
        }
    );
    // The server runs in an actix System on a thread of its own; the attack and the honest
    // clients on a runtime of their own on this one.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server_thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let server = serve_with_limits(
                "127.0.0.1:0".parse()?,
                &dir.path().join(certs::TLS_CERT),
                &dir.path().join(certs::TLS_KEY),
                Duration::from_secs(60),
                workers,
                state,
                limits,
            )?;
            let _ = addr_tx.send(server.local_addr);
            let _ = server_stopped.await;
            server.stop().await;
            anyhow::Ok(())
        })
    });
    let addr: SocketAddr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .context("the server did not start")?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (silent_closed, slow_closed) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let mut attackers = Vec::new();
    for _ in 0..o.silent {
        attackers.push(client.spawn(silent(addr, stop.clone(), silent_closed.clone())));
    }
    for _ in 0..o.slow {
        attackers.push(client.spawn(slow(
            addr,
            hostile_tls.clone(),
            stop.clone(),
            slow_closed.clone(),
        )));
    }
    // Let the attack build up before measuring.
    std::thread::sleep(Duration::from_secs(6));
    let held = open_descriptors();
    let requests = o.requests;
    let measured = if o.shared_client {
        client.block_on(honest(tls, addr, requests, deadline))
    } else {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(honest(tls, addr, requests, deadline)))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the honest client panicked"))??
    };
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.abort();
    }
    let (fresh, fresh_failed, kept, kept_failed) = measured;
    report("/validate, new connection", fresh, fresh_failed);
    report("/validate, keep-alive", kept, kept_failed);
    println!(
        "hostile connections closed by the server: {} silent, {} slow; open descriptors under attack {held} (client and server)",
        silent_closed.load(Ordering::Relaxed),
        slow_closed.load(Ordering::Relaxed),
    );
    drop(client);
    let _ = stop_server.send(());
    match server_thread.join() {
        Ok(result) => result,
        Err(_) => bail!("the server thread panicked"),
    }
}
