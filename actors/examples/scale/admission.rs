//! The admission webhook under the scale run: its certificates and a review client.
//!
//! In: a directory for the serving certificates (made here, for 127.0.0.1) and the
//! webhook's port. Out: the latency of AdmissionReviews (a Deployment CREATE in a seeded
//! namespace, judged against its DevOpsPolicy) sent one at a time, every 10 ms, on one
//! keep-alive HTTPS connection until told to stop, from a thread of its own ([`Sampler`]):
//! as [`Percentiles`], with each slow review's phases (request written, first byte of the
//! answer, answer read) and the sampling thread's own wake-up delay; reviews that fail or
//! answer anything but 200 are counted apart. [`report`] prints them beside the webhook's
//! own handling times over the same window, from its histogram on the ops server
//! ([`Handling`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube_devops_actors::http::certs::{self, CertRequest};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::probe::{Percentiles, http_get};

/// Writes a CA and a serving certificate for 127.0.0.1 into `dir`.
pub fn certificates(dir: &Path) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    certs::generate(&CertRequest {
        service: "kube-devops-webhook".into(),
        namespace: "kube-devops".into(),
        ip_sans: vec!["127.0.0.1".parse()?],
        out_dir: dir.to_owned(),
        force: false,
        new_ca: false,
    })?;
    Ok(())
}

/// The `run` flags that serve the webhook on `port` with the certificates of `dir`.
pub fn flags(dir: &Path, port: u16) -> Vec<String> {
    vec![
        "--webhook-addr".into(),
        format!("127.0.0.1:{port}"),
        "--tls-cert".into(),
        dir.join(certs::TLS_CERT).display().to_string(),
        "--tls-key".into(),
        dir.join(certs::TLS_KEY).display().to_string(),
    ]
}

fn review(namespace: &str) -> Vec<u8> {
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop/web:1.4.2",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                  "limits": {"cpu": "500m", "memory": "256Mi"}}}]}}},
    });
    let body = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "4d3c2b1a-0000-4000-8000-00000000cafe",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "web", "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin"},
            "object": object, "oldObject": null, "dryRun": false,
        }
    })
    .to_string();
    let mut request = format!(
        "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body.as_bytes());
    request
}

async fn connect(
    dir: &Path,
    port: u16,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join(certs::CA_CERT))? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    Ok(TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?)
}

/// Where one review's time went: writing the request (TLS record and socket write), then
/// waiting until the first bytes of the answer arrived, then reading the rest.
#[derive(Debug, Clone, Copy)]
struct Phases {
    written: Duration,
    first_byte: Duration,
    total: Duration,
}

/// Sends one review and reads its answer; the HTTP status and the phases' times.
async fn exchange<S>(tls: &mut S, request: &[u8], buf: &mut [u8]) -> anyhow::Result<(u16, Phases)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let started = Instant::now();
    tls.write_all(request).await?;
    let written = started.elapsed();
    let mut first_byte = None;
    let mut filled = 0;
    loop {
        let n = tls.read(&mut buf[filled..]).await?;
        if n == 0 {
            bail!("connection closed");
        }
        first_byte.get_or_insert_with(|| started.elapsed());
        filled += n;
        let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("no status")?;
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .context("response without content-length")?;
        if filled >= end + 4 + length {
            let phases = Phases {
                written,
                first_byte: first_byte.unwrap_or(written),
                total: started.elapsed(),
            };
            return Ok((code, phases));
        }
    }
}

/// A review slower than this is listed with its phases.
const SLOW: Duration = Duration::from_millis(5);

/// What a sampling window measured.
#[derive(Default)]
pub struct Samples {
    /// Latency of the reviews answered 200 (request written to answer read).
    pub latency: Percentiles,
    /// Of those, the time to write the request.
    pub written: Percentiles,
    /// And the time from the request written to the answer read (the webhook's share:
    /// its scheduling, TLS, HTTP and judging, and the client waking to read).
    pub answered: Percentiles,
    /// How late the sampling thread woke from its 10 ms sleeps: the scheduling delay any
    /// thread of the harness sees, which the latencies include.
    pub late: Percentiles,
    /// Reviews without a 200 answer (errors, other statuses, connections lost or refused
    /// after the webhook first answered).
    pub failed: usize,
    /// Connections refused before the webhook first accepted one (the controller's
    /// process starts listening a few milliseconds after it starts).
    pub not_listening: usize,
    /// Reviews slower than [`SLOW`]: (start since the window opened, phases).
    slow: Vec<(Duration, Phases)>,
}

impl Samples {
    /// One line per slow review (the worst `n`), with its phases in ms.
    pub fn slowest(&self, n: usize) -> Vec<String> {
        let mut slow = self.slow.clone();
        slow.sort_by_key(|(_, p)| std::cmp::Reverse(p.total));
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        slow.iter()
            .take(n)
            .map(|(at, p)| {
                format!(
                    "at {:.2} s: {:.1} ms (written after {:.2} ms, first byte after {:.1} ms)",
                    at.as_secs_f64(),
                    ms(p.total),
                    ms(p.written),
                    ms(p.first_byte)
                )
            })
            .collect()
    }

