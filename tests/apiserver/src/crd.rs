//! CustomResourceDefinition handling: checks a CRD before it is stored, computes the
//! status the real server reports once names are accepted (`NamesAccepted` and
//! `Established` True), and removes a CRD's custom objects when the CRD goes away. The
//! store turns stored CRDs into servable types; this module keeps them well formed.

use serde_json::{Value, json};

use crate::meta;
use crate::resources::TypeKey;
use crate::status::{ApiError, ApiResult, FieldCause};
use crate::store::State;

/// Checks the parts of a CRD this server relies on to serve it.
pub fn validate(crd: &Value) -> ApiResult<()> {
    let mut causes = Vec::new();
    let text = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or("");
    let group = text("/spec/group");
    let plural = text("/spec/names/plural");
    if group.is_empty() {
        causes.push(FieldCause::new(
            "FieldValueRequired",
            "spec.group",
            "Required value",
        ));
    }
    if plural.is_empty() {
        causes.push(FieldCause::new(
            "FieldValueRequired",
            "spec.names.plural",
            "Required value",
        ));
    }
    if text("/spec/names/kind").is_empty() {
        causes.push(FieldCause::new(
            "FieldValueRequired",
            "spec.names.kind",
            "Required value",
        ));
    }
    let scope = text("/spec/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(FieldCause::new(
            "FieldValueNotSupported",
            "spec.scope",
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    let name = meta::name(crd);
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(FieldCause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(FieldCause::new(
            "FieldValueRequired",
            "spec.versions",
            "Required value",
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        causes.push(FieldCause::new(
            "FieldValueInvalid",
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        ));
    }
    for (i, version) in versions.iter().enumerate() {
        if version.pointer("/schema/openAPIV3Schema").is_none() {
            causes.push(FieldCause::new(
                "FieldValueRequired",
                format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "Required value: schemas are required",
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            &causes,
        ))
    }
}

/// The status of an accepted, established CRD.
pub fn established_status(crd: &Value) -> Value {
    let now = crd
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .map_or_else(meta::now, str::to_string);
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({})),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": stored,
    })
}

/// Removes every custom object of a CRD that was just deleted.
pub fn remove_instances(state: &mut State, crd: &Value) {
    let group = crd.pointer("/spec/group").and_then(Value::as_str);
    let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str);
    let (Some(group), Some(plural)) = (group, plural) else {
        return;
    };
    let type_key = TypeKey::new(group, plural);
    for object in state.list(&type_key, None) {
        let key =
            crate::store::ObjectKey::new(&type_key, meta::namespace(&object), meta::name(&object));
        state.remove(&key, (*object).clone());
    }
}
