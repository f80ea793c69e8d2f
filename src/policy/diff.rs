//! Field-level differences between two JSON documents, for `policy diff`.
//!
//! In: the desired and the live value. Out: one [`FieldChange`] per leaf that differs,
//! with its dotted path. Objects are compared key by key; arrays and scalars as wholes.

use serde_json::Value;

/// One differing field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// Dotted path, e.g. `spec.defaultProbe.tcpPort`.
    pub path: String,
    /// Value in the desired document (`None` when absent).
    pub desired: Option<Value>,
    /// Value in the live document (`None` when absent).
    pub live: Option<Value>,
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("<absent>".to_owned(), Value::to_string);
        write!(
            f,
            "{}: {} (file) != {} (cluster)",
            self.path,
            show(&self.desired),
            show(&self.live)
        )
    }
}

/// Every leaf where `desired` and `live` differ, under `path`.
pub fn diff(path: &str, desired: Option<&Value>, live: Option<&Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(path, desired, live, &mut out);
    out
}

fn walk(path: &str, desired: Option<&Value>, live: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (desired, live) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(&format!("{path}.{k}"), a.get(k), b.get(k), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(FieldChange {
            path: path.to_owned(),
            desired: a.cloned(),
            live: b.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_documents_have_no_changes() {
        let v = json!({"a": {"b": [1, 2]}, "c": true});
        assert!(diff("spec", Some(&v), Some(&v)).is_empty());
    }

    #[test]
    fn changed_added_and_removed_leaves_are_reported_with_paths() {
        let desired =
            json!({"maxRestartCount": 3, "defaultProbe": {"tcpPort": 80}, "forbidLatestTag": true});
        let live =
            json!({"maxRestartCount": 5, "defaultProbe": {"tcpPort": 80, "periodSeconds": 10}});
        let paths: Vec<String> = diff("spec", Some(&desired), Some(&live))
            .into_iter()
            .map(|c| c.path)
            .collect();
        assert_eq!(
            paths,
            [
                "spec.defaultProbe.periodSeconds",
                "spec.forbidLatestTag",
                "spec.maxRestartCount"
            ]
        );
    }
}
