//! Seeding from manifests: reads `.yaml`, `.yml` and `.json` files under a directory
//! (recursively, in path order), splits multi-document YAML, unrolls `List` kinds, and
//! orders namespaces and CRDs before everything else so dependants can be created.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result};

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            files(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Parses every document of a manifest text, unrolling `List` kinds.
pub fn documents(text: &str, path: &Path) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        unroll(value, &mut out);
    }
    Ok(out)
}

fn unroll(value: Value, out: &mut Vec<Value>) {
    if !value.is_object() {
        return;
    }
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    if is_list {
        if let Some(Value::Array(items)) = value.get("items") {
            for item in items {
                unroll(item.clone(), out);
            }
        }
    } else {
        out.push(value);
    }
}

fn priority(object: &Value) -> u8 {
    match object.get("kind").and_then(Value::as_str) {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        Some("Node") => 2,
        _ => 3,
    }
}

/// Every object under `dir`, namespaces and CRDs first.
pub fn load_dir(dir: &Path) -> Result<Vec<Value>> {
    let mut paths = Vec::new();
    files(dir, &mut paths)?;
    let mut objects = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        objects.extend(documents(&text, &path)?);
    }
    objects.sort_by_key(priority);
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists_unroll_into_objects() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n\
                    ---\n";
        let kinds: Vec<String> = documents(text, Path::new("x.yaml"))
            .unwrap_or_default()
            .iter()
            .filter_map(|o| o.get("kind").and_then(Value::as_str).map(str::to_string))
            .collect();
        assert_eq!(
            kinds,
            vec!["Namespace".to_string(), "ConfigMap".to_string()]
        );
    }
}
