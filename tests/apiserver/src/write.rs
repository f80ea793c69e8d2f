//! Writes over HTTP: create (POST), update (PUT) and delete. This module reads the
//! request (body, `dryRun`, `fieldManager`, `fieldValidation`, DeleteOptions) and has the
//! lifecycle pipeline prepare the change as a [`Planned`] write, which admission then
//! sees and commits. It also holds the cascades the real control plane performs
//! eventually and this server at once: a namespace takes its objects with it, a CRD its
//! custom objects, and `propagationPolicy: Orphan` frees dependents.

use serde_json::{Value, json};

use crate::app::Context;
use crate::http::ApiRequest;
use crate::lifecycle::{self, Ownership, Preconditions, WriteOptions};
use crate::meta;
use crate::planned::{Cascade, Operation, Planned, View};
use crate::read::Filter;
use crate::resources::TypeKey;
use crate::status::{ApiError, ApiResult};
use crate::store::{State, Store};

/// Parses a JSON, YAML or (for the kinds kubectl's typed commands send) protobuf body.
pub fn body(request: &ApiRequest) -> ApiResult<Value> {
    if request.content_type == "application/vnd.kubernetes.protobuf" {
        return crate::protobuf::decode(&request.body)
            .map_err(|unsupported| ApiError::unsupported_media_type(unsupported.0));
    }
    if request.content_type.contains("protobuf") || request.content_type.contains("cbor") {
        return Err(ApiError::unsupported_media_type(format!(
            "this server accepts JSON, YAML and protobuf request bodies, not {:?}",
            request.content_type
        )));
    }
    if request.body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(value) => Ok(value),
        Err(json_error) => serde_yaml_ng::from_slice::<Value>(&request.body).map_err(|_| {
            ApiError::bad_request(format!(
                "the request body is not valid JSON or YAML: {json_error}"
            ))
        }),
    }
}

/// Whether the request asks for a dry run; anything but `All` is refused.
pub fn dry_run(request: &ApiRequest) -> ApiResult<bool> {
    match request.param("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "unsupported dryRun value {other:?}: only \"All\" is supported"
        ))),
    }
}

/// The field manager of a write: `fieldManager`, else the User-Agent's program name.
pub fn manager(request: &ApiRequest) -> String {
    if let Some(m) = request.param("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let agent = request.user_agent.split('/').next().unwrap_or("").trim();
    if agent.is_empty() {
        "unknown".into()
    } else {
        agent.chars().take(128).collect()
    }
}

/// Write options of a request.
pub fn options(request: &ApiRequest, ctx: &Context) -> ApiResult<WriteOptions> {
    let strict = match request.param("fieldValidation") {
        None | Some("" | "Ignore" | "Warn") => false,
        Some("Strict") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid fieldValidation {other:?}"
            )));
        }
    };
    Ok(WriteOptions {
        manager: manager(request),
        dry_run: dry_run(request)?,
        status: ctx.status,
        ownership: Ownership::Update,
        strict,
    })
}

/// POST: the new object, prepared.
pub fn plan_create(state: &mut State, request: &ApiRequest, ctx: &Context) -> ApiResult<Planned> {
    let object = body(request)?;
    if !meta::meta_str(&object, "resourceVersion").is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let opts = options(request, ctx)?;
    let pending = lifecycle::prepare_create(state, &ctx.rt, &ctx.namespace, object, &opts)?;
    Ok(Planned {
        pending,
        operation: Operation::Create,
        dry_run: opts.dry_run,
        code: 201,
        view: View::Object,
        manager: opts.manager,
        cascade: Cascade::default(),
    })
}

/// PUT: the replacement, prepared.
pub fn plan_update(state: &mut State, request: &ApiRequest, ctx: &Context) -> ApiResult<Planned> {
    let object = body(request)?;
    let opts = options(request, ctx)?;
    let name = ctx.name.as_deref().unwrap_or("");
    let pending = lifecycle::prepare_update(state, &ctx.rt, &ctx.namespace, name, object, &opts)?;
    Ok(Planned {
        pending,
        operation: Operation::Update,
        dry_run: opts.dry_run,
        code: 200,
        view: View::Object,
        manager: opts.manager,
        cascade: Cascade::default(),
    })
}

