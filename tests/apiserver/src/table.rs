//! Server-side printing: when a client asks for `as=Table` (kubectl does for its human
//! output), gets, lists and watch events answer `meta.k8s.io/v1 Table` objects with the
//! columns the real server prints for the common kinds, a CRD's
//! `additionalPrinterColumns` (simple JSONPaths), or Name and Age for the rest, and
//! rows carrying `PartialObjectMetadata` or the full object per `includeObject`.

use serde_json::{Value, json};

use crate::meta;
use crate::resources::ResourceType;

/// What rows carry, from the `includeObject` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    /// No object.
    Nothing,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl Include {
    /// Parses `includeObject`.
    pub fn parse(value: Option<&str>) -> Include {
        match value {
            Some("None") => Include::Nothing,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// Whether the `Accept` header asks for a Table.
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

type Cell = fn(&Value) -> Value;

fn text(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn number(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn name(object: &Value) -> Value {
    json!(meta::name(object))
}

fn age(object: &Value) -> Value {
    let created = meta::meta_str(object, "creationTimestamp");
    let Ok(created) = created.parse::<jiff::Timestamp>() else {
        return json!("<unknown>");
    };
    let seconds = jiff::Timestamp::now().as_second() - created.as_second();
    json!(match seconds {
        s if s < 0 => "<invalid>".to_string(),
        s if s < 120 => format!("{s}s"),
        s if s < 180 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 730 * 86400 => format!("{}d", s / 86400),
        s => format!("{}y", s / (365 * 86400)),
    })
}

fn container_statuses(pod: &Value) -> Vec<Value> {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn pod_ready(pod: &Value) -> Value {
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = container_statuses(pod)
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    json!(format!("{ready}/{total}"))
}

fn pod_status(pod: &Value) -> Value {
    if meta::is_deleting(pod) {
        return json!("Terminating");
    }
    for status in container_statuses(pod) {
        for state in ["waiting", "terminated"] {
            if let Some(reason) = status
                .pointer(&format!("/state/{state}/reason"))
                .and_then(Value::as_str)
            {
                return json!(reason);
            }
        }
    }
    let reason = text(pod, "/status/reason");
    json!(if reason.is_empty() {
        text(pod, "/status/phase")
    } else {
        reason
    })
}

fn pod_restarts(pod: &Value) -> Value {
    json!(
        container_statuses(pod)
            .iter()
            .map(|c| c.get("restartCount").and_then(Value::as_i64).unwrap_or(0))
            .sum::<i64>()
    )
}

fn columns(rt: &ResourceType) -> Vec<(&'static str, &'static str, u8, Cell)> {
    let common: (&str, &str, u8, Cell) = ("Name", "string", 0, name);
    let age_column: (&str, &str, u8, Cell) = ("Age", "string", 0, age);
    let mut out = vec![common];
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => {
            out.push(("Ready", "string", 0, pod_ready));
            out.push(("Status", "string", 0, pod_status));
            out.push(("Restarts", "integer", 0, pod_restarts));
            out.push(age_column);
            out.push(("IP", "string", 1, |p| json!(text(p, "/status/podIP"))));
            out.push(("Node", "string", 1, |p| json!(text(p, "/spec/nodeName"))));
            return out;
        }
        ("apps", "Deployment") => {
            out.push(("Ready", "string", 0, |d| {
                json!(format!(
                    "{}/{}",
                    number(d, "/status/readyReplicas"),
                    d.pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                ))
            }));
            out.push(("Up-to-date", "integer", 0, |d| {
                json!(number(d, "/status/updatedReplicas"))
            }));
            out.push(("Available", "integer", 0, |d| {
                json!(number(d, "/status/availableReplicas"))
            }));
        }
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            out.push(("Desired", "integer", 0, |r| {
                json!(
                    r.pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                )
            }));
            out.push(("Current", "integer", 0, |r| {
                json!(number(r, "/status/replicas"))
            }));
            out.push(("Ready", "integer", 0, |r| {
                json!(number(r, "/status/readyReplicas"))
            }));
        }
        ("apps", "StatefulSet") => {
            out.push(("Ready", "string", 0, |s| {
                json!(format!(
                    "{}/{}",
                    number(s, "/status/readyReplicas"),
                    s.pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                ))
            }));
        }
        ("apps", "DaemonSet") => {
            out.push(("Desired", "integer", 0, |d| {
                json!(number(d, "/status/desiredNumberScheduled"))
            }));
            out.push(("Current", "integer", 0, |d| {
                json!(number(d, "/status/currentNumberScheduled"))
            }));
            out.push(("Ready", "integer", 0, |d| {
                json!(number(d, "/status/numberReady"))
            }));
        }
        ("batch", "Job") => {
            out.push(("Completions", "string", 0, |j| {
                json!(format!(
                    "{}/{}",
                    number(j, "/status/succeeded"),
                    j.pointer("/spec/completions")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                ))
            }));
        }
        ("", "Namespace") => out.push(("Status", "string", 0, |n| json!(text(n, "/status/phase")))),
        ("", "Service") => {
            out.push(("Type", "string", 0, |s| {
                json!(
                    s.pointer("/spec/type")
                        .and_then(Value::as_str)
                        .unwrap_or("ClusterIP")
                )
            }));
            out.push(("Cluster-IP", "string", 0, |s| {
                json!(text(s, "/spec/clusterIP"))
            }));
        }
        _ => {}
    }
    out.push(age_column);
    out
}

/// One column: its definition and how its cells are computed.
struct Column {
    name: String,
    kind: String,
    priority: u64,
    source: Source,
}

enum Source {
    Computed(Cell),
    Path(String),
    Date(String),
}

impl Column {
    fn cell(&self, object: &Value) -> Value {
        match &self.source {
            Source::Computed(cell) => cell(object),
            Source::Path(path) => json_path(object, path).map_or(Value::Null, |v| match v {
                Value::Array(_) | Value::Object(_) => json!(v.to_string()),
                other => other.clone(),
            }),
            Source::Date(path) => match json_path(object, path).and_then(Value::as_str) {
                Some(when) => age(&json!({"metadata": {"creationTimestamp": when}})),
                None => Value::Null,
            },
        }
    }
}

/// Follows a simple JSONPath (`.spec.size`, `.status.conditions[0].type`).
fn json_path<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = object;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        let (field, indexes) = match part.split_once('[') {
            Some((field, rest)) => (field, Some(rest)),
            None => (part, None),
        };
        if !field.is_empty() {
            node = node.get(field)?;
        }
        if let Some(rest) = indexes {
            for index in rest.split('[') {
                let index: usize = index.trim_end_matches(']').parse().ok()?;
                node = node.get(index)?;
            }
        }
    }
    Some(node)
}

/// The columns of a type: the built-in printers, a CRD's printer columns, or Name and Age.
fn table_columns(rt: &ResourceType) -> Vec<Column> {
    if rt.printer_columns.is_empty() {
        return columns(rt)
            .into_iter()
            .map(|(name, kind, priority, cell)| Column {
                name: name.to_string(),
                kind: kind.to_string(),
                priority: u64::from(priority),
                source: Source::Computed(cell),
            })
            .collect();
    }
    let mut out = vec![Column {
        name: "Name".into(),
        kind: "string".into(),
        priority: 0,
        source: Source::Computed(name),
    }];
    for column in &rt.printer_columns {
        let field = |k: &str| {
            column
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (kind, path) = (field("type"), field("jsonPath"));
        out.push(Column {
            name: field("name"),
            priority: column.get("priority").and_then(Value::as_u64).unwrap_or(0),
            source: if kind == "date" {
                Source::Date(path)
            } else {
                Source::Path(path)
            },
            kind,
        });
    }
    out
}

fn row_object(object: &Value, include: Include) -> Option<Value> {
    match include {
        Include::Nothing => None,
        Include::Object => Some(object.clone()),
        Include::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })),
    }
}

