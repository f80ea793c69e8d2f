//! Structural-schema handling for custom resources: validates an object against its CRD
//! version's `openAPIV3Schema` (types, required, enum, bounds, lengths, patterns,
//! `nullable`, int-or-string) and prunes fields the schema does not declare unless
//! `x-kubernetes-preserve-unknown-fields` keeps them. In: the object and schema. Out: the
//! pruned object, the field causes for a `422 Invalid`, and the pruned paths.

use serde_json::{Map, Value};

use crate::status::FieldCause;

/// What checking an object against its schema found.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Violations, each naming the field path.
    pub causes: Vec<FieldCause>,
    /// Paths of the unknown fields that were pruned.
    pub pruned: Vec<String>,
}

/// Validates and prunes `object` in place against a CRD version schema.
pub fn check(object: &mut Value, schema: &Value) -> Outcome {
    let mut outcome = Outcome::default();
    let Some(map) = object.as_object_mut() else {
        outcome.causes.push(FieldCause::new(
            "FieldValueInvalid",
            "<root>",
            "Invalid value: the object must be a JSON object",
        ));
        return outcome;
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let keep_unknown = preserves_unknown(schema);
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match properties.and_then(|p| p.get(&key)) {
            Some(child) => {
                let drop = map
                    .get_mut(&key)
                    .is_some_and(|v| walk(v, child, &key, &mut outcome));
                if drop {
                    map.remove(&key);
                }
            }
            None if keep_unknown => {}
            None => {
                map.remove(&key);
                outcome.pruned.push(key);
            }
        }
    }
    required(map, schema, "", &mut outcome);
    outcome
}

fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
}

