//! Strict reading of policies from files: unknown fields are errors, not silence.
//!
//! In: a `DevOpsPolicy` object as JSON. Out: the typed policy, or an error naming the
//! exact field path (`spec.defaultProbe.tcpPorts`) that the schema does not know. The API
//! server would prune such a field without a word, turning a check off by a typo; a file
//! read by the command line gets the error instead. The known fields come from the same
//! schema the CRD is generated from, so the two cannot drift.

use serde_json::Value;

use super::crd::{DevOpsPolicy, DevOpsPolicySpec};

/// A policy object that cannot be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StrictError {
    /// A field the schema does not define.
    #[error("unknown field {path}")]
    UnknownField {
        /// Dotted path of the field.
        path: String,
    },
    /// Not a DevOpsPolicy, or a field of the wrong type.
    #[error("{0}")]
    Invalid(String),
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let mut node = schema;
    for _ in 0..16 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or("");
            match root.pointer(&format!("/$defs/{name}")) {
                Some(def) => node = def,
                None => return node,
            }
            continue;
        }
        let variant = ["anyOf", "oneOf"].iter().find_map(|k| {
            node.get(*k)?
                .as_array()?
                .iter()
                .find(|v| v.get("type").and_then(Value::as_str) != Some("null"))
        });
        match variant {
            Some(v) => node = v,
            None => return node,
        }
    }
    node
}

fn check(value: &Value, schema: &Value, root: &Value, path: &str) -> Result<(), StrictError> {
    let schema = resolve(schema, root);
    let Value::Object(map) = value else {
        return Ok(());
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (key, v) in map {
        let child = format!("{path}.{key}");
        match (properties.and_then(|p| p.get(key)), additional) {
            (Some(s), _) | (None, Some(s)) => check(v, s, root, &child)?,
            (None, None) if properties.is_some() => {
                return Err(StrictError::UnknownField { path: child });
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// Reads a `DevOpsPolicy` object, refusing fields its schema does not define in `spec`.
pub fn policy_from_value(value: &Value) -> Result<DevOpsPolicy, StrictError> {
    if value.get("kind").and_then(Value::as_str) != Some("DevOpsPolicy") {
        return Err(StrictError::Invalid("not a DevOpsPolicy".into()));
    }
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<DevOpsPolicySpec>();
    let schema = schema.as_value();
    if let Some(spec) = value.get("spec") {
        check(spec, schema, schema, "spec")?;
    }
    serde_json::from_value(value.clone()).map_err(|e| StrictError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: Value) -> Value {
        json!({"apiVersion": "devops.stochastic.io/v1", "kind": "DevOpsPolicy", "metadata": {"name": "p"}, "spec": spec})
    }

    #[test]
    fn a_valid_policy_reads() {
        let p = policy_from_value(&policy(json!({
            "forbidLatestTag": true,
            "defaultProbe": {"tcpPort": 8080},
            "checks": {"runAsPrivileged": {"severity": "critical"}},
            "severityOverrides": {"pending": "low"}
        })))
        .unwrap();
        assert_eq!(p.spec.forbid_latest_tag, Some(true));
    }

    #[test]
    fn unknown_fields_are_named_at_any_depth() {
        let cases = [
            (json!({"forbidLatestTags": true}), "spec.forbidLatestTags"),
            (
                json!({"defaultProbe": {"tcpPorts": 80}}),
                "spec.defaultProbe.tcpPorts",
            ),
            (
                json!({"checks": {"runAsPrivileged": {"severty": "low"}}}),
                "spec.checks.runAsPrivileged.severty",
            ),
        ];
        for (spec, path) in cases {
            assert_eq!(
                policy_from_value(&policy(spec)).unwrap_err(),
                StrictError::UnknownField { path: path.into() }
            );
        }
    }

    #[test]
    fn wrong_types_and_kinds_are_invalid() {
        assert!(matches!(
            policy_from_value(&policy(json!({"maxRestartCount": "three"}))),
            Err(StrictError::Invalid(_))
        ));
        assert!(matches!(
            policy_from_value(&json!({"kind": "Pod"})),
            Err(StrictError::Invalid(_))
        ));
    }
}
