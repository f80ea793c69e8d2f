//! Defaults of the workload kinds, Services and the smaller built-ins, as the apps/v1,
//! batch/v1, core/v1, networking, autoscaling and rbac defaulters set them. In: an object
//! of one of these kinds. Out: its spec with replicas, strategies, history limits,
//! deadlines and policies filled in, and its pod template defaulted like a pod spec.

use serde_json::{Map, Value, json};

use super::{Fill, Rule, When, child, existing, fill, items, template_at};

const DEPLOYMENT: &[Rule] = &[
    ("replicas", Fill::Int(1), When::Absent),
    ("revisionHistoryLimit", Fill::Int(10), When::Absent),
    ("progressDeadlineSeconds", Fill::Int(600), When::Absent),
];

const DEPLOYMENT_ROLLING: &[Rule] = &[
    ("maxUnavailable", Fill::Str("25%"), When::Absent),
    ("maxSurge", Fill::Str("25%"), When::Absent),
];

const STATEFUL_SET: &[Rule] = &[
    ("podManagementPolicy", Fill::Str("OrderedReady"), When::Zero),
    ("replicas", Fill::Int(1), When::Absent),
    ("revisionHistoryLimit", Fill::Int(10), When::Absent),
];

const CLAIM_RETENTION: &[Rule] = &[
    ("whenDeleted", Fill::Str("Retain"), When::Zero),
    ("whenScaled", Fill::Str("Retain"), When::Zero),
];

const DAEMON_SET_ROLLING: &[Rule] = &[
    ("maxUnavailable", Fill::Int(1), When::Absent),
    ("maxSurge", Fill::Int(0), When::Absent),
];

const JOB: &[Rule] = &[
    ("completionMode", Fill::Str("NonIndexed"), When::Absent),
    ("suspend", Fill::Bool(false), When::Absent),
];

const CRON_JOB: &[Rule] = &[
    ("concurrencyPolicy", Fill::Str("Allow"), When::Zero),
    ("suspend", Fill::Bool(false), When::Absent),
    ("successfulJobsHistoryLimit", Fill::Int(3), When::Absent),
    ("failedJobsHistoryLimit", Fill::Int(1), When::Absent),
];

const SERVICE: &[Rule] = &[
    ("sessionAffinity", Fill::Str("None"), When::Zero),
    ("type", Fill::Str("ClusterIP"), When::Zero),
];

/// Three hours, the default ClientIP affinity timeout.
const CLIENT_IP_TIMEOUT: i64 = 10_800;

fn spec(map: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    existing(map, "spec")
}

/// A rolling update strategy: `type` defaults to `RollingUpdate`, whose parameters then
/// get their defaults.
fn rolling(strategy: &mut Map<String, Value>, rules: &[Rule]) {
    fill(
        strategy,
        &[("type", Fill::Str("RollingUpdate"), When::Zero)],
    );
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
        && let Some(update) = child(strategy, "rollingUpdate")
    {
        fill(update, rules);
    }
}

/// `SetDefaults_Deployment`.
pub fn deployment(map: &mut Map<String, Value>) {
    if let Some(spec) = spec(map) {
        fill(spec, DEPLOYMENT);
        if let Some(strategy) = child(spec, "strategy") {
            rolling(strategy, DEPLOYMENT_ROLLING);
        }
    }
    template_at(map, &["spec", "template"]);
}

/// `SetDefaults_ReplicaSet`.
pub fn replica_set(map: &mut Map<String, Value>) {
    if let Some(spec) = spec(map) {
        fill(spec, &[("replicas", Fill::Int(1), When::Absent)]);
    }
    template_at(map, &["spec", "template"]);
}

