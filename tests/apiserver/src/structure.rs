//! How lists merge. Strategic merge patch and server-side apply both need to know, for a
//! list at a field path, whether it is atomic, a set of scalars, or a map keyed by some
//! fields. Built-in kinds answer from a table of the Kubernetes types' markers: the patch
//! merge keys (`+patchMergeKey`) for strategic merge, the list map keys
//! (`+listMapKey`) for server-side apply, which differ for ports (merged by number alone,
//! but owned by number and protocol). Custom resources answer from
//! `x-kubernetes-list-type` in their schema. [`key_of`] fills a key field a list item
//! leaves out with its declared default, as apply does for a port's protocol.

use serde_json::{Map, Value, json};

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

/// Which merge the question is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// A strategic merge patch: patch merge keys and strategies.
    Strategic,
    /// Server-side apply and managedFields: list types and list map keys.
    Apply,
}

/// The list kind at `path` (field names from the object root, list positions omitted).
pub fn list_kind(rt: &ResourceType, path: &[String], merge: Merge) -> ListKind {
    let builtin_rules = rt.builtin || path.first().is_some_and(|p| p == "metadata");
    if builtin_rules {
        return builtin_list_kind(&rt.kind, path, merge);
    }
    match &rt.schema {
        Some(schema) => schema_list_kind(schema, path),
        None => ListKind::Atomic,
    }
}

/// How a built-in list merges: strategic merge first, then apply.
#[derive(Clone, Copy)]
enum Rule {
    Keyed(&'static [&'static str], &'static [&'static str]),
    Set,
    Atomic,
}

/// Lists by their last field name, and for ports by their parent: container ports merge
/// by number, Service ports by port, both owned with their protocol.
const CONTAINER_PORTS: Rule = Rule::Keyed(&["containerPort"], &["containerPort", "protocol"]);
const SERVICE_PORTS: Rule = Rule::Keyed(&["port"], &["port", "protocol"]);
const BY_NAME: Rule = Rule::Keyed(&["name"], &["name"]);

#[rustfmt::skip]
const LISTS: &[(&str, Rule)] = &[
    ("containers", BY_NAME),
    ("initContainers", BY_NAME),
    ("ephemeralContainers", BY_NAME),
    ("volumes", BY_NAME),
    ("env", BY_NAME),
    ("imagePullSecrets", BY_NAME),
    ("resourceClaims", BY_NAME),
    ("claims", BY_NAME),
    ("schedulingGates", BY_NAME),
    ("resourceClaimStatuses", BY_NAME),
    ("webhooks", BY_NAME),
    ("volumeMounts", Rule::Keyed(&["mountPath"], &["mountPath"])),
    ("volumeDevices", Rule::Keyed(&["devicePath"], &["devicePath"])),
    ("conditions", Rule::Keyed(&["type"], &["type"])),
    ("addresses", Rule::Keyed(&["type"], &["type"])),
    ("hostAliases", Rule::Keyed(&["ip"], &["ip"])),
    ("podIPs", Rule::Keyed(&["ip"], &["ip"])),
    ("hostIPs", Rule::Keyed(&["ip"], &["ip"])),
    ("ownerReferences", Rule::Keyed(&["uid"], &["uid"])),
    ("topologySpreadConstraints", Rule::Keyed(&["topologyKey"], &["topologyKey", "whenUnsatisfiable"])),
    ("podCIDRs", Rule::Set),
];

/// Key fields an item may leave out, with the value they default to.
const KEY_DEFAULTS: &[(&str, &str)] = &[("protocol", "TCP")];

