//! A minimal OpenAPI v3 surface. The root lists one document per group version; each
//! document declares, for every resource, the PATCH and POST operations with their
//! `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter. That is
//! what kubectl reads to decide that the server validates fields itself, so `create -f`
//! and `apply` work without schemas. Schemas are not served (`kubectl explain` won't work).

use serde_json::{Map, Value, json};

use crate::status::{ApiError, ApiResult};
use crate::store::State;

fn document_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`.
pub fn root(state: &State) -> Value {
    let mut paths = Map::new();
    for rt in state.types() {
        let path = document_path(&rt.group, &rt.version);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<api/v1|apis/group/version>`.
pub fn document(state: &State, path: &str) -> ApiResult<Value> {
    let mut paths = Map::new();
    for rt in state
        .types()
        .filter(|t| document_path(&t.group, &t.version) == path)
    {
        let prefix = format!("/{path}");
        let collection = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{prefix}/{}", rt.plural)
        };
        let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
        let parameters = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ]);
        let operation = |action: &str| {
            json!({
                "operationId": format!("{action}{}", rt.kind),
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        paths.insert(collection, json!({"post": operation("post")}));
        paths.insert(
            format!("{}/{{name}}", paths_key(&prefix, rt.namespaced, &rt.plural)),
            json!({"patch": operation("patch"), "put": operation("put")}),
        );
    }
    if paths.is_empty() {
        return Err(ApiError::no_route(&format!("/openapi/v3/{path}")));
    }
    Ok(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

fn paths_key(prefix: &str, namespaced: bool, plural: &str) -> String {
    if namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{plural}")
    } else {
        format!("{prefix}/{plural}")
    }
}
