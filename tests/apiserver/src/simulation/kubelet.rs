//! The simulated kubelets. Pods bound to an existing Node get the status a healthy
//! kubelet reports: Running and Ready with one started container status per container
//! (Job pods run to Succeeded), with the `Pulled`, `Created` and `Started` events of each
//! container when it first starts, and `Killing` when a running pod is deleted.
//! Annotations on the pod (copied from a workload's template) script something else:
//! `apiserver.test/phase`, `apiserver.test/restart-count`, `apiserver.test/waiting-reason`,
//! `apiserver.test/ready`, and `apiserver.test/failing-probe-ports` (probes on those ports
//! fail: not ready, and a failing liveness probe keeps the container in CrashLoopBackOff).
//! Pods whose status a test set through the handle are left alone; pods bound to a node
//! that does not exist stay Pending.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::events::{self, Occurrence};
use super::scope::Scope;
use super::{type_of, write_status};
use crate::meta;
use crate::store::{ObjectKey, State};
use crate::{
    FAILING_PROBE_PORTS_ANNOTATION, PHASE_ANNOTATION, READY_ANNOTATION, RESTART_COUNT_ANNOTATION,
    WAITING_REASON_ANNOTATION,
};

/// The containers whose probes target a port the pod's script says nothing listens on:
/// (name, whether the liveness probe is one of them).
fn failing_probes(pod: &Value) -> Vec<(String, bool)> {
    let ports: Vec<i64> = meta::annotation(pod, FAILING_PROBE_PORTS_ANNOTATION)
        .unwrap_or("")
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    if ports.is_empty() {
        return Vec::new();
    }
    let fails = |probe: Option<&Value>| {
        probe.is_some_and(|p| {
            ["/tcpSocket/port", "/httpGet/port"]
                .iter()
                .filter_map(|path| p.pointer(path).and_then(Value::as_i64))
                .any(|port| ports.contains(&port))
        })
    };
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let liveness = fails(c.get("livenessProbe"));
            let failing = liveness || fails(c.get("readinessProbe"));
            let name = c.get("name").and_then(Value::as_str)?;
            failing.then(|| (name.to_string(), liveness))
        })
        .collect()
}

/// Runs every bound pod of the slice written since the last pass once.
pub fn reconcile(state: &mut State, scope: &Scope, scripted: &HashSet<String>, record: bool) {
    let (Some(pod_rt), Some(node_rt)) = (type_of(state, "", "pods"), type_of(state, "", "nodes"))
    else {
        return;
    };
    let bound = scope.changed_where(state, &pod_rt.type_key(), |pod| {
        pod.node_name.is_some() && !pod.deleting && !scripted.contains(&*pod.uid)
    });
    // Each node is read once per slice, not once per pod on it.
    let mut addresses: HashMap<String, Option<String>> = HashMap::new();
    for pod in bound {
        let node = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let address = addresses.entry(node.clone()).or_insert_with(|| {
            state
                .get(&ObjectKey::new(&node_rt.type_key(), "", &node))
                .map(|n| internal_ip(&n))
        });
        let Some(address) = address.clone() else {
            continue;
        };
        let status = desired_status(&pod, &address);
        let starting = !started(pod.get("status")) && started(Some(&status));
        write_status(state, &pod_rt, &pod, status, "kubelet");
        if starting && record {
            record_start(state, &pod, &node);
        }
    }
}

/// A node's InternalIP, the address its pods report as `hostIP`.
fn internal_ip(node: &Value) -> String {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
        .and_then(|a| a["address"].as_str())
        .unwrap_or("10.0.0.1")
        .to_string()
}

/// Whether a pod status shows any container that has started (running or finished).
fn started(status: Option<&Value>) -> bool {
    status
        .and_then(|s| s.get("containerStatuses"))
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.pointer("/state/running").is_some() || c.pointer("/state/terminated").is_some()
            })
        })
}

fn containers(pod: &Value) -> Vec<(String, String, String)> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (field("name"), field("image"), field("imagePullPolicy"))
        })
        .collect()
}

/// The events of a pod's containers starting: the image pulled (or already there),
/// each container created and started.
fn record_start(state: &mut State, pod: &Value, node: &str) {
    let namespace = meta::namespace(pod).to_string();
    for (name, image, policy) in containers(pod) {
        let mut occurrences = Vec::new();
        if policy == "Always" {
            occurrences.push(Occurrence::normal(
                "Pulling",
                format!("Pulling image {image:?}"),
            ));
            occurrences.push(Occurrence::normal(
                "Pulled",
                format!("Successfully pulled image {image:?} in 0s (0s including waiting)"),
            ));
        } else {
            occurrences.push(Occurrence::normal(
                "Pulled",
                format!("Container image {image:?} already present on machine"),
            ));
        }
        occurrences.push(Occurrence::normal(
            "Created",
            format!("Created container: {name}"),
        ));
        occurrences.push(Occurrence::normal(
            "Started",
            format!("Started container {name}"),
        ));
        for occurrence in occurrences {
            events::record(
                state,
                &namespace,
                events::reference(pod),
                events::kubelet(node),
                occurrence.in_container(&name),
            );
        }
    }
}

