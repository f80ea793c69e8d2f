//! Readiness end to end: `/readyz` is 200 only when the last list succeeded and the watch
//! has been live since. Under continuous 500s it never flips back to 200 between relists;
//! when the API server stops answering it turns 503 within seconds, says why, and comes
//! back after a real relist; `run` without the DevOpsPolicy CRD is not ready and says so
//! (the webhook's readiness reads the same policy watch state).

mod common;

use std::time::{Duration, Instant};

use common::{Controller, certificates, eventually, free_port, pod, ready, server};
use kube::CustomResourceExt;
use kube_apiserver_test::{RequestMatch, ServerConfig, start};
use kube_devops::policy::DevOpsPolicy;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_stays_503_under_continuous_500s_and_recovers_after() {
    let h = server().await;
    h.create(pod("shop", "a", "nginx:1.27", true)).unwrap();
    let c = Controller::start(h.kubeconfig_path(), "solo", &[]);
    ready(&c).await;
    h.fail_next(RequestMatch::any().resource("pods"), 1_000_000, 500);
    h.close_watches();
    eventually(Duration::from_secs(10), "503", || {
        (c.ready()? == 503).then_some(())
    })
    .await;
    // Relists keep failing: readiness must not flip to 200 on the event that starts one.
    let watching = Instant::now();
    let mut samples = 0;
    while watching.elapsed() < Duration::from_secs(8) {
        if let Some((code, body)) = c.get("/readyz") {
            samples += 1;
            assert_eq!(code, 503, "ready during continuous 500s: {body}");
            assert!(body.contains("pods"), "{body}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(samples > 50);
    h.clear_faults();
    eventually(Duration::from_secs(40), "ready after the faults", || {
        (c.ready()? == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_when_the_api_stops_answering_and_returns_after_a_relist() {
    let h = server().await;
    h.create(pod("shop", "a", "nginx:1.27", true)).unwrap();
    let c = Controller::start(h.kubeconfig_path(), "solo", &[]);
    ready(&c).await;
    // New requests for pods hang (the open watch stays open and silent).
    h.delay_next(
        RequestMatch::any().resource("pods"),
        1_000_000,
        Duration::from_secs(8),
    );
    let hung = Instant::now();
    let (_, body) = eventually(Duration::from_secs(15), "503 while the API hangs", || {
        c.get("/readyz").filter(|(code, _)| *code == 503)
    })
    .await;
    assert!(body.contains("did not answer"), "{body}");
    let detected = hung.elapsed();
    // While it hangs, readiness stays off.
    for _ in 0..20 {
        assert_eq!(c.ready(), Some(503));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.clear_faults();
    eventually(Duration::from_secs(40), "ready after the outage", || {
        (c.ready()? == 200).then_some(())
    })
    .await;
    assert!(detected < Duration::from_secs(15));
    // It came back through a relist, counted as a watch error.
    let errors = c
        .metric("kube_devops_watch_errors_total{resource=\"pods\"}")
        .unwrap();
    assert!(errors >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_without_the_policy_crd_is_not_ready_and_says_why_until_it_is_installed() {
    let h = start(ServerConfig::new().simulation(false)).await.unwrap();
    for ns in ["kube-devops", "shop"] {
        h.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let certs = certificates(h.kubeconfig_path(), dir.path());
    let hook = free_port();
    let c = Controller::command(
        h.kubeconfig_path(),
        "solo",
        &[
            "run",
            "--webhook-addr",
            &format!("127.0.0.1:{hook}"),
            "--tls-cert",
            certs.join("tls.crt").to_str().unwrap(),
            "--tls-key",
            certs.join("tls.key").to_str().unwrap(),
        ],
    );
    let (_, body) = eventually(Duration::from_secs(20), "the reason on /readyz", || {
        c.get("/readyz")
            .filter(|(code, body)| *code == 503 && body.contains("CRD"))
    })
    .await;
    assert!(body.contains("crd install"), "{body}");
    eventually(Duration::from_secs(5), "the log line", || {
        c.log_text()
            .contains("DevOpsPolicy CRD is not installed")
            .then_some(())
    })
    .await;
    h.create(serde_json::to_value(DevOpsPolicy::crd()).unwrap())
        .unwrap();
    eventually(Duration::from_secs(45), "ready once the CRD exists", || {
        (c.ready()? == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_watches_stay_ready_past_the_clients_read_timeout() {
    // No bookmarks for two minutes and nothing changing: the watches must renew themselves
    // before the client's 30 s read timeout would break them (and force relists).
    let h = start(
        ServerConfig::new()
            .simulation(false)
            .bookmark_interval(Duration::from_secs(120)),
    )
    .await
    .unwrap();
    h.create(serde_json::to_value(DevOpsPolicy::crd()).unwrap())
        .unwrap();
    for ns in ["kube-devops", "shop"] {
        h.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
    }
    h.create(pod("shop", "a", "nginx:1.27", true)).unwrap();
    let c = Controller::start(h.kubeconfig_path(), "solo", &[]);
    ready(&c).await;
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(40) {
        assert_eq!(
            c.ready(),
            Some(200),
            "not ready after {:?} of quiet",
            quiet.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for resource in ["pods", "devopspolicies"] {
        let series = format!("kube_devops_watch_errors_total{{resource=\"{resource}\"}}");
        assert_eq!(c.metric(&series), Some(0.0), "{resource}");
    }
}
