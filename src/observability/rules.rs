//! The alert rules: controller down, leader election, watch failures, webhook errors and
//! latency, and namespaces whose health score stays below the threshold.
//!
//! In: nothing (the expressions are written against [`super::catalog`]). Out: [`groups`],
//! the rule groups as Prometheus's rule-file format serialises them, shared by the plain
//! rules file and the PrometheusRule.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::{
    LEADER, NAMESPACE_HEALTH_SCORE, WATCH_ERRORS_TOTAL, WEBHOOK_ERRORS_TOTAL,
    WEBHOOK_REQUEST_DURATION_SECONDS,
};
use super::{JOB, SCORE_THRESHOLD, WEBHOOK_LATENCY_THRESHOLD_SECONDS};

/// A group of rules evaluated together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// Its rules.
    pub rules: Vec<AlertRule>,
}

/// One alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRule {
    /// Alert name.
    pub alert: String,
    /// PromQL expression; every series it returns is a pending or firing alert.
    pub expr: String,
    /// How long the expression must hold before the alert fires.
    #[serde(rename = "for")]
    pub for_: String,
    /// Labels added to the alert (`severity`).
    pub labels: BTreeMap<String, String>,
    /// `summary` and `description`, templated by Prometheus.
    pub annotations: BTreeMap<String, String>,
}

fn rule(
    alert: &str,
    expr: String,
    for_: &str,
    severity: &str,
    summary: &str,
    description: &str,
) -> AlertRule {
    AlertRule {
        alert: alert.to_owned(),
        expr,
        for_: for_.to_owned(),
        labels: [("severity".to_owned(), severity.to_owned())].into(),
        annotations: [
            ("summary".to_owned(), summary.to_owned()),
            ("description".to_owned(), description.to_owned()),
        ]
        .into(),
    }
}

/// Every rule group.
pub fn groups() -> Vec<RuleGroup> {
    let job = format!("job=\"{JOB}\"");
    let controller = vec![
        rule(
            "KubeDevopsControllerDown",
            format!("absent(up{{{job}}} == 1)"),
            "5m",
            "critical",
            "No kube-devops replica is up",
            "Prometheus has scraped no kube-devops replica for 5 minutes: scores, admission and enforcement are not running.",
        ),
        rule(
            "KubeDevopsNoLeader",
            format!("sum({}{{{job}}}) < 1", LEADER.name),
            "5m",
            "warning",
            "No kube-devops replica holds the leader lease",
            "No replica has held the leader lease for 5 minutes: policy status and enforcement are not written.",
        ),
        rule(
            "KubeDevopsSeveralLeaders",
            format!("sum({}{{{job}}}) > 1", LEADER.name),
            "2m",
            "critical",
            "Several kube-devops replicas hold the leader lease",
            "{{ $value }} replicas have believed they lead for 2 minutes: writes may conflict.",
        ),
        rule(
            "KubeDevopsWatchFailing",
            format!(
                "sum by (instance, resource) (rate({}{{{job}}}[5m])) > 0",
                WATCH_ERRORS_TOTAL.name
            ),
            "10m",
            "warning",
            "The kube-devops {{ $labels.resource }} watch keeps failing",
            "{{ $labels.instance }} has seen {{ $labels.resource }} watch errors for 10 minutes; its scores may be stale and it reports not ready.",
        ),
    ];
    let webhook = vec![
        rule(
            "KubeDevopsWebhookErrors",
            format!(
                "sum by (instance, mode) (rate({}{{{job}}}[5m])) > 0",
                WEBHOOK_ERRORS_TOTAL.name
            ),
            "5m",
            "warning",
            "The kube-devops admission webhook hits internal errors",
            "{{ $labels.instance }} has answered AdmissionReviews after an internal error for 5 minutes (failure mode {{ $labels.mode }}: open allows, closed denies).",
        ),
        rule(
            "KubeDevopsWebhookSlow",
            format!(
                "histogram_quantile(0.99, sum by (le) (rate({}_bucket{{{job}}}[5m]))) > {WEBHOOK_LATENCY_THRESHOLD_SECONDS}",
                WEBHOOK_REQUEST_DURATION_SECONDS.name
            ),
            "10m",
            "warning",
            "The kube-devops admission webhook is slow",
            "The 99th percentile of admission latency has been {{ $value | humanizeDuration }} for 10 minutes; the API server gives up after 3 s.",
        ),
    ];
    let scores = vec![rule(
        "KubeDevopsNamespaceScoreLow",
        format!(
            "min by (namespace) ({}{{{job}}}) < {SCORE_THRESHOLD}",
            NAMESPACE_HEALTH_SCORE.name
        ),
        "30m",
        "warning",
        "Namespace {{ $labels.namespace }} has a low health score",
        &format!(
            "The health score of namespace {{{{ $labels.namespace }}}} has been {{{{ $value }}}}, below {SCORE_THRESHOLD}, for 30 minutes: `kube-devops analyze -n {{{{ $labels.namespace }}}}` lists its findings."
        ),
    )];
    vec![
        RuleGroup {
            name: "kube-devops.controller".to_owned(),
            rules: controller,
        },
        RuleGroup {
            name: "kube-devops.webhook".to_owned(),
            rules: webhook,
        },
        RuleGroup {
            name: "kube-devops.scores".to_owned(),
            rules: scores,
        },
    ]
}
