//! End-to-end tests of the controller (`kube-devops run`): the real binary against the
//! test Kubernetes API server. Scores must follow every pod change and match what the
//! one-shot audit computes; the watch must survive dropped connections and expired
//! resourceVersions; leadership must move cleanly between replicas.

mod common;

use std::time::{Duration, Instant};

use common::{Controller, FAST_LEASE, audit, eventually, namespace_scores, pod, server};
use kube_apiserver_test::{ApiServerHandle, RequestMatch};

async fn matches_audit(c: &Controller, kubeconfig: &std::path::Path, what: &str) {
    let truth = audit(kubeconfig, &[]).await;
    let want: Vec<(String, f64)> = namespace_scores(&truth);
    let want_cluster = truth["clusterScore"].clone();
    eventually(Duration::from_secs(10), what, || {
        let s = c.scores()?;
        (namespace_scores(&s) == want && s["cluster"] == want_cluster).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_and_gauges_follow_pod_changes_and_an_emptied_namespace_loses_its_series() {
    let h = server().await;
    h.create(pod("shop", "web", "nginx:1.27", true)).unwrap();
    h.create(pod("shop", "cart", "nginx:latest", false))
        .unwrap();
    h.create(pod("blog", "ghost", "ghost:5", true)).unwrap();
    let c = Controller::start(h.kubeconfig_path(), "solo", &[]);
    eventually(Duration::from_secs(20), "readiness", || {
        (c.get("/readyz")?.0 == 200).then_some(())
    })
    .await;
    matches_audit(&c, h.kubeconfig_path(), "initial scores").await;
    // shop: 10 points over 2 pods.
    let s = c.scores().unwrap();
    assert_eq!(
        namespace_scores(&s),
        [("blog".to_owned(), 100.0), ("shop".to_owned(), 95.0)]
    );

    // A change: the good pod goes bad.
    let client = h.client().await.unwrap();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), "blog");
    pods.delete("ghost", &Default::default()).await.unwrap();
    h.create(pod("blog", "ghost2", "ghost", false)).unwrap();
    matches_audit(&c, h.kubeconfig_path(), "scores after a change").await;

    // Emptying a namespace removes its series.
    pods.delete("ghost2", &Default::default()).await.unwrap();
    eventually(Duration::from_secs(10), "blog series removed", || {
        let (_, metrics) = c.get("/metrics")?;
        (!metrics.contains("namespace=\"blog\"") && metrics.contains("namespace=\"shop\""))
            .then_some(())
    })
    .await;
    matches_audit(&c, h.kubeconfig_path(), "scores after emptying blog").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watches_and_expired_versions_end_in_the_servers_truth() {
    let h = server().await;
    h.create(pod("shop", "a", "nginx:1.27", true)).unwrap();
    let c = Controller::start(h.kubeconfig_path(), "solo", &[]);
    eventually(Duration::from_secs(20), "readiness", || {
        (c.get("/readyz")?.0 == 200).then_some(())
    })
    .await;

    // Drop the connection, then change things while it reconnects.
    h.close_watches();
    h.create(pod("shop", "b", "nginx:latest", false)).unwrap();
    matches_audit(&c, h.kubeconfig_path(), "state after a dropped watch").await;

    // Expire every resourceVersion the watcher knows: it must relist (410 Gone), and a
    // pod deleted meanwhile must not linger as a ghost.
    let client = h.client().await.unwrap();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, "shop");
    h.close_watches();
    pods.delete("a", &Default::default()).await.unwrap();
    h.create(pod("blog", "c", "ghost", true)).unwrap();
    h.compact();
    h.close_watches();
    matches_audit(&c, h.kubeconfig_path(), "state after 410 Gone").await;
    let s = c.scores().unwrap();
    assert_eq!(s["pods"], 2, "no ghost pods, no double counting: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_watch_backs_off_turns_not_ready_and_the_process_stays_up() {
    let h = server().await;
    h.create(pod("shop", "a", "nginx:1.27", true)).unwrap();
    let c = Controller::start(h.kubeconfig_path(), "solo", &[]);
    eventually(Duration::from_secs(20), "readiness", || {
        (c.get("/readyz")?.0 == 200).then_some(())
    })
    .await;
    h.fail_next(RequestMatch::any().resource("pods"), 100_000, 500);
    h.close_watches();
    eventually(Duration::from_secs(15), "readiness off", || {
        (c.get("/readyz")?.0 == 503).then_some(())
    })
    .await;
    let errors = |c: &Controller| -> Option<u64> {
        let (_, m) = c.get("/metrics")?;
        let line = m
            .lines()
            .find(|l| l.starts_with("kube_devops_watch_errors_total{resource=\"pods\"}"))?;
        line.rsplit(' ').next()?.parse().ok()
    };
    let first = eventually(Duration::from_secs(5), "an error count", || errors(&c)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = errors(&c).unwrap();
    // Backoff: a handful of attempts in four seconds, never a hot loop.
    assert!(later > first || later >= 1, "errors are counted");
    assert!(
        later - first <= 10,
        "{first} -> {later} requests in 4 s is not backing off"
    );
    assert_eq!(
        c.get("/healthz").map(|r| r.0),
        Some(200),
        "the process stays alive"
    );

    h.clear_faults();
    eventually(Duration::from_secs(20), "recovery", || {
        (c.get("/readyz")?.0 == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_not_ready_first_then_exits_0() {
    let h = server().await;
    let mut c = Controller::start(h.kubeconfig_path(), "solo", &["--shutdown-delay", "2"]);
    eventually(Duration::from_secs(20), "readiness", || {
        (c.get("/readyz")?.0 == 200).then_some(())
    })
    .await;
    c.signal("-TERM");
    eventually(Duration::from_secs(2), "503 after SIGTERM", || {
        (c.get("/readyz")?.0 == 503).then_some(())
    })
    .await;
    let status = eventually(Duration::from_secs(15), "exit", || {
        c.child.try_wait().ok().flatten()
    })
    .await;
    assert_eq!(status.code(), Some(0));
}

fn leaders(cs: &[&Controller]) -> Option<Vec<bool>> {
    cs.iter().map(|c| c.leader()).collect()
}

/// Starts two replicas and waits until exactly one leads; returns (leader, standby).
async fn two_replicas(h: &ApiServerHandle) -> (Controller, Controller) {
    let a = Controller::start(h.kubeconfig_path(), "replica-a", &FAST_LEASE);
    let b = Controller::start(h.kubeconfig_path(), "replica-b", &FAST_LEASE);
    let state = eventually(Duration::from_secs(20), "one leader", || {
        let l = leaders(&[&a, &b])?;
        (l.iter().filter(|x| **x).count() == 1).then_some(l)
    })
    .await;
    if state[0] { (a, b) } else { (b, a) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_leader_and_sigterm_hands_over_at_once() {
    let h = server().await;
    let (leader, standby) = two_replicas(&h).await;
    // Stays one leader for a while.
    for _ in 0..10 {
        let l = leaders(&[&leader, &standby]).unwrap();
        assert_eq!(l, [true, false]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    leader.signal("-TERM");
    let handed = Instant::now();
    eventually(
        Duration::from_secs(3),
        "standby leads after release",
        || standby.leader()?.then_some(()),
    )
    .await;
    assert!(handed.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_the_lease_duration() {
    let h = server().await;
    let (leader, standby) = two_replicas(&h).await;
    leader.signal("-KILL");
    // Lease of 6 s, plus a margin for the standby's retry.
    eventually(
        Duration::from_secs(6 + 4),
        "standby leads after the lease expires",
        || standby.leader()?.then_some(()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_steps_down_before_its_lease_expires() {
    let h = server().await;
    let a = Controller::start(h.kubeconfig_path(), "replica-a", &FAST_LEASE);
    eventually(Duration::from_secs(20), "leadership", || {
        a.leader()?.then_some(())
    })
    .await;
    h.fail_next(RequestMatch::any().resource("leases"), 100_000, 500);
    let failing = Instant::now();
    eventually(Duration::from_secs(6), "step-down", || {
        (!a.leader()?).then_some(())
    })
    .await;
    // Renewal is due 2 s into a 6 s lease: stepping down must come before the lease could
    // have expired for another replica.
    assert!(
        failing.elapsed() < Duration::from_secs(6),
        "stepped down after {:?}",
        failing.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_without_the_policy_crd_scores_every_namespace_by_the_default_and_is_ready() {
    let h = kube_apiserver_test::start(kube_apiserver_test::ServerConfig::new().simulation(false))
        .await
        .unwrap();
    h.create(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .unwrap();
    h.create(pod("shop", "cart", "nginx:latest", false))
        .unwrap();
    let c = Controller::command(h.kubeconfig_path(), "solo", &["watch"]);
    eventually(Duration::from_secs(20), "readiness", || {
        (c.get("/readyz")?.0 == 200).then_some(())
    })
    .await;
    // The default policy: latest tag, both probes missing, 10 points.
    eventually(Duration::from_secs(10), "the default score", || {
        (c.metric("kube_devops_namespace_health_score{namespace=\"shop\"}")? == 90.0).then_some(())
    })
    .await;
    assert!(c.log_text().contains("DevOpsPolicy CRD is not installed"));
}
