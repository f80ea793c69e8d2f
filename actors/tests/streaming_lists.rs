//! Streaming lists end to end: where the API server streams lists (`sendInitialEvents`),
//! the controller's watches list that way and need no paginated list at all; where it
//! refuses them (a server without the WatchList feature answers 422), every watch falls
//! back to paginated lists and the controller is ready and scores as before.

mod common;

use std::time::Duration;

use common::{Controller, eventually, pod, server_from, server_with};
use kube_apiserver_test::{ApiServerHandle, RequestMatch, ServerConfig};

/// Waits until the controller is ready and tracks `pods` pods.
async fn ready_with(c: &Controller, pods: f64) {
    eventually(Duration::from_secs(20), "ready with every pod", || {
        (c.ready()? == 200 && c.metric("kube_devops_pods_tracked")? == pods).then_some(())
    })
    .await;
}

fn seed(h: &ApiServerHandle) {
    for name in ["a", "b", "c"] {
        h.create(pod("shop", name, "nginx:1.27", true)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_stream_their_lists_and_need_no_paginated_list() {
    let h = server_with(false).await;
    seed(&h);
    // Every paginated list of what readiness waits for fails: only streamed lists work.
    for resource in ["pods", "devopspolicies"] {
        h.fail_next(
            RequestMatch::any().verb("list").resource(resource),
            1_000_000,
            500,
        );
    }
    let c = Controller::start(h.kubeconfig_path(), "streaming", &[]);
    ready_with(&c, 3.0).await;
    assert!(
        !c.log_text().contains("listing in pages"),
        "{}",
        c.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refusing_streaming_lists_gets_paginated_lists() {
    let h = server_from(ServerConfig::new().simulation(false).watch_list(false)).await;
    seed(&h);
    let c = Controller::start(h.kubeconfig_path(), "paginated", &[]);
    ready_with(&c, 3.0).await;
    let log = c.log_text();
    for resource in ["pods", "devopspolicies"] {
        assert!(
            log.lines()
                .any(|l| l.contains("listing in pages") && l.contains(resource)),
            "{resource} did not fall back: {log}"
        );
    }
    // Watching goes on after the paginated list: a new pod is scored.
    h.create(pod("shop", "d", "nginx:1.27", true)).unwrap();
    ready_with(&c, 4.0).await;
}
