//! Admission review: a pure function from an admission request and a policy snapshot to a
//! response.
//!
//! In: an [`AdmissionRequest`] (see [`parse_review`]), the [`PolicySnapshot`] of the
//! moment, and the current time. Out: a [`Verdict`] holding the [`AdmissionResponse`] and
//! what the metrics need, or a [`JudgeError`] when the object cannot be read, which the
//! HTTP layer answers per its failure mode. CREATE of a Pod or of a workload (its pod
//! template) is judged; UPDATE only when the pod template or a container image changes;
//! DELETE, CONNECT, subresources, other kinds, excluded namespaces and namespaces with no
//! DevOpsPolicy are allowed untouched. Runtime checks are never judged. Counted findings at
//! or above the namespace's deny severity deny; the rest come back as warnings.

mod snapshot;
mod wire;

pub use snapshot::{NamespacePolicy, PolicySnapshot};
pub use wire::{
    API_VERSION, AdmissionRequest, AdmissionResponse, AdmissionReviewResponse, GroupVersionKind,
    KIND, MAX_MESSAGE_LEN, MAX_WARNING_LEN, MAX_WARNINGS, Operation, ResponseStatus, ReviewError,
    parse_review,
};

use jiff::Timestamp;
use serde_json::Value;

use crate::checks::{CheckId, Finding, evaluate};
use crate::facts::{FactsError, WorkloadKind, facts_from_json};

/// Why a well-formed request could not be judged: an internal error, answered per the
/// webhook's failure mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JudgeError {
    /// The object does not decode as its kind.
    #[error("cannot read the object: {0}")]
    Facts(#[from] FactsError),
}

/// Why a request was let through without judging, or that it was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// The findings decided.
    Judged,
    /// DELETE, CONNECT or a subresource.
    NotJudgedOperation,
    /// A kind that carries no pods.
    NotJudgedKind,
    /// An UPDATE that leaves the pod template and images alone.
    Unchanged,
    /// An excluded namespace.
    Excluded,
    /// A namespace with no DevOpsPolicy.
    NoPolicy,
}

/// The answer to one request, with what the metrics need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The response to send.
    pub response: AdmissionResponse,
    /// The request's operation.
    pub operation: Operation,
    /// Judged, or why not.
    pub judgement: Judgement,
    /// The checks that denied (each once), empty when allowed.
    pub denied_by: Vec<CheckId>,
}

/// The kind under review, when it is one whose pods kube-devops judges.
pub fn judged_kind(gvk: &GroupVersionKind) -> Option<WorkloadKind> {
    let kind = WorkloadKind::from_kind(&gvk.kind)?;
    let group = match kind {
        WorkloadKind::Pod | WorkloadKind::ReplicationController => "",
        WorkloadKind::Job | WorkloadKind::CronJob => "batch",
        _ => "apps",
    };
    (gvk.group == group).then_some(kind)
}

/// Judges one request.
pub fn review(
    request: AdmissionRequest,
    snapshot: &PolicySnapshot,
    now: Timestamp,
) -> Result<Verdict, JudgeError> {
    let operation = request.operation;
    let pass = |judgement| Verdict {
        response: AdmissionResponse::allow(&request.uid),
        operation,
        judgement,
        denied_by: Vec::new(),
    };
    if !matches!(operation, Operation::Create | Operation::Update)
        || request.sub_resource.is_some()
    {
        return Ok(pass(Judgement::NotJudgedOperation));
    }
    let Some(kind) = judged_kind(&request.kind) else {
        return Ok(pass(Judgement::NotJudgedKind));
    };
    let namespace = request
        .namespace
        .clone()
        .or_else(|| {
            request
                .object
                .as_ref()
                .and_then(|o| o.pointer("/metadata/namespace"))
                .and_then(Value::as_str)
                .filter(|ns| !ns.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "default".to_owned());
    if snapshot.exclusions().is_excluded(&namespace) {
        return Ok(pass(Judgement::Excluded));
    }
    let Some(ns_policy) = snapshot.namespace(&namespace) else {
        return Ok(pass(Judgement::NoPolicy));
    };
    if operation == Operation::Update
        && let (Some(old), Some(new)) = (&request.old_object, &request.object)
        && !pod_template_changed(kind, old, new)
    {
        return Ok(pass(Judgement::Unchanged));
    }
    let ignored: Vec<String> = ns_policy
        .ignored
        .iter()
        .map(|line| format!("kube-devops: {line}"))
        .collect();
    let Some(policy) = &ns_policy.policy else {
        let mut verdict = pass(Judgement::NoPolicy);
        verdict.response = verdict.response.with_warnings(ignored);
        return Ok(verdict);
    };
    let mut object = request.object.unwrap_or(Value::Null);
    // Judge the object as the kind the API server says it is, whatever it claims.
    if let Some(map) = object.as_object_mut() {
        map.insert("kind".to_owned(), Value::String(kind.as_str().to_owned()));
    }
    let Some(facts) = facts_from_json(object)? else {
        return Ok(pass(Judgement::NotJudgedKind));
    };
    let findings = evaluate(&facts, policy, now);
    let (deny, warn): (Vec<&Finding>, Vec<&Finding>) = findings
        .iter()
        .filter(|f| f.is_counted())
        .partition(|f| f.severity >= policy.deny_severity);
    let mut warnings: Vec<String> = warn
        .iter()
        .map(|f| format!("kube-devops: {}", describe(f)))
        .collect();
    warnings.extend(ignored);
    let what = format!("{} {:?} in namespace {namespace:?}", kind, request.name);
    if deny.is_empty() {
        let mut verdict = pass(Judgement::Judged);
        verdict.response = verdict.response.with_warnings(warnings);
        return Ok(verdict);
    }
    let mut denied_by: Vec<CheckId> = deny.iter().map(|f| f.check).collect();
    denied_by.sort();
    denied_by.dedup();
    let reasons: Vec<String> = deny.iter().map(|f| describe(f)).collect();
    let message = format!(
        "kube-devops denied {what}: {} finding(s) at or above severity {} (DevOpsPolicy {}): {}",
        deny.len(),
        policy.deny_severity,
        ns_policy.policies.join(", "),
        reasons.join("; ")
    );
    Ok(Verdict {
        response: AdmissionResponse::deny(&request.uid, &message).with_warnings(warnings),
        operation,
        judgement: Judgement::Judged,
        denied_by,
    })
}

/// `[check, severity] <message naming the container and the fix>`.
fn describe(f: &Finding) -> String {
    format!("[{} {}] {}", f.check, f.severity, f.message)
}

/// Whether an UPDATE changes what the pods will run: the pod template of a workload, or
/// any container image of a Pod (the rest of a Pod's spec is immutable or not judged).
pub fn pod_template_changed(kind: WorkloadKind, old: &Value, new: &Value) -> bool {
    match kind {
        WorkloadKind::Pod => pod_images(old) != pod_images(new),
        WorkloadKind::CronJob => {
            old.pointer("/spec/jobTemplate/spec/template")
                != new.pointer("/spec/jobTemplate/spec/template")
        }
        _ => old.pointer("/spec/template") != new.pointer("/spec/template"),
    }
}

fn pod_images(pod: &Value) -> Vec<(&str, Option<&Value>, Option<&Value>)> {
    ["containers", "initContainers", "ephemeralContainers"]
        .into_iter()
        .flat_map(|section| {
            pod.pointer(&format!("/spec/{section}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(move |c| (section, c.get("name"), c.get("image")))
        })
        .collect()
}

#[cfg(test)]
mod tests;
