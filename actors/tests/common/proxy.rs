//! A recording proxy in front of the test API server, one per replica: every request that
//! replica sends is logged (method, path, time), so tests count writes per replica, and
//! requests whose path matches a "hold" rule are held back (not forwarded) while the rule
//! stands, as an API server that stops answering one replica would. The test server keeps
//! no request log of its own and its faults apply to every client alike; this gives both
//! per replica.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request seen.
#[derive(Debug, Clone)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// When it arrived.
    pub at: Instant,
}

impl Seen {
    /// A request that changes something (not GET).
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    /// A write of the operator's (not the lease, not an event).
    pub fn is_operator_write(&self) -> bool {
        self.is_write() && !self.path.contains("/leases") && !self.path.contains("/events")
    }
}

#[derive(Default)]
struct Shared {
    log: Vec<Seen>,
    hold: Option<String>,
}

/// A running proxy; it stops with the test's runtime.
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<Mutex<Shared>>,
    /// Kubeconfig pointing at the proxy.
    pub kubeconfig: PathBuf,
}

impl Proxy {
    /// Starts a proxy to the server of `kubeconfig`, writing its own kubeconfig into `dir`.
    pub async fn start(kubeconfig: &Path, dir: &Path, name: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let text = std::fs::read_to_string(kubeconfig).unwrap();
        let upstream = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server:"))
            .map(|s| s.trim().trim_start_matches("http://").to_owned())
            .expect("a server line");
        let ours = text.replace(&upstream, &format!("127.0.0.1:{port}"));
        let path = dir.join(format!("kubeconfig-{name}.yaml"));
        std::fs::write(&path, ours).unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (s, upstream) = (s.clone(), upstream.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        pipe(client, server, s).await;
                    }
                });
            }
        });
        Proxy {
            shared,
            kubeconfig: path,
        }
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().log.clone()
    }

    /// The operator's writes so far.
    pub fn operator_writes(&self) -> Vec<Seen> {
        self.log()
            .into_iter()
            .filter(Seen::is_operator_write)
            .collect()
    }

    /// Holds back every request whose path contains `fragment` (`None`: forward all again).
    pub fn hold(&self, fragment: Option<&str>) {
        self.shared.lock().unwrap().hold = fragment.map(str::to_owned);
    }
}

/// Reads one request head (up to the blank line) from `from`, appending it to `buf`.
async fn head(from: &mut tokio::net::tcp::OwnedReadHalf, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end + 4);
        }
        let mut chunk = [0u8; 8192];
        let n = from.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn pipe(client: TcpStream, server: TcpStream, shared: Arc<Mutex<Shared>>) {
    let (mut client_r, mut client_w) = client.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_r, &mut client_w).await;
    });
    let mut buf = Vec::new();
    loop {
        let Some(end) = head(&mut client_r, &mut buf).await else {
            return;
        };
        let text = String::from_utf8_lossy(&buf[..end]).to_string();
        let mut words = text.split_whitespace();
        let (method, path) = (
            words.next().unwrap_or("").to_owned(),
            words.next().unwrap_or("").to_owned(),
        );
        let length: usize = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < end + length {
            let mut chunk = [0u8; 8192];
            match client_r.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        loop {
            let held = {
                let s = shared.lock().unwrap();
                s.hold.as_deref().is_some_and(|h| path.contains(h))
            };
            if !held {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shared.lock().unwrap().log.push(Seen {
            method,
            path,
            at: Instant::now(),
        });
        let request: Vec<u8> = buf.drain(..end + length).collect();
        if server_w.write_all(&request).await.is_err() {
            return;
        }
    }
}
