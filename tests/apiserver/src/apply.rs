//! Server-side apply. In: the live object (if any), the applied configuration, the field
//! manager and `force`. Out: the merged object with `metadata.managedFields` recomputed,
//! or a `409 Conflict` naming each contested field and the manager that owns it. Fields
//! the manager applied before but no longer applies are removed unless another manager
//! still owns them; keyed lists merge item by item.

use serde_json::{Map, Value, json};

use crate::fieldset::{
    Leaves, ManagedEntry, Scope, entries_of, leaves_of, remove_path, set_entries, value_at,
};
use crate::resources::ResourceType;
use crate::status::{ApiError, ApiResult, Reason};
use crate::structure::{ListKind, Merge, list_kind, same_item};

/// One server-side apply request.
#[derive(Clone, Debug)]
pub struct ApplyRequest<'a> {
    /// The field manager (required by the API).
    pub manager: &'a str,
    /// Take contested fields instead of failing.
    pub force: bool,
    /// Main resource or `/status`.
    pub scope: Scope,
    /// The request's apiVersion, recorded in managedFields.
    pub api_version: &'a str,
    /// The timestamp to record.
    pub now: &'a str,
}

/// Restricts an applied configuration to what the scope may change.
fn scoped(applied: &Value, scope: Scope) -> Value {
    let mut out = applied.clone();
    if let Some(map) = out.as_object_mut() {
        match scope {
            Scope::Main => {
                map.remove("status");
            }
            Scope::Status => map
                .retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")),
            Scope::Whole => {}
        }
    }
    out
}

/// Computes the object after applying `applied` over `live` (an empty object for creates).
pub fn apply(
    live: &Value,
    applied: &Value,
    rt: &ResourceType,
    request: &ApplyRequest,
) -> ApiResult<Value> {
    let applied = scoped(applied, request.scope);
    let applied_leaves = leaves_of(&applied, rt, request.scope);
    let mut entries = entries_of(live);
    let mine = |e: &ManagedEntry| {
        e.manager == request.manager && e.operation == "Apply" && e.in_scope(request.scope)
    };

    let mut conflicts: Vec<(String, String, Vec<String>)> = Vec::new();
    for entry in entries
        .iter()
        .filter(|e| e.in_scope(request.scope) && e.manager != request.manager)
    {
        for path in entry.leaves.intersection(&applied_leaves) {
            if path.last().is_some_and(|p| p == ".") {
                continue;
            }
            if value_at(live, path) != value_at(&applied, path) {
                conflicts.push((
                    entry.manager.clone(),
                    entry.api_version.clone(),
                    path.clone(),
                ));
            }
        }
    }
    if !conflicts.is_empty() {
        if !request.force {
            return Err(conflict_error(&conflicts));
        }
        for entry in entries
            .iter_mut()
            .filter(|e| e.in_scope(request.scope) && e.manager != request.manager)
        {
            entry
                .leaves
                .retain(|p| !conflicts.iter().any(|(_, _, c)| c == p));
        }
    }

    let mut merged = live.clone();
    merge(&mut merged, &applied, rt, &mut Vec::new());

    let previous: Leaves = entries
        .iter()
        .filter(|e| mine(e))
        .flat_map(|e| e.leaves.iter().cloned())
        .collect();
    let others: Leaves = entries
        .iter()
        .filter(|e| !mine(e) && e.in_scope(request.scope))
        .flat_map(|e| e.leaves.iter().cloned())
        .collect();
    let mut abandoned: Vec<&Vec<String>> = previous
        .iter()
        .filter(|p| !applied_leaves.contains(*p) && !others.contains(*p) && !is_map_marker(p))
        .collect();
    // As structured-merge-diff's prune does (named fields on the way to a removed leaf
    // count as members): a struct field whose every owned leaf was abandoned goes with its
    // unowned contents (defaults included), unless someone still owns a field under it.
    let structs = abandoned_structs(&abandoned, &applied_leaves, &others);
    abandoned.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in abandoned {
        remove_path(&mut merged, path);
    }
    for path in &structs {
        remove_path(&mut merged, path);
    }

    entries.retain(|e| !mine(e));
    entries.push(ManagedEntry {
        manager: request.manager.to_string(),
        operation: "Apply".into(),
        api_version: request.api_version.to_string(),
        time: request.now.to_string(),
        subresource: request.scope.subresource().map(str::to_string),
        leaves: applied_leaves,
    });
    if let Some(map) = merged.as_object_mut() {
        map.entry("metadata").or_insert_with(|| json!({}));
    }
    set_entries(&mut merged, &entries);
    Ok(merged)
}

/// The named fields (below the top level, outside `metadata`) above abandoned leaves that
/// no other manager and not the applied configuration own anything under: removed whole,
/// outermost first does not matter since each is checked against the ownership sets.
fn abandoned_structs(
    abandoned: &[&Vec<String>],
    applied: &Leaves,
    others: &Leaves,
) -> Vec<Vec<String>> {
    let owned_under = |prefix: &[String]| {
        applied
            .iter()
            .chain(others.iter())
            .any(|p| p.len() > prefix.len() && p.starts_with(prefix))
    };
    let mut out: Vec<Vec<String>> = Vec::new();
    for path in abandoned {
        if path.first().is_some_and(|f| f == "f:metadata") {
            continue;
        }
        for end in 2..path.len() {
            let prefix = &path[..end];
            let named = prefix.last().is_some_and(|e| e.starts_with("f:"));
            if named && !owned_under(prefix) && !out.iter().any(|o| o.as_slice() == prefix) {
                out.push(prefix.to_vec());
            }
        }
    }
    // Outermost first: removing a parent makes its children's removal a no-op.
    out.sort_by_key(Vec::len);
    out
}

