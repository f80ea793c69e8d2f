//! The churn of the scale harness. In: the test server's handle and the seeded pods.
//! Out: pod status changes at a steady rate on a thread of their own (`churn_pods`), and
//! the event-to-gauge measure: the probe pod's restarts flipped every 100 ms while the
//! controller's namespace gauge and a watch in this process are timed (`probe_loop`).

use std::time::{Duration, Instant};

use kube::Api;
use kube_apiserver_test::ApiServerHandle;
use serde_json::{Value, json};

use crate::probe::{self, Percentiles, http_get};
use crate::{DEPLOYMENTS_PER_NAMESPACE, PROBE_NAMESPACE, REPLICAS, namespace};

/// The most pod changes the churn thread writes before it yields.
const CHURN_BURST: usize = 20;

/// Flips the probe pod's restarts every 100 ms for `length` and collects how long the
/// gauge took to follow, and how long the same change took to reach a watch of the probe
/// pod in this process (the server's write and watch path, without the controller).
/// Prints the slowest samples with what each was waiting on.
pub async fn probe_loop(
    handle: &ApiServerHandle,
    client: &kube::Client,
    port: u16,
    length: Duration,
) -> anyhow::Result<(Percentiles, Percentiles)> {
    let (seen, arrivals) = tokio::sync::watch::channel(None::<Instant>);
    let api: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client.clone(), PROBE_NAMESPACE);
    let watching = tokio::spawn(async move {
        use futures::StreamExt;
        let events = kube::runtime::watcher(api, kube::runtime::watcher::Config::default());
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            if let Ok(kube::runtime::watcher::Event::Apply(_)) = event {
                let _ = seen.send(Some(Instant::now()));
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut latency, mut delivery) = (Percentiles::default(), Percentiles::default());
    let mut samples = Vec::new();
    let mut restarts = 0;
    let started = Instant::now();
    let end = started + length;
    while Instant::now() < end {
        restarts = 5 - restarts;
        let t = Instant::now();
        if let Some(sample) = event_to_gauge(handle, port, restarts).await? {
            latency.add(sample.took);
            let watched = (*arrivals.borrow()).filter(|at| *at >= t).map(|at| at - t);
            if let Some(watched) = watched {
                delivery.add(watched);
            }
            samples.push((t - started, sample, watched));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watching.abort();
    samples.sort_by_key(|(_, sample, _)| std::cmp::Reverse(sample.took));
    println!("  the slowest event-to-gauge samples:");
    for (at, sample, watched) in samples.iter().take(3) {
        println!(
            "    at {:.2} s: {:.1} ms (the harness's watch saw it after {}; {} reads of /metrics, the slowest {:.1} ms)",
            at.as_secs_f64(),
            sample.took.as_secs_f64() * 1000.0,
            watched.map_or("-".to_string(), |w| format!(
                "{:.1} ms",
                w.as_secs_f64() * 1000.0
            )),
            sample.polls,
            sample.slowest_poll.as_secs_f64() * 1000.0,
        );
    }
    Ok((latency, delivery))
}

/// The probe pod: one container without probes on a pinned tag, `restarts` restarts.
pub fn probe_pod(handle: &ApiServerHandle, restarts: u32) -> anyhow::Result<()> {
    if handle.get("v1", "Namespace", "", PROBE_NAMESPACE).is_none() {
        handle.create(namespace(PROBE_NAMESPACE))?;
        handle.create(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "probe", "namespace": PROBE_NAMESPACE},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "example/app:1.0"}]},
            "status": running_status(restarts),
        }))?;
        return Ok(());
    }
    handle.set_pod_status(PROBE_NAMESPACE, "probe", running_status(restarts))?;
    Ok(())
}

fn running_status(restarts: u32) -> Value {
    json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "app", "image": "example/app:1.0", "imageID": "",
            "ready": true, "started": true, "restartCount": restarts,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}],
    })
}

/// One event-to-gauge sample: the time the gauge took to move, and the reads of
/// `/metrics` it took (how many, the slowest), to tell the controller's delay from the
/// polling's.
struct Sample {
    took: Duration,
    polls: u32,
    slowest_poll: Duration,
}

