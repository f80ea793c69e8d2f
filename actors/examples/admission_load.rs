//! Load generator for the admission webhook: real AdmissionReviews over HTTPS keep-alive on
//! loopback, against the production server (`admission::serve`), and the same against the
//! trivial `/healthz` endpoint of that server as the ceiling.
//!
//! ```text
//! cargo run --release -p kube-devops-actors --example admission_load -- \
//!     [--requests 200000] [--connections 4] [--server-workers 1] [--client-threads 1]
//! ```
//!
//! Prints throughput and client-observed p50/p99/p99.9 latency for both endpoints, and the
//! server-side latency histogram (`kube_devops_webhook_request_duration_seconds`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arc_swap::ArcSwapOption;
use kube_devops::admission::{PolicySnapshot, parse_review, review};
use kube_devops::policy::{DevOpsPolicySpec, NamespaceExclusions};
use kube_devops_actors::http::certs::{self, CertRequest};
use kube_devops_actors::http::{FailureMode, WebhookState, serve};
use kube_devops_actors::metrics::Metrics;
use kube_devops_actors::system::admission::Readiness;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The allocator of the `kube-devops` binary, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Flags of the load generator.
#[derive(clap::Parser)]
struct Options {
    /// Reviews to send.
    #[arg(long, default_value_t = 200_000)]
    requests: usize,
    /// Keep-alive connections (at least 1).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Server workers (at least 1).
    #[arg(long, default_value_t = 1)]
    server_workers: usize,
    /// Client threads (at least 1).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o: Options = clap::Parser::parse();
    o.connections = o.connections.max(1);
    o.server_workers = o.server_workers.max(1);
    o.client_threads = o.client_threads.max(1);
    Ok(o)
}

/// A Deployment CREATE as the API server sends it (about 3 KB), compliant except for a
/// missing readiness probe (a warning under the policy below).
fn review_body() -> Vec<u8> {
    let container = json!({
        "name": "app", "image": "registry.example.com/shop/web:1.4.2",
        "imagePullPolicy": "Always",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                          "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 1,
                          "successThreshold": 1, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "500m", "memory": "256Mi"}},
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": "8080"}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}
    });
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "shop", "generation": 1,
            "labels": {"app": "web", "team": "shop"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"}}"},
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                               "apiVersion": "apps/v1", "time": "2026-01-01T00:00:00Z",
                               "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:team": {}}},
                                            "f:spec": {"f:replicas": {}, "f:selector": {}}}}]
        },
        "spec": {
            "replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web", "team": "shop"}},
                "spec": {"containers": [container], "restartPolicy": "Always",
                         "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                         "schedulerName": "default-scheduler",
                         "securityContext": {"runAsNonRoot": true, "runAsUser": 10001}}
            }
        },
        "status": {}
    });
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "4d3c2b1a-0000-4000-8000-00000000cafe",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "web", "namespace": "shop", "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
            "object": object, "oldObject": null, "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-client-side-apply"}
        }
    })
    .to_string()
    .into_bytes()
}

fn request_bytes(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: kube-devops-webhook.kube-devops.svc:443\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Sends `count` requests on one keep-alive connection; returns each latency.
async fn connection(
    connector: TlsConnector,
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut tls = connector
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await?;
    let mut latencies = Vec::with_capacity(count);
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..count {
        let started = Instant::now();
        tls.write_all(&request).await?;
        let mut filled = 0;
        loop {
            let n = tls.read(&mut buf[filled..]).await?;
            if n == 0 {
                bail!("connection closed");
            }
            filled += n;
            let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&buf[..end])?.to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                bail!("unexpected response: {}", head.lines().next().unwrap_or(""));
            }
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .context("response without content-length")?;
            if filled >= end + 4 + length {
                break;
            }
        }
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

struct Run {
    throughput: f64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
}

async fn run(
    connector: &TlsConnector,
    addr: SocketAddr,
    request: Vec<u8>,
    total: usize,
    connections: usize,
) -> anyhow::Result<Run> {
    let request = Arc::new(request);
    let per = total / connections;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection(connector.clone(), addr, request.clone(), per)))
        .collect();
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok(Run {
        throughput: all.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
    })
}

