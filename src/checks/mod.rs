//! The check catalogue: every best-practice rule kube-devops knows, with its id, category,
//! default severity, score weight and flags.
//!
//! In: nothing (static data). Out: [`CheckId`], [`Severity`], [`CheckSpec`] and, through
//! [`evaluate`], the findings of one pod under one effective policy.

mod evaluate;

pub use evaluate::{DANGEROUS_CAPABILITIES, Finding, FindingStatus, evaluate, pod_score};

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth fixing when convenient.
    #[default]
    Low,
    /// Fix soon.
    Medium,
    /// Fix before it bites.
    High,
    /// Fix now.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Score multiplier in halves: critical 3, high 2, medium 1, low 0.5 become 6, 4, 2, 1,
    /// so penalty ratios stay exact in integers.
    pub fn multiplier_halves(self) -> u64 {
        match self {
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 4,
            Severity::Critical => 6,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a lower-case name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Availability and predictable rollouts.
    Reliability,
    /// Scheduling and resource accounting.
    Efficiency,
    /// Isolation and least privilege.
    Security,
}

impl Category {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Reliability => "reliability",
            Category::Efficiency => "efficiency",
            Category::Security => "security",
        }
    }
}

macro_rules! check_ids {
    ($($variant:ident => $id:literal),+ $(,)?) => {
        /// Identifier of a check, as used in policies, annotations and reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CheckId { $(#[doc = $id] $variant),+ }

        impl CheckId {
            /// Every check, in catalogue order.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant),+];

            /// The camelCase id.
            pub fn as_str(self) -> &'static str {
                match self { $(CheckId::$variant => $id),+ }
            }
        }
    };
}

check_ids! {
    LatestTag => "latestTag",
    MissingLivenessProbe => "missingLivenessProbe",
    MissingReadinessProbe => "missingReadinessProbe",
    HighRestarts => "highRestarts",
    LongPending => "longPending",
    CpuRequestsMissing => "cpuRequestsMissing",
    MemoryRequestsMissing => "memoryRequestsMissing",
    CpuLimitsMissing => "cpuLimitsMissing",
    MemoryLimitsMissing => "memoryLimitsMissing",
    RunAsRootAllowed => "runAsRootAllowed",
    RunAsPrivileged => "runAsPrivileged",
    PrivilegeEscalationAllowed => "privilegeEscalationAllowed",
    NotReadOnlyRootFilesystem => "notReadOnlyRootFilesystem",
    HostNetworkSet => "hostNetworkSet",
    HostPidSet => "hostPIDSet",
    HostIpcSet => "hostIPCSet",
    HostPathSet => "hostPathSet",
    HostPortSet => "hostPortSet",
    DangerousCapabilities => "dangerousCapabilities",
    PullPolicyNotAlways => "pullPolicyNotAlways",
}

/// Keys of the earlier release's `severityOverrides`, still accepted.
const SEED_KEYS: [(&str, CheckId); 5] = [
    ("latestTag", CheckId::LatestTag),
    ("missingLiveness", CheckId::MissingLivenessProbe),
    ("missingReadiness", CheckId::MissingReadinessProbe),
    ("highRestarts", CheckId::HighRestarts),
    ("pending", CheckId::LongPending),
];

impl CheckId {
    /// Parses a check id or a seed key (`missingLiveness`, `pending`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .or_else(|| SEED_KEYS.iter().find(|(k, _)| *k == s).map(|(_, c)| *c))
    }

    /// Position in [`CheckId::ALL`], for array-indexed tables and bitmasks.
    pub fn index(self) -> usize {
        self as usize
    }

    /// This check's catalogue entry.
    pub fn spec(self) -> &'static CheckSpec {
        &CATALOGUE[self.index()]
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Number of checks in the catalogue.
pub const CHECK_COUNT: usize = CheckId::ALL.len();

/// A catalogue entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckSpec {
    /// The id.
    pub id: CheckId,
    /// What it protects.
    pub category: Category,
    /// Severity when no policy overrides it.
    pub severity: Severity,
    /// Score penalty of one finding at the default severity.
    pub weight: u32,
    /// Judged at admission (false for runtime checks).
    pub admission: bool,
    /// Needs live pod status.
    pub runtime: bool,
    /// `enforce` mode can repair it.
    pub remediable: bool,
    /// One-line title.
    pub title: &'static str,
    /// How to fix it.
    pub remedy: &'static str,
}

/// When a check can be judged and whether enforcement can fix it.
#[derive(Clone, Copy)]
enum Flavor {
    /// Judged from the spec (admission too); not repaired.
    Spec,
    /// Judged from the spec and repairable in enforce mode.
    Remediable,
    /// Needs live pod status; never judged at admission.
    Runtime,
}

const fn spec(
    id: CheckId,
    category: Category,
    severity: Severity,
    weight: u32,
    flavor: Flavor,
    (title, remedy): (&'static str, &'static str),
) -> CheckSpec {
    let runtime = matches!(flavor, Flavor::Runtime);
    CheckSpec {
        id,
        category,
        severity,
        weight,
        admission: !runtime,
        runtime,
        remediable: matches!(flavor, Flavor::Remediable),
        title,
        remedy,
    }
}

use Category::{Efficiency, Reliability, Security};
use Severity::{Critical, High, Low, Medium};

