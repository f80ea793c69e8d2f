//! Simulated workload controllers (Deployments have their own module, `deployments`):
//! ReplicaSets and ReplicationControllers keep `replicas` pods named
//! `<owner>-<random5>`, StatefulSets keep `<name>-0..N-1`, DaemonSets one pod per Node
//! the pod template fits, Jobs run pods to completion. Every pod carries a controller
//! ownerReference; statuses report what the pods show; creations, deletions and a Job's
//! completion are recorded as the controllers' events.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::events::{self, Occurrence};
use super::scope::Scope;
use super::{PodGate, controller_ref, placement, remove, type_of, write_status};
use crate::meta;
use crate::resources::ResourceType;
use crate::store::State;
use crate::stored::Stored;

pub(super) const MANAGER: &str = "kube-controller-manager";
const REVISION_LABEL: &str = "controller-revision-hash";
const COMPLETED: &str = "Reached expected number of succeeded pods";
const BACKOFF: &str = "Job has reached the specified backoff limit";

/// Runs every controller once over the slice's namespaces.
pub fn reconcile(state: &mut State, scope: &Scope, gate: &mut PodGate) {
    super::deployments::reconcile(state, scope, gate.events);
    for (group, plural) in [("apps", "replicasets"), ("", "replicationcontrollers")] {
        replica_sets(state, scope, gate, group, plural);
    }
    stateful_sets(state, scope, gate);
    daemon_sets(state, scope, gate);
    jobs(state, scope, gate);
}

/// FNV-1a of the template, spelled with the real server's safe alphabet.
pub fn template_hash(template: &Value) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in template.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

pub(super) fn replicas(object: &Value) -> usize {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(1)
}

pub(super) fn generation(object: &Value) -> Value {
    object
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1))
}

/// Live (not deleting) objects of a type in a namespace controlled by `owner`.
pub(super) fn owned(state: &State, rt: &ResourceType, owner: &Value) -> Vec<Arc<Value>> {
    owned_stored(state, rt, owner)
        .into_iter()
        .map(|o| Arc::new(o.value()))
        .collect()
}

/// The same objects as stored, none of them parsed.
pub(super) fn owned_stored(state: &State, rt: &ResourceType, owner: &Value) -> Vec<Arc<Stored>> {
    state
        .list_stored(&rt.type_key(), Some(meta::namespace(owner)))
        .into_iter()
        .filter(|o| o.meta().controller_uid() == Some(meta::uid(owner)) && !o.meta().deleting)
        .collect()
}

pub(super) fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions").is_some_and(ready_in)
}

/// Whether a stored pod is Ready, reading only its conditions out of its bytes.
pub(super) fn is_ready_stored(pod: &Stored) -> bool {
    #[derive(Deserialize)]
    struct Pod {
        status: Option<Status>,
    }
    #[derive(Deserialize)]
    struct Status {
        conditions: Option<Value>,
    }
    serde_json::from_slice::<Pod>(pod.json())
        .ok()
        .and_then(|p| p.status?.conditions)
        .is_some_and(|c| ready_in(&c))
}

/// Whether pod conditions hold `Ready` `True`.
fn ready_in(conditions: &Value) -> bool {
    conditions.as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Ready")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    })
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A pod from a workload's template.
fn pod_from_template(
    template: &Value,
    name: &str,
    owner_ref: Value,
    extra_labels: &[(&str, String)],
) -> Value {
    let mut metadata = template
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(meta) = metadata.as_object_mut() {
        meta.insert("name".into(), json!(name));
        meta.insert("ownerReferences".into(), json!([owner_ref]));
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            for (k, v) in extra_labels {
                labels.insert((*k).to_string(), json!(v));
            }
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

fn create_pod(state: &mut State, gate: &mut PodGate, namespace: &str, pod: Value) {
    if let Some(pods) = type_of(state, "", "pods") {
        gate.create_pod(state, &pods, namespace, pod);
    }
}

/// A workload status condition.
pub(super) fn condition(kind: &str, ok: bool, reason: &str, message: String) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "reason": reason,
           "message": message, "lastTransitionTime": meta::now(), "lastUpdateTime": meta::now()})
}

/// A ReplicaSet's `ReplicaFailure` condition, when it has one.
pub(super) fn replica_failure(rs: &Value) -> Option<&Value> {
    rs.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True")
}

/// Deletes a pod its controller no longer wants, with the controller's
/// `SuccessfulDelete` event.
fn delete_pod(state: &mut State, gate: &PodGate, pods: &ResourceType, owner: &Value, pod: &Value) {
    remove(state, pods, pod);
    if !gate.events {
        return;
    }
    let kind = owner.get("kind").and_then(Value::as_str).unwrap_or("");
    let message = match kind {
        "StatefulSet" => format!(
            "delete Pod {} in StatefulSet {} successful",
            meta::name(pod),
            meta::name(owner)
        ),
        _ => format!("Deleted pod: {}", meta::name(pod)),
    };
    events::record(
        state,
        meta::namespace(owner),
        events::reference(owner),
        events::controller(kind),
        Occurrence::normal("SuccessfulDelete", message),
    );
}

