//! Field ownership for `metadata.managedFields`. An object's fields are flattened into
//! leaf paths in the `fieldsV1` vocabulary (`f:name`, `k:{"name":"app"}`, `v:"x"`, `.`);
//! [`record_update`] moves ownership of what an ordinary write changed to its manager,
//! and the apply module uses the same paths to find conflicts and removed fields.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::resources::ResourceType;
use crate::structure::{ListKind, Merge, key_of, list_kind};

/// One owned field, as the path of `fieldsV1` keys leading to it.
pub type FieldPath = Vec<String>;

/// A set of owned fields.
pub type Leaves = BTreeSet<FieldPath>;

/// Which part of an object a write covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The main resource of a type with a status subresource: everything but `status`.
    Main,
    /// The `/status` subresource: `status` only.
    Status,
    /// A type without a status subresource: everything.
    Whole,
}

impl Scope {
    /// The scope of a write to `rt`, given whether it targets `/status`.
    pub fn of(rt: &ResourceType, status: bool) -> Scope {
        match (status, rt.status_subresource) {
            (true, _) => Scope::Status,
            (false, true) => Scope::Main,
            (false, false) => Scope::Whole,
        }
    }

    /// The `subresource` field of a managedFields entry in this scope.
    pub fn subresource(self) -> Option<&'static str> {
        match self {
            Scope::Status => Some("status"),
            _ => None,
        }
    }
}

/// The owned-field leaves of an object in a scope.
pub fn leaves_of(object: &Value, rt: &ResourceType, scope: Scope) -> Leaves {
    let mut out = Leaves::new();
    let Some(map) = object.as_object() else {
        return out;
    };
    for (key, value) in map {
        let wanted = match key.as_str() {
            "apiVersion" | "kind" => false,
            "status" => scope != Scope::Main,
            "metadata" => scope != Scope::Status,
            _ => scope != Scope::Status,
        };
        if !wanted {
            continue;
        }
        let mut path = vec![format!("f:{key}")];
        let mut names = vec![key.clone()];
        if key == "metadata" {
            let Some(meta) = value.as_object() else {
                continue;
            };
            for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
                if let Some(v) = meta.get(field) {
                    path.push(format!("f:{field}"));
                    names.push(field.to_string());
                    collect(v, rt, &mut names, &mut path, &mut out);
                    path.pop();
                    names.pop();
                }
            }
            continue;
        }
        collect(value, rt, &mut names, &mut path, &mut out);
    }
    out
}

fn collect(
    value: &Value,
    rt: &ResourceType,
    names: &mut Vec<String>,
    path: &mut FieldPath,
    out: &mut Leaves,
) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            if is_map_field(rt, names) {
                path.push(".".into());
                out.insert(path.clone());
                path.pop();
            }
            for (k, v) in map {
                path.push(format!("f:{k}"));
                names.push(k.clone());
                collect(v, rt, names, path, out);
                names.pop();
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match list_kind(rt, names, Merge::Apply) {
            ListKind::Map(keys) => {
                for item in items {
                    let Some(element) = key_element(&keys, item) else {
                        continue;
                    };
                    path.push(element);
                    path.push(".".into());
                    out.insert(path.clone());
                    path.pop();
                    if let Some(fields) = item.as_object() {
                        for (k, v) in fields {
                            path.push(format!("f:{k}"));
                            names.push(k.clone());
                            collect(v, rt, names, path, out);
                            names.pop();
                            path.pop();
                        }
                    }
                    path.pop();
                }
            }
            ListKind::Set => {
                for item in items {
                    path.push(format!("v:{item}"));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            ListKind::Atomic => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The `k:{...}` element naming a keyed list item.
fn key_element(keys: &[String], item: &Value) -> Option<String> {
    key_of(keys, item).map(|key| format!("k:{}", Value::Object(key)))
}

/// Fields of built-in kinds that are maps of free-form keys rather than structs: a
/// writer owns the map itself (`.`) as well as its entries, as in `fieldsV1`.
fn is_map_field(rt: &ResourceType, names: &[String]) -> bool {
    let Some(last) = names.last() else {
        return false;
    };
    let parent = names.len().checked_sub(2).and_then(|i| names.get(i));
    match last.as_str() {
        "labels" | "annotations" | "nodeSelector" | "matchLabels" | "limits" | "requests"
        | "capacity" | "allocatable" | "overhead" => rt.builtin || names.len() == 2,
        "data" | "stringData" | "binaryData" => rt.builtin && names.len() == 1,
        "selector" => {
            rt.builtin
                && parent.is_some_and(|p| p == "spec")
                && matches!(rt.kind.as_str(), "Service" | "ReplicationController")
        }
        _ => false,
    }
}

/// The value at a field path, `None` when absent.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut node = object;
    for element in path {
        node = step(node, element)?;
    }
    Some(node)
}

fn step<'a>(node: &'a Value, element: &str) -> Option<&'a Value> {
    if element == "." {
        return Some(node);
    }
    if let Some(field) = element.strip_prefix("f:") {
        return node.get(field);
    }
    let items = node.as_array()?;
    if let Some(key) = element.strip_prefix("k:") {
        let key: Value = serde_json::from_str(key).ok()?;
        let key = key.as_object()?;
        return items
            .iter()
            .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    if let Some(literal) = element.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(literal).ok()?;
        return items.iter().find(|item| **item == wanted);
    }
    None
}

/// Removes the field or list item a path names. Answers whether anything was removed.
pub fn remove_path(object: &mut Value, path: &[String]) -> bool {
    let (target, parent_path) = match path.split_last() {
        Some((last, rest)) if last == "." => match rest.split_last() {
            Some((item, parent)) => (item, parent),
            None => return false,
        },
        Some((last, rest)) => (last, rest),
        None => return false,
    };
    let mut node = object;
    for element in parent_path {
        let next = step_mut(node, element);
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    if let Some(field) = target.strip_prefix("f:") {
        return node
            .as_object_mut()
            .is_some_and(|m| m.remove(field).is_some());
    }
    let Some(items) = node.as_array_mut() else {
        return false;
    };
    let before = items.len();
    if let Some(key) = target.strip_prefix("k:") {
        if let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key) {
            items.retain(|item| !key.iter().all(|(k, v)| item.get(k) == Some(v)));
        }
    } else if let Some(literal) = target.strip_prefix("v:")
        && let Ok(wanted) = serde_json::from_str::<Value>(literal)
    {
        items.retain(|item| *item != wanted);
    }
    items.len() != before
}

fn step_mut<'a>(node: &'a mut Value, element: &str) -> Option<&'a mut Value> {
    if let Some(field) = element.strip_prefix("f:") {
        return node.get_mut(field);
    }
    let items = node.as_array_mut()?;
    if let Some(key) = element.strip_prefix("k:") {
        let key: Value = serde_json::from_str(key).ok()?;
        let key = key.as_object()?.clone();
        return items
            .iter_mut()
            .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    None
}