/// The `.` a manager owns on a map field: the map goes when its last entry does, not
/// before, since other managers may still own entries.
fn is_map_marker(path: &[String]) -> bool {
    match path {
        [.., field, last] => last == "." && field.starts_with("f:"),
        _ => false,
    }
}

fn conflict_error(conflicts: &[(String, String, Vec<String>)]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(manager, api_version, path)| {
            json!({
                "type": "FieldManagerConflict",
                "message": format!("conflict with \"{manager}\" using {api_version}"),
                "field": dotted(path),
            })
        })
        .collect();
    let lines: Vec<String> = conflicts
        .iter()
        .map(|(manager, api_version, path)| {
            format!(
                "- conflict with \"{manager}\" using {api_version}: {}",
                dotted(path)
            )
        })
        .collect();
    let mut error = ApiError::new(
        Reason::Conflict,
        format!(
            "Apply failed with {} conflict{}: {}",
            conflicts.len(),
            if conflicts.len() == 1 { "" } else { "s" },
            lines.join("\n")
        ),
    );
    error.details = Some(json!({"causes": causes}));
    error
}

/// A field path as `.spec.replicas` or `.spec.containers[name="app"].image`.
fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(field) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = element.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(key)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[{value}]"));
        }
    }
    out
}

fn merge(target: &mut Value, applied: &Value, rt: &ResourceType, path: &mut Vec<String>) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(target_map), Some(applied_map)) => {
            for (key, value) in applied_map {
                path.push(key.clone());
                match target_map.get_mut(key) {
                    Some(slot) => merge(slot, value, rt, path),
                    None => {
                        target_map.insert(key.clone(), value.clone());
                    }
                }
                path.pop();
            }
        }
        _ => match (
            target.as_array_mut(),
            applied.as_array(),
            list_kind(rt, path, Merge::Apply),
        ) {
            (Some(target_items), Some(applied_items), ListKind::Map(keys)) => {
                for item in applied_items {
                    match target_items.iter_mut().find(|t| same_item(&keys, t, item)) {
                        Some(slot) => merge(slot, item, rt, path),
                        None => target_items.push(item.clone()),
                    }
                }
            }
            (Some(target_items), Some(applied_items), ListKind::Set) => {
                for item in applied_items {
                    if !target_items.contains(item) {
                        target_items.push(item.clone());
                    }
                }
            }
            _ => *target = applied.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_types;

    fn deployment() -> ResourceType {
        builtin_types()
            .into_iter()
            .find(|t| t.kind == "Deployment")
            .map(|t| (*t).clone())
            .unwrap_or_else(|| panic!("deployments are built in"))
    }

    fn request(manager: &str, force: bool) -> ApplyRequest<'_> {
        ApplyRequest {
            manager,
            force,
            scope: Scope::Main,
            api_version: "apps/v1",
            now: "t",
        }
    }

    fn containers(images: &[(&str, &str)]) -> Value {
        let list: Vec<Value> = images
            .iter()
            .map(|(n, i)| json!({"name": n, "image": i}))
            .collect();
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": list}}}})
    }

    #[test]
    fn a_struct_no_one_owns_any_more_goes_whole_with_its_defaults() {
        let rt = deployment();
        let base = apply(
            &json!({}),
            &containers(&[("app", "a:1")]),
            &rt,
            &request("alice", false),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut probed = containers(&[("app", "a:1")]);
        probed["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] =
            json!({"tcpSocket": {"port": 80}});
        probed["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"limits": {"cpu": "1"}});
        let mut live =
            apply(&base, &probed, &rt, &request("bob", false)).unwrap_or_else(|e| panic!("{e}"));
        // The server defaults fields no one applied.
        live["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["timeoutSeconds"] =
            json!(1);
        let empty =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let after =
            apply(&live, &empty, &rt, &request("bob", false)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            after["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "a:1"}])
        );
    }

    #[test]
    fn managers_of_different_containers_do_not_conflict() {
        let rt = deployment();
        let first = apply(
            &json!({}),
            &containers(&[("app", "a:1")]),
            &rt,
            &request("alice", false),
        );
        let first = first.unwrap_or_else(|e| panic!("{e}"));
        let second = apply(
            &first,
            &containers(&[("side", "s:1")]),
            &rt,
            &request("bob", false),
        );
        let names: Vec<String> = second
            .map(|o| {
                o.pointer("/spec/template/spec/containers")
                    .and_then(Value::as_array)
                    .map(|cs| {
                        cs.iter()
                            .filter_map(|c| c["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        assert_eq!(names, vec!["app", "side"]);
    }

    #[test]
    fn a_different_image_for_someone_elses_container_conflicts_unless_forced() {
        let rt = deployment();
        let live = apply(
            &json!({}),
            &containers(&[("app", "a:1")]),
            &rt,
            &request("alice", false),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cases = [(false, Some(409)), (true, None)];
        for (force, expected) in cases {
            let result = apply(
                &live,
                &containers(&[("app", "a:2")]),
                &rt,
                &request("bob", force),
            );
            assert_eq!(result.err().map(|e| e.code), expected, "force={force}");
        }
    }
}