fn replica_sets(state: &mut State, scope: &Scope, gate: &mut PodGate, group: &str, plural: &str) {
    let (Some(rt), Some(pod_rt)) = (type_of(state, group, plural), type_of(state, "", "pods"))
    else {
        return;
    };
    for set in scope.owners(state, &rt.type_key(), &[pod_rt.type_key()]) {
        if meta::is_deleting(&set) {
            continue;
        }
        let namespace = meta::namespace(&set).to_string();
        let wanted = replicas(&set);
        let mut pods = owned_stored(state, &pod_rt, &set);
        let template = set
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let changes = pods.len().abs_diff(wanted);
        for _ in pods.len()..wanted {
            let name = format!("{}-{}", meta::name(&set), meta::random_suffix());
            let pod = pod_from_template(&template, &name, controller_ref(&set, &rt), &[]);
            create_pod(state, gate, &namespace, pod);
        }
        while pods.len() > wanted {
            if let Some(pod) = pods.pop() {
                delete_pod(state, gate, &pod_rt, &set, &pod.value());
            }
        }
        if changes > 0 {
            pods = owned_stored(state, &pod_rt, &set);
        }
        let ready = pods.iter().filter(|p| is_ready_stored(p)).count();
        let mut status = json!({
            "observedGeneration": generation(&set),
            "replicas": pods.len(),
            "fullyLabeledReplicas": pods.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
        });
        if let Some(message) = gate.failure(meta::uid(&set)) {
            status["conditions"] = json!([{
                "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                "message": message, "lastTransitionTime": meta::now(),
            }]);
        }
        write_status(state, &rt, &set, status, MANAGER);
    }
}

fn stateful_sets(state: &mut State, scope: &Scope, gate: &mut PodGate) {
    let (Some(rt), Some(pod_rt)) = (
        type_of(state, "apps", "statefulsets"),
        type_of(state, "", "pods"),
    ) else {
        return;
    };
    for set in scope.owners(state, &rt.type_key(), &[pod_rt.type_key()]) {
        if meta::is_deleting(&set) {
            continue;
        }
        let namespace = meta::namespace(&set).to_string();
        let base = meta::name(&set).to_string();
        let wanted = replicas(&set);
        let template = set
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let revision = format!("{base}-{}", template_hash(&template));
        for pod in owned(state, &pod_rt, &set) {
            let ordinal = meta::name(&pod)
                .strip_prefix(&format!("{base}-"))
                .and_then(|n| n.parse::<usize>().ok());
            let stale = meta::labels(&pod)
                .and_then(|l| l.get(REVISION_LABEL))
                .and_then(Value::as_str)
                != Some(revision.as_str());
            if ordinal.is_none_or(|o| o >= wanted) || stale {
                delete_pod(state, gate, &pod_rt, &set, &pod);
            }
        }
        let present: Vec<String> = owned(state, &pod_rt, &set)
            .iter()
            .map(|p| meta::name(p).to_string())
            .collect();
        for ordinal in 0..wanted {
            let name = format!("{base}-{ordinal}");
            if present.contains(&name)
                || state
                    .get(&crate::store::ObjectKey::new(
                        &pod_rt.type_key(),
                        &namespace,
                        &name,
                    ))
                    .is_some()
            {
                continue;
            }
            let labels = [
                (REVISION_LABEL, revision.clone()),
                ("statefulset.kubernetes.io/pod-name", name.clone()),
                ("apps.kubernetes.io/pod-index", ordinal.to_string()),
            ];
            let mut pod = pod_from_template(&template, &name, controller_ref(&set, &rt), &labels);
            if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("hostname".into(), json!(name));
            }
            create_pod(state, gate, &namespace, pod);
        }
        let pods = owned(state, &pod_rt, &set);
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let status = json!({
            "observedGeneration": generation(&set),
            "replicas": pods.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": pods.len(),
            "updatedReplicas": pods.len(),
            "currentRevision": revision,
            "updateRevision": revision,
        });
        write_status(state, &rt, &set, status, MANAGER);
    }
}