/// DeleteOptions from the body (if any) and the query.
pub struct DeleteRequest {
    preconditions: Preconditions,
    dry_run: bool,
    orphan: bool,
}

/// Reads the DeleteOptions of a delete or deletecollection request.
pub fn delete_request(request: &ApiRequest) -> ApiResult<DeleteRequest> {
    let options = if request.body.is_empty() {
        json!({})
    } else {
        body(request)?
    };
    let text = |p: &str| {
        options
            .pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let body_dry_run = options
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("All")));
    let policy = text("/propagationPolicy")
        .or_else(|| request.param("propagationPolicy").map(str::to_string));
    let orphan_flag = options.get("orphanDependents").and_then(Value::as_bool) == Some(true);
    match policy.as_deref() {
        None | Some("Background" | "Foreground" | "Orphan") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unsupported propagationPolicy {other:?}"
            )));
        }
    }
    Ok(DeleteRequest {
        preconditions: Preconditions {
            uid: text("/preconditions/uid"),
            resource_version: text("/preconditions/resourceVersion"),
        },
        dry_run: body_dry_run || dry_run(request)?,
        orphan: policy.as_deref() == Some("Orphan") || orphan_flag,
    })
}

/// DELETE of the object `name`, prepared.
pub fn plan_delete(
    state: &State,
    ctx: &Context,
    name: &str,
    options: &DeleteRequest,
) -> ApiResult<Planned> {
    let rt = &ctx.rt;
    let pending =
        lifecycle::prepare_delete(state, rt, &ctx.namespace, name, &options.preconditions)?;
    Ok(Planned {
        pending,
        operation: Operation::Delete,
        dry_run: options.dry_run,
        code: 200,
        view: View::Object,
        manager: String::new(),
        cascade: Cascade {
            orphan: options.orphan,
            namespace: rt.group.is_empty() && rt.plural == "namespaces",
            crd: rt.plural == "customresourcedefinitions",
        },
    })
}

/// Removes the owner reference to `uid` from every object that has one.
pub fn orphan_dependents(state: &mut State, uid: &str) {
    for (key, object) in state.all() {
        if !object.meta().owners.iter().any(|o| *o.uid == *uid) {
            continue;
        }
        let mut freed = object.value();
        if let Some(Value::Array(refs)) = freed.pointer_mut("/metadata/ownerReferences") {
            refs.retain(|o| o.get("uid").and_then(Value::as_str) != Some(uid));
        }
        state.put(key, freed);
    }
}

/// Deletes every namespaced object in a namespace that is being deleted.
pub fn empty_namespace(state: &mut State, namespace: &str) {
    let doomed: Vec<_> = state
        .all()
        .into_iter()
        .filter(|(key, _)| {
            key.namespace == namespace && key.type_key != TypeKey::new("", "namespaces")
        })
        .collect();
    for (key, object) in doomed {
        state.remove(&key, object.value());
    }
}

/// The names a deletecollection request selects, in list order.
pub fn collection_names(
    store: &Store,
    request: &ApiRequest,
    ctx: &Context,
) -> ApiResult<Vec<String>> {
    let filter = Filter::of(request, ctx)?;
    let state = store.lock();
    Ok(state
        .list_stored(&ctx.rt.type_key(), filter.namespace.as_deref())
        .into_iter()
        .filter(|o| filter.selects(o))
        .map(|o| o.meta().name.to_string())
        .collect())
}

/// The list a deletecollection answers.
pub fn collection_answer(store: &Store, ctx: &Context, items: Vec<Value>) -> Value {
    let metadata = json!({"resourceVersion": store.lock().current_rv().to_string()});
    crate::read::list_document(ctx, metadata, items)
}
