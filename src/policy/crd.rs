//! The custom resources: `DevOpsPolicy` and `PolicyAuditResult` in `devops.stochastic.io/v1`.
//!
//! In: nothing but serde. Out: the Rust types the operator reads and writes, and through
//! `kube::CustomResourceExt` the structural CRD schemas that `crd generate` prints.
//! Every spec field is optional: an absent switch means the check is off.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::Severity;

/// API group of kube-devops's own resources.
pub const GROUP: &str = "devops.stochastic.io";
/// Label on audit results naming their policy.
pub const POLICY_LABEL: &str = "devops.stochastic.io/policy";
/// Finalizer the operator adds to policies.
pub const FINALIZER: &str = "devops.stochastic.io/cleanup";

/// What a policy does about the findings it sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum EnforcementMode {
    /// Report only.
    #[default]
    Audit,
    /// Repair the owning workloads.
    Enforce,
    /// Compute the repairs with server-side dry-run and report them without writing.
    DryRun,
}

impl EnforcementMode {
    /// The spelling used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            EnforcementMode::Audit => "audit",
            EnforcementMode::Enforce => "enforce",
            EnforcementMode::DryRun => "dryRun",
        }
    }
}

/// The probe enforcement injects when a container has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefaultProbe {
    /// TCP port to probe.
    #[schemars(range(min = 1, max = 65535))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_port: Option<i32>,
    /// HTTP path to GET (on `tcpPort`, or on the container's first declared port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get_path: Option<String>,
    /// Seconds before the first probe (default 5).
    #[schemars(range(min = 0))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes (default 10).
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
}

/// Kubernetes quantity syntax, as the API server's own validation spells it.
pub const QUANTITY_PATTERN: &str = r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// Resource values enforcement fills in where a container declares none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefaultResources {
    /// e.g. `100m`.
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_request: Option<String>,
    /// e.g. `500m`.
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<String>,
    /// e.g. `128Mi`.
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_request: Option<String>,
    /// e.g. `256Mi`.
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
}

/// Per-check settings under `checks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckSettings {
    /// Severity for this check (its catalogue default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// Admission settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionSettings {
    /// Findings at or above this severity are denied; lower ones become warnings
    /// (default `high`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_severity: Option<Severity>,
}

/// Enforcement settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnforcementSettings {
    /// Workloads patched per policy per cycle at most (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_workloads_per_cycle: Option<u32>,
    /// Seconds the pods of a patched workload have to become ready before the
    /// remediation is reverted (default 600).
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_deadline_seconds: Option<u32>,
}

/// A governance policy for the workloads of its namespace.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "devops.stochastic.io",
    version = "v1",
    kind = "DevOpsPolicy",
    plural = "devopspolicies",
    shortname = "dp",
    namespaced,
    status = "DevOpsPolicyStatus",
    printcolumn = r#"{"name":"Score","type":"number","jsonPath":".status.healthScore"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.classification"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.enforcementMode"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DevOpsPolicySpec {
    /// Flag images on `:latest` or with no tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forbid_latest_tag: Option<bool>,
    /// Require a liveness probe on long-running containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_liveness_probe: Option<bool>,
    /// Require a readiness probe on long-running containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_readiness_probe: Option<bool>,
    /// Flag containers restarted more often than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restart_count: Option<u32>,
    /// Flag pods Pending for longer than this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forbid_pending_duration: Option<u64>,
    /// `audit` (default), `enforce` or `dryRun`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement_mode: Option<EnforcementMode>,
    /// Probe injected by enforcement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_probe: Option<DefaultProbe>,
    /// Resources filled in by enforcement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_resources: Option<DefaultResources>,
    /// Severity per check id (or earlier key: latestTag, missingLiveness,
    /// missingReadiness, highRestarts, pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_overrides: Option<BTreeMap<String, Severity>>,
    /// Further catalogue checks to turn on, by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<BTreeMap<String, CheckSettings>>,
    /// Registries (optionally with a path prefix, or `*.domain`) images may come from;
    /// turns on `imageRegistryNotAllowed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_registries: Option<Vec<String>>,
    /// Admission settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<AdmissionSettings>,
    /// Enforcement settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<EnforcementSettings>,
    /// Audit results kept per policy (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_retention: Option<u32>,
}

