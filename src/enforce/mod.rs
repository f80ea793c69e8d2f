//! Enforcement decisions: what to repair on one workload, or why not.
//!
//! In: the facts of a workload's pod template (read from the workload itself, never from
//! a pod), the enforcing policy's resolution (which checks are on) and its spec
//! (`defaultProbe`, `defaultResources`), and the time (exemptions lapse). Out: a
//! [`Decision`]: a [`RemediationPlan`] naming each container by name with the fields to
//! add and their values and the checks they fix; or [`Decision::Compliant`]; or a
//! [`Skip`] with a bounded [`SkipReason`]. The plan only ever adds what is missing:
//! existing values are never changed. A probe is planned only when it can be derived (the
//! policy's `defaultProbe`, or exactly one declared container port), never guessed.
//! `intent` turns a plan into the server-side apply object the enforcer sends, `rollout`
//! reads whether a workload is rolling out, `status` computes the policy's enforcement
//! status.

pub mod candidates;
pub mod intent;
pub mod rollout;
pub mod status;

use jiff::Timestamp;
use serde::Serialize;

use crate::checks::CheckId;
use crate::facts::{ContainerFacts, PodFacts, WorkloadKind};
use crate::policy::EffectivePolicy;
use crate::policy::crd::{DefaultProbe, DefaultResources, DevOpsPolicySpec};
use crate::policy::exemptions::{ExemptionVerdict, verdict};

/// Field manager of every workload write enforcement makes.
pub const FIELD_MANAGER: &str = "kube-devops-enforcer";
/// Annotation naming who patched a workload.
pub const PATCHED_BY: &str = "devops.stochastic.io/patched-by";
/// Annotation with the time of the last patch (RFC 3339).
pub const PATCHED_AT: &str = "devops.stochastic.io/patched-at";
/// Annotation a revert after a failed rollout leaves: the digest of the pod template it
/// restored. While the template is unchanged, the workload is not patched again.
pub const ROLLOUT_FAILED: &str = "devops.stochastic.io/rollout-failed";
/// Workloads patched per policy per cycle when the policy names no limit.
pub const DEFAULT_MAX_WORKLOADS_PER_CYCLE: u32 = 5;
/// Seconds before the first probe when `defaultProbe` names none.
pub const DEFAULT_INITIAL_DELAY_SECONDS: i32 = 5;
/// Seconds between probes when `defaultProbe` names none.
pub const DEFAULT_PERIOD_SECONDS: i32 = 10;

/// Why a workload is not patched. A bounded set: it labels a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// Its namespace is excluded (system namespaces, the controller's own, globs).
    ExcludedNamespace,
    /// Every finding enforcement could fix is exempt by annotation.
    Exempt,
    /// A pod without a controller: nothing owns its spec to patch.
    BarePod,
    /// A Job, a CronJob or one of their pods: run-to-completion, reported only.
    Batch,
    /// Owned by a kind enforcement does not patch (a bare ReplicaSet, a
    /// ReplicationController, a custom controller).
    UnsupportedOwner,
    /// Something is missing but nothing can be derived (a probe with no port to use, a
    /// resource the policy gives no default for).
    NothingDerivable,
    /// Another field manager owns a field the plan would set.
    Conflict,
    /// A rollout of the workload is still in progress.
    RolloutInProgress,
    /// The pods of an earlier remediation did not become ready: it was reverted and is
    /// not retried until the workload's spec changes.
    RolloutFailed,
    /// The per-policy or global limit of this cycle was reached; tried next cycle.
    RateLimited,
}

impl SkipReason {
    /// Every reason, for metrics and documentation.
    pub const ALL: [SkipReason; 10] = [
        SkipReason::ExcludedNamespace,
        SkipReason::Exempt,
        SkipReason::BarePod,
        SkipReason::Batch,
        SkipReason::UnsupportedOwner,
        SkipReason::NothingDerivable,
        SkipReason::Conflict,
        SkipReason::RolloutInProgress,
        SkipReason::RolloutFailed,
        SkipReason::RateLimited,
    ];

