//! PATCH in its four flavours, chosen by Content-Type: JSON merge patch (RFC 7386), JSON
//! patch (RFC 6902, including `test`), strategic merge patch (built-in kinds only; custom
//! resources get 415 as from the real server) and server-side apply
//! (`application/apply-patch+yaml`, `fieldManager` required, `force`). The patched object
//! then goes through the same lifecycle pipeline as a PUT (apply may also create) and
//! comes out as a [`Planned`] write for admission to see and commit.

use serde_json::Value;

use crate::app::Context;
use crate::apply::{ApplyRequest, apply};
use crate::fieldset::Scope;
use crate::http::ApiRequest;
use crate::lifecycle::{self, Ownership, PendingWrite, WriteOptions};
use crate::meta;
use crate::planned::{Cascade, Operation, Planned, View};
use crate::status::{ApiError, ApiResult};
use crate::store::{ObjectKey, State};
use crate::write::{body, options};

const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";

fn parse_apply_body(request: &ApiRequest) -> ApiResult<Value> {
    serde_yaml_ng::from_slice::<Value>(&request.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

fn planned(pending: PendingWrite, operation: Operation, opts: WriteOptions) -> Planned {
    Planned {
        pending,
        operation,
        dry_run: opts.dry_run,
        code: if operation == Operation::Create {
            201
        } else {
            200
        },
        view: View::Object,
        manager: opts.manager,
        cascade: Cascade::default(),
    }
}

/// PATCH of one object, prepared.
pub fn plan(state: &mut State, request: &ApiRequest, ctx: &Context) -> ApiResult<Planned> {
    let name = ctx.name.as_deref().unwrap_or("");
    let rt = &ctx.rt;
    let mut opts = options(request, ctx)?;
    let key = ObjectKey::new(
        &rt.type_key(),
        if rt.namespaced { &ctx.namespace } else { "" },
        name,
    );
    // Patches apply to the object as the requested version spells it.
    let current = state.get(&key).map(|stored| match rt.conversion {
        Some(_) => std::sync::Arc::new(rt.present(&stored)),
        None => stored,
    });
    let content_type = request.content_type.as_str();
    if content_type == APPLY {
        let Some(manager) = request.param("fieldManager").filter(|m| !m.is_empty()) else {
            return Err(ApiError::bad_request(
                "PATCH, application/apply-patch+yaml requests must have a fieldManager query parameter",
            ));
        };
        let force = match request.param("force") {
            None | Some("" | "false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid force value {other:?}"
                )));
            }
        };
        let applied = parse_apply_body(request)?;
        if !applied.is_object() {
            return Err(ApiError::bad_request(
                "the applied configuration must be an object",
            ));
        }
        let applied_name = meta::name(&applied);
        if !applied_name.is_empty() && applied_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({applied_name}) does not match the name on the URL ({name})"
            )));
        }
        let now = meta::now();
        let api_version = rt.api_version();
        let apply_request = ApplyRequest {
            manager,
            force,
            scope: Scope::of(rt, ctx.status),
            api_version: &api_version,
            now: &now,
        };
        opts.manager = manager.to_string();
        opts.ownership = Ownership::Precomputed;
        let live = current
            .as_deref()
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        let mut merged = apply(&live, &applied, rt, &apply_request)?;
        return match current {
            Some(_) => {
                let pending =
                    lifecycle::prepare_update(state, rt, &ctx.namespace, name, merged, &opts)?;
                Ok(planned(pending, Operation::Update, opts))
            }
            None if ctx.status => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
            None => {
                if let Some(metadata) = meta::metadata_mut(&mut merged) {
                    metadata.insert("name".into(), Value::String(name.to_string()));
                }
                let pending = lifecycle::prepare_create(state, rt, &ctx.namespace, merged, &opts)?;
                Ok(planned(pending, Operation::Create, opts))
            }
        };
    }
    let Some(current) = current else {
        return Err(ApiError::not_found(&rt.group, &rt.plural, name));
    };
    let mut patched = match content_type {
        MERGE => {
            let patch = body(request)?;
            let mut target = (*current).clone();
            json_patch::merge(&mut target, &patch);
            target
        }
        JSON_PATCH => {
            let patch: json_patch::Patch = serde_json::from_slice(&request.body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            let mut target = (*current).clone();
            apply_json_patch(&mut target, patch)?;
            target
        }
        STRATEGIC if rt.builtin => crate::strategic::patch(&current, &body(request)?, rt)?,
        STRATEGIC => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: \
                 {JSON_PATCH}, {MERGE}, {APPLY} (strategic merge patch is not supported for custom resources)"
            )));
        }
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({other:?}) - accepted media types include: \
                 {JSON_PATCH}, {MERGE}, {STRATEGIC}, {APPLY}"
            )));
        }
    };
    // A patch that does not name a resourceVersion must not trip the stale-write check.
    let patch_names_rv = match content_type {
        JSON_PATCH => body(request)
            .ok()
            .and_then(|ops| ops.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .any(|op| {
                op.get("path").and_then(Value::as_str) == Some("/metadata/resourceVersion")
                    && op.get("op").and_then(Value::as_str) != Some("test")
            }),
        _ => body(request)
            .ok()
            .and_then(|b| b.pointer("/metadata/resourceVersion").cloned())
            .is_some(),
    };
    if !patch_names_rv && let Some(metadata) = meta::metadata_mut(&mut patched) {
        metadata.remove("resourceVersion");
    }
    let pending = lifecycle::prepare_update(state, rt, &ctx.namespace, name, patched, &opts)?;
    Ok(planned(pending, Operation::Update, opts))
}

/// Applies RFC 6902 operations one by one with the Kubernetes reading of `test`: testing
/// a missing path for `null` passes (kube's finalizer helper relies on it).
fn apply_json_patch(target: &mut Value, patch: json_patch::Patch) -> ApiResult<()> {
    for operation in patch.0 {
        if let json_patch::PatchOperation::Test(test) = &operation
            && test.value.is_null()
            && target.pointer(test.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(target, &[operation]).map_err(|e| json_patch_error(&e))?;
    }
    Ok(())
}

fn json_patch_error(error: &json_patch::PatchError) -> ApiError {
    let message = error.to_string();
    if message.to_ascii_lowercase().contains("test") {
        ApiError::new(
            crate::status::Reason::Invalid,
            format!("the JSON patch test operation failed: {message}"),
        )
    } else {
        ApiError::new(
            crate::status::Reason::Invalid,
            format!("the JSON patch could not be applied: {message}"),
        )
    }
}
