//! Scale harness: the whole controller against a large simulated cluster.
//!
//! In: a pod count (`--pods`, default 10,000) and the `kube-devops` binary (`--binary`,
//! default `target/release/kube-devops`). It starts the test API server in this process
//! with its workload simulation, seeds `pods / 10` Deployments of 10 replicas over
//! `pods / 100` namespaces (each with a DevOpsPolicy) and waits until the simulation has
//! settled; then it starts `kube-devops run` (with its TLS admission webhook) as a child
//! process and measures, printing one line per figure: the server's resident memory and
//! store contents, a small list's latency while the simulation works, the controller's
//! time to ready, CPU time and resident memory, admission latency during the sync and
//! during churn, the event-to-gauge latency under pod churn, the writes once converged,
//! the recovery after a forced 410 relist, and `kube-devops analyze` against the cluster.
//! `--breakdown` first measures, in this process, where a full sync's time goes (see
//! `breakdown.rs`). `--pin` keeps the test server and the harness on CPU 0 and the
//! controller on CPU 1, as if the API server ran on another machine (default: unpinned).
//!
//! ```text
//! cargo build --release -p kube-devops-actors --bin kube-devops
//! cargo run --release -p kube-devops-actors --example scale -- --pods 10000
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::api::ListParams;
use kube::{Api, CustomResourceExt};
use kube_apiserver_test::{ApiServerHandle, ServerConfig, StoreStats, start};
use kube_devops::policy::{DevOpsPolicy, PolicyAuditResult};
use serde_json::{Value, json};

/// The test server in this process parses and copies JSON for every write its simulation
/// makes, into a heap of over a gigabyte at 100,000 pods: with the system allocator
/// malloc and free were 40 % of its CPU while seeding (docs/performance.md). The
/// controller's binary uses the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admission;
mod breakdown;
mod churn;
mod pin;
mod probe;

use churn::{churn_pods, pod_names, probe_loop, probe_pod, probe_restarts};
use probe::{CpuUse, Percentiles, cpu_seconds, http_get, resident_kib};

/// Pods per Deployment, and Deployments per namespace.
const REPLICAS: usize = 10;
const DEPLOYMENTS_PER_NAMESPACE: usize = 10;
/// The namespace of the latency probe's pod.
const PROBE_NAMESPACE: &str = "scale-probe";

struct Options {
    pods: usize,
    binary: PathBuf,
    churn: usize,
    churn_seconds: u64,
    steady_seconds: u64,
    events: bool,
    breakdown: bool,
    skip_analyze: bool,
    pin: bool,
}

