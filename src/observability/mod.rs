//! Monitoring objects for Prometheus and Grafana, generated from the metric catalogue.
//!
//! In: the namespace the controller runs in. Out: YAML or JSON text for each
//! [`Artifact`]: the metrics Service and its ServiceMonitor, the Grafana dashboard (bare,
//! or in a ConfigMap with the Grafana sidecar label), and the alert rules (a plain rules
//! file, or a PrometheusRule). `deploy/observability/` holds the same text, kept equal by
//! a test.

pub mod catalog;
pub mod dashboard;
pub mod promql;
pub mod rules;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::json;

/// The `job` label Prometheus gives the controller's series (the ServiceMonitor takes it
/// from the Service's `app.kubernetes.io/name` label); every query selects it.
pub const JOB: &str = "kube-devops";
/// The namespace the objects are generated for unless another is given.
pub const DEFAULT_NAMESPACE: &str = "kube-devops";
/// Namespace health scores below this alert and count as low on the dashboard: the
/// boundary between Stable and Degraded.
pub const SCORE_THRESHOLD: u32 = 60;
/// Admission latency (99th percentile, seconds) above which the webhook counts as slow.
pub const WEBHOOK_LATENCY_THRESHOLD_SECONDS: u32 = 1;
/// The dashboard's Grafana uid.
pub const UID: &str = "kube-devops";
/// Port of the ops server, which serves `/metrics`.
pub const METRICS_PORT: i32 = 8080;
/// The name of the metrics Service's port (the chart's and the raw manifests' too).
pub const METRICS_PORT_NAME: &str = "http-metrics";

/// Something `observability generate-*` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    /// The metrics Service and the ServiceMonitor that scrapes it.
    ServiceMonitors,
    /// The dashboard JSON, for importing by hand.
    DashboardJson,
    /// The dashboard in a ConfigMap labelled for the Grafana sidecar.
    DashboardConfigMap,
    /// The alert rules as a plain Prometheus rules file.
    RulesFile,
    /// The alert rules as a PrometheusRule (Prometheus Operator).
    PrometheusRule,
    /// Service, ServiceMonitor, dashboard ConfigMap and PrometheusRule.
    All,
}

/// The files under `deploy/observability/` and what each holds (default namespace).
pub const COMMITTED: &[(&str, Artifact)] = &[
    ("service-monitor.yaml", Artifact::ServiceMonitors),
    ("dashboard.json", Artifact::DashboardJson),
    ("dashboard-configmap.yaml", Artifact::DashboardConfigMap),
    ("rules.yaml", Artifact::RulesFile),
    ("prometheus-rule.yaml", Artifact::PrometheusRule),
];

/// Why an artifact could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// JSON encoding failed.
    #[error("cannot encode as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// YAML encoding failed.
    #[error("cannot encode as YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
}

fn labels(component: &str) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name".to_owned(), JOB.to_owned()),
        (
            "app.kubernetes.io/component".to_owned(),
            component.to_owned(),
        ),
    ]
    .into()
}

fn meta(name: &str, namespace: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

/// The Service in front of every replica's ops port.
pub fn service(namespace: &str) -> Service {
    Service {
        metadata: meta("kube-devops-metrics", namespace, labels("metrics")),
        spec: Some(ServiceSpec {
            selector: Some([("app.kubernetes.io/name".to_owned(), JOB.to_owned())].into()),
            ports: Some(vec![ServicePort {
                name: Some(METRICS_PORT_NAME.to_owned()),
                port: METRICS_PORT,
                target_port: Some(IntOrString::Int(METRICS_PORT)),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// A Prometheus Operator object (`monitoring.coreos.com/v1`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OperatorObject<S: Serialize> {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: S,
}

/// A rules file, and the spec of a PrometheusRule.
#[derive(Debug, Serialize)]
struct RuleGroups {
    groups: Vec<rules::RuleGroup>,
}

/// The ServiceMonitor: scrapes every replica behind the metrics Service every 30 s, keeps
/// the series' own `namespace` label (`honorLabels`) and names the job after the
/// Service's `app.kubernetes.io/name`.
fn service_monitor(namespace: &str) -> serde_json::Value {
    json!({
        "jobLabel": "app.kubernetes.io/name",
        "selector": {"matchLabels": labels("metrics")},
        "namespaceSelector": {"matchNames": [namespace]},
        "endpoints": [{"port": METRICS_PORT_NAME, "path": "/metrics", "interval": "30s", "honorLabels": true}],
    })
}

fn yaml_doc(out: &mut String, value: &impl Serialize) -> Result<(), RenderError> {
    out.push_str("---\n");
    out.push_str(&serde_yaml_ng::to_string(value)?);
    Ok(())
}

/// The dashboard JSON, pretty-printed with a final newline.
fn dashboard_text() -> Result<String, RenderError> {
    let mut s = serde_json::to_string_pretty(&dashboard::dashboard_json())?;
    s.push('\n');
    Ok(s)
}

fn dashboard_config_map(namespace: &str) -> Result<ConfigMap, RenderError> {
    let mut labels = labels("dashboard");
    labels.insert("grafana_dashboard".to_owned(), "1".to_owned());
    Ok(ConfigMap {
        metadata: meta("kube-devops-dashboard", namespace, labels),
        data: Some([("kube-devops.json".to_owned(), dashboard_text()?)].into()),
        ..ConfigMap::default()
    })
}

fn render_one(artifact: Artifact, namespace: &str, out: &mut String) -> Result<(), RenderError> {
    match artifact {
        Artifact::ServiceMonitors => {
            yaml_doc(out, &service(namespace))?;
            yaml_doc(
                out,
                &OperatorObject {
                    api_version: "monitoring.coreos.com/v1",
                    kind: "ServiceMonitor",
                    metadata: meta("kube-devops", namespace, labels("metrics")),
                    spec: service_monitor(namespace),
                },
            )?;
        }
        Artifact::DashboardJson => out.push_str(&dashboard_text()?),
        Artifact::DashboardConfigMap => yaml_doc(out, &dashboard_config_map(namespace)?)?,
        Artifact::RulesFile => out.push_str(&serde_yaml_ng::to_string(&RuleGroups {
            groups: rules::groups(),
        })?),
        Artifact::PrometheusRule => yaml_doc(
            out,
            &OperatorObject {
                api_version: "monitoring.coreos.com/v1",
                kind: "PrometheusRule",
                metadata: meta("kube-devops", namespace, labels("alerts")),
                spec: RuleGroups {
                    groups: rules::groups(),
                },
            },
        )?,
        Artifact::All => {
            for part in [
                Artifact::ServiceMonitors,
                Artifact::DashboardConfigMap,
                Artifact::PrometheusRule,
            ] {
                render_one(part, namespace, out)?;
            }
        }
    }
    Ok(())
}

/// The text of an artifact for objects in `namespace`.
pub fn render(artifact: Artifact, namespace: &str) -> Result<String, RenderError> {
    let mut out = String::new();
    render_one(artifact, namespace, &mut out)?;
    Ok(out)
}

/// Every PromQL expression: `(id, expr)` with ids `panel:<title>/<refId>` for dashboard
/// queries and `alert:<name>` for alert rules.
pub fn queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for row in dashboard::panels() {
        for panel in row.panels {
            for (target, ref_id) in panel.targets.iter().zip('A'..='Z') {
                out.push((
                    format!("panel:{}/{ref_id}", panel.title),
                    target.expr.clone(),
                ));
            }
        }
    }
    for group in rules::groups() {
        for rule in group.rules {
            out.push((format!("alert:{}", rule.alert), rule.expr));
        }
    }
    out
}
