//! The simulated scheduler and kubelet. Unscheduled pods get `spec.nodeName` (the first
//! Node, or `node-1` when there is none); scheduled pods get the status a healthy kubelet
//! reports: Running and Ready with one started container status per container (Job pods
//! run to Succeeded). Annotations on the pod (copied from a workload's template) script
//! something else: `apiserver.test/phase`, `apiserver.test/restart-count`,
//! `apiserver.test/waiting-reason` and `apiserver.test/ready`. Pods whose status a test
//! set through the handle are left alone.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{log_refusal, type_of, write_status};
use crate::lifecycle::{self, WriteOptions};
use crate::meta;
use crate::store::State;
use crate::{
    PHASE_ANNOTATION, READY_ANNOTATION, RESTART_COUNT_ANNOTATION, WAITING_REASON_ANNOTATION,
};

/// Schedules and runs every pod once.
pub fn reconcile(state: &mut State, scripted: &HashSet<String>) {
    let (Some(pod_rt), Some(node_rt)) = (type_of(state, "", "pods"), type_of(state, "", "nodes"))
    else {
        return;
    };
    let node = state
        .list(&node_rt.type_key(), None)
        .first()
        .map_or_else(|| "node-1".to_string(), |n| meta::name(n).to_string());
    for pod in state.list(&pod_rt.type_key(), None) {
        if meta::is_deleting(&pod) || scripted.contains(meta::uid(&pod)) {
            continue;
        }
        let scheduled = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !scheduled {
            let mut next = (*pod).clone();
            if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("nodeName".into(), json!(node));
            } else if let Some(map) = next.as_object_mut() {
                map.insert("spec".into(), json!({"nodeName": node}));
            }
            let result = lifecycle::update(
                state,
                &pod_rt,
                meta::namespace(&pod),
                meta::name(&pod),
                next,
                &WriteOptions::by("kube-scheduler"),
            );
            log_refusal("bind pod", result);
            continue;
        }
        let status = desired_status(&pod);
        write_status(state, &pod_rt, &pod, status, "kubelet");
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
pub fn desired_status(pod: &Value) -> Value {
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
    let statuses = |field: &str, init: bool| -> Vec<Value> {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let name = c.get("name").cloned().unwrap_or(json!(""));
                        let state = if init {
                            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}})
                        } else {
                            state_of()
                        };
                        json!({
                            "name": name,
                            "image": c.get("image").cloned().unwrap_or(json!("")),
                            "imageID": "",
                            "containerID": format!("containerd://{}", meta::uid(pod).replace('-', "")),
                            "ready": !init && ready,
                            "started": !init && running && waiting.is_none(),
                            "restartCount": if init { 0 } else { restarts },
                            "state": state,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let condition = |kind: &str, ok: bool| json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    let scheduled_only = phase == "Pending";
    let mut status = json!({
        "phase": phase,
        "conditions": [
            condition("PodReadyToStartContainers", !scheduled_only),
            condition("Initialized", !scheduled_only),
            condition("Ready", ready),
            condition("ContainersReady", ready),
            condition("PodScheduled", true),
        ],
        "hostIP": "10.0.0.1",
        "hostIPs": [{"ip": "10.0.0.1"}],
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
