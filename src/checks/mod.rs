//! The check catalogue: every best-practice rule kube-devops knows, with its id, category,
//! default severity, score weight, scope and flags.
//!
//! In: nothing (static data). Out: [`CheckId`], [`Severity`], [`CheckSpec`] and, through
//! [`evaluate`], the findings of one pod under one effective policy. Checks of
//! [`Scope::Related`] need other objects (PodDisruptionBudgets, Services, RBAC, ...) and are
//! judged by [`crate::cross`] instead.

mod catalogue;
mod containers;
mod evaluate;
mod security;
pub mod values;

pub use catalogue::CATALOGUE;
pub use evaluate::{Finding, FindingStatus, evaluate, finding, pod_score};
pub use values::{DANGEROUS_CAPABILITIES, SAFE_CAPABILITIES};

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
    AutomountServiceAccountToken => "automountServiceAccountToken",
    DeploymentMissingReplicas => "deploymentMissingReplicas",
    HostProcess => "hostProcess",
    InsecureCapabilities => "insecureCapabilities",
    LinuxHardening => "linuxHardening",
    ProcMount => "procMount",
    PriorityClassNotSet => "priorityClassNotSet",
    TopologySpreadConstraint => "topologySpreadConstraint",
    SensitiveContainerEnvVar => "sensitiveContainerEnvVar",
    RunAsUserZero => "runAsUserZero",
    SeccompProfileUnconfined => "seccompProfileUnconfined",
    HostPathSensitive => "hostPathSensitive",
    ImageRegistryNotAllowed => "imageRegistryNotAllowed",
    EphemeralStorageLimitsMissing => "ephemeralStorageLimitsMissing",
    ServiceAccountDefault => "serviceAccountDefault",
    MissingPodDisruptionBudget => "missingPodDisruptionBudget",
    PdbDisruptionsIsZero => "pdbDisruptionsIsZero",
    PdbMinAvailableGreaterThanHpaMinReplicas => "pdbMinAvailableGreaterThanHPAMinReplicas",
    HpaMaxAvailability => "hpaMaxAvailability",
    HpaMinAvailability => "hpaMinAvailability",
    MissingNetworkPolicy => "missingNetworkPolicy",
    ServiceSelectorMatchesNothing => "serviceSelectorMatchesNothing",
    IngressTlsMissing => "ingressTlsMissing",
    ClusterAdminBinding => "clusterAdminBinding",
    RoleWildcard => "roleWildcard",
    PodExecAttachAllowed => "podExecAttachAllowed",
    SecretsReadableByServiceAccount => "secretsReadableByServiceAccount",
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

// Check sets are one bit per check in a `u64` (`score::CheckMask`).
const _: () = assert!(CHECK_COUNT <= 64, "CheckMask holds at most 64 checks");

/// What one finding of a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One finding per failing container.
    Container,
    /// At most one finding per pod or pod template.
    Pod,
    /// The workload object itself (its spec outside the pod template): judged on the
    /// workload, never on its pods.
    Workload,
    /// Needs other objects (PodDisruptionBudgets, Services, NetworkPolicies, RBAC, ...):
    /// judged by the cross-resource index, never at admission.
    Related,
}

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
    /// What one finding is about.
    pub scope: Scope,
    /// Judged at admission (false for runtime and cross-resource checks).
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

#[cfg(test)]
mod docs_tests;

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
    fn runtime_and_cross_resource_checks_are_never_admission_checks() {
        for spec in &CATALOGUE {
            let needs_more_than_the_object = spec.runtime || spec.scope == Scope::Related;
            assert_ne!(needs_more_than_the_object, spec.admission, "{}", spec.id);
        }
        let runtime: Vec<_> = CATALOGUE
            .iter()
            .filter(|s| s.runtime)
            .map(|s| s.id)
            .collect();
        assert_eq!(runtime, [CheckId::HighRestarts, CheckId::LongPending]);
    }

    #[test]
    fn weights_are_positive_and_ids_are_unique() {
        let mut ids: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CHECK_COUNT);
        for spec in &CATALOGUE {
            assert!(spec.weight > 0, "{}", spec.id);
            assert!(
                !spec.title.is_empty() && !spec.remedy.is_empty(),
                "{}",
                spec.id
            );
        }
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::High < Severity::Critical);
        assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
        assert_eq!(Severity::parse("urgent"), None);
    }
}
