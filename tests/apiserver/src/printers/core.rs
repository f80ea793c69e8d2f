//! Printed columns of the core kinds and the smaller built-ins: Services (type, cluster
//! and external IPs, ports), Events (last seen, type, reason, object, message, and the
//! source and counts `-o wide` adds), Secrets, ConfigMaps, Namespaces, Nodes,
//! ServiceAccounts, Endpoints, Leases, RBAC objects, CRDs and webhook configurations.

use serde_json::{Value, json};

use super::{AGE, NAME, Printed, col, count, number, or_none, selector_text, since, text};
use crate::meta;

pub const SERVICE: &[Printed] = &[
    NAME,
    col("Type", "string", 0, |s| json!(text(s, "/spec/type"))),
    col("Cluster-IP", "string", 0, |s| {
        or_none(text(s, "/spec/clusterIP"))
    }),
    col("External-IP", "string", 0, external_ips),
    col("Port(s)", "string", 0, service_ports),
    AGE,
    col("Selector", "string", 1, |s| {
        selector_text(s.pointer("/spec/selector"))
    }),
];

pub const EVENT: &[Printed] = &[
    col("Last Seen", "string", 0, event_last_seen),
    col("Type", "string", 0, |e| json!(text(e, "/type"))),
    col("Reason", "string", 0, |e| json!(text(e, "/reason"))),
    col("Object", "string", 0, event_object),
    col("Subobject", "string", 1, |e| {
        json!(text(e, "/involvedObject/fieldPath"))
    }),
    col("Source", "string", 1, event_source),
    col("Message", "string", 0, |e| {
        json!(text(e, "/message").trim())
    }),
    col("First Seen", "string", 1, event_first_seen),
    col("Count", "integer", 1, event_count),
    col("Name", "string", 1, |e| json!(meta::name(e))),
];

pub const SECRET: &[Printed] = &[
    NAME,
    col("Type", "string", 0, |s| json!(text(s, "/type"))),
    col("Data", "integer", 0, |s| {
        json!(entries(s, "data") + entries(s, "stringData"))
    }),
    AGE,
];

pub const CONFIG_MAP: &[Printed] = &[
    NAME,
    col("Data", "integer", 0, |c| {
        json!(entries(c, "data") + entries(c, "binaryData"))
    }),
    AGE,
];

pub const NAMESPACE: &[Printed] = &[
    NAME,
    col("Status", "string", 0, |n| json!(text(n, "/status/phase"))),
    AGE,
];

pub const NODE: &[Printed] = &[
    NAME,
    col("Status", "string", 0, node_status),
    col("Roles", "string", 0, node_roles),
    AGE,
    col("Version", "string", 0, |n| {
        json!(text(n, "/status/nodeInfo/kubeletVersion"))
    }),
    col("Internal-IP", "string", 1, |n| {
        or_none(node_address(n, "InternalIP"))
    }),
    col("External-IP", "string", 1, |n| {
        or_none(node_address(n, "ExternalIP"))
    }),
    col("OS-Image", "string", 1, |n| {
        json!(text(n, "/status/nodeInfo/osImage"))
    }),
    col("Kernel-Version", "string", 1, |n| {
        json!(text(n, "/status/nodeInfo/kernelVersion"))
    }),
    col("Container-Runtime", "string", 1, |n| {
        json!(text(n, "/status/nodeInfo/containerRuntimeVersion"))
    }),
];

pub const SERVICE_ACCOUNT: &[Printed] = &[
    NAME,
    col("Secrets", "integer", 0, |s| count(s, "/secrets")),
    AGE,
];

pub const ENDPOINTS: &[Printed] = &[NAME, col("Endpoints", "string", 0, endpoints), AGE];

pub const LEASE: &[Printed] = &[
    NAME,
    col("Holder", "string", 0, |l| {
        json!(text(l, "/spec/holderIdentity"))
    }),
    AGE,
];

pub const CREATED_AT: &[Printed] = &[
    NAME,
    col("Created At", "date", 0, |o| {
        json!(meta::meta_str(o, "creationTimestamp"))
    }),
];

