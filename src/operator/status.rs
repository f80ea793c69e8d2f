//! A DevOpsPolicy's status: computed from its namespace's evaluation, compared with what
//! the cluster holds, and the events a change deserves.
//!
//! In: the policy (name, generation, whether it resolves), its namespace's
//! [`Resolution`], the namespace's [`NamespaceEvaluation`], the status the cluster holds,
//! and the time. Out: the [`DevOpsPolicyStatus`] the operator applies, whether it differs
//! from the held one in anything but time ([`same_status`]), and the [`PolicyEvent`]s of
//! the change. A policy's status describes its namespace as the namespace is judged: by
//! the union of its valid policies (see `policy::resolve`), the same numbers as the
//! namespace's score gauge and `analyze` against the cluster. `lastEvaluated` is the time
//! of the evaluation that produced the status shown: the operator evaluates at every
//! trigger but writes only when something else changed, so on a quiet cluster it keeps the
//! time of the last change. Condition `lastTransitionTime`s move only when a condition's
//! status flips.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::checks::Severity;
use crate::policy::crd::{DevOpsPolicyStatus, SeverityCounts};
use crate::policy::{PolicyError, Resolution};
use crate::score::Classification;
use crate::score::store::NamespaceEvaluation;

/// Condition type: the policy was evaluated and its status is current.
pub const READY: &str = "Ready";
/// Condition type: the policy cannot do its job (it does not resolve).
pub const DEGRADED: &str = "Degraded";

/// One DevOpsPolicy as the operator holds it.
#[derive(Debug, Clone, Copy)]
pub struct PolicyState<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its uid (for the audit results' ownerReference).
    pub uid: &'a str,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Why its spec does not resolve, if it does not.
    pub error: Option<&'a PolicyError>,
    /// The status the cluster holds.
    pub status: Option<&'a DevOpsPolicyStatus>,
    /// `auditRetention` (0: keep no audit results).
    pub retention: u32,
}

/// An event worth recording on a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEvent {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// PascalCase reason.
    pub reason: &'static str,
    /// What happened.
    pub note: String,
}

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    previous: Option<&DevOpsPolicyStatus>,
    now: Timestamp,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let held = previous
        .and_then(|p| p.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_));
    let last_transition_time = match held {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(now),
    };
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// The status `policy` (in `namespace`) should show, given the status it holds.
pub fn desired_status(
    policy: &PolicyState<'_>,
    namespace: &str,
    resolution: Resolution<'_>,
    evaluation: Option<&NamespaceEvaluation>,
    now: Timestamp,
) -> DevOpsPolicyStatus {
    let previous = policy.status;
    let cond = |type_, ok, reason, message: &str| {
        condition(type_, ok, reason, message, policy.generation, previous, now)
    };
    let mut status = DevOpsPolicyStatus {
        observed_generation: policy.generation,
        last_evaluated: Some(now.to_string()),
        ..DevOpsPolicyStatus::default()
    };
    if let Some(error) = policy.error {
        let message = format!("spec does not resolve, left out of the namespace's policy: {error}");
        status.conditions = Some(vec![
            cond(READY, false, "InvalidSpec", &message),
            cond(DEGRADED, true, "InvalidSpec", &message),
        ]);
        status.message = Some(message);
        return status;
    }
    let (Some(evaluation), Some(_)) = (evaluation, resolution.policy()) else {
        let message = format!("namespace {namespace} is excluded: kube-devops does not judge it");
        status.conditions = Some(vec![
            cond(READY, false, "NamespaceExcluded", &message),
            cond(DEGRADED, false, "NamespaceExcluded", &message),
        ]);
        status.message = Some(message);
        return status;
    };
    let mut counts = SeverityCounts::default();
    for (_, f) in evaluation.counted() {
        counts.add(f.severity);
    }
    let violations: u32 = Severity::ALL.iter().map(|s| counts.get(*s)).sum();
    let pods = u32::try_from(evaluation.pods.len()).unwrap_or(u32::MAX);
    status.violations = Some(violations);
    status.violations_by_severity = Some(counts);
    status.pods_scanned = Some(pods);
    status.healthy = Some(violations == 0);
    status.health_score = evaluation.score.map(|s| s.rounded());
    status.classification = evaluation
        .score
        .map(|s| s.classification().as_str().to_owned());
    let union = match resolution.policies() {
        Some(p) if p.names().len() > 1 => format!(
            "; the namespace is judged by the union of {}",
            p.names().join(", ")
        ),
        _ => String::new(),
    };
    let summary = match evaluation.score {
        Some(score) => format!(
            "{violations} violation(s) in {pods} pod(s); score {score} ({}){union}",
            score.classification()
        ),
        None => format!("no pods to evaluate{union}"),
    };
    status.conditions = Some(vec![
        cond(READY, true, "Evaluated", &summary),
        cond(DEGRADED, false, "Evaluated", "the policy resolves"),
    ]);
    status.message = Some(summary);
    status
}

