//! The `/scale` subresource of Deployments, ReplicaSets, StatefulSets and
//! ReplicationControllers: an `autoscaling/v1 Scale` view of `spec.replicas`, readable
//! and writable by PUT or by merge / JSON / strategic patch (as `kubectl scale` does).
//! Writes go through the lifecycle pipeline as an update of the owning object, prepared
//! as a [`Planned`] write whose admission objects are Scales.

use serde_json::{Value, json};

use crate::app::Context;
use crate::http::ApiRequest;
use crate::lifecycle;
use crate::meta;
use crate::planned::{Cascade, Operation, Planned, View};
use crate::status::{ApiError, ApiResult};
use crate::store::{ObjectKey, State, Store};
use crate::write::{body, options};

fn selector(object: &Value) -> String {
    object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// The Scale view of an object.
pub fn scale_of(object: &Value) -> Value {
    let metadata = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let keep = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ];
    let metadata: serde_json::Map<String, Value> = metadata
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector(object),
        },
    })
}

fn current(state: &State, ctx: &Context) -> ApiResult<std::sync::Arc<Value>> {
    let rt = &ctx.rt;
    let name = ctx.name.as_deref().unwrap_or("");
    let key = ObjectKey::new(&rt.type_key(), &ctx.namespace, name);
    state
        .get(&key)
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
}

/// Answers a get of `/scale`.
pub fn get(store: &Store, ctx: &Context) -> ApiResult<Value> {
    let object = current(&store.lock(), ctx)?;
    Ok(scale_of(&object))
}

/// An update or patch of `/scale`, prepared as an update of the owning object.
pub fn plan(
    state: &mut State,
    request: &ApiRequest,
    ctx: &Context,
    verb: &str,
) -> ApiResult<Planned> {
    let rt = &ctx.rt;
    let name = ctx.name.as_deref().unwrap_or("");
    let current = current(state, ctx)?;
    let view = scale_of(&current);
    let wanted = match verb {
        "update" => body(request)?,
        _ => {
            let mut patched = view.clone();
            match request.content_type.as_str() {
                "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                    json_patch::merge(&mut patched, &body(request)?);
                }
                "application/json-patch+json" => {
                    let ops: json_patch::Patch = serde_json::from_slice(&request.body)
                        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                    json_patch::patch(&mut patched, &ops).map_err(|e| {
                        ApiError::new(crate::status::Reason::Invalid, e.to_string())
                    })?;
                }
                other => {
                    return Err(ApiError::unsupported_media_type(format!(
                        "the scale subresource accepts merge, strategic and JSON patches, not {other:?}"
                    )));
                }
            }
            patched
        }
    };
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::bad_request("a Scale needs spec.replicas as a non-negative integer")
        })?;
    let mut next = (*current).clone();
    if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), json!(replicas));
    }
    let wanted_rv = meta::meta_str(&wanted, "resourceVersion");
    if let Some(metadata) = meta::metadata_mut(&mut next) {
        if wanted_rv.is_empty() {
            metadata.remove("resourceVersion");
        } else {
            metadata.insert("resourceVersion".into(), json!(wanted_rv));
        }
    }
    let mut opts = options(request, ctx)?;
    opts.status = false;
    let pending = lifecycle::prepare_update(state, rt, &ctx.namespace, name, next, &opts)?;
    Ok(Planned {
        pending,
        operation: Operation::Update,
        dry_run: opts.dry_run,
        code: 200,
        view: View::Scale,
        manager: opts.manager,
        cascade: Cascade::default(),
    })
}
