//! Small accessors for object metadata and the clock. Everything that reads or stamps
//! `metadata.*` fields goes through here so the rules (timestamps to the second, uids as
//! UUIDs, names from `generateName`) live in one place.

use serde_json::{Map, Value};

/// Now, as the RFC 3339 timestamp (whole seconds, UTC) the real server writes.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A fresh uid.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Five random characters from the alphabet the real server uses for generated names.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// A `metadata` string field, empty when absent.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The object's name.
pub fn name(object: &Value) -> &str {
    meta_str(object, "name")
}

/// The object's namespace (empty for cluster-scoped objects).
pub fn namespace(object: &Value) -> &str {
    meta_str(object, "namespace")
}

/// The object's uid.
pub fn uid(object: &Value) -> &str {
    meta_str(object, "uid")
}

/// The object's labels.
pub fn labels(object: &Value) -> Option<&Map<String, Value>> {
    object
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
}

/// The object's annotation, if set.
pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// The `metadata` map, created when missing; `None` when the object is not a JSON object.
pub fn metadata_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = object.as_object_mut()?;
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
}

/// The strings of a JSON list (other items and a missing list count as none).
pub fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The object's finalizers.
pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the object has a deletionTimestamp.
pub fn is_deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

/// The part of an object whose change bumps `metadata.generation`: `spec`, or for kinds
/// without a spec everything but `metadata` and `status`.
pub fn generation_content(object: &Value, specless: bool) -> Value {
    if !specless {
        return object.get("spec").cloned().unwrap_or(Value::Null);
    }
    let mut rest = object.as_object().cloned().unwrap_or_default();
    for field in ["metadata", "status", "apiVersion", "kind"] {
        rest.remove(field);
    }
    Value::Object(rest)
}

/// Whether two objects are the same write: equal apart from `metadata.resourceVersion`
/// and the `time` of managedFields entries, to detect no-op writes (compared in place,
/// nothing copied).
pub fn same_write(a: &Value, b: &Value) -> bool {
    same_except(a, b, None, |key, l, r| match key {
        "metadata" => same_except(l, r, Some("resourceVersion"), |key, l, r| match key {
            "managedFields" => same_managed_fields(l, r),
            _ => l == r,
        }),
        _ => l == r,
    })
}

/// managedFields lists equal apart from their entries' `time`.
fn same_managed_fields(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_array(), b.as_array()) else {
        return a == b;
    };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(l, r)| same_except(l, r, Some("time"), |_, l, r| l == r))
}

/// Two values equal as `same` says for each key of two objects, `skipped` left out (any
/// other values compared as they are).
fn same_except(
    a: &Value,
    b: &Value,
    skipped: Option<&str>,
    same: impl Fn(&str, &Value, &Value) -> bool,
) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let kept = |key: &String| Some(key.as_str()) != skipped;
    a.keys().filter(|k| kept(k)).count() == b.keys().filter(|k| kept(k)).count()
        && a.iter()
            .filter(|(k, _)| kept(k))
            .all(|(k, l)| b.get(k).is_some_and(|r| same(k, l, r)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(rv: &str, time: &str, restarts: u32) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "resourceVersion": rv, "labels": {"a": "b"},
                            "managedFields": [{"manager": "kubelet", "operation": "Update",
                                               "time": time, "fieldsV1": {"f:status": {}}}]},
               "status": {"restartCount": restarts}})
    }

    #[test]
    fn a_write_is_the_same_apart_from_its_version_and_managed_fields_times() {
        let stored = pod("1", "2026-01-01T00:00:00Z", 0);
        assert!(same_write(&pod("2", "2026-01-01T00:00:09Z", 0), &stored));
        assert!(!same_write(&pod("1", "2026-01-01T00:00:00Z", 1), &stored));

        let mut relabelled = stored.clone();
        relabelled["metadata"]["labels"]["a"] = json!("c");
        assert!(!same_write(&relabelled, &stored));

        let mut other_manager = stored.clone();
        other_manager["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
        assert!(!same_write(&other_manager, &stored));

        let mut more_metadata = stored.clone();
        more_metadata["metadata"]["generation"] = json!(2);
        assert!(!same_write(&more_metadata, &stored));
        assert!(!same_write(&stored, &more_metadata));

        let mut without_version = stored.clone();
        if let Some(meta) = without_version["metadata"].as_object_mut() {
            meta.remove("resourceVersion");
        }
        assert!(same_write(&without_version, &stored));

        let mut more_top_level = stored.clone();
        more_top_level["spec"] = json!({});
        assert!(!same_write(&more_top_level, &stored));
        assert!(!same_write(&stored, &more_top_level));
    }
}
