//! The workload simulation: a small control plane inside the server that reacts to every
//! committed write. Each pass collects garbage (objects whose owners are all gone), runs
//! the workload controllers (`workloads`) and the kubelet (`kubelet`). All writes go
//! through the ordinary lifecycle pipeline under the field managers the real components
//! use, and a pass that finds nothing to do writes nothing, so the loop settles.

mod kubelet;
mod workloads;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::app::{App, lock};
use crate::lifecycle::{self, Preconditions, WriteOptions};
use crate::meta;
use crate::resources::ResourceType;
use crate::store::State;

/// Pause between passes, so bursts of writes are handled together.
const SETTLE: Duration = Duration::from_millis(10);
/// Longest wait between passes when nothing changes.
const IDLE: Duration = Duration::from_millis(500);

/// Runs passes until the task is aborted.
pub async fn run(app: Arc<App>) {
    let changed = app.store.changed();
    loop {
        let scripted = lock(&app.scripted_pods).clone();
        {
            let mut state = app.store.lock();
            pass(&mut state, &scripted);
        }
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep(IDLE) => {}
        }
        tokio::time::sleep(SETTLE).await;
    }
}

fn pass(state: &mut State, scripted: &HashSet<String>) {
    collect_garbage(state);
    workloads::reconcile(state);
    kubelet::reconcile(state, scripted);
}

/// A type by group and plural (at its only served version here).
pub(crate) fn type_of(state: &State, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
    state
        .types()
        .find(|t| t.group == group && t.plural == plural)
        .cloned()
}

/// An owner reference marking `owner` as the controller.
pub(crate) fn controller_ref(owner: &Value, rt: &ResourceType) -> Value {
    json!({
        "apiVersion": rt.api_version(),
        "kind": rt.kind,
        "name": meta::name(owner),
        "uid": meta::uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Logs a refused simulated write; the next pass tries again.
pub(crate) fn log_refusal(what: &str, result: Result<Arc<Value>, crate::ApiError>) {
    if let Err(error) = result {
        tracing::debug!(%what, %error, "simulated write refused");
    }
}

/// Deletes an object as the garbage collector or a controller would.
pub(crate) fn remove(state: &mut State, rt: &ResourceType, object: &Value) {
    let result = lifecycle::delete(
        state,
        rt,
        meta::namespace(object),
        meta::name(object),
        &Preconditions::default(),
        false,
    );
    log_refusal("delete", result);
}

/// Writes `status` when it differs from the stored one, timestamps aside.
pub(crate) fn write_status(
    state: &mut State,
    rt: &ResourceType,
    object: &Value,
    status: Value,
    manager: &str,
) {
    if object.get("status").map(strip_times) == Some(strip_times(&status)) {
        return;
    }
    let mut next = object.clone();
    if let Some(map) = next.as_object_mut() {
        map.insert("status".into(), status);
    }
    let options = WriteOptions::by(manager).for_status();
    let result = lifecycle::update(
        state,
        rt,
        meta::namespace(object),
        meta::name(object),
        next,
        &options,
    );
    log_refusal("status", result);
}

/// A copy without the timestamps the simulation refreshes, to compare statuses.
pub(crate) fn strip_times(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "startTime"
                            | "startedAt"
                            | "finishedAt"
                            | "lastTransitionTime"
                            | "lastProbeTime"
                            | "lastUpdateTime"
                            | "completionTime"
                    )
                })
                .map(|(k, v)| (k.clone(), strip_times(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_times).collect()),
        other => other.clone(),
    }
}

/// Deletes every object all of whose owners are gone, as the garbage collector does.
fn collect_garbage(state: &mut State) {
    let objects = state.all();
    let uids: HashSet<&str> = objects.iter().map(|(_, o)| meta::uid(o)).collect();
    let orphans: Vec<_> = objects
        .iter()
        .filter(|(_, o)| {
            let owners = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array);
            owners.is_some_and(|refs| {
                !refs.is_empty()
                    && refs
                        .iter()
                        .all(|r| !uids.contains(r.get("uid").and_then(Value::as_str).unwrap_or("")))
            }) && !meta::is_deleting(o)
        })
        .cloned()
        .collect();
    for (key, object) in orphans {
        let rt = state
            .types()
            .find(|t| t.type_key() == key.type_key)
            .cloned();
        if let Some(rt) = rt {
            remove(state, &rt, &object);
        }
    }
}
