//! Strategic merge patch for built-in kinds: like a JSON merge patch, except that lists
//! with a patch merge key (containers by name, ports by containerPort, ...) merge item by
//! item, finalizers merge as a set, and the `$patch: delete|replace|merge`,
//! `$deleteFromPrimitiveList/<field>` and `$retainKeys` directives are honoured
//! (`$setElementOrder/<field>` is accepted; items keep the live order). Directives this
//! server does not implement are refused.

use serde_json::{Map, Value};

use crate::resources::ResourceType;
use crate::status::{ApiError, ApiResult};
use crate::structure::{ListKind, Merge, list_kind, same_item};

/// Applies a strategic merge patch to `target`.
pub fn patch(target: &Value, patch: &Value, rt: &ResourceType) -> ApiResult<Value> {
    let Some(patch) = patch.as_object() else {
        return Err(ApiError::bad_request(
            "a strategic merge patch must be a JSON object",
        ));
    };
    let mut out = target.clone();
    merge_map(&mut out, patch, rt, &mut Vec::new())?;
    Ok(out)
}

fn merge_map(
    target: &mut Value,
    patch: &Map<String, Value>,
    rt: &ResourceType,
    path: &mut Vec<String>,
) -> ApiResult<()> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = Value::Object(strip_directives(patch));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unsupported strategic merge patch directive: $patch: {other}"
            )));
        }
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(map) = target.as_object_mut() else {
        return Ok(());
    };
    for (key, value) in patch {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let doomed = value.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = map.get_mut(field) {
                items.retain(|item| !doomed.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            return Err(ApiError::bad_request(format!(
                "unsupported strategic merge patch directive: {key}"
            )));
        }
        path.push(key.clone());
        match value {
            Value::Null => {
                map.remove(key);
            }
            Value::Object(child) => {
                let slot = map.entry(key.clone()).or_insert(Value::Null);
                merge_map(slot, child, rt, path)?;
            }
            Value::Array(items) => {
                let merged = merge_list(map.get(key), items, rt, path)?;
                map.insert(key.clone(), merged);
            }
            scalar => {
                map.insert(key.clone(), scalar.clone());
            }
        }
        path.pop();
    }
    if let Some(retained) = patch.get("$retainKeys").and_then(Value::as_array) {
        map.retain(|k, _| retained.iter().any(|r| r.as_str() == Some(k.as_str())));
    }
    Ok(())
}

fn merge_list(
    current: Option<&Value>,
    patch: &[Value],
    rt: &ResourceType,
    path: &mut Vec<String>,
) -> ApiResult<Value> {
    let existing = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let replace_all = patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    match list_kind(rt, path, Merge::Strategic) {
        _ if replace_all => Ok(Value::Array(
            patch
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        )),
        ListKind::Map(keys) => {
            let mut out = existing;
            for item in patch {
                let Some(fields) = item.as_object() else {
                    return Err(ApiError::bad_request(format!(
                        "the list {} merges by key; every item must be an object",
                        path.join(".")
                    )));
                };
                let position = out.iter().position(|o| same_item(&keys, o, item));
                let delete = fields.get("$patch").and_then(Value::as_str) == Some("delete");
                match (position, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        if let Some(slot) = out.get_mut(i) {
                            merge_map(slot, fields, rt, path)?;
                        }
                    }
                    (None, false) => out.push(Value::Object(strip_directives(fields))),
                }
            }
            Ok(Value::Array(out))
        }
        ListKind::Set => {
            let mut out = existing;
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(Value::Array(out))
        }
        ListKind::Atomic => Ok(Value::Array(patch.to_vec())),
    }
}

fn strip_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_types;
    use serde_json::json;

    fn deployment() -> ResourceType {
        builtin_types()
            .into_iter()
            .find(|t| t.kind == "Deployment")
            .map(|t| (*t).clone())
            .unwrap_or_else(|| panic!("deployments are built in"))
    }

    fn pod_spec(containers: Value) -> Value {
        json!({"spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn keyed_lists_merge_item_by_item() {
        let base = pod_spec(json!([
            {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "side:1"}
        ]));
        let cases = [
            (
                "a new image updates only the named container",
                pod_spec(json!([{"name": "side", "image": "side:2"}])),
                pod_spec(json!([
                    {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
                    {"name": "side", "image": "side:2"}
                ])),
            ),
            (
                "a $patch delete removes the named container",
                pod_spec(json!([{"name": "side", "$patch": "delete"}])),
                pod_spec(json!([
                    {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]}
                ])),
            ),
            (
                "ports merge by containerPort",
                pod_spec(json!([{"name": "app", "ports": [{"containerPort": 443}]}])),
                pod_spec(json!([
                    {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}, {"containerPort": 443}]},
                    {"name": "side", "image": "side:1"}
                ])),
            ),
            (
                "an unknown container is appended",
                pod_spec(json!([{"name": "new", "image": "n:1"}])),
                pod_spec(json!([
                    {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
                    {"name": "side", "image": "side:1"},
                    {"name": "new", "image": "n:1"}
                ])),
            ),
        ];
        for (case, patch_doc, expected) in cases {
            let result = patch(&base, &patch_doc, &deployment());
            assert_eq!(result, Ok(expected), "{case}");
        }
    }

    #[test]
    fn retain_keys_drops_the_fields_it_does_not_list() {
        let base = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch_doc =
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let expected = json!({"spec": {"strategy": {"type": "Recreate"}}});
        assert_eq!(patch(&base, &patch_doc, &deployment()), Ok(expected));
    }

    #[test]
    fn nulls_delete_fields_and_atomic_lists_are_replaced() {
        let base = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
                          "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["x", "y"]}]}}}});
        let patch_doc = json!({"metadata": {"labels": {"a": null}},
                               "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["z"]}]}}}});
        let expected = json!({"metadata": {"labels": {"b": "2"}},
                              "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["z"]}]}}}});
        assert_eq!(patch(&base, &patch_doc, &deployment()), Ok(expected));
    }
}