/// The catalogue, indexed by [`CheckId::index`].
pub static CATALOGUE: [CheckSpec; CHECK_COUNT] = [
    spec(
        CheckId::LatestTag,
        Reliability,
        High,
        5,
        Flavor::Spec,
        (
            "Image uses the latest tag or no tag",
            "pin the image to a version tag or a digest",
        ),
    ),
    spec(
        CheckId::MissingLivenessProbe,
        Reliability,
        Medium,
        3,
        Flavor::Remediable,
        ("Container has no liveness probe", "add a livenessProbe"),
    ),
    spec(
        CheckId::MissingReadinessProbe,
        Reliability,
        Low,
        2,
        Flavor::Remediable,
        ("Container has no readiness probe", "add a readinessProbe"),
    ),
    spec(
        CheckId::HighRestarts,
        Reliability,
        Critical,
        6,
        Flavor::Runtime,
        (
            "Container restarts too often",
            "find why the container crashes (kubectl logs --previous)",
        ),
    ),
    spec(
        CheckId::LongPending,
        Reliability,
        Medium,
        4,
        Flavor::Runtime,
        (
            "Pod has been Pending too long",
            "check scheduling events, resource quotas and image pulls",
        ),
    ),
    spec(
        CheckId::CpuRequestsMissing,
        Efficiency,
        Medium,
        2,
        Flavor::Remediable,
        ("Container has no CPU request", "set resources.requests.cpu"),
    ),
    spec(
        CheckId::MemoryRequestsMissing,
        Efficiency,
        Medium,
        2,
        Flavor::Remediable,
        (
            "Container has no memory request",
            "set resources.requests.memory",
        ),
    ),
    spec(
        CheckId::CpuLimitsMissing,
        Efficiency,
        Medium,
        2,
        Flavor::Remediable,
        ("Container has no CPU limit", "set resources.limits.cpu"),
    ),
    spec(
        CheckId::MemoryLimitsMissing,
        Efficiency,
        Medium,
        2,
        Flavor::Remediable,
        (
            "Container has no memory limit",
            "set resources.limits.memory",
        ),
    ),
    spec(
        CheckId::RunAsRootAllowed,
        Security,
        High,
        4,
        Flavor::Spec,
        (
            "Container may run as root",
            "set securityContext.runAsNonRoot: true (or a non-zero runAsUser)",
        ),
    ),
    spec(
        CheckId::RunAsPrivileged,
        Security,
        Critical,
        6,
        Flavor::Spec,
        (
            "Container runs privileged",
            "remove securityContext.privileged: true",
        ),
    ),
    spec(
        CheckId::PrivilegeEscalationAllowed,
        Security,
        High,
        4,
        Flavor::Spec,
        (
            "Container allows privilege escalation",
            "set securityContext.allowPrivilegeEscalation: false",
        ),
    ),
    spec(
        CheckId::NotReadOnlyRootFilesystem,
        Security,
        Medium,
        2,
        Flavor::Spec,
        (
            "Container root filesystem is writable",
            "set securityContext.readOnlyRootFilesystem: true and mount writable volumes where needed",
        ),
    ),
    spec(
        CheckId::HostNetworkSet,
        Security,
        High,
        4,
        Flavor::Spec,
        ("Pod uses the host network", "remove spec.hostNetwork: true"),
    ),
    spec(
        CheckId::HostPidSet,
        Security,
        High,
        4,
        Flavor::Spec,
        (
            "Pod shares the host PID namespace",
            "remove spec.hostPID: true",
        ),
    ),
    spec(
        CheckId::HostIpcSet,
        Security,
        High,
        4,
        Flavor::Spec,
        (
            "Pod shares the host IPC namespace",
            "remove spec.hostIPC: true",
        ),
    ),
    spec(
        CheckId::HostPathSet,
        Security,
        Medium,
        2,
        Flavor::Spec,
        (
            "Pod mounts a hostPath volume",
            "use a persistentVolumeClaim, configMap, secret or emptyDir instead",
        ),
    ),
    spec(
        CheckId::HostPortSet,
        Security,
        Medium,
        2,
        Flavor::Spec,
        (
            "Container binds a host port",
            "remove hostPort and expose the port through a Service",
        ),
    ),
    spec(
        CheckId::DangerousCapabilities,
        Security,
        High,
        4,
        Flavor::Spec,
        (
            "Container adds dangerous Linux capabilities",
            "drop the capability from securityContext.capabilities.add",
        ),
    ),
    spec(
        CheckId::PullPolicyNotAlways,
        Reliability,
        Low,
        1,
        Flavor::Spec,
        (
            "Image pull policy is not Always",
            "set imagePullPolicy: Always",
        ),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_indexed_by_check_id() {
        for (i, id) in CheckId::ALL.iter().enumerate() {
            assert_eq!(id.index(), i);
            assert_eq!(CATALOGUE[i].id, *id);
        }
    }

    #[test]
    fn ids_and_seed_keys_parse() {
        for id in CheckId::ALL {
            assert_eq!(CheckId::parse(id.as_str()), Some(*id));
        }
        assert_eq!(
            CheckId::parse("missingLiveness"),
            Some(CheckId::MissingLivenessProbe)
        );
        assert_eq!(
            CheckId::parse("missingReadiness"),
            Some(CheckId::MissingReadinessProbe)
        );
        assert_eq!(CheckId::parse("pending"), Some(CheckId::LongPending));
        assert_eq!(CheckId::parse("nope"), None);
    }

    #[test]
    fn runtime_checks_are_never_admission_checks() {
        for spec in &CATALOGUE {
            assert_ne!(spec.runtime, spec.admission, "{}", spec.id);
        }
        let runtime: Vec<_> = CATALOGUE
            .iter()
            .filter(|s| s.runtime)
            .map(|s| s.id)
            .collect();
        assert_eq!(runtime, [CheckId::HighRestarts, CheckId::LongPending]);
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::High < Severity::Critical);
        assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
        assert_eq!(Severity::parse("urgent"), None);
    }
}
