//! How lists merge. Strategic merge patch and server-side apply both need to know, for a
//! list at a field path, whether it is atomic, a set of scalars, or a map keyed by some
//! fields. Built-in kinds answer from the patch merge keys of the Kubernetes types;
//! custom resources answer from `x-kubernetes-list-type` in their schema.

use serde_json::Value;

use crate::resources::ResourceType;

/// How a list at a path merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole.
    Atomic,
    /// Items are identified by these key fields.
    Map(Vec<String>),
    /// Items are scalars merged as a set.
    Set,
}

/// The list kind at `path` (field names from the object root, list positions omitted).
pub fn list_kind(rt: &ResourceType, path: &[String]) -> ListKind {
    let builtin_rules = rt.builtin || path.first().is_some_and(|p| p == "metadata");
    if builtin_rules {
        return builtin_list_kind(path);
    }
    match &rt.schema {
        Some(schema) => schema_list_kind(schema, path),
        None => ListKind::Atomic,
    }
}

fn key(name: &str) -> ListKind {
    ListKind::Map(vec![name.to_string()])
}

fn builtin_list_kind(path: &[String]) -> ListKind {
    let Some(last) = path.last() else {
        return ListKind::Atomic;
    };
    let parent = path.len().checked_sub(2).and_then(|i| path.get(i));
    match last.as_str() {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses"
        | "ephemeralContainerStatuses"
        | "resourceClaims" => key("name"),
        "volumeMounts" => key("mountPath"),
        "volumeDevices" => key("devicePath"),
        "ports" => match parent.map(String::as_str) {
            Some("containers" | "initContainers" | "ephemeralContainers") => key("containerPort"),
            _ => key("port"),
        },
        "conditions" => key("type"),
        "hostAliases" | "podIPs" | "hostIPs" => key("ip"),
        "ownerReferences" => key("uid"),
        "topologySpreadConstraints" => key("topologyKey"),
        "finalizers" => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

fn schema_list_kind(schema: &Value, path: &[String]) -> ListKind {
    let mut node = schema;
    for field in path {
        if node.get("type").and_then(Value::as_str) == Some("array") {
            match node.get("items") {
                Some(items) => node = items,
                None => return ListKind::Atomic,
            }
        }
        let next = node
            .get("properties")
            .and_then(|p| p.get(field))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
        match next {
            Some(n) => node = n,
            None => return ListKind::Atomic,
        }
    }
    match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => {
            let keys: Vec<String> = node
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if keys.is_empty() {
                ListKind::Atomic
            } else {
                ListKind::Map(keys)
            }
        }
        Some("set") => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// Whether a list item carries every key field with the same values as `other`.
pub fn same_item(keys: &[String], item: &Value, other: &Value) -> bool {
    keys.iter().all(|k| item.get(k) == other.get(k)) && keys.iter().any(|k| item.get(k).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_types;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn builtin_lists_merge_by_their_patch_merge_keys() {
        let deploy = builtin_types()
            .into_iter()
            .find(|t| t.kind == "Deployment")
            .map(|t| (*t).clone());
        let Some(deploy) = deploy else {
            panic!("deployments are built in");
        };
        let cases = [
            ("spec.template.spec.containers", key("name")),
            ("spec.template.spec.containers.ports", key("containerPort")),
            ("spec.template.spec.containers.env", key("name")),
            ("spec.template.spec.volumes", key("name")),
            ("spec.template.spec.containers.args", ListKind::Atomic),
            ("metadata.finalizers", ListKind::Set),
            ("status.conditions", key("type")),
        ];
        for (p, expected) in cases {
            assert_eq!(list_kind(&deploy, &path(p)), expected, "{p}");
        }
    }
}
