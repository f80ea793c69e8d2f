//! End-to-end tests of the cross-resource checks live in the controller (`kube-devops
//! run`): the real binary against the test API server. Creating or deleting a related
//! object (a PodDisruptionBudget, a NetworkPolicy, a Service, a ClusterRoleBinding) changes
//! the findings and scores of what it bears on without a restart, the scores always equal
//! what the one-shot `analyze` of the same cluster computes, and a relist after expired
//! resourceVersions (410 Gone) leaves no vanished object behind. The related watches gate
//! readiness while a policy needs them (and only then), are probed when silent, and list
//! in pages where the API server refuses streaming lists.

mod common;

use std::path::Path;
use std::time::Duration;

use common::enforce::{deployment, good};
use common::{
    Controller, audit, eventually, namespace_scores, pod, policy, ready, server, server_from,
    server_with,
};
use kube_apiserver_test::{ApiServerHandle, RequestMatch, ServerConfig};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

/// Pods failing `check` in the controller's top findings (0 when absent).
fn pods_failing(scores: &Value, check: &str) -> u64 {
    scores["topFindings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["check"] == check))
        .and_then(|f| f["pods"].as_u64())
        .unwrap_or(0)
}

/// Waits until the controller's namespace and cluster scores equal the audit's, with the
/// same `--policy` when one is given, and returns the controller's scores.
async fn matches_audit(
    c: &Controller,
    kubeconfig: &Path,
    policy: Option<&Path>,
    what: &str,
) -> Value {
    let extra: Vec<String> = policy
        .map(|p| vec!["--policy".to_owned(), p.display().to_string()])
        .unwrap_or_default();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let truth = audit(kubeconfig, &extra).await;
    let want = namespace_scores(&truth);
    let want_cluster = truth["clusterScore"].clone();
    eventually(LIMIT, what, || {
        let s = c.scores()?;
        (namespace_scores(&s) == want && s["cluster"] == want_cluster).then_some(s)
    })
    .await
}

fn pdb(ns: &str, name: &str, app: &str) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": app}}, "maxUnavailable": 1}})
}

fn shop_score(c: &Controller) -> Option<f64> {
    c.metric("kube_devops_namespace_health_score{namespace=\"shop\"}")
}

async fn delete(
    h: &ApiServerHandle,
    api_version: &str,
    plural: &str,
    ns: Option<&str>,
    name: &str,
) {
    let client = h.client().await.unwrap();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let resource = kube::discovery::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: String::new(),
        plural: plural.into(),
    };
    let api: kube::Api<kube::api::DynamicObject> = match ns {
        Some(ns) => kube::Api::namespaced_with(client, ns, &resource),
        None => kube::Api::all_with(client, &resource),
    };
    api.delete(name, &Default::default()).await.unwrap();
}

/// Waits until `check` fails on `pods` pods in the controller's scores.
async fn failing(c: &Controller, check: &str, pods: u64, what: &str) {
    eventually(LIMIT, what, || {
        (pods_failing(&c.scores()?, check) == pods).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdb_clears_missing_pdb_live_and_its_deletion_brings_it_back() {
    let h = server_with(true).await;
    h.create(deployment("shop", "web", 3, json!([good("app", 80)])))
        .unwrap();
    let c = Controller::start(h.kubeconfig_path(), "solo", &[]);
    ready(&c).await;
    eventually(LIMIT, "three pods, all fine", || {
        (c.scores()?["pods"] == 3 && shop_score(&c)? == 100.0).then_some(())
    })
    .await;
    // The check arrives with the namespace's DevOpsPolicy: the PodDisruptionBudget watch
    // starts then, not at start-up.
    assert!(!c.log_text().contains("poddisruptionbudgets"));
    h.create(pdb_policy()).unwrap();
    failing(
        &c,
        "missingPodDisruptionBudget",
        3,
        "missing PDB on each pod",
    )
    .await;
    let without = shop_score(&c).unwrap();
    assert!(
        without < 100.0,
        "the finding counts in the gauge: {without}"
    );
    // The operator's view (policy status and metrics) counts it too: once per pod.
    eventually(LIMIT, "policy violations", || {
        let v =
            c.metric("kube_devops_policy_violations{namespace=\"shop\",policy=\"reliability\"}")?;
        (v == 3.0).then_some(())
    })
    .await;

    h.create(pdb("shop", "web", "web")).unwrap();
    failing(&c, "missingPodDisruptionBudget", 0, "the PDB clears it").await;
    eventually(LIMIT, "gauge back", || {
        (shop_score(&c)? == 100.0).then_some(())
    })
    .await;

    delete(&h, "policy/v1", "poddisruptionbudgets", Some("shop"), "web").await;
    failing(&c, "missingPodDisruptionBudget", 3, "the finding back").await;
    eventually(LIMIT, "gauge down again", || {
        (shop_score(&c)? == without).then_some(())
    })
    .await;

    // No policy needs PodDisruptionBudgets any more: the watch stops, the finding goes.
    delete_pdb_policy(&h).await;
    failing(&c, "missingPodDisruptionBudget", 0, "the policy gone").await;
    eventually(LIMIT, "watch stopped", || {
        c.log_text()
            .contains("no policy needs it any more; watch stopped")
            .then_some(())
    })
    .await;
}

/// A labelled running pod without a controller.
fn app_pod(ns: &str, name: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "spec": {"containers": [good("app", 80)]},
        "status": {"phase": "Running"}})
}

fn network_policy(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
}

fn service(ns: &str, name: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}})
}

