//! The webhook under hostile clients, over real HTTPS on loopback: connections that never
//! start TLS and connections that send their body a byte at a time are held open while
//! honest reviews are answered, and the server closes every hostile connection once its
//! deadline has passed, giving back its descriptors. Deadlines are shortened to a second so
//! the test is quick; the same code runs with the production deadlines. How fast honest
//! reviews are answered under attack is measured by `examples/webhook_attack.rs`, not here.

use std::net::SocketAddr;
use std::time::Duration;

use kube_devops_actors::http::body::{BodyBudget, DEFAULT_BYTES_IN_FLIGHT};
use kube_devops_actors::http::certs;
use kube_devops_actors::http::limits::ConnectionLimits;
use kube_devops_actors::http::{RunningServer, WebhookState, serve_with_limits};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

mod support;
use support::{connector, exchange, generate, state};

const HOSTILE: usize = 150;
const DEADLINE: Duration = Duration::from_secs(1);
/// Far beyond every deadline: only a server that never closes runs into it.
const GIVE_UP: Duration = Duration::from_secs(60);

fn attack_state() -> WebhookState {
    state().with_body_budget(BodyBudget::new(DEFAULT_BYTES_IN_FLIGHT, DEADLINE))
}

fn start(dir: &std::path::Path, workers: usize, limits: ConnectionLimits) -> RunningServer {
    serve_with_limits(
        "127.0.0.1:0".parse().unwrap(),
        &dir.join(certs::TLS_CERT),
        &dir.join(certs::TLS_KEY),
        Duration::from_secs(60),
        workers,
        attack_state(),
        limits,
    )
    .expect("server starts")
}

fn review(image: &str) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "attack-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "shop", "operation": "CREATE", "name": "web",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                       "spec": {"containers": [{"name": "app", "image": image}]}}
        }
    })
    .to_string()
    .into_bytes()
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Connects and never sends a byte; returns once the server has closed the connection.
async fn silent(addr: SocketAddr) -> bool {
    let Ok(mut tcp) = TcpStream::connect(addr).await else {
        return false;
    };
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(GIVE_UP, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Sends a request head promising 1,000 bytes, then one byte at a time; returns the
/// status line the server answered with before closing.
async fn trickle(addr: SocketAddr, tls: TlsConnector) -> Option<String> {
    let tcp = TcpStream::connect(addr).await.ok()?;
    let mut stream = tls
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .ok()?;
    let head = "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    let give_up = tokio::time::Instant::now() + GIVE_UP;
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(Duration::from_millis(300)) => {
                if tokio::time::Instant::now() > give_up {
                    return None;
                }
                let _ = stream.write_all(b" ").await;
            }
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.lines().next().map(str::to_owned)
}

#[actix_web::test]
async fn honest_reviews_are_answered_during_an_attack_and_hostile_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), false);
    let limits = ConnectionLimits {
        handshake_timeout: DEADLINE,
        head_timeout: DEADLINE,
        ..ConnectionLimits::current(2)
    };
    let server = start(dir.path(), 2, limits);
    let addr = server.local_addr;
    let tls = connector(dir.path(), &[&rustls::version::TLS13]);
    let before = open_descriptors();

    let silent_ones: Vec<_> = (0..HOSTILE).map(|_| tokio::spawn(silent(addr))).collect();
    let slow_ones: Vec<_> = (0..HOSTILE)
        .map(|_| tokio::spawn(trickle(addr, tls.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    for i in 0..20u32 {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut stream = tls
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .expect("an honest handshake completes under attack");
        let image = if i.is_multiple_of(2) {
            "nginx:latest"
        } else {
            "nginx:1.27"
        };
        let (status, body) = exchange(&mut stream, "POST", "/validate", &review(image))
            .await
            .expect("an honest review is answered under attack");
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["response"]["allowed"], !i.is_multiple_of(2), "{v}");
    }

    for handle in silent_ones {
        assert!(
            handle.await.unwrap(),
            "a connection that never started TLS was closed by the server"
        );
    }
    for handle in slow_ones {
        let status = handle.await.unwrap();
        assert_eq!(
            status.as_deref(),
            Some("HTTP/1.1 408 Request Timeout"),
            "a body sent a byte at a time is cut off with 408"
        );
    }
    // Every hostile connection is gone on both sides: the server gave its descriptors back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = open_descriptors();
    assert!(
        after <= before + 8,
        "descriptors: {before} before, {after} after"
    );
    server.stop().await;
}

#[actix_web::test]
async fn a_body_larger_than_the_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), false);
    let server = start(dir.path(), 1, ConnectionLimits::current(1));
    let addr = server.local_addr;
    let tls = connector(dir.path(), &[&rustls::version::TLS13]);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut stream = tls
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .unwrap();
    let head = "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(GIVE_UP, stream.read(&mut answer))
        .await
        .expect("answered at once")
        .unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"));
    server.stop().await;
}

/// Waits (bounded by [`GIVE_UP`]) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    let give_up = tokio::time::Instant::now() + GIVE_UP;
    while !done() {
        assert!(tokio::time::Instant::now() < give_up, "condition never met");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn over_the_cap_the_connection_idle_the_longest_is_evicted_never_a_busy_one() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), false);
    let limits = ConnectionLimits {
        established: 3,
        ..ConnectionLimits::current(1)
    };
    // A body deadline far away: the busy connection stays busy for the whole test.
    let state = state().with_body_budget(BodyBudget::new(DEFAULT_BYTES_IN_FLIGHT, GIVE_UP));
    let server = serve_with_limits(
        "127.0.0.1:0".parse().unwrap(),
        &dir.path().join(certs::TLS_CERT),
        &dir.path().join(certs::TLS_KEY),
        Duration::from_secs(60),
        1,
        state,
        limits,
    )
    .expect("server starts");
    let addr = server.local_addr;
    let tls = connector(dir.path(), &[&rustls::version::TLS13]);
    let connect = || async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tls.connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .expect("handshake")
    };
    let mut connections = Vec::new();
    for _ in 0..3 {
        let mut c = connect().await;
        let (status, _) = exchange(&mut c, "POST", "/validate", &review("nginx:1.27"))
            .await
            .expect("answered");
        assert_eq!(status, 200);
        connections.push(c);
    }
    // The oldest connection starts a request and sends its body slowly: busy, not idle.
    let head = "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{";
    connections[0].write_all(head.as_bytes()).await.unwrap();
    let table = server.connections.clone();
    until(|| table.busy() == 1 && table.open() == 3).await;

    // A fourth connection goes over the cap: the second, idle the longest, is shut down.
    let mut fourth = connect().await;
    let (status, _) = exchange(&mut fourth, "POST", "/validate", &review("nginx:1.27"))
        .await
        .expect("the newcomer is served");
    assert_eq!(status, 200);
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(GIVE_UP, connections[1].read(&mut buf))
        .await
        .expect("the evicted connection is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(table.evicted(), 1);

    // The busy one and the younger idle one are still served.
    connections[0].write_all(b"}\n").await.unwrap();
    let mut answer = Vec::new();
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = connections[0]
            .read(&mut buf)
            .await
            .expect("busy connection kept");
        assert!(n > 0, "the busy connection was closed");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{answer:?}");
    let (status, _) = exchange(
        &mut connections[2],
        "POST",
        "/validate",
        &review("nginx:1.27"),
    )
    .await
    .expect("the younger idle connection is kept");
    assert_eq!(status, 200);
    server.stop().await;
}
