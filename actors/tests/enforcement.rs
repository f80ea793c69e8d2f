//! End-to-end tests of enforcement: the real binary (`kube-devops reconcile`) against the
//! test API server and its workload simulation. The right container is repaired by name
//! and the next cycle writes nothing; a field owned by another manager is a conflict, never
//! overwritten; dryRun changes nothing but the status; the per-cycle limit holds.

mod common;

use std::time::Duration;

use common::enforce::*;
use common::proxy::{Proxy, Seen};
use common::{eventually, policy, server_with};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_container_is_repaired_by_name_and_the_next_cycle_writes_nothing() {
    let h = server_with(true).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(h.kubeconfig_path(), dir.path(), "solo").await;
    let c = operator_via(&proxy.kubeconfig, "solo", "200", &[]);
    leading(&c).await;
    // The container the policy finds lacking is listed second.
    h.create(deployment(
        "shop",
        "web",
        2,
        json!([good("sidecar", 9090), bare("app", 8080)]),
    ))
    .unwrap();
    let sidecar_before = container(&live(&h, "shop", "web"), "sidecar").clone();
    h.create(policy("shop", "staging", enforcing("enforce")))
        .unwrap();

    let d = eventually(Duration::from_secs(30), "the deployment patched", || {
        Some(live(&h, "shop", "web")).filter(patched)
    })
    .await;
    let app = container(&d, "app");
    assert_eq!(app["livenessProbe"]["tcpSocket"]["port"], 8080, "{app}");
    assert_eq!(app["readinessProbe"]["tcpSocket"]["port"], 8080, "{app}");
    assert_eq!(
        app["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}})
    );
    assert_eq!(
        container(&d, "sidecar"),
        &sidecar_before,
        "the other container is untouched"
    );

    // The simulation rolls out new pods; the score rises to what the domain crate predicts
    // for the patched template: no finding left.
    let facts = kube_devops::facts::facts_from_json(d.clone())
        .unwrap()
        .unwrap();
    let policy = kube_devops::policy::EffectivePolicy::from_spec(
        &serde_json::from_value(enforcing("enforce")).unwrap(),
    )
    .unwrap();
    let findings = kube_devops::checks::evaluate(&facts, &policy, jiff::Timestamp::now());
    let pod = kube_devops::checks::pod_score(&findings);
    let predicted = kube_devops::score::Score::new(pod.penalty + pod.penalty, 2).unwrap();
    let st = eventually(Duration::from_secs(30), "the predicted score", || {
        let st = policy_status(&h, "shop", "staging");
        (st["healthScore"] == json!(predicted.rounded()) && st["remediationsApplied"] == 1)
            .then_some(st)
    })
    .await;
    assert_eq!(st["remediatedWorkloads"], json!(["Deployment/web"]));
    assert_eq!(events(&h, "shop", "Remediated", "web").len(), 1);

    // Another reconcile of the namespace (a new pod) writes nothing to the workload, nor
    // the enforcement status: the server sees no request of the enforcer's.
    let settled = live(&h, "shop", "web");
    let writes = enforcer_writes(&proxy);
    assert!(writes.len() >= 2, "the patch and the status: {writes:?}");
    another_cycle(&h, "shop", "staging", 3).await;
    let new: Vec<Seen> = enforcer_writes(&proxy)
        .into_iter()
        .skip(writes.len())
        .collect();
    assert!(new.is_empty(), "the second cycle wrote: {new:?}");
    let after = live(&h, "shop", "web");
    assert_eq!(
        rv(&after),
        rv(&settled),
        "the second cycle wrote to the workload"
    );
    assert_eq!(events(&h, "shop", "Remediated", "web").len(), 1);
    assert_eq!(
        policy_status(&h, "shop", "staging")["remediationsApplied"],
        1
    );
    assert_eq!(
        c.metric("kube_devops_enforcement_remediations_applied_total"),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_owned_by_another_manager_is_a_conflict_not_a_write() {
    let h = server_with(true).await;
    // A GitOps tool applied the workload with an enforcement annotation copied from a live
    // object: it owns that field with another value.
    let mut d = deployment("shop", "web", 1, json!([bare("app", 8080)]));
    d["metadata"]["annotations"] =
        json!({"devops.stochastic.io/patched-at": "2020-01-01T00:00:00Z"});
    let client = h.client().await.unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(
        client,
        "shop",
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "apps",
            "v1",
            "Deployment",
        )),
    );
    api.patch("web", &PatchParams::apply("argocd"), &Patch::Apply(&d))
        .await
        .unwrap();
    let before = live(&h, "shop", "web");
    let c = operator(&h, "solo", "200", &[]);
    leading(&c).await;
    h.create(policy("shop", "p", enforcing("enforce"))).unwrap();

    let st = eventually(Duration::from_secs(30), "a conflict skip", || {
        let st = policy_status(&h, "shop", "p");
        st["skipped"]
            .as_array()?
            .iter()
            .any(|s| s["reason"] == "conflict")
            .then_some(st)
    })
    .await;
    let skip = &st["skipped"][0];
    assert_eq!(skip["workload"], "Deployment/web");
    assert!(
        skip["message"].as_str().unwrap().contains("argocd"),
        "{skip}"
    );
    let ev = eventually(Duration::from_secs(10), "an event naming argocd", || {
        let all = events(&h, "shop", "RemediationSkipped", "web");
        (!all.is_empty()).then_some(all)
    })
    .await;
    assert!(
        ev[0]["message"].as_str().unwrap().contains("argocd"),
        "{}",
        ev[0]
    );
    let after = live(&h, "shop", "web");
    assert_eq!(after["spec"], before["spec"], "nothing was written");
    assert_eq!(
        after["metadata"]["generation"],
        before["metadata"]["generation"]
    );
    assert!(!managed_by_enforcer(&after), "{after}");
    assert_eq!(
        c.metric("kube_devops_enforcement_remediations_skipped_total{reason=\"conflict\"}"),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_lists_the_change_and_leaves_the_object_alone() {
    let h = server_with(true).await;
    h.create(deployment("shop", "web", 1, json!([bare("app", 8080)])))
        .unwrap();
    let c = operator(&h, "solo", "200", &[]);
    leading(&c).await;
    scanned_after_policy(&h, "p", enforcing("dryRun")).await;
    let before = live(&h, "shop", "web");
    let st = eventually(Duration::from_secs(30), "planned changes", || {
        let st = policy_status(&h, "shop", "p");
        st["plannedChanges"].as_array().filter(|a| !a.is_empty())?;
        Some(st)
    })
    .await;
    assert_eq!(st["remediatedWorkloads"], json!(["Deployment/web"]));
    let changes: Vec<&str> = st["plannedChanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        changes.contains(&"Deployment/web: container app: resources.requests.cpu 100m"),
        "{changes:?}"
    );
    assert!(st.get("remediationsApplied").is_none(), "{st}");
    let after = live(&h, "shop", "web");
    assert_eq!(rv(&after), rv(&before));
    assert_eq!(after["spec"], before["spec"]);
    assert!(!patched(&after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_workloads_per_cycle_are_patched_per_cycle() {
    let h = server_with(true).await;
    for i in 0..5 {
        h.create(deployment(
            "shop",
            &format!("w{i}"),
            1,
            json!([bare("app", 8080)]),
        ))
        .unwrap();
    }
    let c = operator(&h, "solo", "200", &[]);
    leading(&c).await;
    let mut spec = enforcing("enforce");
    spec["enforcement"] = json!({"maxWorkloadsPerCycle": 2});
    h.create(policy("shop", "p", spec)).unwrap();
    // Each cycle stamps its patches with its own time: no stamp is shared by more than two.
    let st = eventually(Duration::from_secs(60), "every workload patched", || {
        let st = policy_status(&h, "shop", "p");
        (st["remediationsApplied"] == 5).then_some(st)
    })
    .await;
    let mut per_cycle: std::collections::BTreeMap<String, usize> = Default::default();
    for i in 0..5 {
        let d = live(&h, "shop", &format!("w{i}"));
        let at = d["metadata"]["annotations"]["devops.stochastic.io/patched-at"]
            .as_str()
            .unwrap()
            .to_owned();
        *per_cycle.entry(at).or_default() += 1;
    }
    let mut sizes: Vec<usize> = per_cycle.values().copied().collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![1, 2, 2], "{per_cycle:?}");
    assert!(st.get("skipped").is_none(), "{st}");
    assert_eq!(st["remediatedWorkloads"].as_array().unwrap().len(), 5);
    let patched_count = (0..5)
        .filter(|i| patched(&live(&h, "shop", &format!("w{i}"))))
        .count();
    assert_eq!(patched_count, 5);
}