/// Renders leaves as a `fieldsV1` tree.
pub fn to_fields_v1(leaves: &Leaves) -> Value {
    let mut root = Map::new();
    for path in leaves {
        let mut node = &mut root;
        for element in path {
            let entry = node
                .entry(element.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            match entry.as_object_mut() {
                Some(next) => node = next,
                None => break,
            }
        }
    }
    Value::Object(root)
}

/// Reads leaves back from a `fieldsV1` tree.
pub fn from_fields_v1(fields: &Value) -> Leaves {
    fn walk(node: &Map<String, Value>, path: &mut FieldPath, out: &mut Leaves) {
        for (k, v) in node {
            path.push(k.clone());
            match v.as_object() {
                Some(child) if !child.is_empty() => walk(child, path, out),
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = Leaves::new();
    if let Some(map) = fields.as_object() {
        walk(map, &mut Vec::new(), &mut out);
    }
    out
}

/// One `managedFields` entry, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the manager wrote with.
    pub api_version: String,
    /// When the entry last changed.
    pub time: String,
    /// `status` for entries of the status subresource.
    pub subresource: Option<String>,
    /// The owned fields.
    pub leaves: Leaves,
}

impl ManagedEntry {
    /// Whether the entry belongs to a scope.
    pub fn in_scope(&self, scope: Scope) -> bool {
        self.subresource.as_deref() == scope.subresource()
    }

    /// The entry as JSON.
    pub fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(&self.leaves),
        });
        if let (Some(sub), Some(map)) = (&self.subresource, entry.as_object_mut()) {
            map.insert("subresource".into(), Value::String(sub.clone()));
        }
        entry
    }
}

/// The managedFields entries of an object.
pub fn entries_of(object: &Value) -> Vec<ManagedEntry> {
    let Some(list) = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let text = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    list.iter()
        .map(|e| ManagedEntry {
            manager: text(e, "manager"),
            operation: text(e, "operation"),
            api_version: text(e, "apiVersion"),
            time: text(e, "time"),
            subresource: e
                .get("subresource")
                .and_then(Value::as_str)
                .map(str::to_string),
            leaves: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
        })
        .collect()
}

/// Writes entries into `metadata.managedFields`, dropping the ones that own nothing.
pub fn set_entries(object: &mut Value, entries: &[ManagedEntry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.leaves.is_empty())
        .map(ManagedEntry::to_json)
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Who writes, for managedFields bookkeeping.
#[derive(Clone, Debug)]
pub struct Writer<'a> {
    /// The field manager name.
    pub manager: &'a str,
    /// The apiVersion of the request.
    pub api_version: &'a str,
    /// The scope of the write.
    pub scope: Scope,
    /// The timestamp to record.
    pub now: &'a str,
}

