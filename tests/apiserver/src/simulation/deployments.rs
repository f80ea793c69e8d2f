//! The simulated deployment controller, with the revision handling of the real one
//! (`pkg/controller/deployment`): in, a Deployment and the ReplicaSets it controls; out,
//! the ReplicaSet whose template equals the Deployment's (pod-template-hash aside) scaled
//! to `replicas` and the others to zero, all at once. A template change creates
//! `<name>-<hash>` at revision max + 1, or brings back the old ReplicaSet with that
//! template (its old revision goes to `deployment.kubernetes.io/revision-history`), so
//! `kubectl rollout history` and `rollout undo` work; the Deployment carries its current
//! revision; old ReplicaSets at zero beyond `revisionHistoryLimit` are deleted, oldest
//! first; each scale records a `ScalingReplicaSet` event.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::events::{self, Occurrence};
use super::scope::Scope;
use super::workloads::{
    MANAGER, condition, generation, is_ready_stored, owned, owned_stored, replica_failure,
    replicas, template_hash,
};
use super::{controller_ref, log_refusal, remove, type_of, write_status};
use crate::lifecycle::{self, WriteOptions};
use crate::meta;
use crate::resources::ResourceType;
use crate::store::State;

const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The longest `revision-history` the controller keeps, in characters.
const MAX_HISTORY_CHARS: usize = 2000;

/// Annotations of a Deployment its ReplicaSets do not copy.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// The types the controller works with.
struct Types {
    deployments: Arc<ResourceType>,
    sets: Arc<ResourceType>,
    pods: Arc<ResourceType>,
}

/// Runs the controller once over every Deployment of the slice.
pub fn reconcile(state: &mut State, scope: &Scope, record: bool) {
    let (Some(deployments), Some(sets), Some(pods)) = (
        type_of(state, "apps", "deployments"),
        type_of(state, "apps", "replicasets"),
        type_of(state, "", "pods"),
    ) else {
        return;
    };
    let types = Types {
        deployments,
        sets,
        pods,
    };
    for deployment in scope.owners(
        state,
        &types.deployments.type_key(),
        &[types.sets.type_key()],
    ) {
        if !meta::is_deleting(&deployment) {
            sync(state, &types, &deployment, record);
        }
    }
}

/// The revision annotation of an object, 0 when absent.
pub fn revision(object: &Value) -> u64 {
    meta::annotation(object, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// A pod template without the pod-template-hash label (and without empty labels).
fn without_hash(template: Option<&Value>) -> Value {
    let mut template = template.cloned().unwrap_or_else(|| json!({}));
    if let Some(metadata) = template.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(labels) = metadata.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove(HASH_LABEL);
            if labels.is_empty() {
                metadata.remove("labels");
            }
        }
        if metadata.is_empty()
            && let Some(map) = template.as_object_mut()
        {
            map.remove("metadata");
        }
    }
    template
}

/// `maxSurge` as a number of pods (percentages round up).
fn max_surge(deployment: &Value, wanted: usize) -> usize {
    match deployment.pointer("/spec/strategy/rollingUpdate/maxSurge") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        Some(Value::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<usize>().ok())
            .map_or(0, |p| (wanted * p).div_ceil(100)),
        _ => 0,
    }
}

