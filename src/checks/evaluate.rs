//! The evaluator: one pod's facts under one effective policy, at one instant, to findings.
//!
//! In: [`PodFacts`], an [`EffectivePolicy`], the current time. Out: every finding of every
//! enabled check that needs nothing but the object, each with its effective severity and
//! exact penalty; findings covered by an exemption are kept but marked skipped, so reports
//! can show them without counting them. This is the only evaluator: audits, watches, the
//! operator and admission all call it. Checks that need other objects are judged by
//! [`crate::cross`], which builds its findings with the same [`finding`].

use jiff::Timestamp;
use serde::Serialize;

use super::values::{DEFAULT_TOPOLOGY_KEYS, is_sensitive_host_path};
use super::{CheckId, Severity};
use crate::facts::{PodFacts, WorkloadKind};
use crate::policy::EffectivePolicy;
use crate::policy::exemptions::{Exemption, ExemptionVerdict, verdict};
use crate::score::{Penalty, PodScore};

/// Whether a finding counts. Serialised as `"state": "counted"`, or `"state": "skipped"`
/// followed by `"reason"`, inside its finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingStatus {
    /// Counted in scores and exit codes.
    Counted,
    /// Covered by an exemption: reported, not counted.
    Skipped {
        /// The exemption's reason.
        reason: String,
    },
}

/// One violation of one check, by one container (or the pod, or the object, as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check.
    pub check: CheckId,
    /// Effective severity under the policy.
    pub severity: Severity,
    /// The container, by name; `None` for pod-level and object-level findings.
    pub container: Option<String>,
    /// What was found and how to fix it.
    pub message: String,
    /// Exact penalty.
    pub penalty: Penalty,
    /// Counted or skipped.
    pub status: FindingStatus,
}

/// The fields in order, the status's flattened into the finding: what a derived
/// `Serialize` with `#[serde(flatten)]` writes, without the flattening machinery, which
/// cost a good part of writing a report with hundreds of thousands of findings.
impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("check", &self.check)?;
        map.serialize_entry("severity", &self.severity)?;
        if let Some(container) = &self.container {
            map.serialize_entry("container", container)?;
        }
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("penalty", &self.penalty)?;
        match &self.status {
            FindingStatus::Counted => map.serialize_entry("state", "counted")?,
            FindingStatus::Skipped { reason } => {
                map.serialize_entry("state", "skipped")?;
                map.serialize_entry("reason", reason)?;
            }
        }
        map.end()
    }
}

impl Finding {
    /// True when the finding counts towards scores and exit codes.
    pub fn is_counted(&self) -> bool {
        self.status == FindingStatus::Counted
    }
}

/// The score contribution of a pod's findings: the counted ones only.
pub fn pod_score(findings: &[Finding]) -> PodScore {
    let mut score = PodScore::default();
    for f in findings.iter().filter(|f| f.is_counted()) {
        score.penalty = score.penalty + f.penalty;
        score.checks.insert(f.check);
    }
    score
}

/// A finding of `check` under `policy`, counted `times` times (restarts for
/// `highRestarts`, else 1): `None` when the check is off; skipped when an exemption covers
/// it, with a note when one lapsed.
pub fn finding(
    check: CheckId,
    container: Option<&str>,
    message: String,
    times: u32,
    policy: &EffectivePolicy,
    exemptions: &[Exemption],
    now: Timestamp,
) -> Option<Finding> {
    let severity = policy.severity(check)?;
    let (status, message) = match verdict(exemptions, check, now) {
        ExemptionVerdict::Exempt(reason) => (FindingStatus::Skipped { reason }, message),
        ExemptionVerdict::Lapsed(note) => (FindingStatus::Counted, format!("{message} ({note})")),
        ExemptionVerdict::None => (FindingStatus::Counted, message),
    };
    Some(Finding {
        check,
        severity,
        container: container.map(str::to_owned),
        message,
        penalty: Penalty::of(check, severity, times),
        status,
    })
}

/// `{kind} {name:?}{rest}`, as `format!` writes it, in one allocation: the messages about
/// one container all start this way, and a report with every check on holds hundreds of
/// thousands of them.
pub(super) fn about(kind: &str, name: &str, rest: &str) -> String {
    let mut message = String::with_capacity(kind.len() + name.len() + rest.len() + 3);
    message.push_str(kind);
    message.push(' ');
    // `Debug` leaves printable ASCII other than quotes and backslashes as it is.
    if name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        message.push('"');
        message.push_str(name);
        message.push('"');
    } else {
        use std::fmt::Write;
        let _ = write!(message, "{name:?}");
    }
    message.push_str(rest);
    message
}

/// One evaluation in progress.
pub(super) struct Evaluation<'a> {
    pub(super) facts: &'a PodFacts,
    pub(super) policy: &'a EffectivePolicy,
    now: Timestamp,
    findings: Vec<Finding>,
}

impl Evaluation<'_> {
    /// Reports a finding of `check` when it is on; the message is only built then.
    pub(super) fn report(
        &mut self,
        check: CheckId,
        container: Option<&str>,
        message: impl FnOnce() -> String,
        times: u32,
    ) {
        if !self.on(check) {
            return;
        }
        let exemptions = &self.facts.exemptions;
        let (policy, now) = (self.policy, self.now);
        if let Some(f) = finding(check, container, message(), times, policy, exemptions, now) {
            self.findings.push(f);
        }
    }

    pub(super) fn on(&self, check: CheckId) -> bool {
        self.policy.severity(check).is_some()
    }
}