fn options() -> anyhow::Result<Options> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut o = Options {
        pods: 10_000,
        binary: root.join("target/release/kube-devops"),
        churn: 1000,
        churn_seconds: 20,
        steady_seconds: 60,
        events: false,
        breakdown: false,
        skip_analyze: false,
        pin: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if matches!(
            flag.as_str(),
            "--events" | "--breakdown" | "--skip-analyze" | "--pin"
        ) {
            o.events |= flag == "--events";
            o.pin |= flag == "--pin";
            o.breakdown |= flag == "--breakdown";
            o.skip_analyze |= flag == "--skip-analyze";
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let number = || -> anyhow::Result<usize> {
            value
                .parse()
                .with_context(|| format!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--pods" => o.pods = number()?.max(REPLICAS),
            "--binary" => o.binary = PathBuf::from(&value),
            "--churn" => o.churn = number()?,
            "--churn-seconds" => o.churn_seconds = number()? as u64,
            "--steady-seconds" => o.steady_seconds = number()? as u64,
            other => bail!("unknown flag {other}"),
        }
    }
    if !o.binary.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p kube-devops-actors --bin kube-devops` or pass --binary",
            o.binary.display()
        );
    }
    Ok(o)
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    if o.pin {
        // Before any thread starts: every thread of this process inherits it.
        pin::to_cpu(pin::HARNESS_CPU).context("pinning the harness")?;
        println!(
            "pinned: test server and harness on CPU {}, controller on CPU {}",
            pin::HARNESS_CPU,
            pin::CONTROLLER_CPU
        );
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(o))
}

/// A Deployment; one in three lacks probes, one in five runs a floating tag, so the
/// namespaces' scores differ.
fn deployment(namespace: &str, i: usize) -> Value {
    let mut container = json!({
        "name": "app",
        "image": if i.is_multiple_of(5) { "registry.example.com/shop/web:latest".to_string() }
                 else { format!("registry.example.com/shop/web:1.{}.0", i % 7) },
        "ports": [{"containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true},
    });
    if !i.is_multiple_of(3) {
        let probe = json!({"httpGet": {"path": "/healthz", "port": 8080}});
        container["livenessProbe"] = probe.clone();
        container["readinessProbe"] = probe;
    }
    let name = format!("web-{i}");
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
    })
}

/// The namespace's DevOpsPolicy: no `:latest`, at most 3 restarts.
fn policy(namespace: &str) -> Value {
    json!({
        "apiVersion": "devops.stochastic.io/v1", "kind": "DevOpsPolicy",
        "metadata": {"name": "baseline", "namespace": namespace},
        "spec": {"forbidLatestTag": true, "maxRestartCount": 3},
    })
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// How many pods the store holds and how many writes it has committed.
fn pods_and_writes(stats: &StoreStats) -> (usize, u64) {
    let pods = stats.by_resource.get("pods").copied().unwrap_or(0);
    (pods, stats.writes.values().sum())
}

fn print_stats(stats: &StoreStats, bytes: &std::collections::BTreeMap<String, usize>) {
    for (plural, count) in &stats.by_resource {
        let bytes = bytes.get(plural).copied().unwrap_or(0);
        if *count >= 100 {
            println!(
                "  store {plural}: {count} objects, {} bytes of JSON each",
                bytes / count
            );
        }
    }
    println!(
        "  store history: {} events; snapshots: {} holding {} items",
        stats.history_events, stats.snapshots, stats.snapshot_items
    );
}

async fn run(o: Options) -> anyhow::Result<()> {
    let nodes = (o.pods / 100).max(3);
    let config = ServerConfig::new().nodes(nodes).simulated_events(o.events);
    let handle = Arc::new(start(config).await?);
    let before = resident_kib(std::process::id()).unwrap_or(0);
    println!("server: {nodes} nodes, {before} KiB resident before seeding");
    let seeded = seed(&handle, o.pods).await?;
    println!("seeded {} pods in {:.1} s", o.pods, seeded.as_secs_f64());
    let after = resident_kib(std::process::id()).unwrap_or(0);
    println!(
        "server resident: {after} KiB ({} bytes per pod)",
        (after.saturating_sub(before)) * 1024 / o.pods as u64
    );
    print_stats(&handle.stats(), &handle.json_bytes());
    let client = handle.client().await?;
    list_latency_owned(client.clone(), "while idle").await?;
    if o.breakdown {
        breakdown::print(&client).await?;
    }
    // Before the controller starts: copying every pod out holds the store for seconds.
    let pods = pod_names(&handle);
    let mut controller = Controller::start(&o.binary, handle.kubeconfig_path(), o.pin)?;
    let outcome = measure(&o, handle.clone(), &client, &mut controller, pods).await;
    // The controller first, so it does not log the server going away.
    controller.stop();
    drop(handle);
    outcome
}

/// Creates the namespaces and Deployments and waits for every pod to run.
async fn seed(handle: &ApiServerHandle, pods: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for crd in [DevOpsPolicy::crd(), PolicyAuditResult::crd()] {
        handle.create(serde_json::to_value(crd)?)?;
    }
    handle.create(namespace("kube-devops"))?;
    let deployments = pods / REPLICAS;
    let namespaces = deployments.div_ceil(DEPLOYMENTS_PER_NAMESPACE);
    for n in 0..namespaces {
        let name = format!("team-{n:04}");
        handle.create(namespace(&name))?;
        handle.create(policy(&name))?;
        for d in 0..DEPLOYMENTS_PER_NAMESPACE {
            let i = n * DEPLOYMENTS_PER_NAMESPACE + d;
            if i < deployments {
                handle.create(deployment(&name, i))?;
            }
        }
        tokio::task::yield_now().await;
    }
    let mut last = (0, 0);
    let mut quiet_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = pods_and_writes(&handle.stats());
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if now.0 >= pods && quiet_since.elapsed() >= Duration::from_secs(2) {
            return Ok(started.elapsed() - Duration::from_secs(2));
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!(
                "the simulation did not settle within an hour ({} pods)",
                now.0
            );
        }
    }
}

/// p50/p90/p99 of listing one namespace's ConfigMaps, 50 times.
async fn list_latency_owned(client: kube::Client, when: &'static str) -> anyhow::Result<()> {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, "team-0000");
    let mut samples = Percentiles::default();
    for _ in 0..50 {
        let t = Instant::now();
        api.list(&ListParams::default()).await?;
        samples.add(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "list one namespace's ConfigMaps {when}: {}",
        samples.summary()
    );
    Ok(())
}

/// The controller as a child process with its ops port.
struct Controller {
    child: Child,
    port: u16,
    webhook_port: u16,
    certificates: tempfile::TempDir,
    started: Instant,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Controller {
    fn start(binary: &Path, kubeconfig: &Path, pinned: bool) -> anyhow::Result<Controller> {
        let (port, webhook_port) = (free_port()?, free_port()?);
        let certificates = tempfile::tempdir()?;
        admission::certificates(certificates.path())?;
        let log = std::env::temp_dir().join(format!("kube-devops-scale-{port}.log"));
        let mut command = Command::new(binary);
        if pinned {
            pin::child_on(&mut command, pin::CONTROLLER_CPU);
        }
        let child = command
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--log-level", "info", "run"])
            .args(admission::flags(certificates.path(), webhook_port))
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(["--identity", "scale", "--namespace", "kube-devops"])
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map(Stdio::from)?)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        println!("controller log: {}", log.display());
        Ok(Controller {
            child,
            port,
            webhook_port,
            certificates,
            started: Instant::now(),
        })
    }

    /// Samples admission latency until the sampler is stopped; the webhook's own handling
    /// times are read from the controller's histogram at both ends.
    async fn admission(&self) -> anyhow::Result<(admission::Sampler, admission::Handling)> {
        // Before the ops server listens, nothing has been handled yet.
        let before = admission::Handling::read(self.port)
            .await
            .unwrap_or_default();
        let sampler =
            admission::Sampler::start(self.certificates.path(), self.webhook_port, "team-0000")?;
        Ok((sampler, before))
    }

    /// CPU used so far by the controller's process and by this one.
    fn cpu(&self) -> CpuUse {
        CpuUse {
            controller: cpu_seconds(self.child.id()).unwrap_or(0.0),
            harness: cpu_seconds(std::process::id()).unwrap_or(0.0),
        }
    }

    fn resident_kib(&self) -> u64 {
        resident_kib(self.child.id()).unwrap_or(0)
    }

    async fn ready(&self) -> bool {
        http_get(self.port, "/readyz").await.map(|(code, _)| code) == Some(200)
    }

    async fn wait_ready(&self, limit: Duration) -> anyhow::Result<Duration> {
        let t = Instant::now();
        while !self.ready().await {
            if t.elapsed() > limit {
                bail!("the controller was not ready within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(t.elapsed())
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

async fn measure(
    o: &Options,
    handle: Arc<ApiServerHandle>,
    client: &kube::Client,
    controller: &mut Controller,
    pods: Vec<(String, String)>,
) -> anyhow::Result<()> {
    let start_writes = handle.stats().writes;
    // The controller's process has just started: its CPU counts from zero.
    let start_cpu = CpuUse {
        controller: 0.0,
        ..controller.cpu()
    };
    let (reviews, handled) = controller.admission().await?;
    let sync = tokio::spawn(list_latency_owned(
        client.clone(),
        "during the controller's sync",
    ));
    let ready = controller.wait_ready(Duration::from_secs(600)).await?;
    println!(
        "controller ready after {:.2} s (process start to /readyz 200), {} KiB resident; \
         CPU until then: {}",
        ready.as_secs_f64(),
        controller.resident_kib(),
        controller.cpu().since(start_cpu),
    );
    admission::report("during the sync", reviews, handled, controller.port).await?;
    sync.await??;
    let converged = converge(&handle, controller.started).await;
    let writes = write_counts(&start_writes, &handle.stats().writes);
    println!(
        "controller converged {:.1} s after start with writes {writes:?}, {} KiB resident; \
         CPU until then: {}",
        converged.as_secs_f64(),
        controller.resident_kib(),
        controller.cpu().since(start_cpu),
    );
    let before = handle.stats().writes;
    tokio::time::sleep(Duration::from_secs(o.steady_seconds)).await;
    let steady = write_counts(&before, &handle.stats().writes);
    println!(
        "steady state, {} s with nothing changing: writes {steady:?}",
        o.steady_seconds
    );
    probe_pod(&handle, 0)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let churn_length = Duration::from_secs(o.churn_seconds);
    let cpu_before = controller.cpu();
    let writes_before = handle.stats().writes;
    let churn = {
        let (handle, rate) = (handle.clone(), o.churn);
        tokio::task::spawn_blocking(move || churn_pods(&handle, &pods, rate, churn_length))
    };
    let during = tokio::spawn(list_latency_owned(client.clone(), "during churn"));
    let (reviews, handled) = controller.admission().await?;
    let (mut latency, mut delivery) =
        probe_loop(&handle, client, controller.port, churn_length).await?;
    let churned = churn.await??;
    println!(
        "during churn: CPU {}; the controller's writes {:?}",
        controller.cpu().since(cpu_before),
        write_counts(&writes_before, &handle.stats().writes)
            .into_iter()
            .filter(|(resource, _)| resource != "pods")
            .collect::<Vec<_>>(),
    );
    admission::report("during churn", reviews, handled, controller.port).await?;
    during.await??;
    println!(
        "event-to-gauge under {} pod changes in {} s ({:.0}/s; {:.2} s inside the writes): {}; controller {} KiB resident",
        churned.changes,
        o.churn_seconds,
        churned.changes as f64 / o.churn_seconds.max(1) as f64,
        churned.writing.as_secs_f64(),
        latency.summary(),
        controller.resident_kib()
    );
    println!(
        "  the same changes to a watch in the harness (server write and watch path only): {}",
        delivery.summary()
    );
    relist(&handle, controller, o.pods).await?;
    if !o.skip_analyze {
        analyze(o, &handle).await?;
    }
    Ok(())
}

/// Waits until nothing but leases and events has been written for 10 s; answers the
/// time from the controller's start to its last write.
async fn converge(handle: &ApiServerHandle, started: Instant) -> Duration {
    let mut last = handle.stats().writes;
    let mut last_change = Instant::now();
    while last_change.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = handle.stats().writes;
        if !write_counts(&last, &now).is_empty() {
            last_change = Instant::now();
        }
        last = now;
    }
    last_change.saturating_duration_since(started)
}

/// Writes per resource between two counts, leases and events left out.
fn write_counts(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> Vec<(String, u64)> {
    after
        .iter()
        .filter(|(plural, _)| !matches!(plural.as_str(), "leases" | "events"))
        .map(|(plural, n)| (plural.clone(), n - before.get(plural).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Expires every watch (closes it and compacts the history past a new write), then changes the probe pod: the
/// controller's watches resume from a version that is gone, get 410 and list again, and
/// the change reaches the controller only through that list. The recovery is the time
/// until the pod watch has finished a list (`init_done` counted once more) and the gauge
/// has followed the change; then `pods_tracked` must count every pod again.
async fn relist(
    handle: &ApiServerHandle,
    controller: &Controller,
    pods: usize,
) -> anyhow::Result<()> {
    const LISTED: &str = "kube_devops_pod_events_total{type=\"init_done\"}";
    let series = format!("kube_devops_namespace_health_score{{namespace=\"{PROBE_NAMESPACE}\"}}");
    let port = controller.port;
    let metric = |text: &str, name: &str| probe::metric(text, name);
    let before = http_get(port, "/metrics")
        .await
        .map(|(_, t)| t)
        .unwrap_or_default();
    let (listed, score) = (metric(&before, LISTED), metric(&before, &series));
    // Closed, written past and compacted under one hold of the store: a watch may hold the
    // newest version from a bookmark (they carry the newest of any resource), so compacting
    // at it alone let the pod watch resume without a 410 whenever a bookmark came between.
    handle.expire_watches(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "relist-marker", "namespace": PROBE_NAMESPACE}}))?;
    let t = Instant::now();
    probe_pod(handle, 5 - probe_restarts(handle))?;
    let mut recovered = None;
    while t.elapsed() < Duration::from_secs(60) {
        let now = http_get(port, "/metrics")
            .await
            .map(|(_, t)| t)
            .unwrap_or_default();
        if metric(&now, LISTED) > listed && metric(&now, &series) != score {
            recovered = Some((t.elapsed(), metric(&now, "kube_devops_pods_tracked")));
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match recovered {
        Some((took, tracked)) => println!(
            "forced 410 relist: listed again and the gauge followed the change after {:.2} s; pods tracked {tracked:?} of {}",
            took.as_secs_f64(),
            pods + 1
        ),
        None => println!("forced 410 relist: not recovered within 60 s"),
    }
    Ok(())
}

/// `kube-devops analyze -o json` against the cluster: wall time and peak resident.
async fn analyze(o: &Options, handle: &ApiServerHandle) -> anyhow::Result<()> {
    let t = Instant::now();
    let mut command = Command::new(&o.binary);
    if o.pin {
        pin::child_on(&mut command, pin::CONTROLLER_CPU);
    }
    let mut child = command
        .arg("--kubeconfig")
        .arg(handle.kubeconfig_path())
        .args(["analyze", "-o", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        peak = peak.max(probe::peak_kib(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "analyze against the cluster: {:.2} s, peak {peak} KiB resident, exit {:?}",
        t.elapsed().as_secs_f64(),
        status.code()
    );
    Ok(())
}
