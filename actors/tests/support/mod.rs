//! Helpers shared by the HTTPS tests: certificates, a rustls client, one HTTP/1.1 exchange.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use kube_devops::admission::PolicySnapshot;
use kube_devops::policy::{DevOpsPolicySpec, NamespaceExclusions};
use kube_devops_actors::http::certs::{self, CertRequest};
use kube_devops_actors::http::{FailureMode, WebhookState};
use kube_devops_actors::metrics::Metrics;
use kube_devops_actors::system::admission::Readiness;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;

/// Generates a CA and a serving certificate for 127.0.0.1 into `dir`.
pub fn generate(dir: &Path, force: bool) {
    certs::generate(&CertRequest {
        service: "kube-devops-webhook".into(),
        namespace: "kube-devops".into(),
        ip_sans: vec!["127.0.0.1".parse().unwrap()],
        out_dir: dir.to_owned(),
        force,
        new_ca: false,
    })
    .expect("certificates generated");
}

/// A client trusting the generated CA, offering `versions`.
pub fn connector(
    dir: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.join(certs::CA_CERT)).unwrap();
    for cert in CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Full handshakes only: a resumed session reports the certificate of its first one.
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

/// One HTTP/1.1 request on an open connection: (status, body).
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (status, start, length) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (status, end + 4, length);
        }
    };
    while buf.len() < start + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, buf[start..start + length].to_vec()))
}

/// Routes' state with a synced policy forbidding `:latest` in namespace `shop`.
pub fn state() -> WebhookState {
    let spec = DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        ..DevOpsPolicySpec::default()
    };
    let snapshot =
        PolicySnapshot::from_policies([("shop", "p", &spec)], NamespaceExclusions::default());
    let readiness = Arc::new(Readiness::default());
    readiness.set_synced();
    WebhookState::new(
        Arc::new(ArcSwapOption::from_pointee(snapshot)),
        readiness,
        Metrics::new().unwrap(),
        FailureMode::Open,
    )
}
