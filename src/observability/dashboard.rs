//! The Grafana dashboard: panels over the catalogued metrics, laid out on Grafana's
//! 24-column grid.
//!
//! In: nothing (the queries are written against [`super::catalog`]). Out: [`panels`], the
//! rows and their panels as data, and [`dashboard_json`], the dashboard as Grafana
//! imports it (schema 39, a `datasource` variable for the Prometheus data source).

use serde_json::{Value, json};

use super::catalog::{
    AUDIT_RESULTS_TOTAL, CLUSTER_HEALTH_SCORE, ENFORCEMENT_MODE, Family, LEADER,
    NAMESPACE_HEALTH_SCORE, POD_EVENTS_TOTAL, PODS_TRACKED, POLICY_HEALTH_SCORE,
    POLICY_PODS_SCANNED_TOTAL, POLICY_RECONCILE_DURATION_SECONDS, POLICY_RECONCILE_ERRORS_TOTAL,
    POLICY_RECONCILE_TOTAL, POLICY_VIOLATIONS, POLICY_VIOLATIONS_BY_SEVERITY,
    PROCESS_CPU_SECONDS_TOTAL, PROCESS_RESIDENT_MEMORY_BYTES, REMEDIATIONS_APPLIED_TOTAL,
    REMEDIATIONS_FAILED_TOTAL, REMEDIATIONS_SKIPPED_TOTAL, WATCH_BACKPRESSURE_TOTAL,
    WATCH_ERRORS_TOTAL, WEBHOOK_DENIALS_TOTAL, WEBHOOK_ERRORS_TOTAL,
    WEBHOOK_REQUEST_DURATION_SECONDS, WEBHOOK_REQUESTS_TOTAL,
};
use super::{JOB, SCORE_THRESHOLD, UID};

/// How a panel draws its queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visual {
    /// One big number (instant query).
    Stat,
    /// Lines over time.
    Timeseries,
    /// Horizontal bars, one per series (instant query).
    BarGauge,
    /// A table of the series' labels and value (instant query).
    Table,
}

impl Visual {
    fn grafana_type(self) -> &'static str {
        match self {
            Visual::Stat => "stat",
            Visual::Timeseries => "timeseries",
            Visual::BarGauge => "bargauge",
            Visual::Table => "table",
        }
    }

    fn instant(self) -> bool {
        self != Visual::Timeseries
    }
}

/// One query of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The PromQL expression.
    pub expr: String,
    /// Grafana's legend template.
    pub legend: String,
}

/// One panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Title, unique in the dashboard.
    pub title: &'static str,
    /// What it shows, for the panel's info tooltip.
    pub description: &'static str,
    /// How it draws.
    pub visual: Visual,
    /// Grafana unit id.
    pub unit: &'static str,
    /// Width in grid columns (of 24) and height in grid rows.
    pub size: (u32, u32),
    /// Its queries (refIds A, B, ... in order).
    pub targets: Vec<Target>,
}

/// A row: a title over a band of panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Row title.
    pub title: &'static str,
    /// Its panels, placed left to right and wrapped at 24 columns.
    pub panels: Vec<Panel>,
}

/// `name{job="kube-devops"}`.
fn sel(family: &Family) -> String {
    format!("{}{{job=\"{JOB}\"}}", family.name)
}

/// `rate(name{job="kube-devops"}[5m])`, with a series suffix for histograms.
fn rate(family: &Family, suffix: &str) -> String {
    format!("rate({}{suffix}{{job=\"{JOB}\"}}[5m])", family.name)
}

fn quantile(q: &str, family: &Family) -> String {
    format!(
        "histogram_quantile({q}, sum by (le) ({}))",
        rate(family, "_bucket")
    )
}

fn t(expr: impl Into<String>, legend: &str) -> Target {
    Target {
        expr: expr.into(),
        legend: legend.to_owned(),
    }
}

fn panel(
    title: &'static str,
    description: &'static str,
    visual: Visual,
    unit: &'static str,
    size: (u32, u32),
    targets: Vec<Target>,
) -> Panel {
    Panel {
        title,
        description,
        visual,
        unit,
        size,
        targets,
    }
}

use Visual::{BarGauge, Stat, Table, Timeseries};

