//! The evaluator: one pod's facts under one effective policy, at one instant, to findings.
//!
//! In: [`PodFacts`], an [`EffectivePolicy`], the current time. Out: every finding of every
//! enabled check, each with its effective severity and exact penalty; findings covered by
//! an exemption are kept but marked skipped, so reports can show them without counting
//! them. This is the only evaluator: audits, watches, the operator and admission all call
//! it.

use jiff::Timestamp;
use serde::Serialize;

use super::{CheckId, Severity};
use crate::facts::image::{ImagePin, image_pin, is_floating};
use crate::facts::{ContainerFacts, ContainerRole, PodFacts, SecurityFacts};
use crate::policy::EffectivePolicy;
use crate::policy::exemptions::{ExemptionVerdict, verdict};
use crate::score::{Penalty, PodScore};

/// Capabilities whose addition breaks container isolation.
pub const DANGEROUS_CAPABILITIES: [&str; 8] = [
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "BPF",
];

/// Restarts beyond which `highRestarts` stops growing its penalty.
pub const RESTART_PENALTY_CAP: u32 = 5;

/// Whether a finding counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum FindingStatus {
    /// Counted in scores and exit codes.
    Counted,
    /// Covered by an exemption: reported, not counted.
    Skipped {
        /// The exemption's reason.
        reason: String,
    },
}

/// One violation of one check, by one container (or the pod as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The check.
    pub check: CheckId,
    /// Effective severity under the policy.
    pub severity: Severity,
    /// The container, by name; `None` for pod-level findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// What was found and how to fix it.
    pub message: String,
    /// Exact penalty.
    pub penalty: Penalty,
    /// Counted or skipped.
    #[serde(flatten)]
    pub status: FindingStatus,
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

struct Evaluation<'a> {
    facts: &'a PodFacts,
    policy: &'a EffectivePolicy,
    now: Timestamp,
    findings: Vec<Finding>,
}

impl Evaluation<'_> {
    fn report(&mut self, check: CheckId, container: Option<&str>, message: String, times: u32) {
        let Some(severity) = self.policy.severity(check) else {
            return;
        };
        let (status, message) = match verdict(&self.facts.exemptions, check, self.now) {
            ExemptionVerdict::Exempt(reason) => (FindingStatus::Skipped { reason }, message),
            ExemptionVerdict::Lapsed(note) => {
                (FindingStatus::Counted, format!("{message} ({note})"))
            }
            ExemptionVerdict::None => (FindingStatus::Counted, message),
        };
        self.findings.push(Finding {
            check,
            severity,
            container: container.map(str::to_owned),
            message,
            penalty: Penalty::of(check, severity, times),
            status,
        });
    }

    fn on(&self, check: CheckId) -> bool {
        self.policy.severity(check).is_some()
    }
}

/// Evaluates every enabled check on one pod or pod template.
pub fn evaluate(facts: &PodFacts, policy: &EffectivePolicy, now: Timestamp) -> Vec<Finding> {
    let mut ev = Evaluation {
        facts,
        policy,
        now,
        findings: Vec::new(),
    };
    pod_level(&mut ev);
    for c in &facts.containers {
        container_checks(&mut ev, c);
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
            ev.report(check, None, message.to_owned(), 1);
        }
    }
    if !f.host_path_volumes.is_empty() {
        ev.report(
            CheckId::HostPathSet,
            None,
            format!(
                "hostPath volume(s) {} mount the node's filesystem; use a PVC, configMap, secret or emptyDir",
                f.host_path_volumes.join(", ")
            ),
            1,
        );
    }
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
                format!(
                    "Pending for {waited}s, longer than {limit}s; check scheduling events, quotas and image pulls"
                ),
                1,
            );
        }
    }
}