/// What the operator last saw for a policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DevOpsPolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Namespace health score, one decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_score: Option<f64>,
    /// Healthy, Stable, Degraded or Critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// No counted findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Counted findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violations: Option<u32>,
    /// Counted findings by severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violations_by_severity: Option<SeverityCounts>,
    /// Pods evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods_scanned: Option<u32>,
    /// Human summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// RFC 3339 time of the last evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluated: Option<String>,
    /// Remediations written by enforcement since the policy was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediations_applied: Option<u32>,
    /// Remediations that failed (a write refused, or reverted after a failed rollout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediations_failed: Option<u32>,
    /// Workloads remediated (or, in dryRun, that would be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediated_workloads: Option<Vec<String>>,
    /// Workloads enforcement left alone in its last cycle, with why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Vec<SkippedWorkload>>,
    /// In dryRun: the changes enforcement would make (server-side dry-run accepted them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_changes: Option<Vec<String>>,
    /// Standard conditions (`Ready`, `Degraded`), one per type: a list keyed by `type`, so
    /// several field managers can each own their own conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Option<Vec<Condition>>,
}

/// A workload enforcement did not patch.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct SkippedWorkload {
    /// `Kind/name`.
    pub workload: String,
    /// excludedNamespace, exempt, barePod, batch, unsupportedOwner, nothingDerivable,
    /// conflict, rolloutInProgress, rolloutFailed or rateLimited.
    pub reason: String,
    /// What exactly.
    #[serde(default)]
    pub message: String,
}

/// Counted findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeverityCounts {
    /// Critical findings.
    #[serde(default)]
    pub critical: u32,
    /// High findings.
    #[serde(default)]
    pub high: u32,
    /// Medium findings.
    #[serde(default)]
    pub medium: u32,
    /// Low findings.
    #[serde(default)]
    pub low: u32,
}

impl SeverityCounts {
    /// Adds one finding of `severity`.
    pub fn add(&mut self, severity: Severity) {
        let slot = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
        };
        *slot = slot.saturating_add(1);
    }

    /// The count of one severity.
    pub fn get(&self, severity: Severity) -> u32 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }
}

/// One violation recorded in an audit result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditViolation {
    /// Pod (or workload) name.
    pub pod_name: String,
    /// Container name, empty for pod-level findings.
    #[serde(default)]
    pub container_name: String,
    /// Check id.
    pub check: String,
    /// Effective severity.
    pub severity: Severity,
    /// What was found.
    pub message: String,
}

/// A point-in-time record of one policy's evaluation.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "devops.stochastic.io",
    version = "v1",
    kind = "PolicyAuditResult",
    plural = "policyauditresults",
    shortname = "par",
    namespaced,
    printcolumn = r#"{"name":"Policy","type":"string","jsonPath":".spec.policyName"}"#,
    printcolumn = r#"{"name":"Score","type":"number","jsonPath":".spec.healthScore"}"#,
    printcolumn = r#"{"name":"Violations","type":"integer","jsonPath":".spec.totalViolations"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAuditResultSpec {
    /// The policy evaluated.
    pub policy_name: String,
    /// The cluster it ran in.
    #[serde(default)]
    pub cluster_name: String,
    /// RFC 3339 time of the evaluation.
    pub timestamp: String,
    /// Health score, one decimal.
    pub health_score: f64,
    /// Classification of the score.
    pub classification: String,
    /// Pods evaluated.
    pub total_pods: u32,
    /// Counted findings.
    pub total_violations: u32,
    /// At most 100 violations.
    #[serde(default)]
    pub violations: Vec<AuditViolation>,
    /// Violations left out beyond the first 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<u32>,
}

/// Most violations an audit result carries.
pub const MAX_AUDIT_VIOLATIONS: usize = 100;