fn daemon_sets(state: &mut State, scope: &Scope, gate: &mut PodGate) {
    let (Some(rt), Some(pod_rt), Some(node_rt)) = (
        type_of(state, "apps", "daemonsets"),
        type_of(state, "", "pods"),
        type_of(state, "", "nodes"),
    ) else {
        return;
    };
    let sets = scope.owners(state, &rt.type_key(), &[pod_rt.type_key()]);
    if sets.is_empty() {
        // Nodes are cluster-wide: parse them only for a slice that has a set to place.
        return;
    }
    let all_nodes = state.list(&node_rt.type_key(), None);
    for set in sets {
        if meta::is_deleting(&set) {
            continue;
        }
        let namespace = meta::namespace(&set).to_string();
        let template = set
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let revision = template_hash(&template);
        let pod_spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
        let nodes: Vec<String> = all_nodes
            .iter()
            .filter(|n| placement::fits(&pod_spec, n, true))
            .map(|n| meta::name(n).to_string())
            .collect();
        let node_of = |p: &Value| {
            p.pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        for pod in owned(state, &pod_rt, &set) {
            let stale = meta::labels(&pod)
                .and_then(|l| l.get(REVISION_LABEL))
                .and_then(Value::as_str)
                != Some(revision.as_str());
            if !nodes.contains(&node_of(&pod)) || stale {
                delete_pod(state, gate, &pod_rt, &set, &pod);
            }
        }
        let covered: Vec<String> = owned(state, &pod_rt, &set)
            .iter()
            .map(|p| node_of(p))
            .collect();
        for node in nodes.iter().filter(|n| !covered.contains(n)) {
            let name = format!("{}-{}", meta::name(&set), meta::random_suffix());
            let mut pod = pod_from_template(
                &template,
                &name,
                controller_ref(&set, &rt),
                &[(REVISION_LABEL, revision.clone())],
            );
            if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("nodeName".into(), json!(node));
            }
            create_pod(state, gate, &namespace, pod);
        }
        let pods = owned(state, &pod_rt, &set);
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let status = json!({
            "observedGeneration": generation(&set),
            "desiredNumberScheduled": nodes.len(),
            "currentNumberScheduled": pods.len(),
            "updatedNumberScheduled": pods.len(),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
        });
        write_status(state, &rt, &set, status, MANAGER);
    }
}

fn jobs(state: &mut State, scope: &Scope, gate: &mut PodGate) {
    let (Some(rt), Some(pod_rt)) = (type_of(state, "batch", "jobs"), type_of(state, "", "pods"))
    else {
        return;
    };
    for job in scope.owners(state, &rt.type_key(), &[pod_rt.type_key()]) {
        if meta::is_deleting(&job) {
            continue;
        }
        let namespace = meta::namespace(&job).to_string();
        let completions = job
            .pointer("/spec/completions")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let backoff_limit = job
            .pointer("/spec/backoffLimit")
            .and_then(Value::as_u64)
            .unwrap_or(6);
        let pods = owned(state, &pod_rt, &job);
        let count = |p: &str| pods.iter().filter(|pod| phase(pod) == p).count() as u64;
        let (succeeded, failed) = (count("Succeeded"), count("Failed"));
        let active = pods.len() as u64 - succeeded - failed;
        let done = succeeded >= completions;
        let gave_up = failed > backoff_limit;
        if !done && !gave_up && active + succeeded < completions {
            let template = job
                .pointer("/spec/template")
                .cloned()
                .unwrap_or_else(|| json!({}));
            let name = format!("{}-{}", meta::name(&job), meta::random_suffix());
            let labels = [
                ("job-name", meta::name(&job).to_string()),
                ("batch.kubernetes.io/job-name", meta::name(&job).to_string()),
                ("controller-uid", meta::uid(&job).to_string()),
            ];
            create_pod(
                state,
                gate,
                &namespace,
                pod_from_template(&template, &name, controller_ref(&job, &rt), &labels),
            );
        }
        let mut status = json!({"active": active, "succeeded": succeeded, "failed": failed, "ready": active,
                                "startTime": job.pointer("/status/startTime").cloned().unwrap_or_else(|| json!(meta::now()))});
        let was_done = job
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Complete"));
        if done && !was_done && gate.events {
            events::record(
                state,
                &namespace,
                events::reference(&job),
                events::controller("Job"),
                Occurrence::normal("Completed", "Job completed".into()),
            );
        }
        if let Some(map) = status.as_object_mut() {
            if done {
                map.insert("completionTime".into(), json!(meta::now()));
                map.insert(
                    "conditions".into(),
                    json!([
                        condition(
                            "SuccessCriteriaMet",
                            true,
                            "CompletionsReached",
                            COMPLETED.into()
                        ),
                        condition("Complete", true, "CompletionsReached", COMPLETED.into())
                    ]),
                );
            } else if gave_up {
                map.insert(
                    "conditions".into(),
                    json!([
                        condition(
                            "FailureTarget",
                            true,
                            "BackoffLimitExceeded",
                            BACKOFF.into()
                        ),
                        condition("Failed", true, "BackoffLimitExceeded", BACKOFF.into())
                    ]),
                );
            }
        }
        write_status(state, &rt, &job, status, MANAGER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_read_from_the_stored_bytes_agrees_with_the_tree() {
        let cases = [
            (
                json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                true,
            ),
            (
                json!({"spec": {"containers": []}, "status": {"phase": "Running", "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True"}]}}),
                true,
            ),
            (
                json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
                false,
            ),
            (json!({"status": {"conditions": "Ready"}}), false),
            (json!({"status": null}), false),
            (json!({"metadata": {"name": "p"}}), false),
        ];
        for (pod, ready) in cases {
            assert_eq!(is_ready(&pod), ready, "{pod}");
            assert_eq!(is_ready_stored(&Stored::new(&pod)), ready, "{pod}");
        }
    }
}
