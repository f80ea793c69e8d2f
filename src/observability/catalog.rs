//! The catalogue of every metric family the binary exports: the one list the Grafana
//! dashboard and the alert rules are written against.
//!
//! In: nothing. Out: [`CATALOG`], one [`Family`] per exported family (name, type, labels),
//! and [`family`] to look one up. The actors crate registers the families; its tests hold
//! this list equal to what it registers, so no query can name a metric that does not exist.

/// The Prometheus type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A monotonically increasing count.
    Counter,
    /// A histogram: `_bucket`, `_sum` and `_count` series.
    Histogram,
}

impl Kind {
    /// The name Prometheus uses in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// One exported metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The full name, prefix included.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its label names (without `le` for histograms).
    pub labels: &'static [&'static str],
}

const fn f(name: &'static str, kind: Kind, labels: &'static [&'static str]) -> Family {
    Family { name, kind, labels }
}

use Kind::{Counter, Gauge, Histogram};

/// `kube_devops_cluster_health_score`.
pub const CLUSTER_HEALTH_SCORE: Family = f("kube_devops_cluster_health_score", Gauge, &[]);
/// `kube_devops_namespace_health_score{namespace}`.
pub const NAMESPACE_HEALTH_SCORE: Family =
    f("kube_devops_namespace_health_score", Gauge, &["namespace"]);
/// `kube_devops_pod_events_total{type}`.
pub const POD_EVENTS_TOTAL: Family = f("kube_devops_pod_events_total", Counter, &["type"]);
/// `kube_devops_pods_tracked`.
pub const PODS_TRACKED: Family = f("kube_devops_pods_tracked", Gauge, &[]);
/// `kube_devops_watch_errors_total{resource}`.
pub const WATCH_ERRORS_TOTAL: Family = f("kube_devops_watch_errors_total", Counter, &["resource"]);
/// `kube_devops_watch_backpressure_total{resource}`.
pub const WATCH_BACKPRESSURE_TOTAL: Family = f(
    "kube_devops_watch_backpressure_total",
    Counter,
    &["resource"],
);
/// `kube_devops_leader`.
pub const LEADER: Family = f("kube_devops_leader", Gauge, &[]);
/// `kube_devops_policy_reconcile_total`.
pub const POLICY_RECONCILE_TOTAL: Family = f("kube_devops_policy_reconcile_total", Counter, &[]);
/// `kube_devops_policy_reconcile_errors_total`.
pub const POLICY_RECONCILE_ERRORS_TOTAL: Family =
    f("kube_devops_policy_reconcile_errors_total", Counter, &[]);
/// `kube_devops_policy_reconcile_duration_seconds`.
pub const POLICY_RECONCILE_DURATION_SECONDS: Family = f(
    "kube_devops_policy_reconcile_duration_seconds",
    Histogram,
    &[],
);
/// `kube_devops_policy_health_score{namespace,policy}`.
pub const POLICY_HEALTH_SCORE: Family = f(
    "kube_devops_policy_health_score",
    Gauge,
    &["namespace", "policy"],
);
/// `kube_devops_policy_violations{namespace,policy}`.
pub const POLICY_VIOLATIONS: Family = f(
    "kube_devops_policy_violations",
    Gauge,
    &["namespace", "policy"],
);
/// `kube_devops_policy_violations_by_severity{namespace,policy,severity}`.
pub const POLICY_VIOLATIONS_BY_SEVERITY: Family = f(
    "kube_devops_policy_violations_by_severity",
    Gauge,
    &["namespace", "policy", "severity"],
);
/// `kube_devops_policy_pods_scanned_total`.
pub const POLICY_PODS_SCANNED_TOTAL: Family =
    f("kube_devops_policy_pods_scanned_total", Counter, &[]);
/// `kube_devops_enforcement_mode{namespace,policy}` (0 audit, 1 enforce, 2 dryRun).
pub const ENFORCEMENT_MODE: Family = f(
    "kube_devops_enforcement_mode",
    Gauge,
    &["namespace", "policy"],
);
/// `kube_devops_enforcement_remediations_applied_total`.
pub const REMEDIATIONS_APPLIED_TOTAL: Family = f(
    "kube_devops_enforcement_remediations_applied_total",
    Counter,
    &[],
);
/// `kube_devops_enforcement_remediations_failed_total`.
pub const REMEDIATIONS_FAILED_TOTAL: Family = f(
    "kube_devops_enforcement_remediations_failed_total",
    Counter,
    &[],
);
/// `kube_devops_enforcement_remediations_skipped_total{reason}`.
pub const REMEDIATIONS_SKIPPED_TOTAL: Family = f(
    "kube_devops_enforcement_remediations_skipped_total",
    Counter,
    &["reason"],
);
/// `kube_devops_audit_results_total`.
pub const AUDIT_RESULTS_TOTAL: Family = f("kube_devops_audit_results_total", Counter, &[]);
/// `kube_devops_webhook_requests_total{operation,allowed}`.
pub const WEBHOOK_REQUESTS_TOTAL: Family = f(
    "kube_devops_webhook_requests_total",
    Counter,
    &["operation", "allowed"],
);
/// `kube_devops_webhook_denials_total{check}`.
pub const WEBHOOK_DENIALS_TOTAL: Family =
    f("kube_devops_webhook_denials_total", Counter, &["check"]);
/// `kube_devops_webhook_errors_total{mode}`.
pub const WEBHOOK_ERRORS_TOTAL: Family = f("kube_devops_webhook_errors_total", Counter, &["mode"]);
/// `kube_devops_webhook_request_duration_seconds`.
pub const WEBHOOK_REQUEST_DURATION_SECONDS: Family = f(
    "kube_devops_webhook_request_duration_seconds",
    Histogram,
    &[],
);
/// `process_cpu_seconds_total` (process collector).
pub const PROCESS_CPU_SECONDS_TOTAL: Family = f("process_cpu_seconds_total", Counter, &[]);
/// `process_resident_memory_bytes` (process collector).
pub const PROCESS_RESIDENT_MEMORY_BYTES: Family = f("process_resident_memory_bytes", Gauge, &[]);

/// Every family the binary exports on Linux, in the order the dashboard meets them.
pub const CATALOG: &[Family] = &[
    CLUSTER_HEALTH_SCORE,
    NAMESPACE_HEALTH_SCORE,
    POD_EVENTS_TOTAL,
    PODS_TRACKED,
    WATCH_ERRORS_TOTAL,
    WATCH_BACKPRESSURE_TOTAL,
    LEADER,
    POLICY_RECONCILE_TOTAL,
    POLICY_RECONCILE_ERRORS_TOTAL,
    POLICY_RECONCILE_DURATION_SECONDS,
    POLICY_HEALTH_SCORE,
    POLICY_VIOLATIONS,
    POLICY_VIOLATIONS_BY_SEVERITY,
    POLICY_PODS_SCANNED_TOTAL,
    ENFORCEMENT_MODE,
    REMEDIATIONS_APPLIED_TOTAL,
    REMEDIATIONS_FAILED_TOTAL,
    REMEDIATIONS_SKIPPED_TOTAL,
    AUDIT_RESULTS_TOTAL,
    WEBHOOK_REQUESTS_TOTAL,
    WEBHOOK_DENIALS_TOTAL,
    WEBHOOK_ERRORS_TOTAL,
    WEBHOOK_REQUEST_DURATION_SECONDS,
    PROCESS_CPU_SECONDS_TOTAL,
    f("process_max_fds", Gauge, &[]),
    f("process_open_fds", Gauge, &[]),
    PROCESS_RESIDENT_MEMORY_BYTES,
    f("process_start_time_seconds", Gauge, &[]),
    f("process_threads", Gauge, &[]),
    f("process_virtual_memory_bytes", Gauge, &[]),
];

/// The catalogued family a series name belongs to: the family itself, or a histogram's
/// `_bucket`, `_sum` or `_count` series.
pub fn family(series: &str) -> Option<&'static Family> {
    CATALOG.iter().find(|fam| {
        fam.name == series
            || (fam.kind == Kind::Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| series.strip_suffix(s) == Some(fam.name)))
    })
}