fn required(map: &Map<String, Value>, schema: &Value, path: &str, outcome: &mut Outcome) {
    let Some(required) = schema.get("required").and_then(Value::as_array) else {
        return;
    };
    for field in required.iter().filter_map(Value::as_str) {
        if !map.contains_key(field) {
            outcome.causes.push(FieldCause::new(
                "FieldValueRequired",
                join(path, field),
                "Required value",
            ));
        }
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(value: &Value, wanted: &str) -> bool {
    match (wanted, value) {
        ("object", Value::Object(_))
        | ("array", Value::Array(_))
        | ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

fn invalid(outcome: &mut Outcome, path: &str, value: &Value, detail: String) {
    outcome.causes.push(FieldCause::new(
        "FieldValueInvalid",
        path,
        format!("Invalid value: {}: {detail}", short(value)),
    ));
}

fn short(value: &Value) -> String {
    match value {
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        other => other.to_string(),
    }
}

/// Checks one value; answers `true` when the parent should drop it (a pruned null).
fn walk(value: &mut Value, schema: &Value, path: &str, outcome: &mut Outcome) -> bool {
    if value.is_null() {
        return schema.get("nullable").and_then(Value::as_bool) != Some(true);
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if int_or_string {
        if !(type_matches(value, "integer") || value.is_string()) {
            invalid(
                outcome,
                path,
                value,
                format!("{path} in body must be of type int-or-string"),
            );
        }
        return false;
    }
    if let Some(wanted) = schema.get("type").and_then(Value::as_str)
        && !type_matches(value, wanted)
    {
        invalid(
            outcome,
            path,
            value,
            format!(
                "{path} in body must be of type {wanted}: \"{}\"",
                type_name(value)
            ),
        );
        return false;
    }
    scalar_rules(value, schema, path, outcome);
    match value {
        Value::Object(map) => object_rules(map, schema, path, outcome),
        Value::Array(items) => {
            let bound = |k: &str| schema.get(k).and_then(Value::as_u64);
            if let Some(min) = bound("minItems")
                && (items.len() as u64) < min
            {
                invalid(
                    outcome,
                    path,
                    &Value::Null,
                    format!("{path} in body should have at least {min} items"),
                );
            }
            if let Some(max) = bound("maxItems")
                && (items.len() as u64) > max
            {
                invalid(
                    outcome,
                    path,
                    &Value::Null,
                    format!("{path} in body should have at most {max} items"),
                );
            }
            if let Some(item_schema) = schema.get("items") {
                let mut index = 0;
                items.retain_mut(|item| {
                    let drop = walk(item, item_schema, &format!("{path}[{index}]"), outcome);
                    index += 1;
                    !drop
                });
            }
        }
        _ => {}
    }
    false
}

fn object_rules(map: &mut Map<String, Value>, schema: &Value, path: &str, outcome: &mut Outcome) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let keep_unknown = preserves_unknown(schema)
        || schema
            .get("x-kubernetes-embedded-resource")
            .and_then(Value::as_bool)
            == Some(true)
        || schema.get("additionalProperties") == Some(&Value::Bool(true));
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let child_path = join(path, &key);
        let child_schema = properties.and_then(|p| p.get(&key)).or(additional);
        match child_schema {
            Some(child) => {
                let drop = map
                    .get_mut(&key)
                    .is_some_and(|v| walk(v, child, &child_path, outcome));
                if drop {
                    map.remove(&key);
                }
            }
            None if keep_unknown => {}
            None => {
                map.remove(&key);
                outcome.pruned.push(child_path);
            }
        }
    }
    required(map, schema, path, outcome);
}

fn scalar_rules(value: &Value, schema: &Value, path: &str, outcome: &mut Outcome) {
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let supported: Vec<String> = allowed.iter().map(Value::to_string).collect();
        outcome.causes.push(FieldCause::new(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                short(value),
                supported.join(", ")
            ),
        ));
    }
    if let Some(number) = value.as_f64() {
        let exclusive = |k: &str| schema.get(k).and_then(Value::as_bool) == Some(true);
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            let too_small = if exclusive("exclusiveMinimum") {
                number <= min
            } else {
                number < min
            };
            if too_small {
                invalid(
                    outcome,
                    path,
                    value,
                    format!("{path} in body should be greater than or equal to {min}"),
                );
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            let too_big = if exclusive("exclusiveMaximum") {
                number >= max
            } else {
                number > max
            };
            if too_big {
                invalid(
                    outcome,
                    path,
                    value,
                    format!("{path} in body should be less than or equal to {max}"),
                );
            }
        }
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && length < min
        {
            invalid(
                outcome,
                path,
                value,
                format!("{path} in body should be at least {min} chars long"),
            );
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && length > max
        {
            invalid(
                outcome,
                path,
                value,
                format!("{path} in body should be at most {max} chars long"),
            );
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            match regex::Regex::new(pattern) {
                Ok(re) if !re.is_match(text) => invalid(
                    outcome,
                    path,
                    value,
                    format!("{path} in body should match '{pattern}'"),
                ),
                Ok(_) => {}
                Err(_) => invalid(
                    outcome,
                    path,
                    value,
                    format!("the schema pattern '{pattern}' is not supported by this server"),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["mode"],
                    "properties": {
                        "mode": {"type": "string", "enum": ["audit", "enforce"]},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
                        "note": {"type": "string", "nullable": true},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "items": {"type": "array", "items": {"type": "string"}}
                    }
                }
            }
        })
    }

    #[test]
    fn violations_name_the_field_path() {
        let cases = [
            (json!({"spec": {"mode": "x"}}), "spec.mode"),
            (
                json!({"spec": {"mode": "audit", "replicas": 11}}),
                "spec.replicas",
            ),
            (
                json!({"spec": {"mode": "audit", "replicas": "2"}}),
                "spec.replicas",
            ),
            (json!({"spec": {}}), "spec.mode"),
            (
                json!({"spec": {"mode": "audit", "items": [1]}}),
                "spec.items[0]",
            ),
        ];
        for (mut object, field) in cases {
            let outcome = check(&mut object, &schema());
            let fields: Vec<&str> = outcome.causes.iter().map(|c| c.field.as_str()).collect();
            assert_eq!(fields, vec![field], "{object}");
        }
    }

    #[test]
    fn unknown_fields_are_pruned_unless_preserved() {
        let mut object = json!({
            "apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
            "junk": 1,
            "spec": {"mode": "audit", "bogus": true, "note": null, "extra": {"free": 1}}
        });
        let outcome = check(&mut object, &schema());
        assert!(outcome.causes.is_empty(), "{:?}", outcome.causes);
        assert_eq!(
            outcome.pruned,
            vec!["junk".to_string(), "spec.bogus".to_string()]
        );
        assert_eq!(
            object,
            json!({
                "apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
                "spec": {"mode": "audit", "note": null, "extra": {"free": 1}}
            })
        );
    }
}
