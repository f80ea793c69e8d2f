//! End-to-end tests of enforcement's safety and undo: the real binary (`kube-devops
//! reconcile`, `enforce plan`, `enforce revert`) against the test API server and its
//! workload simulation. `enforce revert` restores the spec exactly; a repair whose pods
//! never become ready is reverted and not retried; standbys, excluded namespaces, exempt
//! workloads and bare pods are never patched.

mod common;

use std::time::Duration;

use common::enforce::*;
use common::proxy::{Proxy, Seen};
use common::{eventually, kube_devops, policy, ready, server_with};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_revert_restores_the_original_spec_exactly() {
    let h = server_with(true).await;
    h.create(deployment(
        "shop",
        "web",
        1,
        json!([good("sidecar", 9090), bare("app", 8080)]),
    ))
    .unwrap();
    let original = live(&h, "shop", "web");
    let c = operator(&h, "solo", "200", &[]);
    leading(&c).await;
    h.create(policy("shop", "p", enforcing("enforce"))).unwrap();
    eventually(Duration::from_secs(30), "the deployment patched", || {
        Some(live(&h, "shop", "web")).filter(patched)
    })
    .await;
    // Stop enforcing first, as the documentation says, then undo.
    drop(c);
    let plan = kube_devops(
        h.kubeconfig_path(),
        &["enforce", "plan", "-n", "shop", "-o", "json"],
    );
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan, json!([]), "nothing left to plan after the patch");

    let dry = kube_devops(
        h.kubeconfig_path(),
        &["enforce", "revert", "-n", "shop", "--dry-run"],
    );
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(String::from_utf8_lossy(&dry.stdout).contains("would revert"));
    assert!(
        patched(&live(&h, "shop", "web")),
        "a dry run changes nothing"
    );

    let out = kube_devops(h.kubeconfig_path(), &["enforce", "revert", "-n", "shop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "reverted Deployment shop/web"
    );
    let reverted = live(&h, "shop", "web");
    assert_eq!(reverted["spec"], original["spec"]);
    let annotations = reverted["metadata"]["annotations"].as_object();
    assert!(
        annotations.is_none_or(|a| !a.keys().any(|k| k.starts_with("devops.stochastic.io/"))),
        "{reverted}"
    );
    // The plan for the live cluster shows the repair again once the reverted template's
    // pods exist (the plan starts from pods with findings), and writes nothing.
    eventually(Duration::from_secs(30), "the repair planned again", || {
        let again = kube_devops(h.kubeconfig_path(), &["enforce", "plan", "-n", "shop"]);
        String::from_utf8_lossy(&again.stdout)
            .contains("shop/p (enforce) Deployment/web: patch container app: livenessProbe")
            .then_some(())
    })
    .await;
    let now = live(&h, "shop", "web");
    assert_eq!(
        now["metadata"]["generation"],
        reverted["metadata"]["generation"]
    );
    assert!(!managed_by_enforcer(&now), "{now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standbys_excluded_namespaces_exempt_workloads_and_bare_pods_are_never_patched() {
    let h = server_with(true).await;
    // `blog` is excluded by flag; in `shop`, an exempt workload and a bare pod.
    let mut exempt = deployment("shop", "legacy", 1, json!([bare("app", 8080)]));
    exempt["metadata"]["annotations"] = json!({"devops.stochastic.io/ignore": "*"});
    h.create(exempt).unwrap();
    h.create(running_pod("shop", "loner", bare("app", 8080)))
        .unwrap();
    h.create(deployment("blog", "site", 1, json!([bare("app", 8080)])))
        .unwrap();
    let leader = operator(&h, "a", "200", &["--exclude-namespace", "blog"]);
    leading(&leader).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy_b = Proxy::start(h.kubeconfig_path(), dir.path(), "b").await;
    let standby = operator_via(
        &proxy_b.kubeconfig,
        "b",
        "200",
        &["--exclude-namespace", "blog"],
    );
    ready(&standby).await;
    h.create(policy("shop", "p", enforcing("enforce"))).unwrap();
    h.create(policy("blog", "p", enforcing("enforce"))).unwrap();

    let st = eventually(Duration::from_secs(30), "the skips recorded", || {
        let st = policy_status(&h, "shop", "p");
        (st["skipped"].as_array()?.len() == 2).then_some(st)
    })
    .await;
    let reasons: Vec<(&str, &str)> = st["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["workload"].as_str().unwrap(),
                s["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        vec![("Deployment/legacy", "exempt"), ("Pod/loner", "barePod")]
    );
    assert!(!patched(&live(&h, "shop", "legacy")));
    assert!(!patched(&live(&h, "blog", "site")));
    let pod = h.get("v1", "Pod", "shop", "loner").unwrap();
    assert!(
        pod["metadata"]["annotations"]
            .get("devops.stochastic.io/patched-by")
            .is_none()
    );
    assert_eq!(policy_status(&h, "blog", "p").get("skipped"), None);
    // `enforce plan` says the same, with the controller's exclusions.
    let plan = kube_devops(
        h.kubeconfig_path(),
        &[
            "enforce",
            "plan",
            "-A",
            "-o",
            "json",
            "--exclude-namespace",
            "blog",
        ],
    );
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let lines: Vec<(&str, &str, &str)> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let detail = e["detail"].as_str().unwrap_or("");
            let reason = detail.split(':').next().unwrap_or("");
            (
                e["namespace"].as_str().unwrap(),
                e["workload"].as_str().unwrap(),
                reason,
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("blog", "-", "excludedNamespace"),
            ("shop", "Pod/loner", "barePod"),
            ("shop", "Deployment/legacy", "exempt"),
        ],
        "{plan}"
    );

    // The leader goes away without releasing; the standby takes over and repairs nothing it
    // must not, and never wrote while it stood by.
    assert_eq!(
        standby.metric("kube_devops_enforcement_remediations_applied_total"),
        Some(0.0)
    );
    assert_eq!(standby.leader(), Some(false));
    let standby_writes: Vec<Seen> = proxy_b
        .log()
        .into_iter()
        .filter(|s| s.is_write() && !s.path.contains("/leases"))
        .collect();
    assert!(
        standby_writes.is_empty(),
        "a standby wrote: {standby_writes:?}"
    );
    leader.signal("-KILL");
    eventually(Duration::from_secs(30), "the standby leads", || {
        standby.leader()?.then_some(())
    })
    .await;
    assert!(!patched(&live(&h, "shop", "legacy")));
    assert!(!patched(&live(&h, "blog", "site")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remediation_whose_pods_never_become_ready_is_reverted_and_not_retried() {
    let h = server_with(true).await;
    // Nothing listens on 8080: probes enforcement adds there fail, so the new pods crash.
    let mut d = deployment("shop", "web", 2, json!([bare("app", 8080)]));
    d["spec"]["template"]["metadata"]["annotations"] =
        json!({"apiserver.test/failing-probe-ports": "8080"});
    h.create(d).unwrap();
    let original = live(&h, "shop", "web");
    let c = operator(&h, "solo", "200", &[]);
    leading(&c).await;
    let mut spec = enforcing("enforce");
    spec["enforcement"] = json!({"rolloutDeadlineSeconds": 3});
    h.create(policy("shop", "p", spec)).unwrap();

    eventually(Duration::from_secs(30), "the patch", || {
        Some(live(&h, "shop", "web")).filter(patched)
    })
    .await;
    let st = eventually(Duration::from_secs(60), "the revert", || {
        let st = policy_status(&h, "shop", "p");
        (st["remediationsFailed"] == 1).then_some(st)
    })
    .await;
    assert_eq!(st["remediationsApplied"], 1, "{st}");
    assert_eq!(st["remediatedWorkloads"], json!([]), "{st}");
    let skip = &st["skipped"][0];
    assert_eq!(skip["workload"], "Deployment/web");
    assert_eq!(skip["reason"], "rolloutFailed");
    let reverted = live(&h, "shop", "web");
    assert_eq!(reverted["spec"], original["spec"]);
    let annotations = &reverted["metadata"]["annotations"];
    assert!(
        annotations.get("devops.stochastic.io/patched-by").is_none(),
        "{reverted}"
    );
    assert!(
        annotations["devops.stochastic.io/rollout-failed"].is_string(),
        "{reverted}"
    );

    // Later cycles (pod changes of the rollback, a new pod) leave it alone.
    another_cycle(&h, "shop", "p", 3).await;
    let later = live(&h, "shop", "web");
    assert_eq!(
        later["metadata"]["generation"],
        reverted["metadata"]["generation"]
    );
    assert_eq!(policy_status(&h, "shop", "p")["remediationsApplied"], 1);
    assert_eq!(events(&h, "shop", "Remediated", "web").len(), 1);
    assert_eq!(
        c.metric("kube_devops_enforcement_remediations_failed_total"),
        Some(1.0)
    );

    // The mark is on the workload, not in memory: a new leader does not retry either.
    drop(c);
    let next = operator(&h, "next", "200", &[]);
    leading(&next).await;
    h.create(running_pod("shop", "another", good("another", 81)))
        .unwrap();
    eventually(
        Duration::from_secs(30),
        "the new leader's reconcile",
        || (policy_status(&h, "shop", "p")["podsScanned"] == 4).then_some(()),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_failover = live(&h, "shop", "web");
    assert_eq!(
        after_failover["metadata"]["generation"],
        reverted["metadata"]["generation"]
    );
    assert!(!patched(&after_failover));
}
