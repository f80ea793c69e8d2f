//! Helpers of the enforcement tests: the operator (directly or through a recording proxy),
//! workloads with and without what enforcement repairs, the policy that repairs them, and
//! reads of what the server holds.

use std::path::Path;
use std::time::Duration;

use kube_apiserver_test::ApiServerHandle;
use serde_json::{Value, json};

use super::proxy::{Proxy, Seen};
use super::{Controller, FAST_LEASE, eventually, policy, ready};

/// `kube-devops reconcile` with fast leases and the given debounce.
pub fn operator(
    h: &ApiServerHandle,
    identity: &str,
    debounce_ms: &str,
    extra: &[&str],
) -> Controller {
    operator_via(h.kubeconfig_path(), identity, debounce_ms, extra)
}

/// The same through another kubeconfig (a recording proxy's).
pub fn operator_via(
    kubeconfig: &Path,
    identity: &str,
    debounce_ms: &str,
    extra: &[&str],
) -> Controller {
    let mut args = vec!["reconcile", "--debounce-ms", debounce_ms];
    args.extend_from_slice(&FAST_LEASE);
    args.extend_from_slice(extra);
    Controller::command(kubeconfig, identity, &args)
}

/// Writes of the enforcer seen by a proxy: workload applies and its status applies.
pub fn enforcer_writes(proxy: &Proxy) -> Vec<Seen> {
    proxy
        .log()
        .into_iter()
        .filter(|s| {
            s.is_write()
                && (s.path.contains("/deployments")
                    || s.path.contains("fieldManager=kube-devops-enforcer"))
        })
        .collect()
}

pub async fn leading(c: &Controller) {
    ready(c).await;
    eventually(Duration::from_secs(20), "leadership", || {
        c.leader()?.then_some(())
    })
    .await;
}

/// A compliant container.
pub fn good(name: &str, port: i32) -> Value {
    json!({
        "name": name, "image": "registry.example.com/app:1.0",
        "ports": [{"containerPort": port}],
        "livenessProbe": {"tcpSocket": {"port": port}},
        "readinessProbe": {"tcpSocket": {"port": port}},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    })
}

/// A container with one port and neither probes nor resources.
pub fn bare(name: &str, port: i32) -> Value {
    json!({"name": name, "image": "registry.example.com/app:1.0", "ports": [{"containerPort": port}]})
}

/// A running pod without a controller.
pub fn running_pod(ns: &str, name: &str, container: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [container]},
        "status": {"phase": "Running"}
    })
}

/// Makes the operator reconcile `ns` again (a new compliant pod, the namespace's
/// `pods`-th) and gives the enforcer's cycle time to run.
pub async fn another_cycle(h: &ApiServerHandle, ns: &str, policy: &str, pods: u64) {
    h.create(running_pod(ns, "extra", good("extra", 80)))
        .unwrap();
    scanned(h, ns, policy, pods).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
}

pub fn deployment(ns: &str, name: &str, replicas: i32, containers: Value) -> Value {
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
pub fn enforcing(mode: &str) -> Value {
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

pub fn live(h: &ApiServerHandle, ns: &str, name: &str) -> Value {
    h.get("apps/v1", "Deployment", ns, name)
        .expect("the deployment")
}

pub fn container<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

pub fn patched(d: &Value) -> bool {
    d["metadata"]["annotations"]["devops.stochastic.io/patched-by"] == "kube-devops-enforcer"
}

pub fn policy_status(h: &ApiServerHandle, ns: &str, name: &str) -> Value {
    h.get("devops.stochastic.io/v1", "DevOpsPolicy", ns, name)
        .map(|p| p["status"].clone())
        .unwrap_or(Value::Null)
}

pub fn events(h: &ApiServerHandle, ns: &str, reason: &str, object: &str) -> Vec<Value> {
    h.list("v1", "Event", Some(ns))
        .into_iter()
        .filter(|e| e["reason"] == reason && e["involvedObject"]["name"] == object)
        .collect()
}

pub fn managed_by_enforcer(d: &Value) -> bool {
    d["metadata"]["managedFields"]
        .as_array()
        .is_some_and(|m| m.iter().any(|e| e["manager"] == "kube-devops-enforcer"))
}

pub fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Waits until the operator has seen `pods` pods in the namespace of policy `p`.
pub async fn scanned(h: &ApiServerHandle, ns: &str, p: &str, pods: u64) {
    eventually(Duration::from_secs(30), "the pods scanned", || {
        (policy_status(h, ns, p)["podsScanned"] == pods).then_some(())
    })
    .await;
}

/// Creates policy `name` in shop and waits until it has scanned the one pod there.
pub async fn scanned_after_policy(h: &ApiServerHandle, name: &str, spec: Value) {
    h.create(policy("shop", name, spec)).unwrap();
    scanned(h, "shop", name, 1).await;
}
