//! Prometheus metrics: every series of the product, created once in one place.
//!
//! In: nothing. Out: [`Metrics`], cloned into each component that records something, and
//! [`Metrics::encode`] for `/metrics`. Label values are bounded: namespaces and policy names
//! (whose series are removed when the object goes away), enums, and check ids; never error
//! strings or pod names. The process collector (CPU, memory, file descriptors) is included.
//! The fixed families live in one prometheus registry; the per-namespace and per-policy
//! gauges, thousands of series in a large cluster, are [`GaugeFamily`]s that write
//! themselves, merged with the registry's families in name order.

mod family;

use family::Exposed;
pub use family::GaugeFamily;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Metric name prefix.
pub const PREFIX: &str = "kube_devops";

/// Every metric kube-devops exports.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    families: Vec<String>,
    /// The length of the last exposition, to size the next one's buffer.
    last_len: Arc<AtomicUsize>,
    /// `kube_devops_cluster_health_score`.
    pub cluster_health_score: Gauge,
    /// `kube_devops_namespace_health_score{namespace}`.
    pub namespace_health_score: GaugeFamily<1>,
    /// `kube_devops_pod_events_total{type}` (applied, deleted, restarted, init, init_done).
    pub pod_events_total: IntCounterVec,
    /// `kube_devops_pods_tracked`.
    pub pods_tracked: IntGauge,
    /// `kube_devops_watch_errors_total{resource}`.
    pub watch_errors_total: IntCounterVec,
    /// `kube_devops_watch_backpressure_total{resource}`: events that waited for a full mailbox.
    pub watch_backpressure_total: IntCounterVec,
    /// `kube_devops_leader` (1 while this replica holds the lease).
    pub leader: IntGauge,
    /// `kube_devops_policy_reconcile_total`.
    pub policy_reconcile_total: IntCounter,
    /// `kube_devops_policy_reconcile_errors_total`.
    pub policy_reconcile_errors_total: IntCounter,
    /// `kube_devops_policy_reconcile_duration_seconds`.
    pub policy_reconcile_duration_seconds: Histogram,
    /// `kube_devops_policy_health_score{namespace,policy}`.
    pub policy_health_score: GaugeFamily<2>,
    /// `kube_devops_policy_violations{namespace,policy}`.
    pub policy_violations: GaugeFamily<2>,
    /// `kube_devops_policy_violations_by_severity{namespace,policy,severity}`.
    pub policy_violations_by_severity: GaugeFamily<3>,
    /// `kube_devops_policy_pods_scanned_total`.
    pub policy_pods_scanned_total: IntCounter,
    /// `kube_devops_enforcement_mode{namespace,policy}` (0 audit, 1 enforce, 2 dryRun),
    /// written from each policy's spec.
    pub enforcement_mode: GaugeFamily<2>,
    /// `kube_devops_enforcement_remediations_applied_total` (no writer until enforcement
    /// lands: stays 0).
    pub remediations_applied_total: IntCounter,
    /// `kube_devops_enforcement_remediations_failed_total` (stays 0 until enforcement).
    pub remediations_failed_total: IntCounter,
    /// `kube_devops_enforcement_remediations_skipped_total{reason}` (no series until
    /// enforcement lands).
    pub remediations_skipped_total: IntCounterVec,
    /// `kube_devops_audit_results_total`.
    pub audit_results_total: IntCounter,
    /// `kube_devops_webhook_requests_total{operation,allowed}`.
    pub webhook_requests_total: IntCounterVec,
    /// `kube_devops_webhook_denials_total{check}`.
    pub webhook_denials_total: IntCounterVec,
    /// `kube_devops_webhook_errors_total{mode}`: internal errors, answered per the failure mode.
    pub webhook_errors_total: IntCounterVec,
    /// `kube_devops_webhook_request_duration_seconds`.
    pub webhook_request_duration_seconds: Histogram,
}

fn name(short: &str) -> String {
    format!("{PREFIX}_{short}")
}