/// The conditions kube-devops owns, without their transition times.
fn owned_conditions(s: &DevOpsPolicyStatus) -> Vec<(&str, &str, &str, &str, Option<i64>)> {
    let mut v: Vec<_> = s
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.type_ == READY || c.type_ == DEGRADED)
        .map(|c| {
            (
                c.type_.as_str(),
                c.status.as_str(),
                c.reason.as_str(),
                c.message.as_str(),
                c.observed_generation,
            )
        })
        .collect();
    v.sort();
    v
}

/// Whether two statuses agree on every field kube-devops writes except the times
/// (`lastEvaluated`, conditions' `lastTransitionTime`). Fields other writers own
/// (remediation counts) are ignored.
pub fn same_status(a: &DevOpsPolicyStatus, b: &DevOpsPolicyStatus) -> bool {
    a.observed_generation == b.observed_generation
        && a.health_score == b.health_score
        && a.classification == b.classification
        && a.healthy == b.healthy
        && a.violations == b.violations
        && a.violations_by_severity == b.violations_by_severity
        && a.pods_scanned == b.pods_scanned
        && a.message == b.message
        && owned_conditions(a) == owned_conditions(b)
}

fn condition_true(s: Option<&DevOpsPolicyStatus>, type_: &str) -> bool {
    s.and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

/// The events a status change deserves: a new classification, and turning Degraded.
/// Nothing when only time changed, so a requeue never repeats an event.
pub fn events(
    previous: Option<&DevOpsPolicyStatus>,
    next: &DevOpsPolicyStatus,
) -> Vec<PolicyEvent> {
    let mut out = Vec::new();
    let before = previous.and_then(|p| p.classification.as_deref());
    if let Some(after) = next.classification.as_deref()
        && before != Some(after)
    {
        let worse = matches!(after, "Degraded" | "Critical");
        let score = next
            .health_score
            .map(|s| format!(" (score {s:.1})"))
            .unwrap_or_default();
        let note = match before {
            Some(b) => format!("namespace classification changed from {b} to {after}{score}"),
            None => format!("namespace classified {after}{score}"),
        };
        out.push(PolicyEvent {
            warning: worse,
            reason: "ClassificationChanged",
            note,
        });
    }
    if condition_true(Some(next), DEGRADED) && !condition_true(previous, DEGRADED) {
        out.push(PolicyEvent {
            warning: true,
            reason: "Degraded",
            note: next.message.clone().unwrap_or_default(),
        });
    }
    out
}

/// The classification a status shows, parsed.
pub fn classification_of(s: &DevOpsPolicyStatus) -> Option<Classification> {
    match s.classification.as_deref()? {
        "Healthy" => Some(Classification::Healthy),
        "Stable" => Some(Classification::Stable),
        "Degraded" => Some(Classification::Degraded),
        "Critical" => Some(Classification::Critical),
        _ => None,
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
