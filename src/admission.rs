//! Admission review: a pure function from an admission request and a policy snapshot to a
//! response.
//!
//! In: an [`AdmissionRequest`] (see [`parse_review`]), the [`PolicySnapshot`] of the
//! moment, and the current time. Out: a [`Verdict`] holding the [`AdmissionResponse`] and
//! what the metrics need, or a [`JudgeError`] when the object cannot be read, which the
//! HTTP layer answers per its failure mode. CREATE of a Pod or of a workload (its pod
//! template) is judged; UPDATE only when the pod template or a container image changes;
//! an UPDATE of a Pod's `ephemeralcontainers` subresource (what `kubectl debug` sends)
//! judges the ephemeral containers it adds; DELETE, CONNECT, other subresources, other
//! kinds, excluded namespaces and namespaces with no DevOpsPolicy are allowed untouched.
//! Runtime and cross-resource checks are never judged. Counted findings at or above the
//! namespace's deny severity deny; the rest come back as warnings.

mod snapshot;
mod wire;

pub use snapshot::{NamespacePolicy, PolicySnapshot};
pub use wire::{
    API_VERSION, AdmissionRequest, AdmissionResponse, AdmissionReviewResponse, GroupVersionKind,
    KIND, MAX_MESSAGE_LEN, MAX_WARNING_LEN, MAX_WARNINGS, Operation, ResponseStatus, ReviewError,
    parse_review,
};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use serde::de::DeserializeOwned;

use crate::checks::{CheckId, Finding, evaluate};
use crate::facts::{
    FactsError, MAX_CONTAINERS_PER_POD, PodFacts, PodTemplateSource, SlimObject, WorkloadKind,
    facts_from_pod, facts_from_workload,
};

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
    /// An UPDATE that leaves the pod template and images alone (or, on the
    /// `ephemeralcontainers` subresource, adds no ephemeral container).
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
    WorkloadKind::from_group_kind(&gvk.group, &gvk.kind)
}