    /// How many reviews took longer than [`SLOW`].
    pub fn slow_count(&self) -> usize {
        self.slow.len()
    }
}

/// A review client on a thread of its own (with its own single-threaded runtime), so the
/// test server's work on the harness's runtime cannot delay it.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Samples>,
}

impl Sampler {
    /// Starts sending reviews every 10 ms.
    pub fn start(dir: &Path, port: u16, namespace: &str) -> anyhow::Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let (dir, namespace, stopped) = (dir.to_owned(), namespace.to_owned(), stop.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("admission-client".into())
            .spawn(move || {
                // The API server's client runs on other machines: here it asks for the
                // webhook's short time slice, so the harness's own load delays it less.
                crate::pin::short_slice();
                runtime.block_on(sample(&dir, port, &namespace, &stopped))
            })?;
        Ok(Sampler { stop, thread })
    }

    /// Stops sending and answers what was measured.
    pub async fn stop(self) -> anyhow::Result<Samples> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the admission client panicked"))
    }
}

/// Reviews sent every 10 ms until `stop` turns true.
async fn sample(dir: &Path, port: u16, namespace: &str, stop: &AtomicBool) -> Samples {
    let request = review(namespace);
    let mut samples = Samples::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut tls = None;
    let mut listened = false;
    let opened = Instant::now();
    const PERIOD: Duration = Duration::from_millis(10);
    while !stop.load(Ordering::Relaxed) {
        if tls.is_none() {
            tls = connect(dir, port).await.ok();
            if tls.is_none() && !listened {
                samples.not_listening += 1;
                tokio::time::sleep(PERIOD).await;
                continue;
            }
            listened = true;
        }
        // A new connection's handshake is not counted; the review on it is.
        let at = opened.elapsed();
        let answer = match tls.as_mut() {
            Some(t) => exchange(t, &request, &mut buf).await.ok(),
            None => None,
        };
        match answer {
            Some((200, phases)) => {
                samples.latency.add(phases.total);
                samples.written.add(phases.written);
                samples
                    .answered
                    .add(phases.total.saturating_sub(phases.written));
                if phases.total > SLOW {
                    samples.slow.push((at, phases));
                }
            }
            Some(_) => samples.failed += 1,
            None => {
                samples.failed += 1;
                tls = None;
            }
        }
        let slept = Instant::now();
        tokio::time::sleep(PERIOD).await;
        samples.late.add(slept.elapsed().saturating_sub(PERIOD));
    }
    samples
}

/// Stops a sampler and prints its latencies, the slowest reviews' phases and the
/// webhook's own handling times over the same window.
pub async fn report(
    when: &str,
    reviews: Sampler,
    handled: Handling,
    port: u16,
) -> anyhow::Result<()> {
    let mut samples = reviews.stop().await?;
    println!(
        "admission reviews {when}: {}; {} without a 200 answer ({} connections refused before the webhook listened)",
        samples.latency.summary(),
        samples.failed,
        samples.not_listening
    );
    println!(
        "  request written: {}; written to answered: {}",
        samples.written.summary(),
        samples.answered.summary()
    );
    println!(
        "  the client thread's wake-up delay: {}",
        samples.late.summary()
    );
    if let Some(after) = Handling::read(port).await {
        let before = handled;
        let (count, sum) = (after.count - before.count, after.sum - before.sum);
        println!(
            "  handled by the webhook (its histogram, every review in the window): {count:.0}, \
             mean {:.3} ms, {:.0} over 1 ms, {:.0} over 5 ms",
            if count > 0.0 {
                sum / count * 1000.0
            } else {
                0.0
            },
            count - (after.within_1ms - before.within_1ms),
            count - (after.within_5ms - before.within_5ms),
        );
    }
    println!("  {} reviews over 5 ms; the slowest:", samples.slow_count());
    for line in samples.slowest(5) {
        println!("    {line}");
    }
    Ok(())
}

/// The controller's `webhook_request_duration_seconds` histogram (its handlers' own time,
/// from the request head to the answer built).
#[derive(Debug, Clone, Copy, Default)]
pub struct Handling {
    count: f64,
    sum: f64,
    within_1ms: f64,
    within_5ms: f64,
}

impl Handling {
    /// The histogram as the ops server on `port` exports it now.
    pub async fn read(port: u16) -> Option<Handling> {
        const NAME: &str = "kube_devops_webhook_request_duration_seconds";
        let (_, text) = http_get(port, "/metrics").await?;
        let series = |suffix: &str| crate::probe::metric(&text, &format!("{NAME}{suffix}"));
        Some(Handling {
            count: series("_count")?,
            sum: series("_sum")?,
            within_1ms: series("_bucket{le=\"0.001\"}")?,
            within_5ms: series("_bucket{le=\"0.005\"}")?,
        })
    }
}
