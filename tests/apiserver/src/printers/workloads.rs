//! Printed columns of pods and the workload kinds: Pods (ready containers, status,
//! restarts, IP and node), Deployments, ReplicaSets and ReplicationControllers,
//! StatefulSets, DaemonSets, Jobs and CronJobs, with the containers, images and selector
//! that `-o wide` adds.

use serde_json::{Value, json};

use super::{
    AGE, NAME, Printed, col, containers, count, human_duration, number, or_none, selector_text,
    since, text,
};
use crate::meta;

pub const POD: &[Printed] = &[
    NAME,
    col("Ready", "string", 0, pod_ready),
    col("Status", "string", 0, pod_status),
    col("Restarts", "string", 0, pod_restarts),
    AGE,
    col("IP", "string", 1, |p| or_none(text(p, "/status/podIP"))),
    col("Node", "string", 1, |p| or_none(text(p, "/spec/nodeName"))),
    col("Nominated Node", "string", 1, |p| {
        or_none(text(p, "/status/nominatedNodeName"))
    }),
    col("Readiness Gates", "string", 1, |_| json!("<none>")),
];

pub const DEPLOYMENT: &[Printed] = &[
    NAME,
    col("Ready", "string", 0, |d| ratio(d, "/status/readyReplicas")),
    col("Up-to-date", "integer", 0, |d| {
        json!(number(d, "/status/updatedReplicas"))
    }),
    col("Available", "integer", 0, |d| {
        json!(number(d, "/status/availableReplicas"))
    }),
    AGE,
    col("Containers", "string", 1, |d| {
        containers(d, "/spec/template", "name")
    }),
    col("Images", "string", 1, |d| {
        containers(d, "/spec/template", "image")
    }),
    col("Selector", "string", 1, |d| {
        selector_text(d.pointer("/spec/selector"))
    }),
];

pub const REPLICA_SET: &[Printed] = &[
    NAME,
    col("Desired", "integer", 0, |r| json!(desired(r))),
    col("Current", "integer", 0, |r| {
        json!(number(r, "/status/replicas"))
    }),
    col("Ready", "integer", 0, |r| {
        json!(number(r, "/status/readyReplicas"))
    }),
    AGE,
    col("Containers", "string", 1, |r| {
        containers(r, "/spec/template", "name")
    }),
    col("Images", "string", 1, |r| {
        containers(r, "/spec/template", "image")
    }),
    col("Selector", "string", 1, |r| {
        selector_text(r.pointer("/spec/selector"))
    }),
];

pub const STATEFUL_SET: &[Printed] = &[
    NAME,
    col("Ready", "string", 0, |s| ratio(s, "/status/readyReplicas")),
    AGE,
    col("Containers", "string", 1, |s| {
        containers(s, "/spec/template", "name")
    }),
    col("Images", "string", 1, |s| {
        containers(s, "/spec/template", "image")
    }),
];

pub const DAEMON_SET: &[Printed] = &[
    NAME,
    col("Desired", "integer", 0, |d| {
        json!(number(d, "/status/desiredNumberScheduled"))
    }),
    col("Current", "integer", 0, |d| {
        json!(number(d, "/status/currentNumberScheduled"))
    }),
    col("Ready", "integer", 0, |d| {
        json!(number(d, "/status/numberReady"))
    }),
    col("Up-to-date", "integer", 0, |d| {
        json!(number(d, "/status/updatedNumberScheduled"))
    }),
    col("Available", "integer", 0, |d| {
        json!(number(d, "/status/numberAvailable"))
    }),
    col("Node Selector", "string", 0, |d| {
        selector_text(d.pointer("/spec/template/spec/nodeSelector"))
    }),
    AGE,
    col("Containers", "string", 1, |d| {
        containers(d, "/spec/template", "name")
    }),
    col("Images", "string", 1, |d| {
        containers(d, "/spec/template", "image")
    }),
    col("Selector", "string", 1, |d| {
        selector_text(d.pointer("/spec/selector"))
    }),
];

