//! Discovery documents: `/version`, `/api`, `/apis`, `/apis/<group>` and the
//! APIResourceList of each group version, built from the live type registry so CRDs appear
//! as soon as they are stored. Aggregated discovery (`as=APIGroupDiscoveryList`) is
//! answered with these plain documents and `Content-Type: application/json`, which
//! clients such as kubectl take as the signal to fall back to per-group discovery.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::status::{ApiError, ApiResult};
use crate::store::State;

/// The Kubernetes version this server claims to be.
pub const GIT_VERSION: &str = "v1.33.0";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    })
}

/// Group name to versions, in registry order, without the core group.
fn group_versions(state: &State) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rt in state.types().filter(|t| !t.group.is_empty()) {
        let versions = groups.entry(rt.group.clone()).or_default();
        if !versions.contains(&rt.version) {
            versions.push(rt.version.clone());
        }
    }
    groups
}

fn group_document(group: &str, versions: &[String]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = entries.first().cloned().unwrap_or_else(|| json!({}));
    json!({"name": group, "versions": entries, "preferredVersion": preferred})
}

/// `/apis`.
pub fn groups(state: &State) -> Value {
    let groups: Vec<Value> = group_versions(state)
        .iter()
        .map(|(g, vs)| group_document(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(state: &State, group: &str) -> ApiResult<Value> {
    let groups = group_versions(state);
    let versions = groups
        .get(group)
        .ok_or_else(|| ApiError::no_route(&format!("/apis/{group}")))?;
    let mut document = group_document(group, versions);
    if let Some(map) = document.as_object_mut() {
        map.insert("kind".into(), json!("APIGroup"));
        map.insert("apiVersion".into(), json!("v1"));
    }
    Ok(document)
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resources(state: &State, group: &str, version: &str) -> ApiResult<Value> {
    let mut resources = Vec::new();
    for rt in state
        .types()
        .filter(|t| t.group == group && t.version == version)
    {
        let mut entry = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs,
        });
        if let Some(map) = entry.as_object_mut() {
            if !rt.short_names.is_empty() {
                map.insert("shortNames".into(), json!(rt.short_names));
            }
            if !rt.categories.is_empty() {
                map.insert("categories".into(), json!(rt.categories));
            }
        }
        resources.push(entry);
        if rt.scale_subresource {
            resources.push(json!({
                "name": format!("{}/scale", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": crate::resources::STATUS_VERBS,
            }));
        }
        if rt.group.is_empty() && rt.plural == "serviceaccounts" {
            resources.push(json!({
                "name": "serviceaccounts/token",
                "singularName": "",
                "namespaced": true,
                "group": "authentication.k8s.io",
                "version": "v1",
                "kind": "TokenRequest",
                "verbs": ["create"],
            }));
        }
        if rt.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": crate::resources::STATUS_VERBS,
            }));
        }
    }
    if resources.is_empty() {
        let path = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        return Err(ApiError::no_route(&path));
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}
