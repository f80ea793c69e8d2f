//! The admission webhook under the scale run: its certificates and a review client.
//!
//! In: a directory for the serving certificates (made here, for 127.0.0.1) and the
//! webhook's port. Out: the latency of AdmissionReviews (a Deployment CREATE in a seeded
//! namespace, judged against its DevOpsPolicy) sent one at a time, every 10 ms, on one
//! keep-alive HTTPS connection until told to stop, as [`Percentiles`]; reviews that fail
//! or answer anything but 200 are counted apart.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube_devops_actors::http::certs::{self, CertRequest};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

use crate::probe::Percentiles;

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

/// Sends one review and reads its answer; the HTTP status.
async fn exchange<S>(tls: &mut S, request: &[u8], buf: &mut [u8]) -> anyhow::Result<u16>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tls.write_all(request).await?;
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
            return Ok(code);
        }
    }
}

/// Reviews sent every 10 ms until `stop` turns true: latencies of the 200 answers, and
/// how many reviews got no 200 (refused connections, errors, other statuses).
pub async fn sample(
    dir: &Path,
    port: u16,
    namespace: &str,
    mut stop: watch::Receiver<bool>,
) -> (Percentiles, usize) {
    let request = review(namespace);
    let mut latency = Percentiles::default();
    let mut failed = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut tls = None;
    while !*stop.borrow() {
        if tls.is_none() {
            tls = connect(dir, port).await.ok();
        }
        // A new connection's handshake is not counted; the review on it is.
        let started = Instant::now();
        let answer = match tls.as_mut() {
            Some(t) => exchange(t, &request, &mut buf).await.ok(),
            None => None,
        };
        match answer {
            Some(200) => latency.add(started.elapsed()),
            Some(_) => failed += 1,
            None => {
                failed += 1;
                tls = None;
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(10), stop.changed()).await;
    }
    (latency, failed)
}
