//! The webhook over real HTTPS on loopback: certificates from `certs::generate`, a rustls
//! client trusting the generated CA, TLS 1.2 and 1.3 handshakes, older versions refused,
//! and certificate files replaced under a running server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kube_devops_actors::http::certs;
use kube_devops_actors::http::{RunningServer, serve};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

mod support;
use support::{connector, exchange, generate, state};

fn start(dir: &Path) -> RunningServer {
    serve(
        "127.0.0.1:0".parse().unwrap(),
        &dir.join(certs::TLS_CERT),
        &dir.join(certs::TLS_KEY),
        Duration::from_millis(50),
        1,
        state(),
    )
    .expect("server starts")
}

/// A fresh TLS connection: the negotiated version and the served leaf certificate.
async fn connect(
    connector: &TlsConnector,
    addr: SocketAddr,
) -> std::io::Result<(
    tokio_rustls::client::TlsStream<TcpStream>,
    CertificateDer<'static>,
)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = connector.connect(name, tcp).await?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first().cloned())
        .ok_or_else(|| std::io::Error::other("no peer certificate"))?;
    Ok((tls, leaf))
}

fn review() -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "tls-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "shop", "operation": "CREATE", "name": "web",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                       "spec": {"containers": [{"name": "app", "image": "nginx:latest"}]}}
        }
    })
    .to_string()
    .into_bytes()
}

#[actix_web::test]
async fn tls_1_2_and_1_3_clients_trusting_the_generated_ca_get_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), false);
    let server = start(dir.path());
    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let (mut tls, _) = connect(&connector(dir.path(), &[version]), server.local_addr)
            .await
            .expect("handshake");
        assert_eq!(tls.get_ref().1.protocol_version(), Some(expected));
        // Two requests on one connection: keep-alive.
        for _ in 0..2 {
            let (status, body) = exchange(&mut tls, "POST", "/validate", &review())
                .await
                .unwrap();
            assert_eq!(status, 200);
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["response"]["uid"], "tls-1");
            assert_eq!(v["response"]["allowed"], false);
        }
    }
    server.stop().await;
}

/// A ClientHello offering only `version` (no supported_versions extension), with
/// ECDHE-ECDSA suites, the P-256 and X25519 groups and ECDSA-SHA256 signatures.
fn client_hello(version: [u8; 2]) -> Vec<u8> {
    let mut body = version.to_vec();
    body.extend([7u8; 32]);
    body.push(0);
    let suites = [0xc0, 0x2b, 0xc0, 0x2c, 0xcc, 0xa9, 0xc0, 0x09, 0xc0, 0x0a];
    body.extend((suites.len() as u16).to_be_bytes());
    body.extend(suites);
    body.extend([1, 0]);
    let extensions = [
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, // supported_groups
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats
        0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03, // signature_algorithms
        0xff, 0x01, 0x00, 0x01, 0x00, // renegotiation_info
    ];
    body.extend((extensions.len() as u16).to_be_bytes());
    body.extend(extensions);
    let mut handshake = vec![0x01];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

/// The first TLS record the server answers a raw ClientHello with.
async fn first_record(addr: SocketAddr, hello: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(hello).await.unwrap();
    let mut head = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut head))
        .await
        .expect("the server answers")
        .unwrap();
    let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
    let mut rest = vec![0u8; len];
    tcp.read_exact(&mut rest).await.unwrap();
    [head.to_vec(), rest].concat()
}

#[actix_web::test]
async fn tls_1_1_and_1_0_are_refused_with_a_protocol_version_alert() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), false);
    let server = start(dir.path());
    // Control: the same hello offering TLS 1.2 gets a ServerHello, so the probe works.
    let accepted = first_record(server.local_addr, &client_hello([0x03, 0x03])).await;
    assert_eq!((accepted[0], accepted[5]), (0x16, 0x02), "{accepted:02x?}");
    for old in [[0x03, 0x02], [0x03, 0x01]] {
        let refused = first_record(server.local_addr, &client_hello(old)).await;
        // Alert record, fatal, protocol_version (70).
        assert_eq!(refused[0], 0x15, "{old:02x?}: {refused:02x?}");
        assert_eq!(&refused[5..7], &[2, 70], "{old:02x?}: {refused:02x?}");
    }
    server.stop().await;
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn leaf(dir: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(dir.join(certs::TLS_CERT)).unwrap()
}

#[actix_web::test]
async fn replacing_the_certificate_switches_without_restart_or_failed_requests() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), false);
    let first = leaf(dir.path());
    let server = start(dir.path());
    let addr = server.local_addr;
    let conn = connector(
        dir.path(),
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // Clients hammering the server with new connections (new handshakes) meanwhile.
    let mut clients = Vec::new();
    for _ in 0..2 {
        let (conn, stop, ok, failed) = (conn.clone(), stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let result = async {
                    let (mut tls, _) = connect(&conn, addr).await?;
                    exchange(&mut tls, "POST", "/validate", &review()).await
                }
                .await;
                match result {
                    Ok((200, _)) => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    wait_until("requests before the swap", async || {
        ok.load(Ordering::SeqCst) > 5
    })
    .await;
    generate(dir.path(), true);
    let second = leaf(dir.path());
    assert_ne!(first, second);
    wait_until(
        "the new certificate to be served",
        async || matches!(connect(&conn, addr).await, Ok((_, served)) if served == second),
    )
    .await;
    let before = ok.load(Ordering::SeqCst);
    wait_until("requests after the swap", async || {
        ok.load(Ordering::SeqCst) > before + 5
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during the swap"
    );
    assert_eq!(server.certs.reloads(), 1);
    server.stop().await;
}

#[actix_web::test]
async fn a_half_written_or_mismatched_pair_keeps_the_old_certificate_serving() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), false);
    let original = leaf(dir.path());
    let server = start(dir.path());
    let conn = connector(dir.path(), &[&rustls::version::TLS13]);
    // A new certificate whose key has not been written yet.
    let other = tempfile::tempdir().unwrap();
    for name in [certs::CA_CERT, certs::CA_KEY] {
        std::fs::copy(dir.path().join(name), other.path().join(name)).unwrap();
    }
    generate(other.path(), false);
    let new_cert = std::fs::read(other.path().join(certs::TLS_CERT)).unwrap();
    std::fs::write(dir.path().join(certs::TLS_CERT), &new_cert).unwrap();
    wait_until("the mismatched pair to be refused", async || {
        server.certs.refusals() >= 1
    })
    .await;
    let (_, served) = connect(&conn, server.local_addr).await.unwrap();
    assert_eq!(served, original);
    // A truncated certificate file.
    std::fs::write(
        dir.path().join(certs::TLS_CERT),
        &new_cert[..new_cert.len() / 2],
    )
    .unwrap();
    wait_until("the truncated file to be refused", async || {
        server.certs.refusals() >= 2
    })
    .await;
    let (_, served) = connect(&conn, server.local_addr).await.unwrap();
    assert_eq!(served, original);
    // The pair completed: now it is served.
    std::fs::write(dir.path().join(certs::TLS_CERT), &new_cert).unwrap();
    std::fs::copy(
        other.path().join(certs::TLS_KEY),
        dir.path().join(certs::TLS_KEY),
    )
    .unwrap();
    wait_until("the completed pair to be served", async || {
        matches!(connect(&conn, server.local_addr).await, Ok((_, s)) if s.as_ref() == leaf(other.path()).as_ref())
    })
    .await;
    assert_eq!(server.certs.reloads(), 1);
    server.stop().await;
}
