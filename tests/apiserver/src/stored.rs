//! One stored object, as the store keeps it: its compact JSON bytes, written once when the
//! object is stored, plus the few metadata fields the hot paths read (namespace, name,
//! uid, resourceVersion, apiVersion, labels, deletion, owners and the bound node). In: an
//! object as a JSON tree at write time. Out: the bytes, which lists and watch events
//! write into responses unchanged; the metadata, which selectors, the simulation and the
//! store's bookkeeping read without parsing; and the whole tree again, parsed on demand,
//! for writes, patches, tables and field selectors.

use bytes::Bytes;
use serde_json::Value;

use crate::resources::ResourceType;

/// An owner reference, as the garbage collector and the workload controllers read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    /// `apiVersion` of the owner.
    pub api_version: Box<str>,
    /// `kind` of the owner.
    pub kind: Box<str>,
    /// `name` of the owner.
    pub name: Box<str>,
    /// `uid` of the owner.
    pub uid: Box<str>,
    /// Whether the reference is the controller reference.
    pub controller: bool,
}

/// The metadata the store's hot paths read, taken from the object when it is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredMeta {
    /// `apiVersion` as stored.
    pub api_version: Box<str>,
    /// `metadata.namespace`, empty for cluster-scoped objects.
    pub namespace: Box<str>,
    /// `metadata.name`.
    pub name: Box<str>,
    /// `metadata.uid`.
    pub uid: Box<str>,
    /// `metadata.resourceVersion` as a number (0 when absent or not a number).
    pub rv: u64,
    /// `metadata.labels` with string values, in key order.
    pub labels: Box<[(Box<str>, Box<str>)]>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `metadata.ownerReferences`.
    pub owners: Box<[Owner]>,
    /// `spec.nodeName` when it is a non-empty string (pods bound to a node).
    pub node_name: Option<Box<str>>,
}

/// One object as stored: compact JSON bytes and the metadata read from them.
#[derive(Clone, Debug)]
pub struct Stored {
    json: Bytes,
    meta: StoredMeta,
}

fn text(value: Option<&Value>) -> Box<str> {
    value.and_then(Value::as_str).unwrap_or("").into()
}

impl StoredMeta {
    /// The metadata of an object tree.
    pub fn of(object: &Value) -> Self {
        let metadata = object.get("metadata");
        let field = |name: &str| metadata.and_then(|m| m.get(name));
        let mut labels: Vec<(Box<str>, Box<str>)> = field("labels")
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str().into(), v.into())))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort_unstable();
        let owners = field("ownerReferences")
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .map(|r| Owner {
                        api_version: text(r.get("apiVersion")),
                        kind: text(r.get("kind")),
                        name: text(r.get("name")),
                        uid: text(r.get("uid")),
                        controller: r.get("controller").and_then(Value::as_bool) == Some(true),
                    })
                    .collect()
            })
            .unwrap_or_default();
        StoredMeta {
            api_version: text(object.get("apiVersion")),
            namespace: text(field("namespace")),
            name: text(field("name")),
            uid: text(field("uid")),
            rv: field("resourceVersion")
                .and_then(Value::as_str)
                .and_then(|rv| rv.parse().ok())
                .unwrap_or(0),
            labels: labels.into(),
            deleting: field("deletionTimestamp").is_some(),
            owners,
            node_name: object
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(Into::into),
        }
    }

    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|at| self.labels[at].1.as_ref())
    }

    /// The uid of the controller owner reference, if any.
    pub fn controller_uid(&self) -> Option<&str> {
        self.owners
            .iter()
            .find(|o| o.controller)
            .map(|o| o.uid.as_ref())
    }
}

impl Stored {
    /// Stores an object tree: its compact JSON and its metadata.
    pub fn new(object: &Value) -> Self {
        // Writing a tree into a vector cannot fail (every map key is a string).
        let json = serde_json::to_vec(object).unwrap_or_default();
        Stored {
            json: Bytes::from(json),
            meta: StoredMeta::of(object),
        }
    }

    /// The object's compact JSON, as stored.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The object's metadata.
    pub fn meta(&self) -> &StoredMeta {
        &self.meta
    }

    /// The object as a tree, parsed from its bytes (they were written from a tree, so
    /// parsing them cannot fail; unparsable bytes would come back as `null`).
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The object's JSON as `rt` serves it: the stored bytes themselves when the type
    /// serves the stored version unconverted (what `ResourceType::present` would write,
    /// byte for byte), otherwise the presented tree written out.
    pub fn served_json(&self, rt: &ResourceType) -> Bytes {
        if rt.conversion.is_none() && *self.meta.api_version == rt.api_version() {
            return self.json.clone();
        }
        Bytes::from(serde_json::to_vec(&rt.present(&self.value())).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-1", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                "labels": {"b": "2", "a": "1"},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-1", "controller": true},
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "cm-1"}
                ],
            },
            "spec": {"nodeName": "node-3", "containers": [{"name": "app", "image": "nginx"}]},
        })
    }

    #[test]
    fn the_bytes_are_the_compact_json_and_parse_back_to_the_object() {
        let object = pod();
        let stored = Stored::new(&object);
        assert_eq!(stored.json().as_ref(), object.to_string().as_bytes());
        assert_eq!(stored.value(), object);
    }

    #[test]
    fn the_metadata_is_read_from_the_object() {
        let meta = StoredMeta::of(&pod());
        assert_eq!(
            (
                &*meta.api_version,
                &*meta.namespace,
                &*meta.name,
                &*meta.uid
            ),
            ("v1", "shop", "web-1", "u-1")
        );
        assert_eq!(meta.rv, 42);
        assert_eq!(
            (meta.label("a"), meta.label("b"), meta.label("c")),
            (Some("1"), Some("2"), None)
        );
        assert_eq!(meta.controller_uid(), Some("rs-1"));
        assert_eq!(meta.owners.len(), 2);
        assert_eq!(meta.node_name.as_deref(), Some("node-3"));
        assert!(!meta.deleting);
        let mut deleting = pod();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        deleting["spec"]["nodeName"] = json!("");
        let meta = StoredMeta::of(&deleting);
        assert!(meta.deleting);
        assert_eq!(meta.node_name, None);
    }

    #[test]
    fn a_type_serving_the_stored_version_serves_the_stored_bytes() {
        let rt = crate::resources::builtin_types()
            .into_iter()
            .find(|t| t.plural == "pods")
            .unwrap_or_else(|| panic!("pods are built in"));
        let stored = Stored::new(&pod());
        assert_eq!(stored.served_json(&rt).as_ptr(), stored.json().as_ptr());
        let mut other = pod();
        other["apiVersion"] = json!("v2");
        let stored = Stored::new(&other);
        let served = stored.served_json(&rt);
        assert_eq!(served.as_ref(), rt.present(&other).to_string().as_bytes());
        assert!(served.starts_with(b"{\"apiVersion\":\"v1\""));
    }
}
