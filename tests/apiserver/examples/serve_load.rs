//! Load generator for the test API server itself: how much it holds per pod and how fast
//! it serves a large cluster.
//!
//! In: a pod count (`--pods`, default 10,000). It starts the server in this process with
//! its workload simulation (simulated events off) and `pods / 100` Nodes, creates
//! `pods / 10` Deployments of 10 replicas over `pods / 100` namespaces, and waits until the
//! simulation has created, scheduled and run every pod. Out, one line per figure: the
//! seeding time, the resident memory per pod, what the store holds (objects and their
//! JSON bytes per resource) and its watch history,
//! then a client's full paginated list of every pod (`limit=500`: time per page and in
//! all) and a streaming list (`watch` with `sendInitialEvents=true` up to the
//! `k8s.io/initial-events-end` bookmark), each `--rounds` times.
//!
//! ```text
//! cargo run --release -p kube-apiserver-test --example serve_load -- --pods 10000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::AsyncBufReadExt;
use kube_apiserver_test::{ApiServerHandle, ServerConfig, start};
use serde_json::{Value, json};

/// Pods per Deployment, and Deployments per namespace.
const REPLICAS: usize = 10;
const DEPLOYMENTS_PER_NAMESPACE: usize = 10;
/// Pods per page of the paginated list, as informers ask.
const PAGE: usize = 500;

#[derive(Parser)]
#[command(about = "Seeds the test API server with a large cluster and measures it")]
struct Options {
    /// How many pods to seed.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// How many times each list is taken.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(options))
}

async fn run(o: Options) -> anyhow::Result<()> {
    let nodes = (o.pods / 100).max(3);
    let config = ServerConfig::new().nodes(nodes).simulated_events(false);
    let handle = Arc::new(start(config).await?);
    let before = resident_kib().unwrap_or(0);
    let seeded = seed(&handle, o.pods).await?;
    println!("seeded {} pods in {:.1} s", o.pods, seeded.as_secs_f64());
    let after = resident_kib().unwrap_or(0);
    println!(
        "server resident: {} MiB ({} bytes per pod)",
        after / 1024,
        after.saturating_sub(before) * 1024 / o.pods.max(1) as u64
    );
    let stats = handle.stats();
    let json = handle.json_bytes();
    for (plural, count) in &stats.by_resource {
        let bytes = json.get(plural).copied().unwrap_or(0);
        println!("  store {plural}: {count} ({bytes} bytes of JSON)");
    }
    println!(
        "  history: {} events, {} bytes of objects",
        stats.history_events, stats.history_bytes
    );
    let client = handle.client().await?;
    for round in 1..=o.rounds {
        paginated(&client, round).await?;
        streaming(&client, round).await?;
    }
    Ok(())
}

fn deployment(namespace: &str, i: usize) -> Value {
    let name = format!("web-{i}");
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": format!("registry.example.com/shop/web:1.{}.0", i % 7),
                    "ports": [{"containerPort": 8080}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                  "limits": {"cpu": "500m", "memory": "256Mi"}},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                }]},
            },
        },
    })
}

/// Creates the namespaces and Deployments and waits until every pod runs and the
/// simulation has written nothing for 2 s.
async fn seed(handle: &ApiServerHandle, pods: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let deployments = pods / REPLICAS;
    for n in 0..deployments.div_ceil(DEPLOYMENTS_PER_NAMESPACE) {
        let namespace = format!("team-{n:04}");
        handle.create(json!({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": namespace}}))?;
        for d in 0..DEPLOYMENTS_PER_NAMESPACE {
            let i = n * DEPLOYMENTS_PER_NAMESPACE + d;
            if i < deployments {
                handle.create(deployment(&namespace, i))?;
            }
        }
        tokio::task::yield_now().await;
    }
    let quiet = Duration::from_secs(2);
    if !handle.settled(pods, quiet, Duration::from_secs(3600)).await {
        bail!("the simulation did not settle within an hour");
    }
    Ok(started.elapsed() - quiet)
}

/// Lists every pod 500 at a time and prints the time per page and in all.
async fn paginated(client: &kube::Client, round: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut pages = Vec::new();
    let mut items = 0;
    let mut bytes = 0;
    let mut token = String::new();
    loop {
        let mut uri = format!("/api/v1/pods?limit={PAGE}");
        if !token.is_empty() {
            uri.push_str(&format!("&continue={token}"));
        }
        let page_started = Instant::now();
        let text = client.request_text(get(&uri)?).await?;
        pages.push(page_started.elapsed());
        bytes += text.len();
        let page: Value = serde_json::from_str(&text)?;
        items += page["items"].as_array().map_or(0, Vec::len);
        token = page["metadata"]["continue"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if token.is_empty() {
            break;
        }
    }
    let total = started.elapsed();
    pages.sort();
    println!(
        "round {round}: paginated list of {items} pods in {} pages, {} MB: {:.2} s in all; \
         per page p50 {:.1} ms, p99 {:.1} ms (the client's decoding included)",
        pages.len(),
        bytes / 1_000_000,
        total.as_secs_f64(),
        millis(percentile(&pages, 50)),
        millis(percentile(&pages, 99)),
    );
    Ok(())
}

/// Streams every pod as initial watch events and prints the time to the end bookmark.
async fn streaming(client: &kube::Client, round: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let uri = "/api/v1/pods?watch=true&sendInitialEvents=true&allowWatchBookmarks=true\
               &resourceVersionMatch=NotOlderThan&timeoutSeconds=600";
    let mut lines = client.request_stream(get(uri)?).await?.lines();
    let mut events = 0;
    let mut bytes = 0;
    let mut ended = false;
    while let Some(line) = futures::StreamExt::next(&mut lines).await {
        let line = line?;
        bytes += line.len() + 1;
        if line.contains("\"type\":\"BOOKMARK\"") && line.contains("initial-events-end") {
            ended = true;
            break;
        }
        events += 1;
    }
    if !ended {
        bail!("the stream ended before its initial-events-end bookmark");
    }
    println!(
        "round {round}: streaming list of {events} pods, {} MB, to the end bookmark in {:.2} s",
        bytes / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn get(uri: &str) -> anyhow::Result<hyper::Request<Vec<u8>>> {
    hyper::Request::get(uri)
        .body(Vec::new())
        .context("a request")
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let at = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(at).copied().unwrap_or_default()
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `VmRSS` of this process in KiB.
fn resident_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
