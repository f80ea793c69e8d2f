//! Events the simulated control plane records, as the real components do: in, the object
//! an event is about, who reports it and what happened; out, an Event in the one store
//! both event APIs read. Controllers and the kubelet record through the core/v1 API
//! (`source.component`, `firstTimestamp`, `count`, and the same component as
//! `reportingComponent`); the scheduler records through `events.k8s.io/v1` (`eventTime`,
//! `reportingController`, `action`). Names are `<object>.<hex nanoseconds>` as client-go
//! makes them.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::{log_refusal, type_of};
use crate::lifecycle::{self, WriteOptions};
use crate::meta;
use crate::resources::ResourceType;
use crate::store::State;

/// Who reports an event.
#[derive(Clone, Copy, Debug)]
pub struct Reporter<'a> {
    /// The component, e.g. `replicaset-controller`, `kubelet`, `default-scheduler`.
    pub component: &'a str,
    /// The instance (the node for a kubelet), empty for controllers.
    pub instance: &'a str,
    /// The field manager its client writes with.
    pub manager: &'a str,
}

/// The reporter of each simulated controller, by the kind it controls.
pub fn controller(kind: &str) -> Reporter<'static> {
    let component = match kind {
        "Deployment" => "deployment-controller",
        "ReplicaSet" => "replicaset-controller",
        "ReplicationController" => "replication-controller",
        "StatefulSet" => "statefulset-controller",
        "DaemonSet" => "daemonset-controller",
        "Job" => "job-controller",
        "CronJob" => "cronjob-controller",
        _ => "kube-controller-manager",
    };
    Reporter {
        component,
        instance: "",
        manager: "kube-controller-manager",
    }
}

/// The kubelet of a node.
pub fn kubelet(node: &str) -> Reporter<'_> {
    Reporter {
        component: "kubelet",
        instance: node,
        manager: "kubelet",
    }
}

/// What happened.
#[derive(Clone, Debug)]
pub struct Occurrence<'a> {
    /// `Normal` or `Warning`.
    pub kind: &'a str,
    /// The reason, e.g. `SuccessfulCreate`.
    pub reason: &'a str,
    /// The message.
    pub message: String,
    /// The part of the object, e.g. `spec.containers{app}`.
    pub field_path: Option<String>,
}

impl<'a> Occurrence<'a> {
    /// A Normal event.
    pub fn normal(reason: &'a str, message: String) -> Self {
        Occurrence {
            kind: "Normal",
            reason,
            message,
            field_path: None,
        }
    }

    /// A Warning event.
    pub fn warning(reason: &'a str, message: String) -> Self {
        Occurrence {
            kind: "Warning",
            ..Occurrence::normal(reason, message)
        }
    }

    /// The same, about one container of a pod.
    pub fn in_container(mut self, container: &str) -> Self {
        self.field_path = Some(format!("spec.containers{{{container}}}"));
        self
    }
}

/// A reference to the object an event is about (an object or an ownerReference).
pub fn reference(object: &Value) -> Value {
    let field = |k: &str| object.get(k).cloned().unwrap_or(Value::Null);
    match object.get("metadata") {
        Some(_) => json!({
            "apiVersion": field("apiVersion"),
            "kind": field("kind"),
            "name": meta::name(object),
            "namespace": meta::namespace(object),
            "uid": meta::uid(object),
            "resourceVersion": meta::meta_str(object, "resourceVersion"),
        }),
        None => json!({
            "apiVersion": field("apiVersion"),
            "kind": field("kind"),
            "name": field("name"),
            "uid": field("uid"),
        }),
    }
}

/// A name no other event of the object has: `<name>.<hex nanoseconds>`.
fn event_name(about: &str) -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(0);
    let mut previous = LAST.load(Ordering::Relaxed);
    let nanos = loop {
        let next = now.max(previous + 1);
        match LAST.compare_exchange(previous, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => previous = seen,
        }
    };
    format!("{about}.{nanos:x}")
}

/// Records an event through the core/v1 API, as client-go's recorder does.
pub fn record(
    state: &mut State,
    namespace: &str,
    about: Value,
    reporter: Reporter,
    occurrence: Occurrence,
) {
    let Some(events) = type_of(state, "", "events") else {
        return;
    };
    let mut involved = about;
    if let (Some(path), Some(map)) = (&occurrence.field_path, involved.as_object_mut()) {
        map.insert("fieldPath".into(), json!(path));
    }
    if let Some(map) = involved.as_object_mut() {
        map.insert("namespace".into(), json!(namespace));
        map.retain(|_, v| !v.is_null() && v.as_str() != Some(""));
    }
    let name = involved.get("name").and_then(Value::as_str).unwrap_or("");
    let now = meta::now();
    let mut source = json!({"component": reporter.component});
    if !reporter.instance.is_empty() {
        source["host"] = json!(reporter.instance);
    }
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(name), "namespace": namespace},
        "involvedObject": involved,
        "reason": occurrence.reason,
        "message": occurrence.message,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": occurrence.kind,
        "eventTime": null,
        "reportingComponent": reporter.component,
        "reportingInstance": reporter.instance,
    });
    store(state, &events, namespace, event, reporter);
}

/// Records an event through `events.k8s.io/v1`, as the scheduler does.
pub fn record_v1(
    state: &mut State,
    namespace: &str,
    regarding: Value,
    reporter: Reporter,
    action: &str,
    occurrence: Occurrence,
) {
    let Some(events) = type_of(state, "events.k8s.io", "events") else {
        return;
    };
    let name = regarding.get("name").and_then(Value::as_str).unwrap_or("");
    let event = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": event_name(name), "namespace": namespace},
        "eventTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "reportingController": reporter.component,
        "reportingInstance": reporter.instance,
        "action": action,
        "reason": occurrence.reason,
        "regarding": regarding,
        "note": occurrence.message,
        "type": occurrence.kind,
    });
    store(state, &events, namespace, event, reporter);
}

/// Creates the event as its reporter's client would.
fn store(
    state: &mut State,
    events: &ResourceType,
    namespace: &str,
    event: Value,
    reporter: Reporter,
) {
    let options = WriteOptions::by(reporter.manager);
    log_refusal(
        "record event",
        lifecycle::create(state, events, namespace, event, &options),
    );
}
