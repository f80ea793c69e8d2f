//! Simulated workload controllers. Deployments own one ReplicaSet per pod template
//! (`<deployment>-<template hash>`; older ones are scaled to zero), ReplicaSets and
//! ReplicationControllers keep `replicas` pods named `<owner>-<random5>`, StatefulSets
//! keep `<name>-0..N-1`, DaemonSets one pod per Node, Jobs run pods to completion. Every
//! pod carries a controller ownerReference; statuses report what the pods show.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{PodGate, controller_ref, log_refusal, remove, type_of, write_status};
use crate::lifecycle::{self, WriteOptions};
use crate::meta;
use crate::resources::ResourceType;
use crate::store::State;

pub(super) const MANAGER: &str = "kube-controller-manager";
const HASH_LABEL: &str = "pod-template-hash";
const REVISION_LABEL: &str = "controller-revision-hash";

/// Runs every controller once.
pub fn reconcile(state: &mut State, gate: &mut PodGate) {
    deployments(state);
    for (group, plural) in [("apps", "replicasets"), ("", "replicationcontrollers")] {
        replica_sets(state, gate, group, plural);
    }
    stateful_sets(state, gate);
    daemon_sets(state, gate);
    jobs(state, gate);
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

fn replicas(object: &Value) -> usize {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(1)
}

fn generation(object: &Value) -> Value {
    object
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1))
}

/// Live (not deleting) objects of a type in a namespace controlled by `owner`.
fn owned(state: &State, rt: &ResourceType, owner: &Value) -> Vec<Arc<Value>> {
    state
        .list(&rt.type_key(), Some(meta::namespace(owner)))
        .into_iter()
        .filter(|o| meta::controller_uid(o) == Some(meta::uid(owner)) && !meta::is_deleting(o))
        .collect()
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
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

fn condition(kind: &str, ok: bool, reason: &str) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "reason": reason,
           "lastTransitionTime": meta::now(), "lastUpdateTime": meta::now()})
}

fn deployments(state: &mut State) {
    let (Some(deploy_rt), Some(rs_rt)) = (
        type_of(state, "apps", "deployments"),
        type_of(state, "apps", "replicasets"),
    ) else {
        return;
    };
    let Some(pod_rt) = type_of(state, "", "pods") else {
        return;
    };
    for deployment in state.list(&deploy_rt.type_key(), None) {
        if meta::is_deleting(&deployment) {
            continue;
        }
        let namespace = meta::namespace(&deployment).to_string();
        let template = deployment
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let hash = template_hash(&template);
        let name = format!("{}-{hash}", meta::name(&deployment));
        let wanted = replicas(&deployment);
        let sets = owned(state, &rs_rt, &deployment);
        match sets.iter().find(|rs| meta::name(rs) == name) {
            None => {
                let mut template = template.clone();
                let mut selector = deployment
                    .pointer("/spec/selector")
                    .cloned()
                    .unwrap_or_else(|| json!({"matchLabels": {}}));
                if let Some(labels) = selector
                    .get_mut("matchLabels")
                    .and_then(Value::as_object_mut)
                {
                    labels.insert(HASH_LABEL.into(), json!(hash));
                }
                let mut labels = template
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                labels.insert(HASH_LABEL.into(), json!(hash));
                let labels = Value::Object(labels);
                if !template.is_object() {
                    template = json!({});
                }
                if let Some(metadata) = meta::metadata_mut(&mut template) {
                    metadata.insert("labels".into(), labels.clone());
                }
                let rs = json!({
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {"name": name, "labels": labels,
                                 "ownerReferences": [controller_ref(&deployment, &deploy_rt)]},
                    "spec": {"replicas": wanted, "selector": selector, "template": template},
                });
                log_refusal(
                    "create replicaset",
                    lifecycle::create(state, &rs_rt, &namespace, rs, &WriteOptions::by(MANAGER)),
                );
            }
            Some(rs) if replicas(rs) != wanted => scale(state, &rs_rt, rs, wanted),
            Some(_) => {}
        }
        for old in sets
            .iter()
            .filter(|rs| meta::name(rs) != name && replicas(rs) != 0)
        {
            scale(state, &rs_rt, old, 0);
        }
        let mut total: usize = 0;
        let mut ready = 0;
        let mut updated = 0;
        for rs in owned(state, &rs_rt, &deployment) {
            for pod in owned(state, &pod_rt, &rs) {
                total += 1;
                ready += usize::from(is_ready(&pod));
                updated += usize::from(meta::name(&rs) == name);
            }
        }
        let mut conditions = vec![
            condition(
                "Available",
                ready >= wanted,
                if ready >= wanted {
                    "MinimumReplicasAvailable"
                } else {
                    "MinimumReplicasUnavailable"
                },
            ),
            condition(
                "Progressing",
                true,
                if updated == wanted && ready >= wanted {
                    "NewReplicaSetAvailable"
                } else {
                    "ReplicaSetUpdated"
                },
            ),
        ];
        // A ReplicaSet that cannot create its pods shows on its Deployment, the new one's first.
        let mut sets = owned(state, &rs_rt, &deployment);
        sets.sort_by_key(|rs| meta::name(rs) != name);
        if let Some(failure) = sets.iter().find_map(|rs| replica_failure(rs)) {
            let mut failure = failure.clone();
            failure["lastUpdateTime"] = json!(meta::now());
            conditions.push(failure);
        }
        let status = json!({
            "observedGeneration": generation(&deployment),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": total.saturating_sub(ready),
            "conditions": conditions,
        });
        write_status(state, &deploy_rt, &deployment, status, MANAGER);
    }
}

