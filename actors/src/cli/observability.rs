//! `observability generate-*`: print the monitoring objects generated from the metric
//! catalogue (Service, ServiceMonitor, Grafana dashboard ConfigMap, alert rules).
//!
//! In: the subcommand, `--namespace` and `--raw`. Out: YAML (or the bare dashboard JSON)
//! on stdout, the same text `deploy/observability/` holds for the default namespace.

use clap::{Args, Subcommand};
use kube_devops::observability::{Artifact, DEFAULT_NAMESPACE, render};

/// Observability commands.
#[derive(Debug, Subcommand)]
pub enum ObservabilityCommand {
    /// Print the metrics Service, ServiceMonitor, dashboard ConfigMap and PrometheusRule.
    #[command(name = "generate-all")]
    All(Target),
    /// Print the metrics Service and the ServiceMonitor that scrapes it.
    #[command(name = "generate-service-monitors")]
    ServiceMonitors(Target),
    /// Print the Grafana dashboard in a ConfigMap labelled `grafana_dashboard: "1"`.
    #[command(name = "generate-dashboard")]
    Dashboard(Raw),
    /// Print the alert rules as a PrometheusRule.
    #[command(name = "generate-rules")]
    Rules(Raw),
}

/// Where the objects go.
#[derive(Debug, Args)]
pub struct Target {
    /// Namespace of the generated objects (the controller's namespace).
    #[arg(short, long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
}

/// Where the objects go, or the bare document instead.
#[derive(Debug, Args)]
pub struct Raw {
    #[command(flatten)]
    target: Target,
    /// Print the bare document (dashboard JSON for import, plain Prometheus rules file)
    /// instead of the Kubernetes object.
    #[arg(long)]
    pub raw: bool,
}

pub(super) fn run(cmd: ObservabilityCommand) -> anyhow::Result<u8> {
    let (artifact, namespace) = match cmd {
        ObservabilityCommand::All(t) => (Artifact::All, t.namespace),
        ObservabilityCommand::ServiceMonitors(t) => (Artifact::ServiceMonitors, t.namespace),
        ObservabilityCommand::Dashboard(r) if r.raw => {
            (Artifact::DashboardJson, r.target.namespace)
        }
        ObservabilityCommand::Dashboard(r) => (Artifact::DashboardConfigMap, r.target.namespace),
        ObservabilityCommand::Rules(r) if r.raw => (Artifact::RulesFile, r.target.namespace),
        ObservabilityCommand::Rules(r) => (Artifact::PrometheusRule, r.target.namespace),
    };
    out!("{}", render(artifact, &namespace)?);
    Ok(0)
}
