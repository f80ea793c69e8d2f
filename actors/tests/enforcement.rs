//! End-to-end tests of enforcement: the real binary (`kube-devops reconcile`, `enforce`)
//! against the test API server and its workload simulation. The right container is
//! repaired by name and the next cycle writes nothing; a field owned by another manager is
//! a conflict, never overwritten; dryRun changes nothing but the status; the per-cycle
//! limit holds; `enforce revert` restores the spec exactly; standbys, excluded namespaces,
//! exempt workloads and bare pods are never patched.

mod common;

use std::time::Duration;

use common::{Controller, FAST_LEASE, eventually, kube_devops, policy, ready, server_with};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube_apiserver_test::ApiServerHandle;
use serde_json::{Value, json};

/// `kube-devops reconcile` with fast leases and the given debounce.
fn operator(h: &ApiServerHandle, identity: &str, debounce_ms: &str, extra: &[&str]) -> Controller {
    let mut args = vec!["reconcile", "--debounce-ms", debounce_ms];
    args.extend_from_slice(&FAST_LEASE);
    args.extend_from_slice(extra);
    Controller::command(h.kubeconfig_path(), identity, &args)
}

async fn leading(c: &Controller) {
    ready(c).await;
    eventually(Duration::from_secs(20), "leadership", || {
        c.leader()?.then_some(())
    })
    .await;
}

/// A compliant container.
fn good(name: &str, port: i32) -> Value {
    json!({
        "name": name, "image": "registry.example.com/app:1.0",
        "ports": [{"containerPort": port}],
        "livenessProbe": {"tcpSocket": {"port": port}},
        "readinessProbe": {"tcpSocket": {"port": port}},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    })
}

/// A container with one port and neither probes nor resources.
fn bare(name: &str, port: i32) -> Value {
    json!({"name": name, "image": "registry.example.com/app:1.0", "ports": [{"containerPort": port}]})
}

/// A running pod without a controller.
fn running_pod(ns: &str, name: &str, container: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [container]},
        "status": {"phase": "Running"}
    })
}

/// Makes the operator reconcile `ns` again (a new compliant pod, the namespace's
/// `pods`-th) and gives the enforcer's cycle time to run.
async fn another_cycle(h: &ApiServerHandle, ns: &str, policy: &str, pods: u64) {
    h.create(running_pod(ns, "extra", good("extra", 80)))
        .unwrap();
    scanned(h, ns, policy, pods).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
}

fn deployment(ns: &str, name: &str, replicas: i32, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers}
            }
        }
    })
}

/// Probes and the four resource checks on, with defaults for the resources.
fn enforcing(mode: &str) -> Value {
    json!({
        "enforcementMode": mode,
        "requireLivenessProbe": true,
        "requireReadinessProbe": true,
        "checks": {
            "cpuRequestsMissing": {}, "memoryRequestsMissing": {},
            "cpuLimitsMissing": {}, "memoryLimitsMissing": {}
        },
        "defaultResources": {"cpuRequest": "100m", "cpuLimit": "500m", "memoryRequest": "128Mi", "memoryLimit": "256Mi"}
    })
}

fn live(h: &ApiServerHandle, ns: &str, name: &str) -> Value {
    h.get("apps/v1", "Deployment", ns, name)
        .expect("the deployment")
}

fn container<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

fn patched(d: &Value) -> bool {
    d["metadata"]["annotations"]["devops.stochastic.io/patched-by"] == "kube-devops-enforcer"
}

fn policy_status(h: &ApiServerHandle, ns: &str, name: &str) -> Value {
    h.get("devops.stochastic.io/v1", "DevOpsPolicy", ns, name)
        .map(|p| p["status"].clone())
        .unwrap_or(Value::Null)
}

fn events(h: &ApiServerHandle, ns: &str, reason: &str, object: &str) -> Vec<Value> {
    h.list("v1", "Event", Some(ns))
        .into_iter()
        .filter(|e| e["reason"] == reason && e["involvedObject"]["name"] == object)
        .collect()
}

fn managed_by_enforcer(d: &Value) -> bool {
    d["metadata"]["managedFields"]
        .as_array()
        .is_some_and(|m| m.iter().any(|e| e["manager"] == "kube-devops-enforcer"))
}

fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Waits until the operator has seen `pods` pods in the namespace of policy `p`.
async fn scanned(h: &ApiServerHandle, ns: &str, p: &str, pods: u64) {
    eventually(Duration::from_secs(30), "the pods scanned", || {
        (policy_status(h, ns, p)["podsScanned"] == pods).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_container_is_repaired_by_name_and_the_next_cycle_writes_nothing() {
    let h = server_with(true).await;
    let c = operator(&h, "solo", "200", &[]);
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

    // Another reconcile of the namespace (a new pod) writes nothing to the workload.
    let settled = live(&h, "shop", "web");
    another_cycle(&h, "shop", "staging", 3).await;
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

async fn scanned_after_policy(h: &ApiServerHandle, name: &str, spec: Value) {
    h.create(policy("shop", name, spec)).unwrap();
    scanned(h, "shop", name, 1).await;
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

/// The spec without what the server fills in on its own.
fn spec_of(d: &Value) -> Value {
    d["spec"].clone()
}

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
    assert_eq!(spec_of(&reverted), spec_of(&original));
    let annotations = reverted["metadata"]["annotations"].as_object();
    assert!(
        annotations.is_none_or(|a| !a.keys().any(|k| k.starts_with("devops.stochastic.io/"))),
        "{reverted}"
    );
    // The plan for the live cluster shows the repair again, and writes nothing.
    let again = kube_devops(h.kubeconfig_path(), &["enforce", "plan", "-n", "shop"]);
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("shop/p (enforce) Deployment/web: patch container app: livenessProbe"),
        "{text}"
    );
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
    let standby = operator(&h, "b", "200", &["--exclude-namespace", "blog"]);
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

    // The leader goes away without releasing; the standby takes over and repairs nothing it
    // must not, and never wrote while it stood by.
    assert_eq!(
        standby.metric("kube_devops_enforcement_remediations_applied_total"),
        Some(0.0)
    );
    assert_eq!(standby.leader(), Some(false));
    let written_by_b = |h: &ApiServerHandle| {
        h.list("v1", "Event", Some("shop"))
            .iter()
            .filter(|e| {
                e["reportingInstance"] == "b" && e["reportingComponent"] == "kube-devops-enforcer"
            })
            .count()
    };
    assert_eq!(written_by_b(&h), 0);
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
    assert!(!managed_by_enforcer(&reverted), "{reverted}");

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
}