/// A Table of objects; `list_metadata` becomes the Table's metadata.
pub fn render(
    rt: &ResourceType,
    objects: &[Value],
    list_metadata: Value,
    include: Include,
) -> Value {
    let columns = table_columns(rt);
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| {
            let format = if c.name == "Name" { "name" } else { "" };
            json!({"name": c.name, "type": c.kind, "format": format, "description": "", "priority": c.priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let cells: Vec<Value> = columns.iter().map(|c| c.cell(object)).collect();
            let mut row = json!({"cells": cells});
            if let (Some(inner), Some(map)) = (row_object(object, include), row.as_object_mut()) {
                map.insert("object".into(), inner);
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::crd_types;

    fn widget_type() -> ResourceType {
        let crd = json!({"spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "First", "type": "string", "jsonPath": ".spec.items[0].name"}
                ]}]
        }});
        crd_types(&crd)
            .and_then(|types| types.into_iter().next())
            .map(|t| (*t).clone())
            .unwrap_or_else(|| panic!("the CRD declares a type"))
    }

    #[test]
    fn printer_columns_of_a_crd_become_table_cells() {
        let object =
            json!({"metadata": {"name": "w"}, "spec": {"size": 3, "items": [{"name": "a"}]}});
        let table = render(&widget_type(), &[object], json!({}), Include::Nothing);
        let headers: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(headers, vec!["Name", "Size", "First"]);
        assert_eq!(table["rows"][0]["cells"], json!(["w", 3, "a"]));
    }

    #[test]
    fn only_a_table_first_accept_header_asks_for_a_table() {
        let cases = [
            (
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
                true,
            ),
            ("application/json", false),
            (
                "application/json, application/json;as=Table;v=v1;g=meta.k8s.io",
                false,
            ),
        ];
        for (accept, expected) in cases {
            assert_eq!(wanted(accept), expected, "{accept}");
        }
    }
}