/// Evaluates every enabled check that needs nothing but this pod or pod template.
pub fn evaluate(facts: &PodFacts, policy: &EffectivePolicy, now: Timestamp) -> Vec<Finding> {
    let mut ev = Evaluation {
        facts,
        policy,
        now,
        findings: Vec::new(),
    };
    pod_level(&mut ev);
    for c in &facts.containers {
        super::containers::container_checks(&mut ev, c);
        super::security::security_checks(&mut ev, c);
    }
    ev.findings
}

fn pod_level(ev: &mut Evaluation<'_>) {
    let f = ev.facts;
    let host = [
        (
            CheckId::HostNetworkSet,
            f.host_network,
            "hostNetwork: true shares the node's network stack; remove it",
        ),
        (
            CheckId::HostPidSet,
            f.host_pid,
            "hostPID: true exposes every process on the node; remove it",
        ),
        (
            CheckId::HostIpcSet,
            f.host_ipc,
            "hostIPC: true shares the node's IPC namespace; remove it",
        ),
    ];
    for (check, set, message) in host {
        if set {
            ev.report(check, None, || message.to_owned(), 1);
        }
    }
    if !f.host_paths.is_empty() {
        let names: Vec<&str> = f.host_paths.iter().map(|v| v.name.as_str()).collect();
        ev.report(
            CheckId::HostPathSet,
            None,
            || format!(
                "hostPath volume(s) {} mount the node's filesystem; use a PVC, configMap, secret or emptyDir",
                names.join(", ")
            ),
            1,
        );
    }
    let sensitive: Vec<String> = f
        .host_paths
        .iter()
        .filter(|v| is_sensitive_host_path(&v.path))
        .map(|v| format!("{} ({})", v.name, v.path))
        .collect();
    if !sensitive.is_empty() {
        ev.report(
            CheckId::HostPathSensitive,
            None,
            || format!(
                "hostPath volume(s) {} expose the container runtime or the node's system files; remove them",
                sensitive.join(", ")
            ),
            1,
        );
    }
    service_account(ev);
    scheduling(ev);
    pending(ev);
}

fn service_account(ev: &mut Evaluation<'_>) {
    let f = ev.facts;
    // The pod's own setting wins over its ServiceAccount's; a pod that says nothing gets a
    // token unless its ServiceAccount opts out, which only the cross-resource index knows
    // (it clears this finding when the ServiceAccount sets false).
    if f.automount_service_account_token != Some(false) {
        let why = match f.automount_service_account_token {
            Some(true) => "sets automountServiceAccountToken: true",
            _ => "does not set automountServiceAccountToken: false",
        };
        ev.report(
            CheckId::AutomountServiceAccountToken,
            None,
            || format!(
                "the pod {why}, so service account {:?}'s API token is mounted into every container; set it to false unless the pod calls the Kubernetes API",
                f.service_account_name()
            ),
            1,
        );
    }
    if f.service_account_name() == "default" {
        ev.report(
            CheckId::ServiceAccountDefault,
            None,
            || "the pod runs as the namespace's default service account; create one for this workload and set spec.serviceAccountName".to_owned(),
            1,
        );
    }
}

fn scheduling(ev: &mut Evaluation<'_>) {
    let f = ev.facts;
    if f.object.kind == WorkloadKind::Deployment {
        // The API server defaults an absent replicas to 1. A Deployment scaled by an
        // autoscaler is cleared by the cross-resource index, which knows the autoscaler.
        let replicas = f.replicas.unwrap_or(1);
        if replicas < 2 {
            ev.report(
                CheckId::DeploymentMissingReplicas,
                None,
                || format!("the Deployment runs {replicas} replica(s): one node or pod failure takes it down; set spec.replicas to 2 or more"),
                1,
            );
        }
    }
    if f.priority_class.is_none() {
        ev.report(
            CheckId::PriorityClassNotSet,
            None,
            || "the pod sets no priorityClassName, so under node pressure it is preempted and evicted like any other; set one".to_owned(),
            1,
        );
    }
    if spreads_replicas(f)
        && !f
            .topology_spread_keys
            .iter()
            .any(|k| DEFAULT_TOPOLOGY_KEYS.contains(&k.as_str()))
    {
        ev.report(
            CheckId::TopologySpreadConstraint,
            None,
            || "no topologySpreadConstraints entry spreads the pods over kubernetes.io/hostname or topology.kubernetes.io/zone, so replicas may share one node or zone".to_owned(),
            1,
        );
    }
}

/// Pods of a replicated, long-running workload, where spreading matters: not batch pods,
/// not DaemonSet pods (one per node already) and not bare pods.
fn spreads_replicas(f: &PodFacts) -> bool {
    match f.object.kind {
        WorkloadKind::Deployment
        | WorkloadKind::StatefulSet
        | WorkloadKind::ReplicaSet
        | WorkloadKind::ReplicationController => true,
        WorkloadKind::Pod => f.controller().is_some_and(|o| {
            matches!(
                o.kind.as_str(),
                "ReplicaSet" | "StatefulSet" | "ReplicationController"
            )
        }),
        WorkloadKind::DaemonSet | WorkloadKind::Job | WorkloadKind::CronJob => false,
    }
}

fn pending(ev: &mut Evaluation<'_>) {
    let f = ev.facts;
    if ev.on(CheckId::LongPending)
        && let Some(rt) = &f.runtime
        && rt.phase.as_deref() == Some("Pending")
        && let Some(since) = rt.pending_since
    {
        let waited = ev.now.as_second().saturating_sub(since.as_second());
        let limit = i64::try_from(ev.policy.pending_seconds).unwrap_or(i64::MAX);
        if waited > limit {
            ev.report(
                CheckId::LongPending,
                None,
                || format!(
                    "Pending for {waited}s, longer than {limit}s; check scheduling events, quotas and image pulls"
                ),
                1,
            );
        }
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "workload_tests.rs"]
mod workload_tests;
