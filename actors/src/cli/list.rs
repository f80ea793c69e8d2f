//! `list pods`: pods with namespace, name, phase and node, from a paginated list.

use clap::{Args, Subcommand, ValueEnum};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;

use crate::cluster::list_all;

/// What to list.
#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// List pods.
    Pods(ListPodsArgs),
}

/// Output formats of `list`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListOutput {
    /// Namespace, name, phase, node.
    Table,
    /// The table plus readiness, restarts and pod IP.
    Wide,
    /// A `v1 List` of the pods as JSON.
    Json,
    /// A `v1 List` of the pods as YAML.
    Yaml,
}

/// Arguments of `list pods`.
#[derive(Debug, Args)]
pub struct ListPodsArgs {
    /// Namespace (default: the context's namespace).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ListOutput::Table)]
    pub output: ListOutput,
}

fn ready(p: &Pod) -> String {
    let statuses = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    let total = p.spec.as_ref().map_or(0, |s| s.containers.len());
    let ready = statuses.map_or(0, |s| s.iter().filter(|c| c.ready).count());
    format!("{ready}/{total}")
}

fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |s| s.iter().map(|c| c.restart_count).sum())
}

pub(super) async fn run(client: Client, cmd: ListCommand) -> anyhow::Result<u8> {
    let ListCommand::Pods(args) = cmd;
    let api: Api<Pod> = if args.all_namespaces {
        Api::all(client.clone())
    } else {
        let ns = args
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        Api::namespaced(client.clone(), &ns)
    };
    let mut pods = list_all(&api).await?;
    pods.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    match args.output {
        ListOutput::Json | ListOutput::Yaml => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": pods});
            if matches!(args.output, ListOutput::Json) {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                out!("{}", serde_yaml_ng::to_string(&list)?);
            }
        }
        ListOutput::Table | ListOutput::Wide => {
            let wide = matches!(args.output, ListOutput::Wide);
            let rows: Vec<[String; 7]> = pods
                .iter()
                .map(|p| {
                    let status = p.status.as_ref();
                    [
                        p.metadata.namespace.clone().unwrap_or_default(),
                        p.metadata.name.clone().unwrap_or_default(),
                        status
                            .and_then(|s| s.phase.clone())
                            .unwrap_or_else(|| "Unknown".into()),
                        p.spec
                            .as_ref()
                            .and_then(|s| s.node_name.clone())
                            .unwrap_or_else(|| "<none>".into()),
                        ready(p),
                        restarts(p).to_string(),
                        status
                            .and_then(|s| s.pod_ip.clone())
                            .unwrap_or_else(|| "<none>".into()),
                    ]
                })
                .collect();
            let headers = [
                "NAMESPACE",
                "NAME",
                "PHASE",
                "NODE",
                "READY",
                "RESTARTS",
                "IP",
            ];
            let columns = if wide { 7 } else { 4 };
            let widths: Vec<usize> = (0..columns)
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].len())
                        .chain([headers[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<&str>| {
                let parts: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                outln!("{}", parts.join("   ").trim_end());
            };
            if rows.is_empty() {
                eprintln!("No pods found.");
                return Ok(0);
            }
            line(headers[..columns].to_vec());
            for r in &rows {
                line(r[..columns].iter().map(String::as_str).collect());
            }
        }
    }
    Ok(0)
}