/// Registration failed: only possible for a programming error (a duplicate name).
#[derive(Debug, thiserror::Error)]
#[error("cannot register metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let families = std::cell::RefCell::new(Vec::new());
        let r = &registry;
        let register = |c: Box<dyn prometheus::core::Collector>| -> Result<(), prometheus::Error> {
            for desc in c.desc() {
                families.borrow_mut().push(desc.fq_name.clone());
            }
            r.register(c)
        };
        let gauge = |n: &str, help: &str| -> Result<Gauge, prometheus::Error> {
            let g = Gauge::new(name(n), help)?;
            register(Box::new(g.clone()))?;
            Ok(g)
        };
        // The per-namespace and per-policy gauges are written by this module, not gathered
        // by the registry (see `family`).
        fn family<const N: usize>(
            families: &std::cell::RefCell<Vec<String>>,
            n: &str,
            help: &str,
            labels: [&'static str; N],
        ) -> GaugeFamily<N> {
            let name = name(n);
            families.borrow_mut().push(name.clone());
            GaugeFamily::new(name, help, labels)
        }
        let counter = |n: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name(n), help)?;
            register(Box::new(c.clone()))?;
            Ok(c)
        };
        let counter_vec =
            |n: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name(n), help), labels)?;
                register(Box::new(c.clone()))?;
                Ok(c)
            };
        let latency = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        let reconcile = Histogram::with_opts(
            HistogramOpts::new(
                name("policy_reconcile_duration_seconds"),
                "Time to reconcile one DevOpsPolicy",
            )
            .buckets(latency.clone()),
        )?;
        register(Box::new(reconcile.clone()))?;
        let webhook = Histogram::with_opts(
            HistogramOpts::new(
                name("webhook_request_duration_seconds"),
                "Time to answer one AdmissionReview",
            )
            .buckets(latency),
        )?;
        register(Box::new(webhook.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let leader = IntGauge::new(
            name("leader"),
            "1 while this replica holds the leader lease",
        )?;
        register(Box::new(leader.clone()))?;
        let pods_tracked = IntGauge::new(name("pods_tracked"), "Pods held in the watch state")?;
        register(Box::new(pods_tracked.clone()))?;
        let metrics = Metrics {
            cluster_health_score: gauge(
                "cluster_health_score",
                "Cluster health score (0-100), pod-weighted",
            )?,
            namespace_health_score: family(
                &families,
                "namespace_health_score",
                "Namespace health score (0-100); absent for namespaces with no scored pods",
                ["namespace"],
            ),
            pod_events_total: counter_vec(
                "pod_events_total",
                "Pod watch events handled, by type",
                &["type"],
            )?,
            pods_tracked,
            watch_errors_total: counter_vec(
                "watch_errors_total",
                "Watch stream errors, by resource",
                &["resource"],
            )?,
            watch_backpressure_total: counter_vec(
                "watch_backpressure_total",
                "Watch events that waited because the scoring mailbox was full, by resource",
                &["resource"],
            )?,
            leader,
            policy_reconcile_total: counter(
                "policy_reconcile_total",
                "DevOpsPolicy reconciliations",
            )?,
            policy_reconcile_errors_total: counter(
                "policy_reconcile_errors_total",
                "DevOpsPolicy reconciliations that failed",
            )?,
            policy_reconcile_duration_seconds: reconcile,
            policy_health_score: family(
                &families,
                "policy_health_score",
                "Health score of the namespace a policy governs",
                ["namespace", "policy"],
            ),
            policy_violations: family(
                &families,
                "policy_violations",
                "Counted findings under a policy",
                ["namespace", "policy"],
            ),
            policy_violations_by_severity: family(
                &families,
                "policy_violations_by_severity",
                "Counted findings under a policy, by severity",
                ["namespace", "policy", "severity"],
            ),
            policy_pods_scanned_total: counter(
                "policy_pods_scanned_total",
                "Pods evaluated by policy reconciliations",
            )?,
            enforcement_mode: family(
                &families,
                "enforcement_mode",
                "Enforcement mode of a policy: 0 audit, 1 enforce, 2 dryRun",
                ["namespace", "policy"],
            ),
            remediations_applied_total: counter(
                "enforcement_remediations_applied_total",
                "Workload remediations written",
            )?,
            remediations_failed_total: counter(
                "enforcement_remediations_failed_total",
                "Workload remediations that failed",
            )?,
            remediations_skipped_total: counter_vec(
                "enforcement_remediations_skipped_total",
                "Workload remediations not attempted, by reason",
                &["reason"],
            )?,
            audit_results_total: counter(
                "audit_results_total",
                "PolicyAuditResult objects written",
            )?,
            webhook_requests_total: counter_vec(
                "webhook_requests_total",
                "AdmissionReviews answered, by operation and verdict",
                &["operation", "allowed"],
            )?,
            webhook_denials_total: counter_vec(
                "webhook_denials_total",
                "Admission denials, by check",
                &["check"],
            )?,
            webhook_errors_total: counter_vec(
                "webhook_errors_total",
                "Admission requests that hit an internal error, by failure mode (open or closed)",
                &["mode"],
            )?,
            webhook_request_duration_seconds: webhook,
            families: Vec::new(),
            last_len: Arc::default(),
            registry: registry.clone(),
        };
        Ok(Metrics {
            families: families.into_inner(),
            ..metrics
        })
    }

    /// The name of every kube-devops family registered (not the process collector's),
    /// whether or not it has samples yet.
    pub fn families(&self) -> &[String] {
        &self.families
    }

    /// The Prometheus text exposition of every metric.
    /// Families come in name order, those of the registry and this module's alike.
    pub fn encode(&self) -> String {
        let mut own: [&dyn Exposed; 5] = [
            &self.namespace_health_score,
            &self.policy_health_score,
            &self.policy_violations,
            &self.policy_violations_by_severity,
            &self.enforcement_mode,
        ];
        own.sort_by(|a, b| a.name().cmp(b.name()));
        let mut own = own.into_iter().peekable();
        let gathered = self.registry.gather();
        let mut out = String::with_capacity(self.last_len.load(Ordering::Relaxed));
        let encoder = TextEncoder::new();
        for family in &gathered {
            while let Some(next) = own.next_if(|f| f.name() < family.name()) {
                next.encode(&mut out);
            }
            if encoder
                .encode_utf8(std::slice::from_ref(family), &mut out)
                .is_err()
            {
                return String::new();
            }
        }
        for next in own {
            next.encode(&mut out);
        }
        self.last_len.store(out.len(), Ordering::Relaxed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_carries_the_prefix_and_registers_once() {
        let m = Metrics::new().unwrap();
        m.cluster_health_score.set(97.5);
        m.namespace_health_score.set(["a"], 90.0);
        m.webhook_request_duration_seconds.observe(0.001);
        let text = m.encode();
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let metric = line.split_whitespace().nth(2).unwrap();
            assert!(
                metric.starts_with("kube_devops_") || metric.starts_with("process_"),
                "{metric}"
            );
        }
        assert!(text.contains("kube_devops_cluster_health_score 97.5"));
        assert!(text.contains("kube_devops_namespace_health_score{namespace=\"a\"} 90"));
    }

    #[test]
    fn families_come_once_each_in_name_order_whoever_writes_them() {
        let m = Metrics::new().unwrap();
        m.namespace_health_score.set(["a"], 90.0);
        m.policy_health_score.set(["a", "p"], 90.0);
        m.policy_violations.set(["a", "p"], 2.0);
        m.policy_violations_by_severity.set(["a", "p", "high"], 2.0);
        m.enforcement_mode.set(["a", "p"], 1.0);
        m.pod_events_total.with_label_values(&["applied"]).inc();
        m.cluster_health_score.set(90.0);
        let text = m.encode();
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let mut sorted = families.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(families, sorted);
        for family in [
            "kube_devops_enforcement_mode",
            "kube_devops_namespace_health_score",
            "kube_devops_pod_events_total",
            "kube_devops_policy_violations_by_severity",
        ] {
            assert!(families.contains(&family), "{family}");
        }
        assert!(text.contains("kube_devops_policy_violations_by_severity{namespace=\"a\",policy=\"p\",severity=\"high\"} 2\n"));
    }
}