    /// The camelCase spelling used in status, events and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::ExcludedNamespace => "excludedNamespace",
            SkipReason::Exempt => "exempt",
            SkipReason::BarePod => "barePod",
            SkipReason::Batch => "batch",
            SkipReason::UnsupportedOwner => "unsupportedOwner",
            SkipReason::NothingDerivable => "nothingDerivable",
            SkipReason::Conflict => "conflict",
            SkipReason::RolloutInProgress => "rolloutInProgress",
            SkipReason::RolloutFailed => "rolloutFailed",
            SkipReason::RateLimited => "rateLimited",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workload left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The bounded reason.
    pub reason: SkipReason,
    /// What exactly, for status and events.
    pub detail: String,
}

/// How a planned probe checks the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ProbeAction {
    /// `tcpSocket.port`.
    TcpSocket {
        /// The port.
        port: i32,
    },
    /// `httpGet.path` on `httpGet.port`.
    HttpGet {
        /// The path.
        path: String,
        /// The port.
        port: i32,
    },
}

/// A probe to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeIntent {
    /// What it checks.
    pub action: ProbeAction,
    /// `initialDelaySeconds`.
    pub initial_delay_seconds: i32,
    /// `periodSeconds`.
    pub period_seconds: i32,
}

impl std::fmt::Display for ProbeIntent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.action {
            ProbeAction::TcpSocket { port } => write!(f, "tcpSocket port {port}")?,
            ProbeAction::HttpGet { path, port } => write!(f, "httpGet {path} port {port}")?,
        }
        write!(
            f,
            " (initialDelaySeconds {}, periodSeconds {})",
            self.initial_delay_seconds, self.period_seconds
        )
    }
}

/// One resource field a container may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ResourceField {
    /// `resources.requests.cpu`.
    CpuRequest,
    /// `resources.requests.memory`.
    MemoryRequest,
    /// `resources.limits.cpu`.
    CpuLimit,
    /// `resources.limits.memory`.
    MemoryLimit,
}

impl ResourceField {
    /// Every field, in the order plans list them.
    pub const ALL: [ResourceField; 4] = [
        ResourceField::CpuRequest,
        ResourceField::MemoryRequest,
        ResourceField::CpuLimit,
        ResourceField::MemoryLimit,
    ];

    /// `requests` or `limits`, and `cpu` or `memory`.
    pub fn path(self) -> (&'static str, &'static str) {
        match self {
            ResourceField::CpuRequest => ("requests", "cpu"),
            ResourceField::MemoryRequest => ("requests", "memory"),
            ResourceField::CpuLimit => ("limits", "cpu"),
            ResourceField::MemoryLimit => ("limits", "memory"),
        }
    }

    /// The check a missing value fails.
    pub fn check(self) -> CheckId {
        match self {
            ResourceField::CpuRequest => CheckId::CpuRequestsMissing,
            ResourceField::MemoryRequest => CheckId::MemoryRequestsMissing,
            ResourceField::CpuLimit => CheckId::CpuLimitsMissing,
            ResourceField::MemoryLimit => CheckId::MemoryLimitsMissing,
        }
    }

    fn declared(self, c: &ContainerFacts) -> bool {
        match self {
            ResourceField::CpuRequest => c.resources.cpu_request,
            ResourceField::MemoryRequest => c.resources.memory_request,
            ResourceField::CpuLimit => c.resources.cpu_limit,
            ResourceField::MemoryLimit => c.resources.memory_limit,
        }
    }

    fn default_in(self, d: &DefaultResources) -> Option<&str> {
        match self {
            ResourceField::CpuRequest => d.cpu_request.as_deref(),
            ResourceField::MemoryRequest => d.memory_request.as_deref(),
            ResourceField::CpuLimit => d.cpu_limit.as_deref(),
            ResourceField::MemoryLimit => d.memory_limit.as_deref(),
        }
    }
}

impl std::fmt::Display for ResourceField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (group, name) = self.path();
        write!(f, "resources.{group}.{name}")
    }
}