/// Judges one request.
pub fn review(
    request: &AdmissionRequest<'_>,
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
    let ephemeral = request.sub_resource.as_deref() == Some(EPHEMERAL_CONTAINERS);
    let judged_operation = match request.sub_resource {
        None => matches!(operation, Operation::Create | Operation::Update),
        Some(_) => ephemeral && operation == Operation::Update,
    };
    if !judged_operation {
        return Ok(pass(Judgement::NotJudgedOperation));
    }
    let Some(kind) = judged_kind(&request.kind) else {
        return Ok(pass(Judgement::NotJudgedKind));
    };
    let namespace = request
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    if snapshot.exclusions().is_excluded(&namespace) {
        return Ok(pass(Judgement::Excluded));
    }
    let Some(ns_policy) = snapshot.namespace(&namespace) else {
        return Ok(pass(Judgement::NoPolicy));
    };
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
    // The object as read slim in the envelope's pass: its containers are counted before
    // anything larger is decoded, and a CREATE is judged from it.
    let slim = request.slim_object().map(|object| object.facts(kind));
    if let Some(Ok(facts)) = &slim
        && facts.containers.len() > MAX_CONTAINERS_PER_POD
    {
        let count = facts.containers.len();
        // Denied whatever the failure mode: piling up containers must not escape judging.
        let error = FactsError::TooManyContainers {
            kind: kind.to_string(),
            name: request.name.clone(),
            count,
        };
        return Ok(Verdict {
            response: AdmissionResponse::deny(
                &request.uid,
                &format!("kube-devops denied it: {error}"),
            ),
            operation,
            judgement: Judgement::Judged,
            denied_by: Vec::new(),
        });
    }
    let mut only: Option<Vec<String>> = None;
    let changed = match (operation, kind) {
        (_, _) if ephemeral => {
            if kind != WorkloadKind::Pod {
                return Ok(pass(Judgement::NotJudgedKind));
            }
            match added_ephemeral(request)? {
                Some((facts, added)) => {
                    only = Some(added);
                    Some(facts)
                }
                None => None,
            }
        }
        (Operation::Create, _) => Some(match slim {
            Some(facts) => facts?,
            None => created_facts(request, kind)?,
        }),
        (_, WorkloadKind::Pod) => pod_facts(request)?,
        (_, WorkloadKind::Deployment) => workload_facts::<Deployment>(request)?,
        (_, WorkloadKind::StatefulSet) => workload_facts::<StatefulSet>(request)?,
        (_, WorkloadKind::DaemonSet) => workload_facts::<DaemonSet>(request)?,
        (_, WorkloadKind::ReplicaSet) => workload_facts::<ReplicaSet>(request)?,
        (_, WorkloadKind::ReplicationController) => {
            workload_facts::<ReplicationController>(request)?
        }
        (_, WorkloadKind::Job) => workload_facts::<Job>(request)?,
        (_, WorkloadKind::CronJob) => workload_facts::<CronJob>(request)?,
    };
    let Some(facts) = changed else {
        return Ok(pass(Judgement::Unchanged));
    };
    let mut findings = evaluate(&facts, policy, now);
    if let Some(added) = &only {
        findings.retain(|f| f.container.as_ref().is_some_and(|c| added.contains(c)));
    }
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

/// Facts of a created object the envelope's pass could not read slim: decoded alone, to
/// say why it does not read.
fn created_facts(
    request: &AdmissionRequest<'_>,
    kind: WorkloadKind,
) -> Result<PodFacts, JudgeError> {
    let (object, _) = decode_pair::<SlimObject>(request)?;
    Ok(object.facts(kind)?)
}

/// The new object and, for an UPDATE, the old one.
fn decode_pair<T: DeserializeOwned>(
    request: &AdmissionRequest<'_>,
) -> Result<(T, Option<T>), JudgeError> {
    let invalid = |reason: String| FactsError::Invalid {
        kind: request.kind.kind.clone(),
        name: request.name.clone(),
        reason,
    };
    match request.objects::<T>() {
        Ok((Some(new), old)) => Ok((new, old.filter(|_| request.operation == Operation::Update))),
        Ok((None, _)) => Err(invalid("request.object is missing".to_owned()).into()),
        Err(e) => Err(invalid(e.to_string()).into()),
    }
}

/// Facts of a workload's pod template; `None` for an UPDATE that leaves the template alone
/// (replicas, labels, annotations and status changes are not judged).
fn workload_facts<W: DeserializeOwned + PodTemplateSource>(
    request: &AdmissionRequest<'_>,
) -> Result<Option<PodFacts>, JudgeError> {
    let (new, old) = decode_pair::<W>(request)?;
    if old.is_some_and(|old| old.template() == new.template()) {
        return Ok(None);
    }
    Ok(Some(facts_from_workload(&new)?))
}

/// Facts of a Pod; `None` for an UPDATE that changes no container image (the rest of a
/// Pod's spec is immutable or not judged).
fn pod_facts(request: &AdmissionRequest<'_>) -> Result<Option<PodFacts>, JudgeError> {
    let (new, old) = decode_pair::<Pod>(request)?;
    if old.is_some_and(|old| pod_images(&old) == pod_images(&new)) {
        return Ok(None);
    }
    Ok(Some(facts_from_pod(&new)))
}

/// The subresource `kubectl debug` updates to add an ephemeral container.
pub const EPHEMERAL_CONTAINERS: &str = "ephemeralcontainers";

/// Facts of a Pod whose ephemeral containers are updated, with the names of those added
/// or changed (ephemeral containers cannot be removed or edited once added, so in practice
/// the added ones); `None` when there is none.
fn added_ephemeral(
    request: &AdmissionRequest<'_>,
) -> Result<Option<(PodFacts, Vec<String>)>, JudgeError> {
    let (new, old) = decode_pair::<Pod>(request)?;
    let ephemeral = |pod: &Pod| -> Vec<(String, Option<String>)> {
        pod.spec
            .iter()
            .flat_map(|s| s.ephemeral_containers.iter().flatten())
            .map(|c| (c.name.clone(), c.image.clone()))
            .collect()
    };
    let before = old.as_ref().map(ephemeral).unwrap_or_default();
    let added: Vec<String> = ephemeral(&new)
        .into_iter()
        .filter(|c| !before.contains(c))
        .map(|(name, _)| name)
        .collect();
    if added.is_empty() {
        return Ok(None);
    }
    Ok(Some((facts_from_pod(&new), added)))
}

fn pod_images(pod: &Pod) -> Vec<(&str, Option<&str>)> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let regular = spec
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.image.as_deref()));
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.image.as_deref()));
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.image.as_deref()));
    regular.chain(init).chain(ephemeral).collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod ephemeral_tests;

#[cfg(test)]
mod bounds_tests;
