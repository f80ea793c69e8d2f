//! The server-side apply objects of enforcement.
//!
//! In: the live workload as JSON (its containers and `metadata.managedFields`), a
//! [`RemediationPlan`], and the time. Out: the applied configuration the enforcer sends
//! under [`FIELD_MANAGER`] without force, and the empty configuration that undoes it.
//!
//! Server-side apply removes the fields a manager applied before and leaves out now, so
//! each apply restates every field enforcement already owns (with its live value) next to
//! the new ones: a later remediation never undoes an earlier one. The empty configuration
//! (`apiVersion`, `kind`, name and namespace) owns nothing, so applying it removes every
//! field enforcement set, annotations included, and leaves fields other managers also own.

use serde_json::{Map, Value, json};

use super::{
    FIELD_MANAGER, PATCHED_AT, PATCHED_BY, ROLLOUT_FAILED, RemediationPlan, ResourceField,
};
use crate::facts::WorkloadKind;

/// The two container lists of a pod template.
const LISTS: [&str; 2] = ["containers", "initContainers"];

/// A field of one container that enforcement can own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OwnedField {
    /// `livenessProbe`.
    LivenessProbe,
    /// `readinessProbe`.
    ReadinessProbe,
    /// One resource value.
    Resource(ResourceField),
}

/// A field enforcement owns: which list, which container (by name), which field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owned {
    /// `containers` or `initContainers`.
    pub list: &'static str,
    /// The container's name.
    pub container: String,
    /// The field.
    pub field: OwnedField,
}

/// The `apiVersion` of the kinds enforcement patches.
pub fn api_version(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Pod | WorkloadKind::ReplicationController => "v1",
        WorkloadKind::Job | WorkloadKind::CronJob => "batch/v1",
        _ => "apps/v1",
    }
}

/// The `managedFields` entries of enforcement's applies to the main resource.
fn enforcer_entries(live: &Value) -> impl Iterator<Item = &Value> {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e["manager"] == FIELD_MANAGER
                && e["operation"] == "Apply"
                && e.get("subresource")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
        })
}

/// Whether enforcement owns any field of the live object.
pub fn is_managed(live: &Value) -> bool {
    enforcer_entries(live).next().is_some()
}

/// The container name of a `k:{"name":"app"}` key.
fn container_key(key: &str) -> Option<String> {
    let json = key.strip_prefix("k:")?;
    let v: Value = serde_json::from_str(json).ok()?;
    v.get("name")?.as_str().map(str::to_owned)
}