fn container_checks(ev: &mut Evaluation<'_>, c: &ContainerFacts) {
    let name = Some(c.name.as_str());
    let kind = match c.role {
        ContainerRole::Init => "init container",
        ContainerRole::Sidecar => "sidecar container",
        ContainerRole::Regular => "container",
    };
    if ev.on(CheckId::LatestTag) {
        let what = match image_pin(&c.image) {
            ImagePin::Untagged if c.image.is_empty() => Some("has no image".to_owned()),
            ImagePin::Untagged => Some(format!(
                "image {:?} has no tag, so it runs whatever latest is",
                c.image
            )),
            ImagePin::Tag("latest") => {
                Some(format!("image {:?} uses the mutable latest tag", c.image))
            }
            _ => None,
        };
        if let Some(what) = what {
            ev.report(
                CheckId::LatestTag,
                name,
                format!("{kind} {:?} {what}; pin a version tag or digest", c.name),
                1,
            );
        }
    }
    let probed = c.role.is_long_running() && !ev.facts.batch;
    if probed && !c.liveness_probe {
        ev.report(
            CheckId::MissingLivenessProbe,
            name,
            format!("{kind} {:?} has no livenessProbe", c.name),
            1,
        );
    }
    if probed && !c.readiness_probe {
        ev.report(
            CheckId::MissingReadinessProbe,
            name,
            format!("{kind} {:?} has no readinessProbe", c.name),
            1,
        );
    }
    if ev.on(CheckId::HighRestarts)
        && let Some(restarts) = c.restart_count.and_then(|r| u32::try_from(r).ok())
        && restarts > ev.policy.max_restart_count
    {
        let max = ev.policy.max_restart_count;
        ev.report(
            CheckId::HighRestarts,
            name,
            format!(
                "{kind} {:?} restarted {restarts} times (limit {max}); check `kubectl logs --previous`",
                c.name
            ),
            restarts.min(RESTART_PENALTY_CAP),
        );
    }
    // The API server copies a limit into a missing request, so a limit alone satisfies
    // the request check: judge what the cluster will actually run.
    let r = &c.resources;
    let resources = [
        (
            CheckId::CpuRequestsMissing,
            r.cpu_request || r.cpu_limit,
            "resources.requests.cpu",
        ),
        (
            CheckId::MemoryRequestsMissing,
            r.memory_request || r.memory_limit,
            "resources.requests.memory",
        ),
        (
            CheckId::CpuLimitsMissing,
            r.cpu_limit,
            "resources.limits.cpu",
        ),
        (
            CheckId::MemoryLimitsMissing,
            r.memory_limit,
            "resources.limits.memory",
        ),
    ];
    for (check, set, field) in resources {
        if !set {
            ev.report(
                check,
                name,
                format!("{kind} {:?} does not set {field}", c.name),
                1,
            );
        }
    }
    security_checks(ev, c, kind);
    if ev.on(CheckId::PullPolicyNotAlways) {
        // The API server defaults the policy to Always for latest or untagged images and
        // to IfNotPresent otherwise; judge what the cluster will actually run.
        let effective = c
            .image_pull_policy
            .as_deref()
            .unwrap_or(if is_floating(&c.image) {
                "Always"
            } else {
                "IfNotPresent"
            });
        if effective != "Always" {
            ev.report(
                CheckId::PullPolicyNotAlways,
                name,
                format!(
                    "{kind} {:?} has imagePullPolicy {effective}; set Always",
                    c.name
                ),
                1,
            );
        }
    }
}

fn security_checks(ev: &mut Evaluation<'_>, c: &ContainerFacts, kind: &str) {
    let name = Some(c.name.as_str());
    let sc: &SecurityFacts = &c.security;
    let pod = &ev.facts.pod_security;
    if ev.on(CheckId::RunAsRootAllowed) {
        // Container settings override the pod's; either a non-root promise or a non-zero
        // user keeps the container off root, and an explicit uid 0 always runs as root.
        let non_root = sc.run_as_non_root.or(pod.run_as_non_root);
        let user = sc.run_as_user.or(pod.run_as_user);
        let safe = user != Some(0) && (non_root == Some(true) || user.is_some_and(|u| u > 0));
        if !safe {
            ev.report(
                CheckId::RunAsRootAllowed,
                name,
                format!("{kind} {:?} may run as root; set securityContext.runAsNonRoot: true or a non-zero runAsUser", c.name),
                1,
            );
        }
    }
    if sc.privileged == Some(true) {
        ev.report(
            CheckId::RunAsPrivileged,
            name,
            format!(
                "{kind} {:?} runs privileged; remove securityContext.privileged",
                c.name
            ),
            1,
        );
    }
    // Privileged containers always allow escalation; otherwise it must be explicitly off.
    if sc.allow_privilege_escalation != Some(false) || sc.privileged == Some(true) {
        ev.report(
            CheckId::PrivilegeEscalationAllowed,
            name,
            format!("{kind} {:?} allows privilege escalation; set securityContext.allowPrivilegeEscalation: false", c.name),
            1,
        );
    }
    if sc.read_only_root_filesystem != Some(true) {
        ev.report(
            CheckId::NotReadOnlyRootFilesystem,
            name,
            format!("{kind} {:?} has a writable root filesystem; set securityContext.readOnlyRootFilesystem: true", c.name),
            1,
        );
    }
    if c.host_port {
        ev.report(
            CheckId::HostPortSet,
            name,
            format!(
                "{kind} {:?} binds a hostPort; expose it through a Service",
                c.name
            ),
            1,
        );
    }
    let dangerous: Vec<&str> = sc
        .capabilities_add
        .iter()
        .map(|cap| cap.trim())
        .filter(|cap| {
            // The prefix, like the name, is matched in any case: `cap_sys_admin` must not slip by.
            let bare = match cap.get(..4) {
                Some(prefix) if prefix.eq_ignore_ascii_case("CAP_") => &cap[4..],
                _ => cap,
            };
            DANGEROUS_CAPABILITIES
                .iter()
                .any(|d| d.eq_ignore_ascii_case(bare))
        })
        .collect();
    if !dangerous.is_empty() {
        ev.report(
            CheckId::DangerousCapabilities,
            name,
            format!(
                "{kind} {:?} adds capabilities {}; drop them",
                c.name,
                dangerous.join(", ")
            ),
            1,
        );
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
