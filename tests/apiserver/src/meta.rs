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

/// A copy without managedFields timestamps and resourceVersion, to detect no-op writes.
pub fn comparable(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
            for entry in entries.iter_mut() {
                if let Some(e) = entry.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    copy
}