/// `SetDefaults_StatefulSet`; its claim templates are defaulted as claims.
pub fn stateful_set(map: &mut Map<String, Value>) {
    if let Some(spec) = spec(map) {
        fill(spec, STATEFUL_SET);
        if let Some(strategy) = child(spec, "updateStrategy") {
            let untyped = super::unset(strategy, "type", When::Zero);
            fill(
                strategy,
                &[("type", Fill::Str("RollingUpdate"), When::Zero)],
            );
            if untyped && !strategy.contains_key("rollingUpdate") {
                strategy.insert("rollingUpdate".into(), json!({}));
            }
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
                && let Some(update) = existing(strategy, "rollingUpdate")
            {
                fill(update, &[("partition", Fill::Int(0), When::Absent)]);
            }
        }
        if let Some(retention) = child(spec, "persistentVolumeClaimRetentionPolicy") {
            fill(retention, CLAIM_RETENTION);
        }
        for claim in items(spec, "volumeClaimTemplates") {
            if let Some(wanted) = existing(claim, "spec") {
                claim_spec(wanted);
            }
            if let Some(status) = child(claim, "status") {
                fill(status, &[("phase", Fill::Str("Pending"), When::Zero)]);
            }
        }
    }
    template_at(map, &["spec", "template"]);
}

/// `SetDefaults_DaemonSet`.
pub fn daemon_set(map: &mut Map<String, Value>) {
    if let Some(spec) = spec(map) {
        fill(
            spec,
            &[("revisionHistoryLimit", Fill::Int(10), When::Absent)],
        );
        if let Some(strategy) = child(spec, "updateStrategy") {
            rolling(strategy, DAEMON_SET_ROLLING);
        }
    }
    template_at(map, &["spec", "template"]);
}

/// `SetDefaults_ReplicationController`: replicas, and selector and labels from the
/// template's labels when unset.
pub fn replication_controller(map: &mut Map<String, Value>) {
    let template_labels = super::at(map, &["spec", "template", "metadata", "labels"])
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
        .cloned();
    if let Some(labels) = template_labels {
        if let Some(spec) = spec(map)
            && spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
        {
            spec.insert("selector".into(), Value::Object(labels.clone()));
        }
        labels_from_template(map, labels);
    }
    if let Some(spec) = spec(map) {
        fill(spec, &[("replicas", Fill::Int(1), When::Absent)]);
    }
    template_at(map, &["spec", "template"]);
}

fn labels_from_template(map: &mut Map<String, Value>, labels: Map<String, Value>) {
    if let Some(metadata) = child(map, "metadata")
        && metadata
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
    {
        metadata.insert("labels".into(), Value::Object(labels));
    }
}

/// `SetDefaults_Job`.
pub fn job(map: &mut Map<String, Value>) {
    let template_labels = super::at(map, &["spec", "template", "metadata", "labels"])
        .and_then(Value::as_object)
        .cloned();
    if let Some(spec) = spec(map) {
        if spec.get("completions").is_none_or(Value::is_null)
            && spec.get("parallelism").is_none_or(Value::is_null)
        {
            spec.insert("completions".into(), json!(1));
        }
        fill(spec, &[("parallelism", Fill::Int(1), When::Absent)]);
        let per_index = spec
            .get("backoffLimitPerIndex")
            .is_some_and(|v| !v.is_null());
        let backoff = if per_index { i64::from(i32::MAX) } else { 6 };
        fill(spec, &[("backoffLimit", Fill::Int(backoff), When::Absent)]);
        fill(spec, JOB);
        let failure_policy = spec.get("podFailurePolicy").is_some_and(|v| !v.is_null());
        if let Some(policy) = existing(spec, "podFailurePolicy") {
            for rule in items(policy, "rules") {
                for pattern in items(rule, "onPodConditions") {
                    fill(pattern, &[("status", Fill::Str("True"), When::Zero)]);
                }
            }
        }
        let replacement = if failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        fill(
            spec,
            &[("podReplacementPolicy", Fill::Str(replacement), When::Absent)],
        );
    }
    if let Some(labels) = template_labels {
        labels_from_template(map, labels);
    }
    template_at(map, &["spec", "template"]);
}

/// `SetDefaults_CronJob`; the job template's pod spec is defaulted, the job spec is not.
pub fn cron_job(map: &mut Map<String, Value>) {
    if let Some(spec) = spec(map) {
        fill(spec, CRON_JOB);
    }
    template_at(map, &["spec", "jobTemplate", "spec", "template"]);
}

