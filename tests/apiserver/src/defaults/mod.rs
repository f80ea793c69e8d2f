//! API defaulting of built-in kinds, as kube-apiserver applies it when it decodes a
//! create, update, patch result or server-side apply result: in, an object of a built-in
//! kind as the client sent it (or as a patch left it); out, the same object with every
//! field the real defaulters fill in when it is missing (`pod`: pod specs, containers,
//! probes and volumes, in Pods and in every workload's pod template; `workloads`:
//! Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs,
//! CronJobs, Services and the smaller kinds). Defaulting runs before managedFields are
//! computed, so an ordinary writer owns the defaults it caused; custom resources are left
//! alone. Each kind's defaults are a table of [`Rule`]s.

mod pod;
mod workloads;

use serde_json::{Map, Value, json};

use crate::resources::ResourceType;

/// When a rule fills its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// The field is absent or null (a Go pointer left nil).
    Absent,
    /// The field is absent, null, `""`, `0` or `false` (a Go value left at its zero).
    Zero,
}

/// What a rule fills in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fill {
    /// A string.
    Str(&'static str),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// An empty object (`securityContext: {}`).
    Empty,
}

impl Fill {
    fn value(self) -> Value {
        match self {
            Fill::Str(s) => json!(s),
            Fill::Int(n) => json!(n),
            Fill::Bool(b) => json!(b),
            Fill::Empty => json!({}),
        }
    }
}

/// One defaulted field of an object.
pub type Rule = (&'static str, Fill, When);

/// Whether a field counts as unset under `when`.
pub fn unset(map: &Map<String, Value>, field: &str, when: When) -> bool {
    match (map.get(field), when) {
        (None | Some(Value::Null), _) => true,
        (Some(_), When::Absent) => false,
        (Some(Value::String(s)), When::Zero) => s.is_empty(),
        (Some(Value::Number(n)), When::Zero) => n.as_f64() == Some(0.0),
        (Some(Value::Bool(b)), When::Zero) => !b,
        (Some(_), When::Zero) => false,
    }
}

/// Fills every unset field of a table.
pub fn fill(map: &mut Map<String, Value>, rules: &[Rule]) {
    for (field, value, when) in rules {
        if unset(map, field, *when) {
            map.insert((*field).to_string(), value.value());
        }
    }
}

/// The object at `field`, created empty when absent or null; `None` when it holds
/// something else.
pub fn child<'a>(
    map: &'a mut Map<String, Value>,
    field: &str,
) -> Option<&'a mut Map<String, Value>> {
    let slot = map.entry(field).or_insert_with(|| json!({}));
    if slot.is_null() {
        *slot = json!({});
    }
    slot.as_object_mut()
}

/// The value at a path of field names under a map.
pub fn at<'a>(map: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut node = map.get(*first)?;
    for field in rest {
        node = node.get(*field)?;
    }
    Some(node)
}

/// The object at `field` when present.
pub fn existing<'a>(
    map: &'a mut Map<String, Value>,
    field: &str,
) -> Option<&'a mut Map<String, Value>> {
    map.get_mut(field).and_then(Value::as_object_mut)
}

/// Every object in the list at `field`.
pub fn items<'a>(
    map: &'a mut Map<String, Value>,
    field: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// Applies the defaults of a built-in kind; other kinds are left as they are.
pub fn apply(rt: &ResourceType, object: &mut Value) {
    if !rt.builtin {
        return;
    }
    let Some(map) = object.as_object_mut() else {
        return;
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => pod::pod(map),
        ("", "PodTemplate") => template_at(map, &["template"]),
        ("", "Namespace") => workloads::namespace(map),
        ("", "Service") => workloads::service(map),
        ("", "Secret") => fill(map, &[("type", Fill::Str("Opaque"), When::Zero)]),
        ("", "Endpoints") => workloads::endpoints(map),
        ("", "Node") => workloads::node(map),
        ("", "ReplicationController") => workloads::replication_controller(map),
        ("", "PersistentVolumeClaim") => {
            if let Some(spec) = existing(map, "spec") {
                workloads::claim_spec(spec);
            }
        }
        ("apps", "Deployment") => workloads::deployment(map),
        ("apps", "ReplicaSet") => workloads::replica_set(map),
        ("apps", "StatefulSet") => workloads::stateful_set(map),
        ("apps", "DaemonSet") => workloads::daemon_set(map),
        ("batch", "Job") => workloads::job(map),
        ("batch", "CronJob") => workloads::cron_job(map),
        ("networking.k8s.io", "NetworkPolicy") => workloads::network_policy(map),
        ("autoscaling", "HorizontalPodAutoscaler") => workloads::autoscaler(map),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            workloads::binding(map)
        }
        _ => {}
    }
}

/// Defaults the pod template at a path under the object (`spec.template`, ...).
pub fn template_at(map: &mut Map<String, Value>, path: &[&str]) {
    let mut node = map;
    for field in path {
        match existing(node, field) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(spec) = existing(node, "spec") {
        pod::pod_spec(spec);
    }
}

#[cfg(test)]
mod tests;