fn score_rows() -> Vec<Row> {
    let ns_score = format!("min by (namespace) ({})", sel(&NAMESPACE_HEALTH_SCORE));
    let scores = Row {
        title: "Scores",
        panels: vec![
            panel(
                "Cluster health score",
                "Pod-weighted health score of the cluster (0-100).",
                Stat,
                "none",
                (6, 5),
                vec![t(format!("max({})", sel(&CLUSTER_HEALTH_SCORE)), "cluster")],
            ),
            panel(
                "Namespaces below threshold",
                "Namespaces whose health score is below the alert threshold.",
                Stat,
                "none",
                (6, 5),
                vec![t(
                    format!("count({ns_score} < {SCORE_THRESHOLD}) or vector(0)"),
                    "namespaces",
                )],
            ),
            panel(
                "Pods tracked",
                "Pods held in the controller's watch state.",
                Stat,
                "none",
                (6, 5),
                vec![t(format!("max({})", sel(&PODS_TRACKED)), "pods")],
            ),
            panel(
                "Leaders",
                "Replicas holding the leader lease: 1 is right, 0 means nothing writes, 2 or more means the lease is broken.",
                Stat,
                "none",
                (6, 5),
                vec![t(format!("sum({})", sel(&LEADER)), "leaders")],
            ),
            panel(
                "Namespace health scores",
                "Health score of every scored namespace, lowest first.",
                BarGauge,
                "none",
                (12, 9),
                vec![t(format!("sort({ns_score})"), "{{namespace}}")],
            ),
            panel(
                "Health scores over time",
                "The cluster score and the ten lowest namespace scores.",
                Timeseries,
                "none",
                (12, 9),
                vec![
                    t(format!("max({})", sel(&CLUSTER_HEALTH_SCORE)), "cluster"),
                    t(format!("bottomk(10, {ns_score})"), "{{namespace}}"),
                ],
            ),
        ],
    };
    let findings = Row {
        title: "Findings",
        panels: vec![
            panel(
                "Findings by severity",
                "Counted findings under every DevOpsPolicy, by severity.",
                BarGauge,
                "none",
                (8, 8),
                vec![t(
                    format!(
                        "sum by (severity) (max without (instance, pod) ({}))",
                        sel(&POLICY_VIOLATIONS_BY_SEVERITY)
                    ),
                    "{{severity}}",
                )],
            ),
            panel(
                "Findings by policy",
                "Counted findings of each DevOpsPolicy.",
                Table,
                "none",
                (8, 8),
                vec![t(
                    format!("max by (namespace, policy) ({})", sel(&POLICY_VIOLATIONS)),
                    "{{namespace}}/{{policy}}",
                )],
            ),
            panel(
                "Policy health scores",
                "Health score of the namespace each DevOpsPolicy governs.",
                BarGauge,
                "none",
                (8, 8),
                vec![t(
                    format!(
                        "sort(min by (namespace, policy) ({}))",
                        sel(&POLICY_HEALTH_SCORE)
                    ),
                    "{{namespace}}/{{policy}}",
                )],
            ),
        ],
    };
    vec![scores, findings]
}