/// `SetDefaults_Service`.
pub fn service(map: &mut Map<String, Value>) {
    let Some(spec) = spec(map) else {
        return;
    };
    fill(spec, SERVICE);
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let timeout = super::at(
                spec,
                &["sessionAffinityConfig", "clientIP", "timeoutSeconds"],
            );
            if timeout.is_none_or(Value::is_null) {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": CLIENT_IP_TIMEOUT}}),
                );
            }
        }
        _ => {}
    }
    for port in items(spec, "ports") {
        fill(port, &[("protocol", Fill::Str("TCP"), When::Zero)]);
        let target_unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if target_unset && let Some(number) = port.get("port").cloned() {
            port.insert("targetPort".into(), number);
        }
    }
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let external = matches!(kind.as_str(), "NodePort" | "LoadBalancer")
        || spec
            .get("externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|ips| !ips.is_empty());
    if external {
        fill(
            spec,
            &[("externalTrafficPolicy", Fill::Str("Cluster"), When::Zero)],
        );
    }
    if matches!(kind.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        fill(
            spec,
            &[("internalTrafficPolicy", Fill::Str("Cluster"), When::Absent)],
        );
    }
    if kind == "LoadBalancer" {
        fill(
            spec,
            &[(
                "allocateLoadBalancerNodePorts",
                Fill::Bool(true),
                When::Absent,
            )],
        );
    }
}

/// `SetDefaults_Namespace`: every named namespace carries its name as a label.
pub fn namespace(map: &mut Map<String, Value>) {
    let name = super::at(map, &["metadata", "name"])
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    if let Some(name) = name
        && let Some(labels) = child(map, "metadata").and_then(|m| child(m, "labels"))
    {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
}

/// `SetDefaults_Endpoints`.
pub fn endpoints(map: &mut Map<String, Value>) {
    for subset in items(map, "subsets") {
        for port in items(subset, "ports") {
            fill(port, &[("protocol", Fill::Str("TCP"), When::Zero)]);
        }
    }
}

/// `SetDefaults_NodeStatus`: allocatable defaults to capacity.
pub fn node(map: &mut Map<String, Value>) {
    if let Some(status) = existing(map, "status")
        && status.get("allocatable").is_none_or(Value::is_null)
        && let Some(capacity) = status.get("capacity").cloned()
    {
        status.insert("allocatable".into(), capacity);
    }
}

/// `SetDefaults_PersistentVolumeClaimSpec`.
pub fn claim_spec(spec: &mut Map<String, Value>) {
    fill(
        spec,
        &[("volumeMode", Fill::Str("Filesystem"), When::Absent)],
    );
}

/// `SetDefaults_NetworkPolicy`: ports default to TCP; `policyTypes` to Ingress, plus
/// Egress when egress rules are given.
pub fn network_policy(map: &mut Map<String, Value>) {
    let Some(spec) = spec(map) else {
        return;
    };
    for direction in ["ingress", "egress"] {
        for rule in items(spec, direction) {
            for port in items(rule, "ports") {
                fill(port, &[("protocol", Fill::Str("TCP"), When::Zero)]);
            }
        }
    }
    let unset = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if unset {
        let egress = spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty());
        let types = if egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        spec.insert("policyTypes".into(), types);
    }
}

/// `SetDefaults_HorizontalPodAutoscaler` (autoscaling/v2): one minimum replica, and a
/// CPU utilization target of 80 % when no metric is given.
pub fn autoscaler(map: &mut Map<String, Value>) {
    let Some(spec) = spec(map) else {
        return;
    };
    fill(spec, &[("minReplicas", Fill::Int(1), When::Absent)]);
    let no_metrics = spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_metrics {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
}

/// `SetDefaults_Subject`: users and groups belong to the rbac group (service accounts to
/// the core group, which is left unset).
pub fn binding(map: &mut Map<String, Value>) {
    for subject in items(map, "subjects") {
        let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
        if matches!(kind, "User" | "Group") {
            fill(
                subject,
                &[(
                    "apiGroup",
                    Fill::Str("rbac.authorization.k8s.io"),
                    When::Zero,
                )],
            );
        }
    }
}