/// What to add to one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerIntent {
    /// The container's name: the only key enforcement matches on.
    pub name: String,
    /// An init container (classic or native sidecar) rather than a regular one.
    pub init: bool,
    /// Liveness probe to add.
    pub liveness_probe: Option<ProbeIntent>,
    /// Readiness probe to add.
    pub readiness_probe: Option<ProbeIntent>,
    /// Resource fields to add, with their values.
    pub resources: Vec<(ResourceField, String)>,
}

impl ContainerIntent {
    fn is_empty(&self) -> bool {
        self.liveness_probe.is_none() && self.readiness_probe.is_none() && self.resources.is_empty()
    }

    /// One line per change: `container app: livenessProbe tcpSocket port 8080 (...)`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        let name = &self.name;
        if let Some(p) = &self.liveness_probe {
            out.push(format!("container {name}: livenessProbe {p}"));
        }
        if let Some(p) = &self.readiness_probe {
            out.push(format!("container {name}: readinessProbe {p}"));
        }
        for (field, value) in &self.resources {
            out.push(format!("container {name}: {field} {value}"));
        }
        out
    }
}

/// The repairs of one workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationPlan {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: WorkloadKind,
    /// The workload's namespace.
    pub namespace: String,
    /// The workload's name.
    pub name: String,
    /// Containers with something to add, in the pod template's order.
    pub containers: Vec<ContainerIntent>,
    /// Checks the plan fixes (each once, catalogue order).
    pub fixes: Vec<CheckId>,
    /// What was missing but could not be derived, for the record.
    pub not_derivable: Vec<String>,
}

impl RemediationPlan {
    /// `Deployment/web`.
    pub fn workload(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// One line per change.
    pub fn describe(&self) -> Vec<String> {
        self.containers
            .iter()
            .flat_map(ContainerIntent::describe)
            .collect()
    }
}

/// What enforcement should do about one workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Add these fields.
    Patch(RemediationPlan),
    /// Nothing enforcement can fix is missing.
    Compliant,
    /// Leave it alone, for this reason.
    Skip(Skip),
}

fn skip(reason: SkipReason, detail: impl Into<String>) -> Decision {
    Decision::Skip(Skip {
        reason,
        detail: detail.into(),
    })
}

/// The enforcing policy: its resolution (which checks are on) and its spec (defaults).
#[derive(Debug, Clone, Copy)]
pub struct Enforcing<'a> {
    /// The policy's own resolution.
    pub policy: &'a EffectivePolicy,
    /// Its spec, for `defaultProbe` and `defaultResources`.
    pub spec: &'a DevOpsPolicySpec,
}

/// The kinds enforcement patches: their owners resolve to themselves.
pub fn is_patchable(kind: WorkloadKind) -> bool {
    matches!(
        kind,
        WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::DaemonSet
    )
}

/// Derives the probe for `c`, or says why it cannot be derived.
fn derive_probe(c: &ContainerFacts, default: Option<&DefaultProbe>) -> Result<ProbeIntent, String> {
    let single_port = match c.ports.as_slice() {
        [port] => Some(*port),
        _ => None,
    };
    let initial = default
        .and_then(|d| d.initial_delay_seconds)
        .unwrap_or(DEFAULT_INITIAL_DELAY_SECONDS);
    let period = default
        .and_then(|d| d.period_seconds)
        .unwrap_or(DEFAULT_PERIOD_SECONDS);
    let action = match default {
        Some(DefaultProbe {
            http_get_path: Some(path),
            tcp_port,
            ..
        }) => {
            let port = tcp_port.or(c.ports.first().copied()).ok_or_else(|| {
                format!(
                    "container {}: defaultProbe.httpGetPath needs defaultProbe.tcpPort or a declared containerPort",
                    c.name
                )
            })?;
            ProbeAction::HttpGet {
                path: path.clone(),
                port,
            }
        }
        Some(DefaultProbe {
            tcp_port: Some(port),
            ..
        }) => ProbeAction::TcpSocket { port: *port },
        _ => match single_port {
            Some(port) => ProbeAction::TcpSocket { port },
            None => {
                return Err(format!(
                    "container {}: no defaultProbe and {} declared containerPorts (a probe needs exactly one)",
                    c.name,
                    c.ports.len()
                ));
            }
        },
    };
    Ok(ProbeIntent {
        action,
        initial_delay_seconds: initial,
        period_seconds: period,
    })
}

