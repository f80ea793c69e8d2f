//! End-to-end tests of the operator (`kube-devops reconcile` and `run`): the real binary
//! against the test Kubernetes API server. A policy's status matches the one-shot audit and
//! follows pod changes and spec edits; deletion runs the finalizer and removes what the
//! policy owned; audit results are kept to their retention; a quiet cluster is written
//! nothing; and scores, admission and status judge a namespace by the same checks.

mod common;

use std::time::Duration;

use common::{Controller, FAST_LEASE, audit, eventually, pod, policy, ready, server};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube_devops::policy::DevOpsPolicy;
use serde_json::{Value, json};

/// `kube-devops reconcile` with fast leases and a short debounce.
fn operator(kubeconfig: &std::path::Path, identity: &str, extra: &[&str]) -> Controller {
    let mut args = vec!["reconcile", "--debounce-ms", "200"];
    args.extend_from_slice(&FAST_LEASE);
    args.extend_from_slice(extra);
    Controller::command(kubeconfig, identity, &args)
}

async fn leading(c: &Controller) {
    eventually(Duration::from_secs(20), "leadership", || {
        c.leader()?.then_some(())
    })
    .await;
}

fn status(h: &kube_apiserver_test::ApiServerHandle, ns: &str, name: &str) -> Option<Value> {
    h.get("devops.stochastic.io/v1", "DevOpsPolicy", ns, name)
        .and_then(|p| p.get("status").cloned())
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn audit_results(h: &kube_apiserver_test::ApiServerHandle, ns: &str) -> Vec<Value> {
    h.list("devops.stochastic.io/v1", "PolicyAuditResult", Some(ns))
}

/// Events recorded on policy `p` in shop with `reason` (read from the store, which keeps
/// both event APIs in their core/v1 form).
fn events(h: &kube_apiserver_test::ApiServerHandle, reason: &str) -> usize {
    h.list("v1", "Event", Some("shop"))
        .iter()
        .filter(|e| e["reason"] == reason && e["involvedObject"]["name"] == "p")
        .count()
}

/// The namespace entry of an `analyze -o json` report.
fn namespace_entry<'a>(report: &'a Value, ns: &str) -> Option<&'a Value> {
    report["namespaces"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == ns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_policy_gets_a_status_equal_to_analyze_that_follows_pods_and_edits() {
    let h = server().await;
    h.create(pod("shop", "web", "nginx:1.27", true)).unwrap();
    h.create(pod("shop", "cart", "nginx:latest", false))
        .unwrap();
    let c = operator(h.kubeconfig_path(), "solo", &[]);
    ready(&c).await;
    leading(&c).await;

    h.create(policy(
        "shop",
        "p",
        json!({"forbidLatestTag": true, "requireLivenessProbe": true}),
    ))
    .unwrap();
    let st = eventually(Duration::from_secs(2), "a status within 2 s", || {
        status(&h, "shop", "p")
    })
    .await;
    let truth = audit(h.kubeconfig_path(), &["-n", "shop"]).await;
    let shop = namespace_entry(&truth, "shop").expect("shop audited");
    assert_eq!(st["healthScore"], shop["score"], "{st} vs {truth}");
    assert_eq!(st["violations"], truth["totalFindings"], "{st} vs {truth}");
    assert_eq!(st["podsScanned"], 2);
    assert_eq!(st["observedGeneration"], 1);
    assert_eq!(condition(&st, "Ready").unwrap()["status"], "True");
    assert_eq!(condition(&st, "Degraded").unwrap()["status"], "False");
    eventually(Duration::from_secs(5), "a classification event", || {
        (events(&h, "ClassificationChanged") == 1).then_some(())
    })
    .await;

    // A pod change reaches the status after the debounce.
    h.create(pod("shop", "api", "redis", false)).unwrap();
    let st = eventually(Duration::from_secs(10), "the new pod in the status", || {
        status(&h, "shop", "p").filter(|s| s["podsScanned"] == 3)
    })
    .await;
    let truth = audit(h.kubeconfig_path(), &["-n", "shop"]).await;
    assert_eq!(
        st["healthScore"],
        namespace_entry(&truth, "shop").unwrap()["score"]
    );
    assert_eq!(st["violations"], truth["totalFindings"]);

    // A spec edit: observedGeneration follows; an invalid spec is Degraded, not silent.
    let client = h.client().await.unwrap();
    let api: Api<DevOpsPolicy> = Api::namespaced(client, "shop");
    let bad = json!({"spec": {"checks": {"noSuchCheck": {}}}});
    api.patch("p", &PatchParams::default(), &Patch::Merge(&bad))
        .await
        .unwrap();
    let st = eventually(Duration::from_secs(10), "Degraded", || {
        status(&h, "shop", "p").filter(|s| s["observedGeneration"] == 2)
    })
    .await;
    assert_eq!(condition(&st, "Degraded").unwrap()["status"], "True");
    assert_eq!(condition(&st, "Ready").unwrap()["status"], "False");
    assert!(
        st["message"].as_str().unwrap().contains("noSuchCheck"),
        "{st}"
    );
    assert!(
        st.get("healthScore").is_none(),
        "a stale score is cleared: {st}"
    );
    let fixed = json!({"spec": {"checks": null}});
    api.patch("p", &PatchParams::default(), &Patch::Merge(&fixed))
        .await
        .unwrap();
    let st = eventually(Duration::from_secs(10), "Ready again", || {
        status(&h, "shop", "p").filter(|s| s["observedGeneration"] == 3)
    })
    .await;
    assert_eq!(condition(&st, "Ready").unwrap()["status"], "True");
    assert_eq!(condition(&st, "Degraded").unwrap()["status"], "False");
    assert!(st["healthScore"].is_number());
    let finalizers = h
        .get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")
        .unwrap()["metadata"]["finalizers"]
        .clone();
    assert_eq!(finalizers, json!(["devops.stochastic.io/cleanup"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_three_of_five_results() {
    let h = server().await;
    let c = operator(h.kubeconfig_path(), "solo", &[]);
    ready(&c).await;
    leading(&c).await;
    h.create(policy(
        "shop",
        "p",
        json!({"forbidLatestTag": true, "auditRetention": 3}),
    ))
    .unwrap();
    for i in 0..5 {
        h.create(pod("shop", &format!("p{i}"), "nginx:latest", true))
            .unwrap();
        eventually(Duration::from_secs(10), "a result per change", || {
            status(&h, "shop", "p").filter(|s| s["podsScanned"] == i + 1)
        })
        .await;
        eventually(Duration::from_secs(10), "the audit result", || {
            audit_results(&h, "shop")
                .iter()
                .any(|r| r["spec"]["totalPods"] == i + 1)
                .then_some(())
        })
        .await;
    }
    let results = eventually(Duration::from_secs(10), "pruned to three", || {
        let r = audit_results(&h, "shop");
        (r.len() == 3).then_some(r)
    })
    .await;
    let mut pods: Vec<i64> = results
        .iter()
        .map(|r| r["spec"]["totalPods"].as_i64().unwrap())
        .collect();
    pods.sort();
    assert_eq!(pods, [3, 4, 5], "the newest three are kept");
    for r in &results {
        assert_eq!(r["metadata"]["labels"]["devops.stochastic.io/policy"], "p");
        assert_eq!(r["metadata"]["ownerReferences"][0]["kind"], "DevOpsPolicy");
        assert_eq!(r["spec"]["policyName"], "p");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_policy_runs_the_finalizer_and_removes_its_results_and_series() {
    let h = server().await;
    h.create(pod("shop", "web", "nginx:latest", true)).unwrap();
    let c = operator(h.kubeconfig_path(), "solo", &[]);
    ready(&c).await;
    leading(&c).await;
    // Another controller's finalizer must survive ours coming and going.
    let mut p = policy("shop", "p", json!({"forbidLatestTag": true}));
    p["metadata"]["finalizers"] = json!(["example.com/other"]);
    h.create(p).unwrap();
    eventually(
        Duration::from_secs(10),
        "the finalizer and a result",
        || {
            let p = h.get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")?;
            let ours = p["metadata"]["finalizers"]
                == json!(["example.com/other", "devops.stochastic.io/cleanup"]);
            (ours && !audit_results(&h, "shop").is_empty()).then_some(())
        },
    )
    .await;
    let series = "kube_devops_policy_health_score{namespace=\"shop\",policy=\"p\"}";
    eventually(Duration::from_secs(5), "the policy's series", || {
        c.metric(series)
    })
    .await;

    let client = h.client().await.unwrap();
    let api: Api<DevOpsPolicy> = Api::namespaced(client, "shop");
    api.delete("p", &DeleteParams::default()).await.unwrap();
    eventually(Duration::from_secs(10), "cleanup", || {
        let p = h.get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")?;
        let only_other = p["metadata"]["finalizers"] == json!(["example.com/other"]);
        (only_other && audit_results(&h, "shop").is_empty()).then_some(())
    })
    .await;
    eventually(Duration::from_secs(5), "series removed", || {
        let m = c.metrics()?;
        (!m.contains("policy=\"p\"")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_judges_each_namespace_by_its_policies_and_says_so_when_it_cannot_read_them() {
    let h = server().await;
    h.create(pod("shop", "web", "nginx:1.27", false)).unwrap();
    h.create(pod("blog", "ghost", "nginx:1.27", false)).unwrap();
    // shop's policy judges only image tags: its pod without probes is clean there, while
    // blog (no policy) is judged by the default policy, which wants probes.
    h.create(policy("shop", "p", json!({"forbidLatestTag": true})))
        .unwrap();
    let report = audit(h.kubeconfig_path(), &[]).await;
    assert_eq!(namespace_entry(&report, "shop").unwrap()["score"], 100.0);
    assert_eq!(namespace_entry(&report, "blog").unwrap()["score"], 95.0);
    assert!(
        report["policySource"]
            .as_str()
            .unwrap()
            .starts_with("DevOpsPolicies")
    );
    // Not allowed to read policies: the flags' policy everywhere, and a warning.
    h.fail_next(
        kube_apiserver_test::RequestMatch::any()
            .verb("list")
            .resource("devopspolicies"),
        1,
        403,
    );
    let report = audit(h.kubeconfig_path(), &[]).await;
    assert_eq!(namespace_entry(&report, "shop").unwrap()["score"], 95.0);
    assert!(
        report["warnings"][0]
            .as_str()
            .unwrap()
            .contains("cannot list DevOpsPolicies"),
        "{report}"
    );
}