fn admin_binding(name: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]})
}

/// The default policy of these tests: three cross-resource checks and nothing else (the
/// Service's at another severity, so that no two findings weigh the same).
fn policy_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("cross.yaml");
    let text = "apiVersion: devops.stochastic.io/v1\nkind: DevOpsPolicy\nmetadata:\n  name: cross\nspec:\n  checks:\n    missingNetworkPolicy: {}\n    serviceSelectorMatchesNothing: {}\n    clusterAdminBinding: {}\n  severityOverrides:\n    serviceSelectorMatchesNothing: high\n";
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_policies_services_and_cluster_admin_bindings_are_judged_live_and_survive_410() {
    let h = server().await;
    h.create(app_pod("shop", "web", "web")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = policy_file(dir.path());
    let c = Controller::start(
        h.kubeconfig_path(),
        "solo",
        &["--policy", file.to_str().unwrap()],
    );
    ready(&c).await;
    let kc = h.kubeconfig_path();
    let s = matches_audit(&c, kc, Some(&file), "no NetworkPolicy").await;
    assert_eq!(pods_failing(&s, "missingNetworkPolicy"), 1, "{s}");
    let bare = shop_score(&c).unwrap();

    h.create(network_policy("shop", "default-deny")).unwrap();
    let s = matches_audit(&c, kc, Some(&file), "NetworkPolicy clears it").await;
    assert_eq!(pods_failing(&s, "missingNetworkPolicy"), 0, "{s}");
    let governed = shop_score(&c).unwrap();
    assert!(governed > bare, "{governed} > {bare}");

    // A Service selecting nothing counts in its namespace, and adds no pod.
    h.create(service("shop", "ghost", "nothing")).unwrap();
    let s = matches_audit(&c, kc, Some(&file), "Service selecting nothing").await;
    assert!(shop_score(&c).unwrap() < governed, "{s}");
    assert_eq!(s["pods"], 1, "{s}");
    // The pod it should select appears: the Service is fine.
    h.create(app_pod("shop", "ghost-1", "nothing")).unwrap();
    matches_audit(&c, kc, Some(&file), "Service selects a pod").await;
    let client = h.client().await.unwrap();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), "shop");
    pods.delete("ghost-1", &Default::default()).await.unwrap();
    matches_audit(&c, kc, Some(&file), "Service selects nothing again").await;

    // A ClusterRoleBinding to cluster-admin counts in the cluster score only.
    let cluster_before = c.scores().unwrap()["cluster"].as_f64().unwrap();
    let shop_before = shop_score(&c).unwrap();
    h.create(admin_binding("alice-admin")).unwrap();
    let s = matches_audit(&c, kc, Some(&file), "cluster-admin binding").await;
    assert!(s["cluster"].as_f64().unwrap() < cluster_before, "{s}");
    assert_eq!(shop_score(&c).unwrap(), shop_before);

    // Objects vanish while the related watches are down, and every resourceVersion they
    // know expires: each relists (410 Gone) and the index forgets what it did not list
    // again.
    for resource in ["networkpolicies", "services", "clusterrolebindings"] {
        h.fail_next(
            RequestMatch::any().verb("watch").resource(resource),
            1_000_000,
            500,
        );
    }
    h.close_watches();
    delete(
        &h,
        "networking.k8s.io/v1",
        "networkpolicies",
        Some("shop"),
        "default-deny",
    )
    .await;
    delete(&h, "v1", "services", Some("shop"), "ghost").await;
    delete(
        &h,
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        None,
        "alice-admin",
    )
    .await;
    h.compact();
    h.clear_faults();
    failing(&c, "missingNetworkPolicy", 1, "the NetworkPolicy pruned").await;
    let s = matches_audit(&c, kc, Some(&file), "state after 410 Gone").await;
    assert_eq!(pods_failing(&s, "missingNetworkPolicy"), 1, "{s}");
    assert_eq!(shop_score(&c).unwrap(), bare);
    assert_eq!(s["cluster"].as_f64().unwrap(), bare, "{s}");
}