fn builtin_list_kind(kind: &str, path: &[String], merge: Merge) -> ListKind {
    let Some(last) = path.last() else {
        return ListKind::Atomic;
    };
    let parent = path.len().checked_sub(2).and_then(|i| path.get(i));
    let rule = match (last.as_str(), parent.map(String::as_str)) {
        ("finalizers", Some("metadata")) => Rule::Set,
        ("ports", Some("containers" | "initContainers" | "ephemeralContainers")) => CONTAINER_PORTS,
        ("ports", Some("spec")) if kind == "Service" => SERVICE_PORTS,
        (name, _) => LISTS
            .iter()
            .find(|(field, _)| *field == name)
            .map_or(Rule::Atomic, |(_, rule)| *rule),
    };
    match rule {
        Rule::Keyed(strategic, apply) => {
            let keys = if merge == Merge::Strategic {
                strategic
            } else {
                apply
            };
            ListKind::Map(keys.iter().map(|k| k.to_string()).collect())
        }
        Rule::Set => ListKind::Set,
        Rule::Atomic => ListKind::Atomic,
    }
}

/// The key of a list item: its key fields, a missing one at its declared default;
/// `None` when the item names none of them.
pub fn key_of(keys: &[String], item: &Value) -> Option<Map<String, Value>> {
    let mut key = Map::new();
    let mut named = false;
    for k in keys {
        match item.get(k) {
            Some(v) => {
                named = true;
                key.insert(k.clone(), v.clone());
            }
            None => {
                if let Some((_, default)) = KEY_DEFAULTS.iter().find(|(f, _)| f == k) {
                    key.insert(k.clone(), json!(default));
                }
            }
        }
    }
    named.then_some(key)
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

/// Whether two list items have the same key.
pub fn same_item(keys: &[String], item: &Value, other: &Value) -> bool {
    match (key_of(keys, item), key_of(keys, other)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_types;

    fn key(names: &[&str]) -> ListKind {
        ListKind::Map(names.iter().map(|n| n.to_string()).collect())
    }

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
            (
                "spec.template.spec.containers",
                Merge::Strategic,
                key(&["name"]),
            ),
            (
                "spec.template.spec.containers.ports",
                Merge::Strategic,
                key(&["containerPort"]),
            ),
            (
                "spec.template.spec.containers.ports",
                Merge::Apply,
                key(&["containerPort", "protocol"]),
            ),
            (
                "spec.template.spec.containers.env",
                Merge::Strategic,
                key(&["name"]),
            ),
            ("spec.template.spec.volumes", Merge::Apply, key(&["name"])),
            (
                "spec.template.spec.containers.args",
                Merge::Strategic,
                ListKind::Atomic,
            ),
            (
                "spec.template.spec.tolerations",
                Merge::Strategic,
                ListKind::Atomic,
            ),
            ("metadata.finalizers", Merge::Apply, ListKind::Set),
            ("status.conditions", Merge::Strategic, key(&["type"])),
        ];
        for (p, merge, expected) in cases {
            assert_eq!(
                list_kind(&deploy, &path(p), merge),
                expected,
                "{p} {merge:?}"
            );
        }
    }

    #[test]
    fn webhooks_merge_by_name_and_service_ports_by_port() {
        let types = builtin_types();
        let of = |kind: &str| {
            types
                .iter()
                .find(|t| t.kind == kind)
                .map(|t| (**t).clone())
                .unwrap_or_else(|| panic!("{kind} is built in"))
        };
        let webhooks = list_kind(
            &of("ValidatingWebhookConfiguration"),
            &path("webhooks"),
            Merge::Strategic,
        );
        assert_eq!(webhooks, key(&["name"]));
        let ports = list_kind(&of("Service"), &path("spec.ports"), Merge::Strategic);
        assert_eq!(ports, key(&["port"]));
        let rules = list_kind(
            &of("ValidatingWebhookConfiguration"),
            &path("webhooks.rules"),
            Merge::Strategic,
        );
        assert_eq!(rules, ListKind::Atomic);
    }

    #[test]
    fn a_key_field_left_out_takes_its_default() {
        let keys = vec!["containerPort".to_string(), "protocol".to_string()];
        let implicit = json!({"containerPort": 80});
        let explicit = json!({"containerPort": 80, "protocol": "TCP"});
        assert!(same_item(&keys, &implicit, &explicit));
        assert!(!same_item(
            &keys,
            &implicit,
            &json!({"containerPort": 80, "protocol": "UDP"})
        ));
    }
}