/// The `Killing` events of a deleted pod whose containers were running.
pub fn record_stopped(state: &mut State, pod: &Value) {
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() || !started(pod.get("status")) {
        return;
    }
    let namespace = meta::namespace(pod).to_string();
    for (name, _, _) in containers(pod) {
        events::record(
            state,
            &namespace,
            events::reference(pod),
            events::kubelet(node),
            Occurrence::normal("Killing", format!("Stopping container {name}")).in_container(&name),
        );
    }
}

fn owned_by_job(pod: &Value) -> bool {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("kind").and_then(Value::as_str) == Some("Job"))
        })
}

/// A stable pod IP derived from the uid.
fn pod_ip(pod: &Value) -> String {
    let sum: u32 = meta::uid(pod).bytes().map(u32::from).sum();
    format!("10.244.{}.{}", (sum / 250) % 250, sum % 250 + 2)
}

/// The status a kubelet reports for the pod, honouring the scripting annotations.
pub fn desired_status(pod: &Value, host_ip: &str) -> Value {
    let now = meta::now();
    let started = pod
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .map_or(now.clone(), str::to_string);
    let default_phase = if owned_by_job(pod) {
        "Succeeded"
    } else {
        "Running"
    };
    let phase = meta::annotation(pod, PHASE_ANNOTATION)
        .unwrap_or(default_phase)
        .to_string();
    let restarts = meta::annotation(pod, RESTART_COUNT_ANNOTATION)
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let waiting = meta::annotation(pod, WAITING_REASON_ANNOTATION).map(str::to_string);
    let ready_override = meta::annotation(pod, READY_ANNOTATION) == Some("false");
    let running = phase == "Running";
    let ready = running && waiting.is_none() && !ready_override;
    let state_of = || -> Value {
        match (phase.as_str(), &waiting) {
            (_, Some(reason)) => {
                json!({"waiting": {"reason": reason, "message": format!("simulated {reason}")}})
            }
            ("Running", None) => json!({"running": {"startedAt": started}}),
            ("Succeeded", None) => {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": now}})
            }
            ("Failed", None) => {
                json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": started, "finishedAt": now}})
            }
            _ => json!({"waiting": {"reason": "ContainerCreating"}}),
        }
    };
    let failing = failing_probes(pod);
    let statuses = |field: &str, init: bool| -> Vec<Value> {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let name = c.get("name").cloned().unwrap_or(json!(""));
                        let probe = failing
                            .iter()
                            .find(|(n, _)| !init && Some(n.as_str()) == name.as_str())
                            .map(|(_, liveness)| *liveness);
                        let state = if init {
                            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}})
                        } else if probe == Some(true) && running {
                            json!({"waiting": {"reason": "CrashLoopBackOff", "message": "liveness probe failed"}})
                        } else {
                            state_of()
                        };
                        json!({
                            "name": name,
                            "image": c.get("image").cloned().unwrap_or(json!("")),
                            "imageID": "",
                            "containerID": format!("containerd://{}", meta::uid(pod).replace('-', "")),
                            "ready": !init && ready && probe.is_none(),
                            "started": !init && running && waiting.is_none(),
                            "restartCount": if init { 0 } else { restarts },
                            "state": state,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let all_ready = ready && failing.is_empty();
    let condition = |kind: &str, ok: bool| json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    let scheduled_only = phase == "Pending";
    let mut status = json!({
        "phase": phase,
        "conditions": [
            condition("PodReadyToStartContainers", !scheduled_only),
            condition("Initialized", !scheduled_only),
            condition("Ready", all_ready),
            condition("ContainersReady", all_ready),
            condition("PodScheduled", true),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip(pod),
        "podIPs": [{"ip": pod_ip(pod)}],
        "startTime": started,
        "qosClass": pod.as_object().map_or("BestEffort", crate::strategy::qos_class),
        "containerStatuses": statuses("containers", false),
    });
    let init = statuses("initContainers", true);
    if !init.is_empty()
        && let Some(map) = status.as_object_mut()
    {
        map.insert("initContainerStatuses".into(), json!(init));
    }
    status
}

#[cfg(test)]
mod probe_tests {
    use super::*;

    fn pod(annotations: Value) -> Value {
        json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u", "annotations": annotations},
            "spec": {"nodeName": "node-1", "containers": [
                {"name": "app", "image": "a", "livenessProbe": {"tcpSocket": {"port": 8080}}},
                {"name": "side", "image": "s", "readinessProbe": {"httpGet": {"path": "/", "port": 9090}}},
                {"name": "plain", "image": "p"}
            ]}
        })
    }

    fn ready_condition(status: &Value) -> &Value {
        status["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .map_or(&Value::Null, |c| &c["status"])
    }

    #[test]
    fn probes_on_ports_nothing_listens_on_fail() {
        let status = desired_status(
            &pod(json!({FAILING_PROBE_PORTS_ANNOTATION: "8080, 9090"})),
            "10.0.0.1",
        );
        let cs = status["containerStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(cs[0]["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(cs[0]["ready"], false);
        assert!(cs[1]["state"]["running"].is_object());
        assert_eq!(cs[1]["ready"], false);
        assert_eq!(cs[2]["ready"], true);
        assert_eq!(ready_condition(&status), "False");
        let healthy = desired_status(&pod(json!({})), "10.0.0.1");
        assert_eq!(ready_condition(&healthy), "True");
    }
}