pub const JOB: &[Printed] = &[
    NAME,
    col("Status", "string", 0, job_status),
    col("Completions", "string", 0, |j| {
        let completions = j.pointer("/spec/completions").and_then(Value::as_i64);
        let succeeded = number(j, "/status/succeeded");
        json!(match completions {
            Some(n) => format!("{succeeded}/{n}"),
            None => format!("{succeeded}/1 of {}", number(j, "/spec/parallelism").max(1)),
        })
    }),
    col("Duration", "string", 0, job_duration),
    AGE,
    col("Containers", "string", 1, |j| {
        containers(j, "/spec/template", "name")
    }),
    col("Images", "string", 1, |j| {
        containers(j, "/spec/template", "image")
    }),
    col("Selector", "string", 1, |j| {
        selector_text(j.pointer("/spec/selector"))
    }),
];

pub const CRON_JOB: &[Printed] = &[
    NAME,
    col("Schedule", "string", 0, |c| {
        json!(text(c, "/spec/schedule"))
    }),
    col("Timezone", "string", 0, |c| {
        or_none(text(c, "/spec/timeZone"))
    }),
    col("Suspend", "boolean", 0, |c| {
        json!(
            c.pointer("/spec/suspend")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        )
    }),
    col("Active", "integer", 0, |c| count(c, "/status/active")),
    col("Last Schedule", "string", 0, |c| {
        match c.pointer("/status/lastScheduleTime") {
            Some(Value::String(when)) => since(when),
            _ => json!("<none>"),
        }
    }),
    AGE,
    col("Containers", "string", 1, |c| {
        containers(c, "/spec/jobTemplate/spec/template", "name")
    }),
    col("Images", "string", 1, |c| {
        containers(c, "/spec/jobTemplate/spec/template", "image")
    }),
    col("Selector", "string", 1, |c| {
        selector_text(c.pointer("/spec/jobTemplate/spec/selector"))
    }),
];

fn desired(object: &Value) -> i64 {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// `ready/desired`.
fn ratio(object: &Value, ready: &str) -> Value {
    json!(format!("{}/{}", number(object, ready), desired(object)))
}

fn container_statuses(pod: &Value) -> Vec<Value> {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn pod_ready(pod: &Value) -> Value {
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = container_statuses(pod)
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    json!(format!("{ready}/{total}"))
}

fn pod_status(pod: &Value) -> Value {
    if meta::is_deleting(pod) {
        return json!("Terminating");
    }
    for status in container_statuses(pod) {
        for state in ["waiting", "terminated"] {
            if let Some(reason) = status
                .pointer(&format!("/state/{state}/reason"))
                .and_then(Value::as_str)
            {
                return json!(reason);
            }
        }
    }
    let reason = text(pod, "/status/reason");
    json!(if reason.is_empty() {
        text(pod, "/status/phase")
    } else {
        reason
    })
}

fn pod_restarts(pod: &Value) -> Value {
    let restarts: i64 = container_statuses(pod)
        .iter()
        .map(|c| c.get("restartCount").and_then(Value::as_i64).unwrap_or(0))
        .sum();
    json!(restarts.to_string())
}

fn condition_true(object: &Value, kind: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == kind && c["status"] == "True")
        })
}

fn job_status(job: &Value) -> Value {
    let status = if condition_true(job, "Complete") {
        "Complete"
    } else if condition_true(job, "Failed") {
        "Failed"
    } else if condition_true(job, "FailureTarget") {
        "FailureTarget"
    } else if condition_true(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else if job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        "Suspended"
    } else {
        "Running"
    };
    json!(status)
}

fn job_duration(job: &Value) -> Value {
    let time = |p: &str| {
        job.pointer(p)
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    let Some(start) = time("/status/startTime") else {
        return json!("");
    };
    let end = time("/status/completionTime").unwrap_or_else(jiff::Timestamp::now);
    json!(human_duration(end.as_second() - start.as_second()))
}
