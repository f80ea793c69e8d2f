//! `multi-cluster list-contexts` and `multi-cluster analyze`: the same audit over several
//! kubeconfig contexts in parallel, each with its own timeout. An unreachable context is
//! reported and makes the exit code 1; the others are still audited. The overall score is
//! pod-weighted across every reachable cluster, by the same formula as one cluster's.

use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use jiff::Timestamp;
use kube_devops::audit::AuditReport;
use kube_devops::report::{OutputFormat, render};
use kube_devops::score::{Penalty, Score};
use serde::Serialize;

use super::analyze::{cluster_report, resolve_policy};
use super::{ClusterTarget, block_on};
use crate::cluster::read_kubeconfig;

/// Multi-cluster commands.
#[derive(Debug, Subcommand)]
pub enum MultiClusterCommand {
    /// List the kubeconfig's contexts.
    ListContexts,
    /// Audit several contexts in parallel.
    Analyze(MultiAnalyzeArgs),
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MultiOutput {
    /// A summary table.
    Table,
    /// Every cluster's report as JSON.
    Json,
}

/// Arguments of `multi-cluster analyze`.
#[derive(Debug, Args)]
pub struct MultiAnalyzeArgs {
    /// Contexts to audit, comma-separated (default: every context).
    #[arg(long, value_delimiter = ',')]
    pub contexts: Vec<String>,
    /// Judge with a built-in bundle.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(kube_devops::policy::bundles::BUNDLE_NAMES))]
    pub bundle: Option<String>,
    /// Print each cluster's full report too.
    #[arg(long)]
    pub per_cluster: bool,
    /// Seconds allowed per context.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = MultiOutput::Table)]
    pub output: MultiOutput,
    /// Namespaces to leave alone, as globs (repeatable).
    #[arg(long = "exclude-namespace", value_name = "GLOB")]
    pub exclude_namespace: Vec<String>,
}

/// One context's outcome.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterOutcome {
    context: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<AuditReport>,
}

fn list_contexts(target: &ClusterTarget) -> anyhow::Result<u8> {
    let kc = read_kubeconfig(target.kubeconfig.as_deref())?;
    let current = kc.current_context.clone().unwrap_or_default();
    outln!(
        "{:<3}{:<30} {:<30} {:<40} NAMESPACE",
        "",
        "NAME",
        "CLUSTER",
        "SERVER"
    );
    for ctx in &kc.contexts {
        let (cluster, ns) = ctx
            .context
            .as_ref()
            .map(|c| (c.cluster.clone(), c.namespace.clone().unwrap_or_default()))
            .unwrap_or_default();
        let server = kc
            .clusters
            .iter()
            .find(|c| c.name == cluster)
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone())
            .unwrap_or_default();
        let mark = if ctx.name == current { "*" } else { "" };
        outln!("{mark:<3}{:<30} {cluster:<30} {server:<40} {ns}", ctx.name);
    }
    Ok(0)
}

async fn analyze(args: MultiAnalyzeArgs, target: &ClusterTarget) -> anyhow::Result<u8> {
    let kc = read_kubeconfig(target.kubeconfig.as_deref())?;
    let contexts: Vec<String> = if args.contexts.is_empty() {
        kc.contexts.iter().map(|c| c.name.clone()).collect()
    } else {
        for c in &args.contexts {
            if !kc.contexts.iter().any(|k| &k.name == c) {
                bail!("context {c:?} is not in the kubeconfig");
            }
        }
        args.contexts.clone()
    };
    if contexts.is_empty() {
        bail!("the kubeconfig has no contexts");
    }
    let (policy, source) = resolve_policy(args.bundle.as_deref(), None)?;
    let exclusions =
        kube_devops::policy::NamespaceExclusions::from_flags(None, &args.exclude_namespace)?;
    let now = Timestamp::now();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let audits = contexts.iter().map(|context| {
        let target = ClusterTarget {
            kubeconfig: target.kubeconfig.clone(),
            context: Some(context.clone()),
        };
        let (policy, source, exclusions) = (policy.clone(), source.clone(), exclusions.clone());
        async move {
            let work = async {
                let client = target.connect().await?;
                cluster_report(&client, policy, source, exclusions, None, now).await
            };
            let result = match tokio::time::timeout(timeout, work).await {
                Ok(Ok(report)) => Ok(report),
                Ok(Err(e)) => Err(super::describe(&e)),
                Err(_) => Err(format!("timed out after {}s", timeout.as_secs())),
            };
            ClusterOutcome {
                context: target.context.unwrap_or_default(),
                error: result.as_ref().err().cloned(),
                report: result.ok(),
            }
        }
    });
    let outcomes = futures::future::join_all(audits).await;
    let unreachable = outcomes.iter().filter(|o| o.error.is_some()).count();
    let (pods, penalty) = outcomes
        .iter()
        .filter_map(|o| o.report.as_ref())
        .flat_map(|r| &r.namespaces)
        .fold((0, Penalty(0)), |(n, p), ns| {
            (n + ns.score.pods(), p + ns.score.penalty())
        });
    let overall = Score::new(penalty, pods);
    match args.output {
        MultiOutput::Json => {
            let doc = serde_json::json!({
                "clusters": outcomes,
                "overallScore": overall,
                "overallStatus": overall.map(|s| s.classification().to_string()),
            });
            outln!("{}", serde_json::to_string_pretty(&doc)?);
        }
        MultiOutput::Table => {
            outln!(
                "{:<30} {:>6}  {:<9} {:>5}  {:>8}  ERROR",
                "CONTEXT",
                "SCORE",
                "STATUS",
                "PODS",
                "FINDINGS"
            );
            for o in &outcomes {
                match (&o.report, &o.error) {
                    (Some(r), _) => outln!(
                        "{:<30} {:>6}  {:<11} {:>5}  {:>8}",
                        o.context,
                        r.cluster_score.map_or("n/a".into(), |s| s.to_string()),
                        r.cluster_status.clone().unwrap_or_else(|| "n/a".into()),
                        r.workloads_analyzed,
                        r.total_findings
                    ),
                    (None, e) => outln!(
                        "{:<30} {:>6}  {:<11} {:>5}  {:>8}  {}",
                        o.context,
                        "-",
                        "UNREACHABLE",
                        "-",
                        "-",
                        e.clone().unwrap_or_default()
                    ),
                }
            }
            match overall {
                Some(s) => outln!("\nOverall score (pod-weighted): {s} {}", s.classification()),
                None => outln!("\nOverall score: n/a (no pods scored)"),
            }
            if args.per_cluster {
                for o in &outcomes {
                    if let Some(r) = &o.report {
                        outln!("\n##### {} #####", o.context);
                        out!("{}", render(r, OutputFormat::Table)?);
                    }
                }
            }
        }
    }
    if unreachable > 0 {
        eprintln!(
            "error: {unreachable} of {} contexts could not be audited",
            outcomes.len()
        );
        return Ok(1);
    }
    Ok(0)
}

pub(super) fn run(cmd: MultiClusterCommand, target: &ClusterTarget) -> anyhow::Result<u8> {
    match cmd {
        MultiClusterCommand::ListContexts => list_contexts(target),
        MultiClusterCommand::Analyze(args) => block_on(analyze(args, target))?,
    }
}
