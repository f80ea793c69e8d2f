//! Helpers of the end-to-end tests: the real `kube-devops` binary as a child process
//! against the test API server, its HTTP endpoints and metrics, polling, and the objects
//! the tests create.

#![allow(dead_code)]

pub mod enforce;
pub mod proxy;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kube::CustomResourceExt;
use kube_apiserver_test::{ApiServerHandle, ServerConfig, start};
use kube_devops::policy::{DevOpsPolicy, PolicyAuditResult};
use serde_json::{Value, json};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("actors/ has a parent")
        .to_path_buf()
}

/// A free local port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The lease timings the tests use: 6 s leases renewed every 2 s.
pub const FAST_LEASE: [&str; 6] = [
    "--lease-duration",
    "6",
    "--renew-before",
    "4",
    "--retry-period",
    "1",
];

/// A running `kube-devops <command>`, killed when dropped.
pub struct Controller {
    /// The process.
    pub child: Child,
    /// Its ops port.
    pub port: u16,
    /// Its log file.
    pub log: PathBuf,
}

impl Controller {
    /// `kube-devops run --no-webhook` (the watch set and the operator).
    pub fn start(kubeconfig: &Path, identity: &str, extra: &[&str]) -> Controller {
        let mut args = vec!["run", "--no-webhook"];
        args.extend_from_slice(extra);
        Controller::command(kubeconfig, identity, &args)
    }