fn sync(state: &mut State, types: &Types, deployment: &Value, record: bool) {
    let template = deployment.pointer("/spec/template");
    let wanted = replicas(deployment);
    let sets = owned(state, &types.sets, deployment);
    let current = without_hash(template);
    let new_set = sets
        .iter()
        .find(|rs| without_hash(rs.pointer("/spec/template")) == current)
        .cloned();
    let max_old = sets
        .iter()
        .filter(|rs| {
            new_set
                .as_ref()
                .is_none_or(|n| meta::uid(n) != meta::uid(rs))
        })
        .map(|rs| revision(rs))
        .max()
        .unwrap_or(0);
    let next_revision = max_old + 1;
    let mut annotations = copied_annotations(deployment);
    annotations.insert(DESIRED_REPLICAS.into(), json!(wanted.to_string()));
    annotations.insert(
        MAX_REPLICAS.into(),
        json!((wanted + max_surge(deployment, wanted)).to_string()),
    );
    let new_name = match &new_set {
        None => {
            let hash = template_hash(&current);
            let name = format!("{}-{hash}", meta::name(deployment));
            annotations.insert(REVISION.into(), json!(next_revision.to_string()));
            create_set(state, types, deployment, &name, &hash, annotations);
            if record && wanted > 0 {
                scaled(state, deployment, &name, 0, wanted);
            }
            name
        }
        Some(rs) => {
            let name = meta::name(rs).to_string();
            adopt_revision(state, types, rs, next_revision, annotations);
            if replicas(rs) != wanted {
                scale(state, &types.sets, rs, wanted);
                if record {
                    scaled(state, deployment, &name, replicas(rs), wanted);
                }
            }
            name
        }
    };
    for old in sets.iter().filter(|rs| meta::name(rs) != new_name) {
        let from = replicas(old);
        if from != 0 {
            scale(state, &types.sets, old, 0);
            if record {
                scaled(state, deployment, meta::name(old), from, 0);
            }
        }
    }
    let sets = owned(state, &types.sets, deployment);
    let deployment = match sets.iter().find(|rs| meta::name(rs) == new_name) {
        Some(rs) => set_deployment_revision(state, types, deployment, revision(rs)),
        None => None,
    }
    .unwrap_or_else(|| Arc::new(deployment.clone()));
    clean_up(state, types, &deployment, &sets, &new_name);
    write_deployment_status(state, types, &deployment, &new_name, wanted);
}

fn copied_annotations(deployment: &Value) -> Map<String, Value> {
    deployment
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.iter()
                .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn create_set(
    state: &mut State,
    types: &Types,
    deployment: &Value,
    name: &str,
    hash: &str,
    annotations: Map<String, Value>,
) {
    let mut template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut selector = deployment
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({"matchLabels": {}}));
    if let Some(map) = selector.as_object_mut()
        && let Some(labels) = crate::defaults::child(map, "matchLabels")
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
    if let Some(metadata) = meta::metadata_mut(&mut template) {
        metadata.insert("labels".into(), labels.clone());
    }
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "labels": labels, "annotations": annotations,
                     "ownerReferences": [controller_ref(deployment, &types.deployments)]},
        "spec": {"replicas": replicas(deployment), "selector": selector, "template": template},
    });
    let namespace = meta::namespace(deployment);
    log_refusal(
        "create replicaset",
        lifecycle::create(
            state,
            &types.sets,
            namespace,
            rs,
            &WriteOptions::by(MANAGER),
        ),
    );
}