/// A field path recorded at one apiVersion as a writer at another spells it.
fn in_version(path: &FieldPath, from: &str, to: &str) -> FieldPath {
    let mut out = path.clone();
    if let Some(first) = out.first_mut()
        && let Some(field) = first.strip_prefix("f:")
    {
        let spelled = crate::convert::field_between(from, to, field);
        if spelled != field {
            *first = format!("f:{spelled}");
        }
    }
    out
}

/// Records an ordinary (non-apply) write: the writer takes every field whose value it
/// changed, other managers lose those fields, and removed fields leave every manager.
pub fn record_update(old: Option<&Value>, new: &mut Value, rt: &ResourceType, writer: &Writer) {
    let old_leaves = old
        .map(|o| leaves_of(o, rt, writer.scope))
        .unwrap_or_default();
    let new_leaves = leaves_of(new, rt, writer.scope);
    let changed: Leaves = new_leaves
        .iter()
        .filter(|p| {
            let before = old.and_then(|o| value_at(o, p));
            let is_item = p.last().is_some_and(|e| e == ".");
            before.is_none() || (!is_item && before != value_at(new, p))
        })
        .cloned()
        .collect();
    let removed: Leaves = old_leaves.difference(&new_leaves).cloned().collect();
    let mut entries = old.map(entries_of).unwrap_or_default();
    if changed.is_empty() && removed.is_empty() {
        set_entries(new, &entries);
        return;
    }
    for entry in &mut entries {
        let from = entry.api_version.clone();
        entry.leaves.retain(|p| {
            let spelled = in_version(p, &from, writer.api_version);
            !changed.contains(&spelled) && !removed.contains(&spelled)
        });
    }
    let subresource = writer.scope.subresource().map(str::to_string);
    let position = entries.iter().position(|e| {
        e.manager == writer.manager && e.operation == "Update" && e.subresource == subresource
    });
    let mut own = match position {
        Some(i) => entries.remove(i),
        None => ManagedEntry {
            manager: writer.manager.to_string(),
            operation: "Update".into(),
            api_version: writer.api_version.to_string(),
            time: String::new(),
            subresource,
            leaves: Leaves::new(),
        },
    };
    own.leaves.extend(changed);
    own.time = writer.now.to_string();
    own.api_version = writer.api_version.to_string();
    entries.push(own);
    set_entries(new, &entries);
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

    fn path(elements: &[&str]) -> FieldPath {
        elements.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn leaves_name_keyed_list_items_and_skip_identity_metadata() {
        let object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "u", "labels": {"app": "web"}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}},
            "status": {"replicas": 1},
        });
        let leaves = leaves_of(&object, &deployment(), Scope::Main);
        let item = r#"k:{"name":"app"}"#;
        let expected: Leaves = [
            path(&["f:metadata", "f:labels", "."]),
            path(&["f:metadata", "f:labels", "f:app"]),
            path(&["f:spec", "f:template", "f:spec", "f:containers", item, "."]),
            path(&[
                "f:spec",
                "f:template",
                "f:spec",
                "f:containers",
                item,
                "f:image",
            ]),
            path(&[
                "f:spec",
                "f:template",
                "f:spec",
                "f:containers",
                item,
                "f:name",
            ]),
        ]
        .into_iter()
        .collect();
        assert_eq!(leaves, expected);
    }

    #[test]
    fn fields_v1_round_trips_through_leaves() {
        let fields =
            json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}});
        assert_eq!(to_fields_v1(&from_fields_v1(&fields)), fields);
    }

    #[test]
    fn an_update_takes_changed_fields_from_other_managers() {
        let rt = deployment();
        let mut old =
            json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "paused": false}});
        let writer = |manager| Writer {
            manager,
            api_version: "apps/v1",
            scope: Scope::Main,
            now: "t",
        };
        record_update(None, &mut old, &rt, &writer("alice"));
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        record_update(Some(&old), &mut new, &rt, &writer("bob"));
        let owners: Vec<(String, Vec<FieldPath>)> = entries_of(&new)
            .into_iter()
            .map(|e| (e.manager, e.leaves.into_iter().collect()))
            .collect();
        assert_eq!(
            owners,
            vec![
                ("alice".to_string(), vec![path(&["f:spec", "f:paused"])]),
                ("bob".to_string(), vec![path(&["f:spec", "f:replicas"])]),
            ]
        );
    }

    #[test]
    fn removing_a_path_removes_keyed_items_and_fields() {
        let mut object = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "x": 1}});
        let cases = [
            (
                path(&["f:spec", "f:containers", r#"k:{"name":"a"}"#, "."]),
                true,
            ),
            (path(&["f:spec", "f:x"]), true),
            (path(&["f:spec", "f:missing"]), false),
        ];
        for (p, removed) in cases {
            assert_eq!(remove_path(&mut object, &p), removed, "{p:?}");
        }
        assert_eq!(object, json!({"spec": {"containers": [{"name": "b"}]}}));
    }
}