fn controller_row() -> Row {
    Row {
        title: "Watch and reconcile",
        panels: vec![
            panel(
                "Leader by replica",
                "1 while a replica holds the leader lease.",
                Timeseries,
                "none",
                (8, 8),
                vec![t(
                    format!("max by (instance) ({})", sel(&LEADER)),
                    "{{instance}}",
                )],
            ),
            panel(
                "Pod watch events",
                "Pod watch events handled per second, by type.",
                Timeseries,
                "ops",
                (8, 8),
                vec![t(
                    format!("sum by (type) ({})", rate(&POD_EVENTS_TOTAL, "")),
                    "{{type}}",
                )],
            ),
            panel(
                "Watch errors and back-pressure",
                "Watch stream errors, and events that waited for a full scoring mailbox, per second.",
                Timeseries,
                "ops",
                (8, 8),
                vec![
                    t(
                        format!("sum by (resource) ({})", rate(&WATCH_ERRORS_TOTAL, "")),
                        "errors {{resource}}",
                    ),
                    t(
                        format!(
                            "sum by (resource) ({})",
                            rate(&WATCH_BACKPRESSURE_TOTAL, "")
                        ),
                        "back-pressure {{resource}}",
                    ),
                ],
            ),
            panel(
                "Policy reconciles",
                "DevOpsPolicy reconciliations and failures per second.",
                Timeseries,
                "ops",
                (8, 8),
                vec![
                    t(
                        format!("sum({})", rate(&POLICY_RECONCILE_TOTAL, "")),
                        "reconciles",
                    ),
                    t(
                        format!("sum({})", rate(&POLICY_RECONCILE_ERRORS_TOTAL, "")),
                        "errors",
                    ),
                ],
            ),
            panel(
                "Reconcile duration",
                "Time to reconcile one DevOpsPolicy.",
                Timeseries,
                "s",
                (8, 8),
                vec![
                    t(quantile("0.5", &POLICY_RECONCILE_DURATION_SECONDS), "p50"),
                    t(quantile("0.95", &POLICY_RECONCILE_DURATION_SECONDS), "p95"),
                ],
            ),
            panel(
                "Audit throughput",
                "Pods evaluated by reconciliations and PolicyAuditResults written, per second.",
                Timeseries,
                "ops",
                (8, 8),
                vec![
                    t(
                        format!("sum({})", rate(&POLICY_PODS_SCANNED_TOTAL, "")),
                        "pods scanned",
                    ),
                    t(
                        format!("sum({})", rate(&AUDIT_RESULTS_TOTAL, "")),
                        "audit results",
                    ),
                ],
            ),
            panel(
                "Replicas up",
                "Controller replicas Prometheus scrapes successfully.",
                Timeseries,
                "none",
                (8, 8),
                vec![t(format!("sum(up{{job=\"{JOB}\"}})"), "up")],
            ),
            panel(
                "Memory",
                "Resident memory of each replica.",
                Timeseries,
                "bytes",
                (8, 8),
                vec![t(sel(&PROCESS_RESIDENT_MEMORY_BYTES), "{{instance}}")],
            ),
            panel(
                "CPU",
                "CPU seconds used per second by each replica.",
                Timeseries,
                "none",
                (8, 8),
                vec![t(rate(&PROCESS_CPU_SECONDS_TOTAL, ""), "{{instance}}")],
            ),
        ],
    }
}

fn webhook_and_enforcement_rows() -> Vec<Row> {
    let webhook = Row {
        title: "Admission webhook",
        panels: vec![
            panel(
                "Webhook requests",
                "AdmissionReviews answered per second, by operation and verdict.",
                Timeseries,
                "reqps",
                (6, 8),
                vec![t(
                    format!(
                        "sum by (operation, allowed) ({})",
                        rate(&WEBHOOK_REQUESTS_TOTAL, "")
                    ),
                    "{{operation}} allowed={{allowed}}",
                )],
            ),
            panel(
                "Webhook latency",
                "Time to answer one AdmissionReview (the API server gives up after 3 s).",
                Timeseries,
                "s",
                (6, 8),
                vec![
                    t(quantile("0.5", &WEBHOOK_REQUEST_DURATION_SECONDS), "p50"),
                    t(quantile("0.95", &WEBHOOK_REQUEST_DURATION_SECONDS), "p95"),
                    t(quantile("0.99", &WEBHOOK_REQUEST_DURATION_SECONDS), "p99"),
                ],
            ),
            panel(
                "Webhook denials by check",
                "Admission denials per second, by the check that denied.",
                Timeseries,
                "reqps",
                (6, 8),
                vec![t(
                    format!("sum by (check) ({})", rate(&WEBHOOK_DENIALS_TOTAL, "")),
                    "{{check}}",
                )],
            ),
            panel(
                "Webhook internal errors",
                "Requests that hit an internal error, by failure mode (open allows, closed denies).",
                Timeseries,
                "reqps",
                (6, 8),
                vec![t(
                    format!("sum by (mode) ({})", rate(&WEBHOOK_ERRORS_TOTAL, "")),
                    "{{mode}}",
                )],
            ),
        ],
    };
    let enforcement = Row {
        title: "Enforcement",
        panels: vec![
            panel(
                "Enforcement mode by policy",
                "Mode of each DevOpsPolicy: 0 audit, 1 enforce, 2 dryRun.",
                Table,
                "none",
                (12, 8),
                vec![t(
                    format!("max by (namespace, policy) ({})", sel(&ENFORCEMENT_MODE)),
                    "{{namespace}}/{{policy}}",
                )],
            ),
            panel(
                "Remediations",
                "Workload remediations written, failed and skipped (by reason), per second.",
                Timeseries,
                "ops",
                (12, 8),
                vec![
                    t(
                        format!("sum({})", rate(&REMEDIATIONS_APPLIED_TOTAL, "")),
                        "applied",
                    ),
                    t(
                        format!("sum({})", rate(&REMEDIATIONS_FAILED_TOTAL, "")),
                        "failed",
                    ),
                    t(
                        format!(
                            "sum by (reason) ({})",
                            rate(&REMEDIATIONS_SKIPPED_TOTAL, "")
                        ),
                        "skipped {{reason}}",
                    ),
                ],
            ),
        ],
    };
    vec![webhook, enforcement]
}