    /// `kube-devops <args[0]> ...` with the ops address, identity and namespace set.
    pub fn command(kubeconfig: &Path, identity: &str, args: &[&str]) -> Controller {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("kube-devops-test-{identity}-{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_kube-devops"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--log-level", "info"])
            .arg(args[0])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(["--identity", identity, "--namespace", "kube-devops"])
            .args(&args[1..])
            .env_remove("KUBECONFIG")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(&log)
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
            .expect("the binary starts");
        Controller { child, port, log }
    }

    /// GET on the ops server.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    /// Sends a signal (`-TERM`, `-KILL`).
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> Option<String> {
        self.get("/metrics").map(|(_, body)| body)
    }

    /// The value of one series (`name{labels}` exactly as exported, or a bare name).
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics()?;
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Whether this replica says it leads.
    pub fn leader(&self) -> Option<bool> {
        self.metric("kube_devops_leader").map(|v| v == 1.0)
    }

    /// `/readyz` status code.
    pub fn ready(&self) -> Option<u16> {
        self.get("/readyz").map(|(code, _)| code)
    }

    /// `/api/v1/scores`.
    pub fn scores(&self) -> Option<Value> {
        let (code, body) = self.get("/api/v1/scores")?;
        (code == 200)
            .then(|| serde_json::from_str(&body).ok())
            .flatten()
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP GET; `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let code = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    // Chunked bodies: keep only the payload lines.
    let body = if raw
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split("\r\n")
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("")
    } else {
        body
    };
    Some((code, body))
}

/// Polls until `f` returns `Some`, or panics after `limit`.
pub async fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Namespace -> score of a `/api/v1/scores` answer or an audit report.
pub fn namespace_scores(v: &Value) -> Vec<(String, f64)> {
    v["namespaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| {
                    (
                        n["name"].as_str().unwrap_or("").to_owned(),
                        n["score"].as_f64().unwrap_or(-1.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A test API server with kube-devops's CRDs and the namespaces `kube-devops`, `shop`
/// and `blog`.
pub async fn server_with(simulation: bool) -> ApiServerHandle {
    server_from(ServerConfig::new().simulation(simulation)).await
}

/// [`server_with`] started from `config`.
pub async fn server_from(config: ServerConfig) -> ApiServerHandle {
    let h = start(config).await.expect("server starts");
    for crd in [DevOpsPolicy::crd(), PolicyAuditResult::crd()] {
        h.create(serde_json::to_value(crd).unwrap()).unwrap();
    }
    for ns in ["kube-devops", "shop", "blog"] {
        h.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
    }
    h
}

/// [`server_with`] without the workload simulation.
pub async fn server() -> ApiServerHandle {
    server_with(false).await
}

/// A running pod with one container `app` on `image`, with or without probes.
pub fn pod(ns: &str, name: &str, image: &str, probes: bool) -> Value {
    let mut c = json!({"name": "app", "image": image});
    if probes {
        c["livenessProbe"] = json!({"tcpSocket": {"port": 80}});
        c["readinessProbe"] = json!({"tcpSocket": {"port": 80}});
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [c]},
        "status": {"phase": "Running"}
    })
}

/// A DevOpsPolicy object.
pub fn policy(ns: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "devops.stochastic.io/v1", "kind": "DevOpsPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec
    })
}

/// Runs the binary to completion.
pub fn kube_devops(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kube-devops"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(root())
        .env_remove("KUBECONFIG")
        .output()
        .expect("the binary runs")
}

/// The one-shot audit of the same server as JSON: the truth the controller must match.
pub async fn audit(kubeconfig: &Path, extra: &[&str]) -> Value {
    let kc = kubeconfig.to_path_buf();
    let mut args: Vec<String> = [
        "analyze",
        "-o",
        "json",
        "--exclude-namespace",
        "kube-devops",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kube_devops(&kc, &args)
    })
    .await
    .expect("join");
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// Waits until `c` answers `/readyz` with 200.
pub async fn ready(c: &Controller) {
    eventually(Duration::from_secs(30), "readiness", || {
        (c.ready()? == 200).then_some(())
    })
    .await;
}

/// Generates the webhook's certificates into `dir/certs` (valid for 127.0.0.1).
pub fn certificates(kubeconfig: &Path, dir: &Path) -> PathBuf {
    let certs = dir.join("certs");
    let out = kube_devops(
        kubeconfig,
        &[
            "webhook",
            "cert-generate",
            "--out-dir",
            certs.to_str().unwrap(),
            "--ip-san",
            "127.0.0.1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    certs
}

/// `kube-devops run` with the webhook, its certificates in `dir`, and the API server
/// configured (ValidatingWebhookConfiguration from `install-config`) to call it.
pub async fn run_with_webhook(h: &ApiServerHandle, dir: &Path, extra: &[&str]) -> Controller {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    let kc = h.kubeconfig_path();
    let certs = certificates(kc, dir);
    let hook = free_port();
    let (addr, cert, key) = (
        format!("127.0.0.1:{hook}"),
        certs.join("tls.crt"),
        certs.join("tls.key"),
    );
    let mut args = vec![
        "run",
        "--webhook-addr",
        &addr,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let c = Controller::command(kc, "e2e", &args);
    let url = format!("https://127.0.0.1:{hook}/validate");
    let ca = certs.join("ca.crt");
    let config = kube_devops(
        kc,
        &[
            "webhook",
            "install-config",
            "--ca-bundle-path",
            ca.to_str().unwrap(),
            "--url",
            &url,
        ],
    );
    assert!(
        config.status.success(),
        "{}",
        String::from_utf8_lossy(&config.stderr)
    );
    let vwc: ValidatingWebhookConfiguration = serde_yaml_ng::from_slice(&config.stdout).unwrap();
    let client = h.client().await.unwrap();
    kube::Api::<ValidatingWebhookConfiguration>::all(client)
        .create(&Default::default(), &vwc)
        .await
        .expect("configuration installed");
    ready(&c).await;
    c
}

/// The webhook Service and ValidatingWebhookConfiguration as the installation renders them
/// (no `caBundle`), the Service routed to the webhook listening on `port`.
pub fn install_webhook_service(h: &ApiServerHandle, port: u16) {
    h.map_service(
        "kube-devops",
        "kube-devops-webhook",
        443,
        &format!("127.0.0.1:{port}"),
    );
    let settings = kube_devops::deploy::InstallSettings::default();
    for object in kube_devops::deploy::deployment_objects(&settings).unwrap() {
        if ["Service", "ValidatingWebhookConfiguration"].contains(&object["kind"].as_str().unwrap())
        {
            h.create(object).unwrap();
        }
    }
}