/// Whether `check` is on in the policy and not exempt on the workload.
fn wanted(
    check: CheckId,
    workload: &PodFacts,
    enforcing: Enforcing<'_>,
    now: Timestamp,
    exempt: &mut bool,
) -> bool {
    if enforcing.policy.severity(check).is_none() {
        return false;
    }
    if matches!(
        verdict(&workload.exemptions, check, now),
        ExemptionVerdict::Exempt(_)
    ) {
        *exempt = true;
        return false;
    }
    true
}

/// The decision for one workload, from the facts of its own pod template.
pub fn plan(workload: &PodFacts, enforcing: Enforcing<'_>, now: Timestamp) -> Decision {
    let kind = workload.object.kind;
    let name = &workload.object.name;
    if kind == WorkloadKind::Pod {
        return skip(
            SkipReason::BarePod,
            format!("pod {name} has no controller; recreate it from a workload to be repaired"),
        );
    }
    if kind.is_batch() || workload.batch {
        return skip(
            SkipReason::Batch,
            format!("{kind}/{name} runs to completion: reported, not patched"),
        );
    }
    if !is_patchable(kind) {
        return skip(
            SkipReason::UnsupportedOwner,
            format!("{kind}/{name} is not patched (Deployment, StatefulSet and DaemonSet are)"),
        );
    }
    let mut exempt = false;
    let mut fixes = Vec::new();
    let mut not_derivable = Vec::new();
    let mut containers = Vec::new();
    for c in &workload.containers {
        let init = !matches!(c.role, crate::facts::ContainerRole::Regular);
        let mut intent = ContainerIntent {
            name: c.name.clone(),
            init,
            liveness_probe: None,
            readiness_probe: None,
            resources: Vec::new(),
        };
        if c.role.takes_probes() {
            let probes = [
                (CheckId::MissingLivenessProbe, c.liveness_probe),
                (CheckId::MissingReadinessProbe, c.readiness_probe),
            ];
            for (check, present) in probes {
                if present || !wanted(check, workload, enforcing, now, &mut exempt) {
                    continue;
                }
                match derive_probe(c, enforcing.spec.default_probe.as_ref()) {
                    Ok(probe) => {
                        fixes.push(check);
                        if check == CheckId::MissingLivenessProbe {
                            intent.liveness_probe = Some(probe);
                        } else {
                            intent.readiness_probe = Some(probe);
                        }
                    }
                    Err(why) => not_derivable.push(format!("{check}: {why}")),
                }
            }
        }
        if c.role.takes_resources() {
            for field in ResourceField::ALL {
                let check = field.check();
                if field.declared(c) || !wanted(check, workload, enforcing, now, &mut exempt) {
                    continue;
                }
                let value = enforcing
                    .spec
                    .default_resources
                    .as_ref()
                    .and_then(|d| field.default_in(d));
                match value {
                    Some(v) => {
                        fixes.push(check);
                        intent.resources.push((field, v.to_owned()));
                    }
                    None => not_derivable.push(format!(
                        "{check}: container {}: defaultResources gives no {field}",
                        c.name
                    )),
                }
            }
        }
        if !intent.is_empty() {
            containers.push(intent);
        }
    }
    if containers.is_empty() {
        if !not_derivable.is_empty() {
            return skip(SkipReason::NothingDerivable, not_derivable.join("; "));
        }
        if exempt {
            return skip(
                SkipReason::Exempt,
                format!("{kind}/{name}: every finding enforcement could fix is exempt"),
            );
        }
        return Decision::Compliant;
    }
    fixes.sort();
    fixes.dedup();
    Decision::Patch(RemediationPlan {
        kind,
        namespace: workload.object.namespace.clone(),
        name: name.clone(),
        containers,
        fixes,
        not_derivable,
    })
}

#[cfg(test)]
mod tests;