/// Sets the probe pod's restarts and measures how long the controller's namespace gauge
/// took to move (None when it did not within 10 s).
async fn event_to_gauge(
    handle: &ApiServerHandle,
    port: u16,
    restarts: u32,
) -> anyhow::Result<Option<Sample>> {
    let series = format!("kube_devops_namespace_health_score{{namespace=\"{PROBE_NAMESPACE}\"}}");
    let before = gauge(port, &series).await;
    let t = Instant::now();
    probe_pod(handle, restarts)?;
    let (mut polls, mut slowest_poll) = (0, Duration::ZERO);
    while t.elapsed() < Duration::from_secs(10) {
        let poll = Instant::now();
        let now = gauge(port, &series).await;
        polls += 1;
        slowest_poll = slowest_poll.max(poll.elapsed());
        if now != before {
            return Ok(Some(Sample {
                took: t.elapsed(),
                polls,
                slowest_poll,
            }));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(None)
}

async fn gauge(port: u16, series: &str) -> Option<f64> {
    let (_, text) = http_get(port, "/metrics").await?;
    probe::metric(&text, series)
}

/// Every seeded pod's namespace and name.
pub fn pod_names(handle: &ApiServerHandle) -> Vec<(String, String)> {
    handle
        .list("v1", "Pod", None)
        .iter()
        .filter_map(|p| {
            let meta = p.get("metadata")?;
            let field = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_string);
            Some((field("namespace")?, field("name")?))
        })
        .filter(|(ns, _)| ns.starts_with("team-"))
        .collect()
}

/// The pod the `n`th change goes to. Changes come in runs of [`CHURN_BURST`] pods of one
/// namespace (a rollout's shape; `pods` is ordered by namespace), each run in a namespace
/// picked by a stride over all of them: the test server's workload simulation looks at the
/// namespaces written since its last pass, so a run written under one hold of the lock
/// costs it one pass over one namespace instead of one pass per change.
fn churn_target(pods: &[(String, String)], n: usize) -> &(String, String) {
    let run = n / CHURN_BURST;
    let per_namespace = (REPLICAS * DEPLOYMENTS_PER_NAMESPACE).min(pods.len());
    let runs_per_namespace = per_namespace.div_ceil(CHURN_BURST);
    let namespaces = pods.len().div_ceil(per_namespace);
    let namespace = (run * 7919) % namespaces;
    let offset = ((run / namespaces) % runs_per_namespace) * CHURN_BURST + n % CHURN_BURST;
    &pods[(namespace * per_namespace + offset % per_namespace) % pods.len()]
}

/// What the churn thread did: pod changes made, and the time spent inside the server's
/// write calls (lock waits included).
pub struct Churned {
    pub changes: usize,
    pub writing: Duration,
}

/// Changes `rate` pods a second for `length` (their restart counts, which the scores
/// count), on a thread of its own: whenever it is behind it writes what is due, at most
/// [`CHURN_BURST`] changes (each its own write) under one hold of the store's lock, yields
/// after each burst, and sleeps a millisecond whenever it is on time. Answers what it did
/// (fewer changes when the server cannot keep up).
pub fn churn_pods(
    handle: &ApiServerHandle,
    pods: &[(String, String)],
    rate: usize,
    length: Duration,
) -> anyhow::Result<Churned> {
    let mut churned = Churned {
        changes: 0,
        writing: Duration::ZERO,
    };
    if pods.is_empty() || rate == 0 {
        return Ok(churned);
    }
    let started = Instant::now();
    while started.elapsed() < length {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as usize;
        if due <= churned.changes {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let burst: Vec<_> = (churned.changes..due.min(churned.changes + CHURN_BURST))
            .map(|n| {
                let (namespace, name) = churn_target(pods, n);
                (
                    namespace.as_str(),
                    name.as_str(),
                    running_status((n % 6) as u32),
                )
            })
            .collect();
        let t = Instant::now();
        handle.set_pod_statuses(&burst)?;
        churned.writing += t.elapsed();
        churned.changes += burst.len();
        // Other threads (requests, the simulation) get the lock between bursts: it is not
        // fair, and a writer that re-took it at once starved every request.
        std::thread::yield_now();
    }
    Ok(churned)
}

pub fn probe_restarts(handle: &ApiServerHandle) -> u32 {
    handle
        .get("v1", "Pod", PROBE_NAMESPACE, "probe")
        .and_then(|p| {
            p.pointer("/status/containerStatuses/0/restartCount")
                .and_then(Value::as_u64)
        })
        .map_or(0, |n| n as u32)
}