/// Brings an existing ReplicaSet to the newest revision (a rollback or a return to an
/// old template), keeping its former revisions in `revision-history`.
fn adopt_revision(
    state: &mut State,
    types: &Types,
    rs: &Value,
    next_revision: u64,
    mut annotations: Map<String, Value>,
) {
    let old_revision = revision(rs);
    let mut history = meta::annotation(rs, REVISION_HISTORY).map(str::to_string);
    let revision_now = if old_revision < next_revision {
        if old_revision > 0 {
            let mut entries: Vec<String> = history
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(|h| h.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            entries.push(old_revision.to_string());
            while entries.join(",").len() > MAX_HISTORY_CHARS && entries.len() > 1 {
                entries.remove(0);
            }
            history = Some(entries.join(","));
        }
        next_revision
    } else {
        old_revision
    };
    annotations.insert(REVISION.into(), json!(revision_now.to_string()));
    if let Some(history) = history {
        annotations.insert(REVISION_HISTORY.into(), json!(history));
    }
    let current = rs
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut merged = current.clone();
    merged.extend(annotations);
    if merged == current {
        return;
    }
    let mut next = rs.clone();
    if let Some(metadata) = meta::metadata_mut(&mut next) {
        metadata.insert("annotations".into(), Value::Object(merged));
    }
    update(state, &types.sets, rs, next);
}

/// Records the current revision on the Deployment; answers the Deployment as stored
/// afterwards when it wrote it.
fn set_deployment_revision(
    state: &mut State,
    types: &Types,
    deployment: &Value,
    revision: u64,
) -> Option<Arc<Value>> {
    let wanted = revision.to_string();
    if meta::annotation(deployment, REVISION) == Some(wanted.as_str()) {
        return None;
    }
    // The deployment may have moved on since the pass read it (its status was not yet
    // written, but a client may have): start from the stored one.
    let key = crate::store::ObjectKey::new(
        &types.deployments.type_key(),
        meta::namespace(deployment),
        meta::name(deployment),
    );
    let stored = state.get(&key)?;
    let mut next = (*stored).clone();
    if let Some(annotations) =
        meta::metadata_mut(&mut next).and_then(|m| crate::defaults::child(m, "annotations"))
    {
        annotations.insert(REVISION.into(), json!(wanted));
    }
    update(state, &types.deployments, &stored, next);
    state.get(&key)
}

fn update(state: &mut State, rt: &ResourceType, object: &Value, next: Value) {
    super::replace(state, rt, object, next, &WriteOptions::by(MANAGER));
}

/// Deletes the oldest old ReplicaSets at zero beyond `revisionHistoryLimit`.
fn clean_up(
    state: &mut State,
    types: &Types,
    deployment: &Value,
    sets: &[Arc<Value>],
    new_name: &str,
) {
    let Some(limit) = deployment
        .pointer("/spec/revisionHistoryLimit")
        .and_then(Value::as_u64)
        .and_then(|l| usize::try_from(l).ok())
    else {
        return;
    };
    let mut old: Vec<&Arc<Value>> = sets
        .iter()
        .filter(|rs| meta::name(rs) != new_name && !meta::is_deleting(rs))
        .collect();
    if old.len() <= limit {
        return;
    }
    old.sort_by_key(|rs| revision(rs));
    let excess = old.len() - limit;
    for rs in old.into_iter().take(excess) {
        let observed = rs
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let settled = replicas(rs) == 0
            && rs
                .pointer("/status/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                == 0
            && observed >= generation(rs).as_i64().unwrap_or(1);
        if settled {
            remove(state, &types.sets, rs);
        }
    }
}

/// The `ScalingReplicaSet` event of a scale.
fn scaled(state: &mut State, deployment: &Value, set: &str, from: usize, to: usize) {
    let direction = if to > from { "up" } else { "down" };
    events::record(
        state,
        meta::namespace(deployment),
        events::reference(deployment),
        events::controller("Deployment"),
        Occurrence::normal(
            "ScalingReplicaSet",
            format!("Scaled {direction} replica set {set} from {from} to {to}"),
        ),
    );
}

/// Scales a ReplicaSet (or any object with `spec.replicas`).
pub fn scale(state: &mut State, rt: &ResourceType, object: &Value, replicas: usize) {
    let mut next = object.clone();
    if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), json!(replicas));
    }
    update(state, rt, object, next);
}

fn write_deployment_status(
    state: &mut State,
    types: &Types,
    deployment: &Value,
    new_name: &str,
    wanted: usize,
) {
    let mut total: usize = 0;
    let mut ready = 0;
    let mut updated = 0;
    let sets = owned(state, &types.sets, deployment);
    for rs in &sets {
        for pod in owned_stored(state, &types.pods, rs) {
            total += 1;
            ready += usize::from(is_ready_stored(&pod));
            updated += usize::from(meta::name(rs) == new_name);
        }
    }
    let available = ready >= wanted;
    let progressed = updated == wanted && available;
    let mut conditions = vec![
        condition(
            "Available",
            available,
            if available {
                "MinimumReplicasAvailable"
            } else {
                "MinimumReplicasUnavailable"
            },
            if available {
                "Deployment has minimum availability.".to_string()
            } else {
                "Deployment does not have minimum availability.".to_string()
            },
        ),
        condition(
            "Progressing",
            true,
            if progressed {
                "NewReplicaSetAvailable"
            } else {
                "ReplicaSetUpdated"
            },
            if progressed {
                format!("ReplicaSet {new_name:?} has successfully progressed.")
            } else {
                format!("ReplicaSet {new_name:?} is progressing.")
            },
        ),
    ];
    // A ReplicaSet that cannot create its pods shows on its Deployment, the new one's first.
    let mut sets = sets;
    sets.sort_by_key(|rs| meta::name(rs) != new_name);
    if let Some(failure) = sets.iter().find_map(|rs| replica_failure(rs)) {
        let mut failure = failure.clone();
        failure["lastUpdateTime"] = json!(meta::now());
        conditions.push(failure);
    }
    let status = json!({
        "observedGeneration": generation(deployment),
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": total.saturating_sub(ready),
        "conditions": conditions,
    });
    write_status(state, &types.deployments, deployment, status, MANAGER);
}