/// Every row of the dashboard, top to bottom.
pub fn panels() -> Vec<Row> {
    let mut rows = score_rows();
    rows.push(controller_row());
    rows.extend(webhook_and_enforcement_rows());
    rows
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

fn field_config(p: &Panel) -> Value {
    let score = p.title.contains("score");
    let mut defaults = json!({"unit": p.unit});
    if score {
        defaults["min"] = json!(0);
        defaults["max"] = json!(100);
        defaults["thresholds"] = json!({"mode": "absolute", "steps": [
            {"color": "red", "value": null},
            {"color": "orange", "value": 40},
            {"color": "yellow", "value": SCORE_THRESHOLD},
            {"color": "green", "value": 80}]});
    } else if p.title == "Leaders" {
        defaults["thresholds"] = json!({"mode": "absolute", "steps": [
            {"color": "red", "value": null},
            {"color": "green", "value": 1},
            {"color": "red", "value": 2}]});
    } else if p.title == "Enforcement mode by policy" {
        defaults["mappings"] = json!([{"type": "value", "options": {
            "0": {"text": "audit"}, "1": {"text": "enforce"}, "2": {"text": "dryRun"}}}]);
    }
    json!({"defaults": defaults, "overrides": []})
}

fn panel_json(p: &Panel, id: u32, x: u32, y: u32) -> Value {
    let targets: Vec<Value> = p
        .targets
        .iter()
        .zip('A'..='Z')
        .map(|(target, ref_id)| {
            let mut v = json!({
                "datasource": datasource(),
                "expr": target.expr,
                "legendFormat": target.legend,
                "refId": ref_id.to_string(),
            });
            if p.visual.instant() {
                v["instant"] = json!(true);
                v["range"] = json!(false);
            }
            if p.visual == Visual::Table {
                v["format"] = json!("table");
            }
            v
        })
        .collect();
    let mut v = json!({
        "datasource": datasource(),
        "description": p.description,
        "fieldConfig": field_config(p),
        "gridPos": {"h": p.size.1, "w": p.size.0, "x": x, "y": y},
        "id": id,
        "targets": targets,
        "title": p.title,
        "type": p.visual.grafana_type(),
    });
    if p.visual == Visual::BarGauge {
        v["options"] = json!({"displayMode": "gradient", "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false}});
    }
    v
}

/// The dashboard as Grafana imports it.
pub fn dashboard_json() -> Value {
    let mut out = Vec::new();
    let mut id = 0;
    let mut y = 0;
    for row in panels() {
        id += 1;
        out.push(
            json!({"collapsed": false, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            "id": id, "panels": [], "title": row.title, "type": "row"}),
        );
        y += 1;
        let (mut x, mut band) = (0, 0);
        for p in &row.panels {
            if x + p.size.0 > 24 {
                (x, y, band) = (0, y + band, 0);
            }
            id += 1;
            out.push(panel_json(p, id, x, y));
            x += p.size.0;
            band = band.max(p.size.1);
        }
        y += band;
    }
    json!({
        "annotations": {"list": []},
        "description": "kube-devops: health scores, findings, watch and reconcile health, leader election, admission webhook and enforcement.",
        "editable": true,
        "graphTooltip": 1,
        "panels": out,
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["kube-devops", "kubernetes"],
        "templating": {"list": [{
            "current": {}, "hide": 0, "label": "Data source", "name": "datasource",
            "query": "prometheus", "refresh": 1, "type": "datasource"}]},
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "title": "kube-devops",
        "uid": UID,
        "version": 1,
    })
}
