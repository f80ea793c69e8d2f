//! Where the controller's time to ready goes, measured piece by piece in the harness.
//!
//! In: a client of the test API server holding the seeded cluster. Out: printed lines:
//! how long the server takes to hand over every pod as 500-item pages and as a streaming
//! list (the raw bytes, nothing decoded), how long decoding those bytes slim takes, how
//! long turning them into facts and storing and scoring them takes (the controller's own
//! [`PodStore`]), and how long the lists of the other watches (ReplicaSets, Jobs,
//! DevOpsPolicies) take. The controller does the same work, in one process, in the same
//! order; the sum is its lower bound.

use std::time::{Duration, Instant};

use futures::{AsyncBufReadExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::core::ObjectList;
use kube_devops::facts::SlimPod;
use kube_devops::policy::PolicySet;
use kube_devops::score::store::PodStore;
use serde_json::Value;

/// The page size of kube's watcher, which the controller lists with.
const PAGE: usize = 500;

/// A list's metadata, its items skipped unread.
#[derive(serde::Deserialize)]
struct Head {
    metadata: ListMeta,
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Every page of `path` (a list URL) as raw text: the pages and the time taken.
async fn pages(client: &kube::Client, path: &str) -> anyhow::Result<(Vec<String>, Duration)> {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url =
            format!("{path}?limit={PAGE}&resourceVersion=0&resourceVersionMatch=NotOlderThan");
        if let Some(t) = &token {
            url.push_str("&continue=");
            url.push_str(t);
        }
        let text = client
            .request_text(http::Request::get(url).body(Vec::new())?)
            .await?;
        let head: Head = serde_json::from_str(&text)?;
        token = head.metadata.continue_.filter(|t| !t.is_empty());
        out.push(text);
        if token.is_none() {
            return Ok((out, started.elapsed()));
        }
    }
}

/// A streaming list of `path`: lines until the initial-events-end bookmark, and the time.
async fn streamed(client: &kube::Client, path: &str) -> anyhow::Result<(Vec<String>, Duration)> {
    let started = Instant::now();
    let url = format!(
        "{path}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true\
         &resourceVersionMatch=NotOlderThan&resourceVersion=0&timeoutSeconds=120"
    );
    let lines = client
        .request_stream(http::Request::get(url).body(Vec::new())?)
        .await?
        .lines();
    futures::pin_mut!(lines);
    let mut out = Vec::new();
    while let Some(line) = lines.try_next().await? {
        if line.contains("\"BOOKMARK\"") && line.contains("k8s.io/initial-events-end") {
            return Ok((out, started.elapsed()));
        }
        out.push(line);
    }
    anyhow::bail!("the streaming list of {path} ended without its end bookmark")
}

/// Prints where the time of a full sync goes.
pub async fn print(client: &kube::Client) -> anyhow::Result<()> {
    let (raw, fetched) = pages(client, "/api/v1/pods").await?;
    let bytes: usize = raw.iter().map(String::len).sum();
    println!(
        "breakdown: list every pod in {} pages of {PAGE}: {} ({} MB of JSON)",
        raw.len(),
        ms(fetched),
        bytes / 1_000_000
    );
    let t = Instant::now();
    let mut pods = Vec::new();
    for page in &raw {
        let list: ObjectList<SlimPod> = serde_json::from_str(page)?;
        pods.extend(list.items);
    }
    let decoded = t.elapsed();
    println!(
        "breakdown: decode them slim: {} ({} pods)",
        ms(decoded),
        pods.len()
    );
    drop(raw);
    let t = Instant::now();
    let facts: Vec<_> = pods.iter().map(SlimPod::facts).collect();
    let extracted = t.elapsed();
    let set = PolicySet::default();
    let mut store = PodStore::new();
    let now = Timestamp::now();
    let t = Instant::now();
    for f in facts {
        store.apply(f, &set, now);
    }
    println!(
        "breakdown: facts of every pod: {}; store and score them: {}",
        ms(extracted),
        ms(t.elapsed())
    );
    drop(pods);
    let (lines, took) = streamed(client, "/api/v1/pods").await?;
    let bytes: usize = lines.iter().map(String::len).sum();
    println!(
        "breakdown: streaming list of every pod (sendInitialEvents): {} ({} events, {} MB)",
        ms(took),
        lines.len(),
        bytes / 1_000_000
    );
    let t = Instant::now();
    for line in &lines {
        let _: kube::core::WatchEvent<SlimPod> = serde_json::from_str(line)?;
    }
    println!(
        "breakdown: decode the streamed events slim: {}",
        ms(t.elapsed())
    );
    drop(lines);
    for path in [
        "/apis/apps/v1/replicasets",
        "/apis/batch/v1/jobs",
        "/apis/devops.stochastic.io/v1/devopspolicies",
    ] {
        let (raw, took) = pages(client, path).await?;
        let t = Instant::now();
        let mut items = 0;
        for page in &raw {
            let list: ObjectList<Value> = serde_json::from_str(page)?;
            items += list.items.len();
        }
        println!(
            "breakdown: list {path}: {} for {items} objects, {} to decode in full",
            ms(took),
            ms(t.elapsed())
        );
    }
    Ok(())
}