/// In-process cost of the pure path, without HTTP or TLS: (parse only, parse and judge),
/// per review.
fn in_process(body: &[u8], snapshot: &PolicySnapshot) -> anyhow::Result<(Duration, Duration)> {
    const ROUNDS: u32 = 20_000;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        std::hint::black_box(parse_review(std::hint::black_box(body))?);
    }
    let parse = started.elapsed() / ROUNDS;
    let now = jiff::Timestamp::now();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let request = parse_review(std::hint::black_box(body))?;
        std::hint::black_box(review(&request, snapshot, now)?);
    }
    let judged = started.elapsed() / ROUNDS;
    Ok((parse, judged))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
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
        require_liveness_probe: Some(true),
        require_readiness_probe: Some(true),
        ..DevOpsPolicySpec::default()
    };
    let snapshot = PolicySnapshot::from_policies(
        [("shop", "baseline", &spec)],
        NamespaceExclusions::default(),
    );
    let (parse, judged) = in_process(&review_body(), &snapshot)?;
    println!(
        "in-process, one thread: parse {:.1} us, parse + judge {:.1} us per review",
        parse.as_secs_f64() * 1e6,
        judged.as_secs_f64() * 1e6
    );
    let metrics = Metrics::new()?;
    let readiness = Arc::new(Readiness::default());
    readiness.set_synced();
    let state = WebhookState::new(
        Arc::new(ArcSwapOption::from_pointee(snapshot)),
        readiness,
        metrics.clone(),
        FailureMode::Open,
    );
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.path().join(certs::CA_CERT))? {
        roots.add(cert?)?;
    }
    let client_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client_config));
    let (cert, key) = (
        dir.path().join(certs::TLS_CERT),
        dir.path().join(certs::TLS_KEY),
    );

    actix_rt::System::new().block_on(async move {
        let server = serve(
            "127.0.0.1:0".parse()?,
            &cert,
            &key,
            Duration::from_secs(1),
            o.server_workers,
            state,
        )?;
        let addr = server.local_addr;
        let review = request_bytes("POST", "/validate", &review_body());
        let trivial = request_bytes("GET", "/healthz", b"");
        let (threads, total, conns) = (o.client_threads, o.requests, o.connections);
        let results = tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()?;
            rt.block_on(async {
                // Warm-up: connections, allocator, branch predictors.
                run(&connector, addr, review.clone(), total / 10, conns).await?;
                let r = run(&connector, addr, review, total, conns).await?;
                let t = run(&connector, addr, trivial, total, conns).await?;
                anyhow::Ok((r, t))
            })
        })
        .await??;
        let (r, t) = results;
        println!(
            "requests {total} per endpoint, {conns} keep-alive connections, {} server worker(s), {threads} client thread(s)",
            o.server_workers
        );
        println!("endpoint          throughput/s   p50 ms   p99 ms  p99.9 ms");
        for (name, x) in [("POST /validate", &r), ("GET /healthz", &t)] {
            println!(
                "{name:<16} {:>13.0} {:>8.3} {:>8.3} {:>9.3}",
                x.throughput,
                ms(x.p50),
                ms(x.p99),
                ms(x.p999)
            );
        }
        println!(
            "reviews reach {:.0}% of the trivial endpoint's throughput",
            100.0 * r.throughput / t.throughput
        );
        let h = &metrics.webhook_request_duration_seconds;
        println!(
            "server-side review time (kube_devops_webhook_request_duration_seconds): {} reviews, mean {:.1} us",
            h.get_sample_count(),
            1e6 * h.get_sample_sum() / h.get_sample_count().max(1) as f64
        );
        for line in metrics.encode().lines().filter(|l| {
            l.starts_with("kube_devops_webhook_request_duration_seconds_bucket")
                && ["0.0005", "0.001", "0.0025"].iter().any(|le| l.contains(&format!("le=\"{le}\"")))
        }) {
            println!("  {line}");
        }
        server.stop().await;
        anyhow::Ok(())
    })
}