/// The container fields enforcement owns on the live object, per its `managedFields`.
pub fn owned_fields(live: &Value) -> Vec<Owned> {
    let mut out = Vec::new();
    for entry in enforcer_entries(live) {
        let Some(template) = entry.pointer("/fieldsV1/f:spec/f:template/f:spec") else {
            continue;
        };
        for list in LISTS {
            let Some(items) = template.get(format!("f:{list}")).and_then(Value::as_object) else {
                continue;
            };
            for (key, fields) in items {
                let Some(container) = container_key(key) else {
                    continue;
                };
                let mut push = |field| {
                    out.push(Owned {
                        list,
                        container: container.clone(),
                        field,
                    })
                };
                if fields.get("f:livenessProbe").is_some() {
                    push(OwnedField::LivenessProbe);
                }
                if fields.get("f:readinessProbe").is_some() {
                    push(OwnedField::ReadinessProbe);
                }
                for field in ResourceField::ALL {
                    let (group, name) = field.path();
                    let path = format!("/f:resources/f:{group}/f:{name}");
                    if fields.pointer(&path).is_some() {
                        push(OwnedField::Resource(field));
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The live container `name` of `list`.
fn live_container<'a>(live: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    live.pointer(&format!("/spec/template/spec/{list}"))?
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
}

/// Container entries of the applied configuration, keyed by (list, container name).
type Entries = std::collections::BTreeMap<(&'static str, String), Map<String, Value>>;

/// The entry for container `name` in `list`, created on first use.
fn entry<'a>(
    entries: &'a mut Entries,
    list: &'static str,
    name: &str,
) -> &'a mut Map<String, Value> {
    entries.entry((list, name.to_owned())).or_insert_with(|| {
        let mut m = Map::new();
        m.insert("name".into(), json!(name));
        m
    })
}

fn set_resource(container: &mut Map<String, Value>, field: ResourceField, value: Value) {
    let (group, name) = field.path();
    let resources = container
        .entry("resources")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(resources) = resources {
        let group = resources.entry(group).or_insert_with(|| json!({}));
        if let Some(group) = group.as_object_mut() {
            group.insert(name.to_owned(), value);
        }
    }
}

fn probe_json(p: &super::ProbeIntent) -> Value {
    let mut probe = match &p.action {
        super::ProbeAction::TcpSocket { port } => json!({"tcpSocket": {"port": port}}),
        super::ProbeAction::HttpGet { path, port } => {
            json!({"httpGet": {"path": path, "port": port}})
        }
    };
    probe["initialDelaySeconds"] = json!(p.initial_delay_seconds);
    probe["periodSeconds"] = json!(p.period_seconds);
    probe
}

/// The applied configuration of `plan` over `live`: what enforcement owns already (live
/// values), the plan's additions, and the two annotations.
pub fn apply_object(live: &Value, plan: &RemediationPlan, patched_at: &str) -> Value {
    let mut entries = Entries::new();
    for owned in owned_fields(live) {
        let Some(current) = live_container(live, owned.list, &owned.container) else {
            continue;
        };
        let value = match owned.field {
            OwnedField::LivenessProbe => current.get("livenessProbe"),
            OwnedField::ReadinessProbe => current.get("readinessProbe"),
            OwnedField::Resource(field) => {
                let (group, name) = field.path();
                current.pointer(&format!("/resources/{group}/{name}"))
            }
        };
        let Some(value) = value.cloned() else {
            continue;
        };
        let container = entry(&mut entries, owned.list, &owned.container);
        match owned.field {
            OwnedField::LivenessProbe => {
                container.insert("livenessProbe".into(), value);
            }
            OwnedField::ReadinessProbe => {
                container.insert("readinessProbe".into(), value);
            }
            OwnedField::Resource(field) => set_resource(container, field, value),
        }
    }
    for c in &plan.containers {
        let list = if c.init {
            "initContainers"
        } else {
            "containers"
        };
        let container = entry(&mut entries, list, &c.name);
        if let Some(p) = &c.liveness_probe {
            container.insert("livenessProbe".into(), probe_json(p));
        }
        if let Some(p) = &c.readiness_probe {
            container.insert("readinessProbe".into(), probe_json(p));
        }
        for (field, value) in &c.resources {
            set_resource(container, *field, json!(value));
        }
    }
    let mut lists = Map::new();
    for ((list, _), container) in entries {
        if let Value::Array(items) = lists
            .entry(list)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            items.push(Value::Object(container));
        }
    }
    json!({
        "apiVersion": api_version(plan.kind),
        "kind": plan.kind.as_str(),
        "metadata": {
            "name": plan.name,
            "namespace": plan.namespace,
            "annotations": {PATCHED_BY: FIELD_MANAGER, PATCHED_AT: patched_at},
        },
        "spec": {"template": {"spec": Value::Object(lists)}},
    })
}

/// What enforcement owned before a remediation, as an applied configuration: applying it
/// undoes that one remediation and keeps the earlier ones (the empty configuration when
/// enforcement owned nothing).
pub fn previous_object(live: &Value, kind: WorkloadKind, namespace: &str, name: &str) -> Value {
    if !is_managed(live) {
        return revert_object(kind, namespace, name);
    }
    let empty = RemediationPlan {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        containers: Vec::new(),
        fixes: Vec::new(),
        not_derivable: Vec::new(),
    };
    let at = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PATCHED_AT))
        .and_then(Value::as_str)
        .unwrap_or_default();
    apply_object(live, &empty, at)
}

/// A digest of the workload's pod template (`spec.template`), stable across processes:
/// FNV-1a over its JSON text (object keys sorted).
pub fn template_digest(live: &Value) -> String {
    let text = live
        .pointer("/spec/template")
        .map(Value::to_string)
        .unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The revert of a failed rollout: `previous` (what enforcement owned before the
/// remediation) marked with the digest of the template it restores, `restored`.
pub fn failed_revert_object(previous: &Value, restored: &str) -> Value {
    let mut body = previous.clone();
    body["metadata"]["annotations"][ROLLOUT_FAILED] = json!(restored);
    body
}

/// Whether a revert after a failed rollout left the live template as it is now.
pub fn rollout_failed_here(live: &Value) -> bool {
    live.pointer("/metadata/annotations")
        .and_then(|a| a.get(ROLLOUT_FAILED))
        .and_then(Value::as_str)
        .is_some_and(|d| d == template_digest(live))
}

/// The empty configuration: applied under [`FIELD_MANAGER`], it removes every field
/// enforcement owns on the workload.
pub fn revert_object(kind: WorkloadKind, namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": api_version(kind),
        "kind": kind.as_str(),
        "metadata": {"name": name, "namespace": namespace},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enforce::{ContainerIntent, ProbeAction, ProbeIntent};

    fn live_with_owned_probe() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "shop",
                "managedFields": [
                    {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:image": {}}}}}}}},
                    {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:name": {}, "f:livenessProbe": {"f:tcpSocket": {}}}}}}}}},
                ]
            },
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1", "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 10}}
            ]}}}
        })
    }

    fn plan_with(containers: Vec<ContainerIntent>) -> RemediationPlan {
        RemediationPlan {
            kind: WorkloadKind::Deployment,
            namespace: "shop".into(),
            name: "web".into(),
            containers,
            fixes: Vec::new(),
            not_derivable: Vec::new(),
        }
    }

    #[test]
    fn owned_fields_are_read_from_the_enforcers_entry_only() {
        let owned = owned_fields(&live_with_owned_probe());
        assert_eq!(
            owned,
            vec![Owned {
                list: "containers",
                container: "app".into(),
                field: OwnedField::LivenessProbe
            }]
        );
    }

    #[test]
    fn a_new_remediation_restates_what_enforcement_already_owns() {
        let plan = plan_with(vec![ContainerIntent {
            name: "app".into(),
            init: false,
            liveness_probe: None,
            readiness_probe: Some(ProbeIntent {
                action: ProbeAction::HttpGet {
                    path: "/ready".into(),
                    port: 80,
                },
                initial_delay_seconds: 5,
                period_seconds: 10,
            }),
            resources: vec![(ResourceField::MemoryLimit, "256Mi".into())],
        }]);
        let body = apply_object(&live_with_owned_probe(), &plan, "2026-01-01T00:00:00Z");
        assert_eq!(
            body["spec"]["template"]["spec"]["containers"],
            json!([{
                "name": "app",
                "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 10},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 80}, "initialDelaySeconds": 5, "periodSeconds": 10},
                "resources": {"limits": {"memory": "256Mi"}},
            }])
        );
        assert_eq!(body["metadata"]["annotations"][PATCHED_BY], FIELD_MANAGER);
        assert_eq!(
            body["metadata"]["annotations"][PATCHED_AT],
            "2026-01-01T00:00:00Z"
        );
        assert!(
            body["spec"]["template"]["spec"]
                .get("initContainers")
                .is_none()
        );
    }

    #[test]
    fn sidecar_fixes_go_to_init_containers_and_the_revert_owns_nothing() {
        let plan = plan_with(vec![ContainerIntent {
            name: "proxy".into(),
            init: true,
            liveness_probe: None,
            readiness_probe: None,
            resources: vec![(ResourceField::CpuRequest, "50m".into())],
        }]);
        let live = json!({"metadata": {"name": "web"}});
        let body = apply_object(&live, &plan, "t");
        assert_eq!(
            body["spec"]["template"]["spec"]["initContainers"],
            json!([{"name": "proxy", "resources": {"requests": {"cpu": "50m"}}}])
        );
        let revert = revert_object(WorkloadKind::StatefulSet, "shop", "db");
        assert_eq!(
            revert,
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop"}})
        );
        assert!(!is_managed(&live));
        assert!(is_managed(&live_with_owned_probe()));
    }

    #[test]
    fn a_failed_rollout_marks_the_restored_template_until_it_changes() {
        let live = live_with_owned_probe();
        let restored = template_digest(&live);
        let body = failed_revert_object(
            &revert_object(WorkloadKind::Deployment, "shop", "web"),
            &restored,
        );
        assert_eq!(
            body["metadata"]["annotations"][ROLLOUT_FAILED],
            json!(restored)
        );
        let mut marked = live.clone();
        marked["metadata"]["annotations"] = json!({ROLLOUT_FAILED: restored});
        assert!(rollout_failed_here(&marked));
        marked["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(
            !rollout_failed_here(&marked),
            "a new template may be repaired"
        );
        assert!(!rollout_failed_here(&live));
    }
}