/// The namespace `shop`'s DevOpsPolicy asking for `missingPodDisruptionBudget`.
fn pdb_policy() -> Value {
    policy(
        "shop",
        "reliability",
        json!({"checks": {"missingPodDisruptionBudget": {}}}),
    )
}

async fn delete_pdb_policy(h: &ApiServerHandle) {
    delete(
        h,
        "devops.stochastic.io/v1",
        "devopspolicies",
        Some("shop"),
        "reliability",
    )
    .await;
}

/// Waits until the PodDisruptionBudget watch has logged a line saying `what`.
async fn pdb_watch_logged(c: &Controller, what: &str) {
    eventually(LIMIT, what, || {
        c.log_text()
            .lines()
            .any(|l| l.contains(what) && l.contains("poddisruptionbudgets"))
            .then_some(())
    })
    .await;
}

/// Waits until `/readyz` answers 503 naming `why`.
async fn not_ready_because(c: &Controller, why: &str) -> String {
    let (_, body) = eventually(LIMIT, why, || {
        c.get("/readyz")
            .filter(|(code, body)| *code == 503 && body.contains(why))
    })
    .await;
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_a_needed_related_watch_and_not_for_one_no_policy_needs() {
    let h = server().await;
    h.create(pod("shop", "a", "nginx:1.27", true)).unwrap();
    h.create(pdb_policy()).unwrap();
    // Every request for PodDisruptionBudgets hangs: that watch cannot list.
    h.delay_next(
        RequestMatch::any().resource("poddisruptionbudgets"),
        1_000_000,
        Duration::from_secs(120),
    );
    let c = Controller::start(h.kubeconfig_path(), "solo", &[]);
    eventually(LIMIT, "the pod watch listed", || {
        (c.metric("kube_devops_pods_tracked")? == 1.0).then_some(())
    })
    .await;
    let body = not_ready_because(&c, "poddisruptionbudgets").await;
    assert!(body.contains("waiting for the first full list"), "{body}");
    for _ in 0..20 {
        assert_eq!(c.ready(), Some(503), "ready before the PDB watch listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // No policy needs PodDisruptionBudgets any more: the watch stops and no longer gates.
    delete_pdb_policy(&h).await;
    ready(&c).await;
    assert!(
        c.log_text()
            .contains("no policy needs it any more; watch stopped")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_related_watch_the_api_does_not_answer_for_turns_readiness_off() {
    let h = server().await;
    h.create(pod("shop", "a", "nginx:1.27", true)).unwrap();
    h.create(pdb_policy()).unwrap();
    let c = Controller::start(h.kubeconfig_path(), "solo", &[]);
    ready(&c).await;
    pdb_watch_logged(&c, "related watch synced").await;
    // New requests for PodDisruptionBudgets hang; the open watch stays open and silent.
    h.delay_next(
        RequestMatch::any().resource("poddisruptionbudgets"),
        1_000_000,
        Duration::from_secs(8),
    );
    let body = not_ready_because(&c, "poddisruptionbudgets").await;
    assert!(body.contains("did not answer"), "{body}");
    h.clear_faults();
    eventually(Duration::from_secs(40), "ready after a relist", || {
        (c.ready()? == 200).then_some(())
    })
    .await;
    let errors = c
        .metric("kube_devops_watch_errors_total{resource=\"poddisruptionbudgets\"}")
        .unwrap();
    assert!(errors >= 1.0, "{errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_related_watch_lists_in_pages_where_streaming_lists_are_refused() {
    let h = server_from(ServerConfig::new().watch_list(false)).await;
    h.create(deployment("shop", "web", 3, json!([good("app", 80)])))
        .unwrap();
    h.create(pdb_policy()).unwrap();
    let c = Controller::start(h.kubeconfig_path(), "paged", &[]);
    ready(&c).await;
    failing(
        &c,
        "missingPodDisruptionBudget",
        3,
        "missing PDB on each pod",
    )
    .await;
    // The finding needs no PDB listed, so the fallback may come just after it.
    pdb_watch_logged(&c, "listing in pages").await;
    // Watching goes on after the paginated list.
    h.create(pdb("shop", "web", "web")).unwrap();
    failing(&c, "missingPodDisruptionBudget", 0, "the PDB clears it").await;
}
