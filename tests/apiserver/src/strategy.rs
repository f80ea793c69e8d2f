//! What the registry of each built-in kind does to an object after defaulting and after
//! managedFields are computed, so no manager owns it (kube-apiserver's `PrepareForCreate`
//! / `PrepareForUpdate` and REST storage). In: the object about to be stored (and the
//! stored one, on update). Out: namespaces with their `kubernetes` finalizer and `Active`
//! phase, Services with an allocated cluster IP, IP family and node ports (kept across
//! updates that omit them), new Pods `Pending`, Jobs with their generated selector and
//! pod labels, CRDs with their conditions. [`validate`] holds the few checks of built-in
//! kinds this server makes (a Job's pods must not restart in place).

use serde_json::{Map, Value, json};

use crate::meta;
use crate::resources::ResourceType;
use crate::status::FieldCause;

/// The first node port handed out, as in the default `--service-node-port-range`.
const NODE_PORT_BASE: u64 = 30_000;
/// How many node ports the range holds.
const NODE_PORT_RANGE: u64 = 2_768;

/// Completes a new object.
pub fn prepare_create(rt: &ResourceType, object: &mut Value) {
    let uid = meta::uid(object).to_string();
    let crd_status =
        (rt.kind == "CustomResourceDefinition").then(|| crate::crd::established_status(object));
    let Some(map) = object.as_object_mut() else {
        return;
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            map.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            map.insert("status".into(), json!({"phase": "Active"}));
        }
        ("", "Service") => allocate(map, &uid),
        ("", "Pod") if !map.contains_key("status") => {
            map.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": qos_class(map)}),
            );
        }
        ("batch", "Job") => job_selector(map, &uid),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(status) = crd_status {
                map.insert("status".into(), status);
            }
        }
        _ => {}
    }
}

/// Completes a replacement: what the registry allocated stays, CRD conditions follow.
pub fn prepare_update(rt: &ResourceType, old: &Value, next: &mut Value) {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Service") => {
            let uid = meta::uid(old).to_string();
            if let (Some(old_spec), Some(spec)) = (
                old.get("spec").and_then(Value::as_object),
                next.get_mut("spec").and_then(Value::as_object_mut),
            ) {
                keep_allocated(old_spec, spec);
            }
            if let Some(map) = next.as_object_mut() {
                allocate(map, &uid);
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let status = crate::crd::established_status(next);
            if let Some(map) = next.as_object_mut() {
                map.insert("status".into(), status);
            }
        }
        _ => {}
    }
}

/// The checks of built-in kinds this server makes: the pod template of a Job or CronJob
/// must restart `OnFailure` or `Never`. Answers the causes, empty when valid.
pub fn validate(rt: &ResourceType, object: &Value) -> Vec<FieldCause> {
    let pointer = match (rt.group.as_str(), rt.kind.as_str()) {
        ("batch", "Job") => "/spec/template/spec/restartPolicy",
        ("batch", "CronJob") => "/spec/jobTemplate/spec/template/spec/restartPolicy",
        _ => return Vec::new(),
    };
    let policy = object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("");
    if matches!(policy, "OnFailure" | "Never") {
        return Vec::new();
    }
    let field = pointer.trim_start_matches('/').replace('/', ".");
    vec![FieldCause::new(
        "FieldValueNotSupported",
        field,
        format!("Unsupported value: {policy:?}: supported values: \"OnFailure\", \"Never\""),
    )]
}

/// A stable number from a uid, for addresses and ports.
fn uid_sum(uid: &str) -> u64 {
    uid.bytes().map(u64::from).sum()
}

/// Allocates a Service's cluster IP, IP family and node ports where the type needs them.
fn allocate(map: &mut Map<String, Value>, uid: &str) {
    let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if kind == "ExternalName" {
        return;
    }
    let sum = uid_sum(uid);
    if spec
        .get("clusterIP")
        .is_none_or(|ip| ip.as_str().is_none_or(str::is_empty))
    {
        let ip = format!("10.96.{}.{}", (sum / 250) % 250, sum % 250 + 1);
        spec.insert("clusterIP".into(), json!(ip));
    }
    if spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
        && let Some(ip) = spec.get("clusterIP").cloned()
    {
        spec.insert("clusterIPs".into(), json!([ip]));
    }
    spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| json!("SingleStack"));
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        let ports = spec.get_mut("ports").and_then(Value::as_array_mut);
        for (i, port) in ports.into_iter().flatten().enumerate() {
            if let Some(port) = port.as_object_mut()
                && port
                    .get("nodePort")
                    .and_then(Value::as_u64)
                    .is_none_or(|p| p == 0)
            {
                let number = NODE_PORT_BASE + (sum + i as u64 * 7) % NODE_PORT_RANGE;
                port.insert("nodePort".into(), json!(number));
            }
        }
    }
}

/// Keeps the allocated fields of a Service an update leaves out.
fn keep_allocated(old: &Map<String, Value>, spec: &mut Map<String, Value>) {
    let same_type = old.get("type") == spec.get("type");
    if !same_type {
        return;
    }
    for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        if spec.get(field).is_none_or(Value::is_null)
            && let Some(value) = old.get(field)
        {
            spec.insert(field.into(), value.clone());
        }
    }
    let old_ports = old.get("ports").and_then(Value::as_array);
    let ports = spec.get_mut("ports").and_then(Value::as_array_mut);
    if let (Some(old_ports), Some(ports)) = (old_ports, ports) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            let same = old_ports.iter().find(|o| {
                o.get("port") == port.get("port") && o.get("protocol") == port.get("protocol")
            });
            if port.get("nodePort").is_none_or(Value::is_null)
                && let Some(node_port) = same.and_then(|o| o.get("nodePort"))
            {
                port.insert("nodePort".into(), node_port.clone());
            }
        }
    }
}

/// The selector and pod labels the Job registry generates unless `manualSelector` is set.
fn job_selector(map: &mut Map<String, Value>, uid: &str) {
    let name = crate::defaults::at(map, &["metadata", "name"])
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let generated = [
        ("job-name", name.as_str()),
        ("batch.kubernetes.io/job-name", name.as_str()),
        ("controller-uid", uid),
        ("batch.kubernetes.io/controller-uid", uid),
    ];
    let labels = crate::defaults::child(spec, "template")
        .and_then(|t| crate::defaults::child(t, "metadata"))
        .and_then(|m| crate::defaults::child(m, "labels"));
    if let Some(labels) = labels {
        for (key, value) in generated {
            labels.entry(key).or_insert_with(|| json!(value));
        }
    }
    let selector = crate::defaults::child(spec, "selector")
        .and_then(|s| crate::defaults::child(s, "matchLabels"));
    if let Some(selector) = selector {
        selector
            .entry("batch.kubernetes.io/controller-uid")
            .or_insert_with(|| json!(uid));
    }
}

/// The QoS class of a pod from its containers' requests and limits.
pub fn qos_class(pod: &Map<String, Value>) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| pod.get("spec").and_then(|s| s.get(*list)))
        .filter_map(Value::as_array)
        .flatten()
        .collect();
    let resources = |c: &&Value, kind: &str, name: &str| {
        c.pointer(&format!("/resources/{kind}/{name}")).cloned()
    };
    let any = containers.iter().any(|c| {
        ["requests", "limits"].iter().any(|kind| {
            c.pointer(&format!("/resources/{kind}"))
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|name| {
            let limit = resources(c, "limits", name);
            limit.is_some()
                && resources(c, "requests", name).is_none_or(|request| Some(request) == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
