//! The columns kube-apiserver's built-in table printers show for each kind, as `kubectl
//! get` prints them: in, a stored object of a built-in kind; out, one cell per column
//! (`workloads`: pods and the workload controllers; `core`: services, events, secrets,
//! config maps, nodes, namespaces and the smaller kinds). Columns of priority 1 are the
//! ones `-o wide` adds. Kinds without a printer get Name and Age.

mod core;
mod workloads;

use serde_json::{Value, json};

use crate::meta;
use crate::resources::ResourceType;

/// Computes one cell from a stored object.
pub type Cell = fn(&Value) -> Value;

/// One printed column: header, OpenAPI type, priority and cell.
#[derive(Clone, Copy)]
pub struct Printed {
    /// The header, e.g. `Cluster-IP`.
    pub name: &'static str,
    /// `string`, `integer` or `date`.
    pub kind: &'static str,
    /// 0 for the default view, 1 for `-o wide`.
    pub priority: u8,
    /// How the cell is computed.
    pub cell: Cell,
}

/// A column.
pub const fn col(name: &'static str, kind: &'static str, priority: u8, cell: Cell) -> Printed {
    Printed {
        name,
        kind,
        priority,
        cell,
    }
}

/// The Name column.
pub const NAME: Printed = col("Name", "string", 0, name);
/// The Age column.
pub const AGE: Printed = col("Age", "string", 0, age);

/// The columns of a built-in kind.
pub fn columns(rt: &ResourceType) -> Vec<Printed> {
    let specific = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => workloads::POD,
        ("apps", "Deployment") => workloads::DEPLOYMENT,
        ("apps", "ReplicaSet") | ("", "ReplicationController") => workloads::REPLICA_SET,
        ("apps", "StatefulSet") => workloads::STATEFUL_SET,
        ("apps", "DaemonSet") => workloads::DAEMON_SET,
        ("batch", "Job") => workloads::JOB,
        ("batch", "CronJob") => workloads::CRON_JOB,
        ("", "Service") => core::SERVICE,
        ("", "Event") | ("events.k8s.io", "Event") => core::EVENT,
        ("", "Secret") => core::SECRET,
        ("", "ConfigMap") => core::CONFIG_MAP,
        ("", "Namespace") => core::NAMESPACE,
        ("", "Node") => core::NODE,
        ("", "ServiceAccount") => core::SERVICE_ACCOUNT,
        ("", "Endpoints") => core::ENDPOINTS,
        ("coordination.k8s.io", "Lease") => core::LEASE,
        ("apiextensions.k8s.io", "CustomResourceDefinition")
        | ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => core::CREATED_AT,
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => core::BINDING,
        ("admissionregistration.k8s.io", _) => core::WEBHOOKS,
        _ => &[NAME, AGE],
    };
    specific.to_vec()
}

/// A string field, empty when absent.
pub fn text(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// An integer field, 0 when absent.
pub fn number(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The text, or `<none>` when empty, as the printers show missing values.
pub fn or_none(text: String) -> Value {
    if text.is_empty() {
        json!("<none>")
    } else {
        json!(text)
    }
}

fn name(object: &Value) -> Value {
    json!(meta::name(object))
}

fn age(object: &Value) -> Value {
    since(meta::meta_str(object, "creationTimestamp"))
}

/// How long ago a timestamp was, as the printers spell it (`45s`, `12m`, `3h`, `7d`).
pub fn since(timestamp: &str) -> Value {
    let Ok(then) = timestamp.parse::<jiff::Timestamp>() else {
        return json!("<unknown>");
    };
    let seconds = jiff::Timestamp::now().as_second() - then.as_second();
    json!(human_duration(seconds))
}

/// A duration in the printers' short form.
pub fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s < 0 => "<invalid>".to_string(),
        s if s < 120 => format!("{s}s"),
        s if s < 180 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 730 * 86400 => format!("{}d", s / 86400),
        s => format!("{}y", s / (365 * 86400)),
    }
}

/// How many items the list at `field` holds.
pub fn count(object: &Value, field: &str) -> Value {
    json!(
        object
            .pointer(field)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    )
}

/// The names or images of the containers of the pod template at `template`.
pub fn containers(object: &Value, template: &str, field: &str) -> Value {
    let list: Vec<String> = object
        .pointer(&format!("{template}/spec/containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get(field).and_then(Value::as_str).map(str::to_string))
        .collect();
    json!(list.join(","))
}

/// A label selector as text (`app=web,tier in (a,b)`), `<none>` when empty.
pub fn selector_text(selector: Option<&Value>) -> Value {
    let Some(selector) = selector else {
        return json!("<none>");
    };
    let mut terms: Vec<String> = Vec::new();
    let labels = selector.get("matchLabels").unwrap_or(selector);
    if let Some(labels) = labels.as_object() {
        for (k, v) in labels {
            if let Some(v) = v.as_str() {
                terms.push(format!("{k}={v}"));
            }
        }
    }
    for expression in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
        let values = meta::strings(expression.get("values"));
        let term = match expression.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.to_string(),
            Some("DoesNotExist") => format!("!{key}"),
            _ => continue,
        };
        terms.push(term);
    }
    or_none(terms.join(","))
}
