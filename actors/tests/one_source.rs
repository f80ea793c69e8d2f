//! One policy source end to end (`kube-devops run` with the webhook the API server calls):
//! a namespace's scores, admission and policy status use the same checks, and after a run
//! every registered metric family has samples.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Controller, FAST_LEASE, eventually, pod, policy, run_with_webhook, server};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube_apiserver_test::ApiServerHandle;
use kube_devops_actors::metrics::Metrics;
use serde_json::{Value, json};

fn privileged(name: &str) -> Value {
    let mut p = pod("shop", name, "nginx:1.27", true);
    p["spec"]["containers"][0]["securityContext"] = json!({"privileged": true});
    p
}

fn status(h: &ApiServerHandle) -> Option<Value> {
    h.get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")
        .and_then(|p| p.get("status").cloned())
}

async fn started(h: &ApiServerHandle, dir: &std::path::Path) -> Controller {
    let c = run_with_webhook(h, dir, &FAST_LEASE).await;
    eventually(Duration::from_secs(20), "leadership", || {
        c.leader()?.then_some(())
    })
    .await;
    c
}

/// Creates a pod through the API server (and so through the webhook).
async fn create(h: &ApiServerHandle, object: Value) -> Result<Pod, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(h.client().await.unwrap(), "shop");
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(object).unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_policy_turning_on_run_as_privileged_scores_denies_and_reports_alike() {
    let h = server().await;
    h.create(privileged("old")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = started(&h, dir.path()).await;
    let score = "kube_devops_namespace_health_score{namespace=\"shop\"}";
    // Without a DevOpsPolicy, shop is scored by the default policy, which does not judge
    // privileged containers, and admission allows anything there.
    eventually(Duration::from_secs(10), "the default score", || {
        (c.metric(score)? == 100.0).then_some(())
    })
    .await;
    create(&h, privileged("allowed"))
        .await
        .expect("no policy: allowed");

    h.create(policy(
        "shop",
        "p",
        json!({"checks": {"runAsPrivileged": {}}}),
    ))
    .unwrap();
    // Scores: both privileged pods score down (weight 6 each over 2 pods).
    eventually(
        Duration::from_secs(10),
        "the score under the policy",
        || (c.metric(score)? == 94.0).then_some(()),
    )
    .await;
    // Status: the same check, the same numbers.
    let st = eventually(Duration::from_secs(10), "the status", || {
        status(&h).filter(|s| s["violations"] == 2)
    })
    .await;
    assert_eq!(st["healthScore"], 94.0);
    assert_eq!(st["violationsBySeverity"]["critical"], 2);
    // Admission: a new privileged pod is denied for that check.
    let denied = eventually(Duration::from_secs(10), "a denial", || {
        let h = &h;
        futures::executor::block_on(async { create(h, privileged("new")).await.err() })
    })
    .await;
    assert!(denied.to_string().contains("runAsPrivileged"), "{denied}");
    // And nothing of the default policy judges shop any more: probes are not required.
    create(&h, pod("shop", "plain", "nginx:1.27", false))
        .await
        .expect("a pod without probes is fine under this policy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_end_to_end_run_every_registered_metric_family_has_a_sample() {
    let h = server().await;
    h.create(pod("shop", "web", "nginx:latest", false)).unwrap();
    h.create(policy(
        "shop",
        "p",
        json!({"forbidLatestTag": true, "enforcementMode": "audit"}),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = started(&h, dir.path()).await;
    eventually(
        Duration::from_secs(10),
        "status and an audit result",
        || {
            let results = h.list("devops.stochastic.io/v1", "PolicyAuditResult", Some("shop"));
            (status(&h)?["violations"] == 1 && !results.is_empty()).then_some(())
        },
    )
    .await;
    let denied = eventually(Duration::from_secs(10), "a denial", || {
        let h = &h;
        futures::executor::block_on(async {
            create(h, pod("shop", "bad", "nginx:latest", true))
                .await
                .err()
        })
    })
    .await;
    assert!(denied.to_string().contains("latestTag"));
    let text = eventually(Duration::from_secs(10), "the webhook's series", || {
        c.metrics()
            .filter(|m| m.contains("kube_devops_webhook_denials_total{check=\"latestTag\"}"))
    })
    .await;
    // Every family the binary registers (the same code, in this process).
    let registered = Metrics::new().unwrap();
    let families: BTreeSet<&str> = registered.families().iter().map(String::as_str).collect();
    assert!(families.len() >= 23, "{families:?}");
    let empty: Vec<&str> = families
        .iter()
        .copied()
        .filter(|f| {
            !text.lines().any(|l| {
                !l.starts_with('#')
                    && l.starts_with(f)
                    && matches!(l.as_bytes().get(f.len()), Some(b' ' | b'{' | b'_'))
            })
        })
        .collect();
    assert!(empty.is_empty(), "families without a sample: {empty:?}");
}
