//! Policy reports end to end, with the workload simulation (Deployments make ReplicaSets
//! make pods; owners are collected): reports start when the report CRD is installed after
//! the operator started, one per top-level workload, valid against the real upstream CRD
//! (the test server validates custom objects against its schema), owned by the workload
//! and gone with it, and gone with the policy; a workload with 40 containers gets a small
//! report.

mod common;

use std::time::Duration;

use common::{Controller, FAST_LEASE, eventually, policy, ready, root, server_with};
use kube::api::{Api, DeleteParams};
use kube_apiserver_test::ApiServerHandle;
use serde_json::{Value, json};

fn fixture_crd(file: &str) -> Value {
    let path = root().join("actors/tests/fixtures/crds").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn deployment(name: &str, replicas: u32, containers: usize, image: &str) -> Value {
    let containers: Vec<Value> = (0..containers)
        .map(|i| json!({"name": format!("container-{i:02}"), "image": image}))
        .collect();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}
        }
    })
}

fn reports(h: &ApiServerHandle, api_version: &str, kind: &str) -> Vec<Value> {
    h.list(api_version, kind, Some("shop"))
}

fn report_of<'a>(all: &'a [Value], workload: &str) -> Option<&'a Value> {
    all.iter().find(|r| r["scope"]["name"] == workload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_start_with_their_crd_validate_and_go_with_their_workload() {
    let h = server_with(true).await;
    let mut args = vec!["reconcile", "--debounce-ms", "200"];
    args.extend_from_slice(&FAST_LEASE);
    let c = Controller::command(h.kubeconfig_path(), "solo", &args);
    ready(&c).await;
    eventually(Duration::from_secs(20), "leadership", || {
        c.leader()?.then_some(())
    })
    .await;
    h.create(policy(
        "shop",
        "p",
        json!({"forbidLatestTag": true, "requireLivenessProbe": true}),
    ))
    .unwrap();
    h.create(deployment("web", 2, 1, "nginx:latest")).unwrap();
    h.create(deployment(
        "big",
        1,
        40,
        "registry.example.com/team/app:1.0",
    ))
    .unwrap();
    eventually(Duration::from_secs(20), "the pods scored", || {
        let st = h.get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")?;
        (st["status"]["podsScanned"] == 3).then_some(())
    })
    .await;

    // The CRD arrives after the operator started.
    h.create(fixture_crd("wgpolicyk8s.io_policyreports.yaml"))
        .unwrap();
    let wg = eventually(
        Duration::from_secs(20),
        "a PolicyReport per workload",
        || {
            let all = reports(&h, "wgpolicyk8s.io/v1alpha2", "PolicyReport");
            (all.len() == 2).then_some(all)
        },
    )
    .await;
    // The server does validate reports against the CRD's schema: a bad one is refused.
    let mut invalid = wg[0].clone();
    invalid["metadata"] = json!({"name": "invalid", "namespace": "shop"});
    invalid["results"][0]["result"] = json!("bogus");
    assert!(h.create(invalid).is_err(), "the schema is enforced");
    let deploy = h.get("apps/v1", "Deployment", "shop", "web").unwrap();
    let web = report_of(&wg, "web").expect("a report for web");
    assert_eq!(web["scope"]["kind"], "Deployment");
    assert_eq!(web["scope"]["uid"], deploy["metadata"]["uid"]);
    assert_eq!(
        web["metadata"]["ownerReferences"][0]["uid"],
        deploy["metadata"]["uid"]
    );
    assert_eq!(
        web["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "kube-devops"
    );
    let latest = web["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "latestTag")
        .unwrap();
    assert_eq!(latest["result"], "fail");
    assert_eq!(latest["policy"], "p");
    assert_eq!(latest["severity"], "high");
    assert_eq!(latest["source"], "kube-devops");
    assert_eq!(latest["category"], "reliability");
    assert_eq!(
        web["summary"]["fail"], 2,
        "latestTag and the liveness probe"
    );
    let big = report_of(&wg, "big").expect("a report for big");
    let size = serde_json::to_vec(big).unwrap().len();
    assert!(size < 16 * 1024, "the 40-container report is {size} bytes");
    assert_eq!(big["results"].as_array().unwrap().len(), 2);

    // The openreports.io Report too, once its CRD exists.
    h.create(fixture_crd("openreports.io_reports.yaml"))
        .unwrap();
    let open = eventually(Duration::from_secs(20), "a Report per workload", || {
        let all = reports(&h, "openreports.io/v1alpha1", "Report");
        (all.len() == 2).then_some(all)
    })
    .await;
    assert_eq!(report_of(&open, "web").unwrap()["results"], web["results"]);

    // The workload goes; so do its reports.
    let client = h.client().await.unwrap();
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client, "shop");
    deployments
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "web's reports gone", || {
        let wg = reports(&h, "wgpolicyk8s.io/v1alpha2", "PolicyReport");
        let open = reports(&h, "openreports.io/v1alpha1", "Report");
        (report_of(&wg, "web").is_none() && report_of(&open, "web").is_none() && wg.len() == 1)
            .then_some(())
    })
    .await;

    // The policy goes: its report entries go with it (it was the namespace's only policy,
    // so every report there does), and the finalizer lets the policy go.
    let client = h.client().await.unwrap();
    let policies: Api<kube_devops::policy::DevOpsPolicy> = Api::namespaced(client, "shop");
    policies
        .delete("p", &DeleteParams::default())
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "the policy's reports gone", || {
        let wg = reports(&h, "wgpolicyk8s.io/v1alpha2", "PolicyReport");
        let open = reports(&h, "openreports.io/v1alpha1", "Report");
        let gone = h
            .get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")
            .is_none();
        (wg.is_empty() && open.is_empty() && gone).then_some(())
    })
    .await;
}
