//! The simulated scheduler. In: pods without `spec.nodeName` and the Nodes. Out: each
//! pod bound to the node it fits (`placement`) that runs the fewest pods, with a
//! `Scheduled` event through `events.k8s.io/v1` as the real scheduler reports it; a pod
//! that fits no node stays Pending with a `PodScheduled: False` condition (reason
//! `Unschedulable`) and one `FailedScheduling` Warning saying why.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Value, json};

use super::events::{self, Occurrence, Reporter};
use super::scope::Scope;
use super::{log_refusal, placement, type_of, write_status};
use crate::lifecycle::{self, WriteOptions};
use crate::meta;
use crate::resources::TypeKey;
use crate::store::State;

const MANAGER: &str = "kube-scheduler";

fn reporter() -> Reporter<'static> {
    Reporter {
        component: "default-scheduler",
        instance: "default-scheduler-control-plane",
        manager: MANAGER,
    }
}

/// How many pods each node runs, counted once per pass when a slice first has a pod to
/// bind, then kept up to date with the pass's own bindings.
#[derive(Default)]
pub struct Load {
    per_node: Option<HashMap<String, usize>>,
}

impl Load {
    fn counts(&mut self, state: &State, pods: &TypeKey) -> &mut HashMap<String, usize> {
        self.per_node.get_or_insert_with(|| {
            let mut load = HashMap::new();
            for pod in state.list_stored(pods, None) {
                if let Some(node) = &pod.meta().node_name {
                    *load.entry(node.to_string()).or_default() += 1;
                }
            }
            load
        })
    }
}

/// Binds every unscheduled pod of the slice that fits a node.
pub fn reconcile(
    state: &mut State,
    scope: &Scope,
    scripted: &HashSet<String>,
    record: bool,
    load: &mut Load,
) {
    let (Some(pod_rt), Some(node_rt)) = (type_of(state, "", "pods"), type_of(state, "", "nodes"))
    else {
        return;
    };
    let pending = scope.changed_where(state, &pod_rt.type_key(), |pod| {
        pod.node_name.is_none() && !pod.deleting && !scripted.contains(&*pod.uid)
    });
    if pending.is_empty() {
        return;
    }
    let nodes = state.list(&node_rt.type_key(), None);
    let load = load.counts(state, &pod_rt.type_key());
    // Nodes from the least loaded (then by name): the first that fits is the choice, so
    // a pod that fits anywhere is placed without trying every node.
    let mut order: BTreeSet<(usize, usize)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (load.get(meta::name(n)).copied().unwrap_or(0), i))
        .collect();
    for pod in pending {
        let spec = pod.get("spec").cloned().unwrap_or_else(|| json!({}));
        let chosen = order
            .iter()
            .copied()
            .find(|(_, i)| placement::fits(&spec, &nodes[*i], false));
        let Some((count, index)) = chosen else {
            unschedulable(state, &pod_rt, &pod, &spec, &nodes, record);
            continue;
        };
        let node = meta::name(&nodes[index]).to_string();
        let mut next = (*pod).clone();
        if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(node));
        }
        let namespace = meta::namespace(&pod).to_string();
        let result = lifecycle::update(
            state,
            &pod_rt,
            &namespace,
            meta::name(&pod),
            next,
            &WriteOptions::by(MANAGER),
        );
        let bound = result.is_ok();
        log_refusal("bind pod", result);
        if bound {
            *load.entry(node.clone()).or_default() += 1;
            order.remove(&(count, index));
            order.insert((count + 1, index));
            if record {
                let message = format!(
                    "Successfully assigned {namespace}/{} to {node}",
                    meta::name(&pod)
                );
                events::record_v1(
                    state,
                    &namespace,
                    events::reference(&pod),
                    reporter(),
                    "Binding",
                    Occurrence::normal("Scheduled", message),
                );
            }
        }
    }
}

/// Why no node fits, as the scheduler sums it up: each node counts under the first
/// filter it fails.
fn why(spec: &Value, nodes: &[std::sync::Arc<Value>]) -> String {
    let total = nodes.len();
    if total == 0 {
        return "no nodes available to schedule pods".to_string();
    }
    let placement_only =
        json!({"nodeSelector": spec.get("nodeSelector"), "affinity": spec.get("affinity")});
    let (mut unschedulable, mut mismatched, mut tainted) = (0, 0, 0);
    for node in nodes {
        if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
            unschedulable += 1;
        } else if !placement::fits(&placement_only, node, true) {
            mismatched += 1;
        } else {
            tainted += 1;
        }
    }
    let reasons: Vec<String> = [
        (mismatched, "didn't match Pod's node affinity/selector"),
        (tainted, "had untolerated taint(s)"),
        (unschedulable, "were unschedulable"),
    ]
    .iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, reason)| format!("{count} node(s) {reason}"))
    .collect();
    format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: \
         {total} Preemption is not helpful for scheduling.",
        reasons.join(", ")
    )
}

/// Marks a pod that fits no node, once.
fn unschedulable(
    state: &mut State,
    pod_rt: &crate::resources::ResourceType,
    pod: &Value,
    spec: &Value,
    nodes: &[std::sync::Arc<Value>],
    record: bool,
) {
    let already = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "PodScheduled" && c["status"] == "False")
        });
    if already {
        return;
    }
    let message = why(spec, nodes);
    let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    status["phase"] = json!("Pending");
    status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": message, "lastProbeTime": null, "lastTransitionTime": meta::now()}]);
    write_status(state, pod_rt, pod, status, MANAGER);
    if record {
        events::record_v1(
            state,
            meta::namespace(pod),
            events::reference(pod),
            reporter(),
            "Scheduling",
            Occurrence::warning("FailedScheduling", message),
        );
    }
}
