//! Server-side printing: when a client asks for `as=Table` (kubectl does for its human
//! output), gets, lists and watch events answer `meta.k8s.io/v1 Table` objects with the
//! columns the real server prints for the built-in kinds (`printers`), a CRD's
//! `additionalPrinterColumns` (simple JSONPaths), or Name and Age for the rest, and
//! rows carrying `PartialObjectMetadata` or the full object per `includeObject`.

use serde_json::{Value, json};

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

/// One column: its definition and how its cells are computed.
struct Column {
    name: String,
    kind: String,
    priority: u64,
    source: Source,
}

enum Source {
    Computed(crate::printers::Cell),
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
                Some(when) => crate::printers::since(when),
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
        return crate::printers::columns(rt)
            .into_iter()
            .map(|printed| Column {
                name: printed.name.to_string(),
                kind: printed.kind.to_string(),
                priority: u64::from(printed.priority),
                source: Source::Computed(printed.cell),
            })
            .collect();
    }
    let mut out = vec![Column {
        name: "Name".into(),
        kind: "string".into(),
        priority: 0,
        source: Source::Computed(|o| json!(crate::meta::name(o))),
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
            // Printers read the stored spelling of kinds served at another version.
            let stored = rt.to_stored(object.clone());
            let cells: Vec<Value> = columns.iter().map(|c| c.cell(&stored)).collect();
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