pub const BINDING: &[Printed] = &[
    NAME,
    col("Role", "string", 0, |b| {
        json!(format!(
            "{}/{}",
            text(b, "/roleRef/kind"),
            text(b, "/roleRef/name")
        ))
    }),
    AGE,
    col("Users", "string", 1, |b| subjects(b, "User")),
    col("Groups", "string", 1, |b| subjects(b, "Group")),
    col("ServiceAccounts", "string", 1, |b| {
        subjects(b, "ServiceAccount")
    }),
];

pub const WEBHOOKS: &[Printed] = &[
    NAME,
    col("Webhooks", "integer", 0, |w| count(w, "/webhooks")),
    AGE,
];

fn entries(object: &Value, field: &str) -> usize {
    object
        .get(field)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

fn external_ips(service: &Value) -> Value {
    let mut ips: Vec<String> = service
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.as_str().map(str::to_string))
        .collect();
    if text(service, "/spec/type") == "LoadBalancer" {
        let ingress = service
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        ips.extend(ingress.iter().filter_map(|i| {
            i.get("ip")
                .or_else(|| i.get("hostname"))
                .and_then(Value::as_str)
                .map(str::to_string)
        }));
        if ips.is_empty() {
            return json!("<pending>");
        }
    }
    if text(service, "/spec/type") == "ExternalName" {
        return or_none(text(service, "/spec/externalName"));
    }
    or_none(ips.join(","))
}

fn service_ports(service: &Value) -> Value {
    let ports: Vec<String> = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            let port = number(p, "/port");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    or_none(ports.join(","))
}

fn event_first_seen(event: &Value) -> Value {
    match text(event, "/firstTimestamp").as_str() {
        "" => since(&text(event, "/eventTime")),
        first => since(first),
    }
}

fn event_last_seen(event: &Value) -> Value {
    if let Some(Value::String(last)) = event.pointer("/series/lastObservedTime") {
        return since(last);
    }
    match text(event, "/lastTimestamp").as_str() {
        "" => event_first_seen(event),
        last => since(last),
    }
}

fn event_count(event: &Value) -> Value {
    if let Some(count) = event.pointer("/series/count").and_then(Value::as_i64) {
        return json!(count);
    }
    json!(number(event, "/count").max(1))
}

fn event_object(event: &Value) -> Value {
    let kind = text(event, "/involvedObject/kind").to_lowercase();
    match text(event, "/involvedObject/name").as_str() {
        "" => json!(kind),
        name => json!(format!("{kind}/{name}")),
    }
}

fn event_source(event: &Value) -> Value {
    let first = |a: String, b: String| if a.is_empty() { b } else { a };
    let component = first(
        text(event, "/source/component"),
        text(event, "/reportingComponent"),
    );
    let instance = first(
        text(event, "/source/host"),
        text(event, "/reportingInstance"),
    );
    json!(if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    })
}

fn node_status(node: &Value) -> Value {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let mut status = match ready.and_then(|c| c["status"].as_str()) {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    json!(status)
}

fn node_roles(node: &Value) -> Value {
    let roles: Vec<&str> = meta::labels(node)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    or_none(roles.join(","))
}

fn node_address(node: &Value, kind: &str) -> String {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| x["type"] == kind))
        .and_then(|a| a["address"].as_str())
        .unwrap_or("")
        .to_string()
}

fn endpoints(object: &Value) -> Value {
    let mut out = Vec::new();
    for subset in object
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| number(p, "/port"))
            .collect();
        for address in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ip = address.get("ip").and_then(Value::as_str).unwrap_or("");
            if ports.is_empty() {
                out.push(ip.to_string());
            }
            out.extend(ports.iter().map(|p| format!("{ip}:{p}")));
        }
    }
    or_none(out.join(","))
}

fn subjects(binding: &Value, kind: &str) -> Value {
    let names: Vec<String> = binding
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == kind)
        .map(|s| match (s["namespace"].as_str(), s["name"].as_str()) {
            (Some(ns), Some(name)) if kind == "ServiceAccount" => format!("{ns}/{name}"),
            (_, name) => name.unwrap_or("").to_string(),
        })
        .collect();
    json!(names.join(", "))
}