/// A ReplicaSet's `ReplicaFailure` condition, when it has one.
fn replica_failure(rs: &Value) -> Option<&Value> {
    rs.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True")
}

fn scale(state: &mut State, rt: &ResourceType, object: &Value, replicas: usize) {
    let mut next = object.clone();
    if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), json!(replicas));
    }
    let result = lifecycle::update(
        state,
        rt,
        meta::namespace(object),
        meta::name(object),
        next,
        &WriteOptions::by(MANAGER),
    );
    log_refusal("scale", result);
}

fn replica_sets(state: &mut State, gate: &mut PodGate, group: &str, plural: &str) {
    let (Some(rt), Some(pod_rt)) = (type_of(state, group, plural), type_of(state, "", "pods"))
    else {
        return;
    };
    for set in state.list(&rt.type_key(), None) {
        if meta::is_deleting(&set) {
            continue;
        }
        let namespace = meta::namespace(&set).to_string();
        let wanted = replicas(&set);
        let mut pods = owned(state, &pod_rt, &set);
        let template = set
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        for _ in pods.len()..wanted {
            let name = format!("{}-{}", meta::name(&set), meta::random_suffix());
            let pod = pod_from_template(&template, &name, controller_ref(&set, &rt), &[]);
            create_pod(state, gate, &namespace, pod);
        }
        while pods.len() > wanted {
            if let Some(pod) = pods.pop() {
                remove(state, &pod_rt, &pod);
            }
        }
        let pods = owned(state, &pod_rt, &set);
        let ready = pods.iter().filter(|p| is_ready(p)).count();
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

fn stateful_sets(state: &mut State, gate: &mut PodGate) {
    let (Some(rt), Some(pod_rt)) = (
        type_of(state, "apps", "statefulsets"),
        type_of(state, "", "pods"),
    ) else {
        return;
    };
    for set in state.list(&rt.type_key(), None) {
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
                remove(state, &pod_rt, &pod);
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

fn daemon_sets(state: &mut State, gate: &mut PodGate) {
    let (Some(rt), Some(pod_rt), Some(node_rt)) = (
        type_of(state, "apps", "daemonsets"),
        type_of(state, "", "pods"),
        type_of(state, "", "nodes"),
    ) else {
        return;
    };
    let nodes: Vec<String> = state
        .list(&node_rt.type_key(), None)
        .iter()
        .map(|n| meta::name(n).to_string())
        .collect();
    for set in state.list(&rt.type_key(), None) {
        if meta::is_deleting(&set) {
            continue;
        }
        let namespace = meta::namespace(&set).to_string();
        let template = set
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let revision = template_hash(&template);
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
                remove(state, &pod_rt, &pod);
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

fn jobs(state: &mut State, gate: &mut PodGate) {
    let (Some(rt), Some(pod_rt)) = (type_of(state, "batch", "jobs"), type_of(state, "", "pods"))
    else {
        return;
    };
    for job in state.list(&rt.type_key(), None) {
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
        if let Some(map) = status.as_object_mut() {
            if done {
                map.insert("completionTime".into(), json!(meta::now()));
                map.insert(
                    "conditions".into(),
                    json!([
                        condition("SuccessCriteriaMet", true, "CompletionsReached"),
                        condition("Complete", true, "CompletionsReached")
                    ]),
                );
            } else if gave_up {
                map.insert(
                    "conditions".into(),
                    json!([
                        condition("FailureTarget", true, "BackoffLimitExceeded"),
                        condition("Failed", true, "BackoffLimitExceeded")
                    ]),
                );
            }
        }
        write_status(state, &rt, &job, status, MANAGER);
    }
}
