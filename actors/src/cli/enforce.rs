//! `kube-devops enforce plan` and `enforce revert`.
//!
//! In: a cluster, a namespace (`-n`, default the context's) or every namespace (`-A`),
//! optionally one policy. Out: `plan` prints, for each DevOpsPolicy, what enforcement would
//! change on each workload (or why it would not) without writing anything; `revert`
//! removes every field the enforcer's field manager owns on Deployments, StatefulSets and
//! DaemonSets (server-side apply of an empty configuration under that manager), the
//! enforcement annotations included, and prints each workload; `--dry-run` asks the server
//! to validate the reverts without storing them. Exit 1 when any read or write fails.

use std::collections::BTreeMap;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube_devops::checks::evaluate;
use kube_devops::enforce::candidates::candidates;
use kube_devops::enforce::intent::{is_managed, revert_object};
use kube_devops::enforce::{Decision, Enforcing, plan};
use kube_devops::facts::{WorkloadKind, facts_from_json, facts_from_pod};
use kube_devops::policy::{DevOpsPolicy, EffectivePolicy, NamespaceExclusions};
use serde_json::{Value, json};

use super::{ClusterTarget, block_on};
use crate::cluster::list_all;
use crate::system::enforcer::workloads::{self, Resolved, WorkloadName};

/// Where to look.
#[derive(Debug, Args)]
pub struct Scope {
    /// Namespace (default: the context's namespace).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only this DevOpsPolicy (plan: its plan; revert: the workloads its status lists).
    #[arg(long, value_name = "NAME")]
    policy: Option<String>,
}

/// Output of `enforce plan`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    /// One line per change or skip.
    Table,
    /// A JSON array of workload entries.
    Json,
}

/// `enforce` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnforceCommand {
    /// Print what enforcement would change in the live cluster, writing nothing.
    Plan {
        #[command(flatten)]
        scope: Scope,
        /// Namespaces the controller leaves alone, as globs (repeatable; as the
        /// controller's flag: replaces the default `*-system`, `cert-manager`).
        #[arg(long = "exclude-namespace", value_name = "GLOB")]
        exclude_namespace: Vec<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = PlanFormat::Table)]
        output: PlanFormat,
    },
    /// Remove every field enforcement set (and its annotations) from the workloads.
    Revert {
        #[command(flatten)]
        scope: Scope,
        /// Ask the server to validate the reverts without storing them.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs an `enforce` subcommand.
pub fn run(cmd: EnforceCommand, target: &ClusterTarget) -> anyhow::Result<u8> {
    block_on(async {
        let client = target.connect().await?;
        match cmd {
            EnforceCommand::Plan {
                scope,
                exclude_namespace,
                output,
            } => {
                let exclusions = NamespaceExclusions::from_flags(None, &exclude_namespace)?;
                plan_cmd(client, &scope, &exclusions, output).await
            }
            EnforceCommand::Revert { scope, dry_run } => revert_cmd(client, &scope, dry_run).await,
        }
    })?
}

fn namespace_of(client: &Client, scope: &Scope) -> Option<String> {
    match (scope.all_namespaces, &scope.namespace) {
        (true, _) => None,
        (false, Some(ns)) => Some(ns.clone()),
        (false, None) => Some(client.default_namespace().to_owned()),
    }
}

async fn policies(client: &Client, scope: &Scope) -> anyhow::Result<Vec<DevOpsPolicy>> {
    let ns = namespace_of(client, scope);
    let api: Api<DevOpsPolicy> = match &ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut all = list_all(&api).await?;
    if let Some(name) = &scope.policy {
        all.retain(|p| p.metadata.name.as_deref() == Some(name.as_str()));
        if all.is_empty() {
            bail!(
                "no DevOpsPolicy named {name} in {}",
                ns.as_deref().unwrap_or("any namespace")
            );
        }
    }
    Ok(all)
}

/// One line of the plan.
fn entry(ns: &str, policy: &str, mode: &str, workload: &str, action: &str, detail: Value) -> Value {
    json!({"namespace": ns, "policy": policy, "mode": mode, "workload": workload, "action": action, "detail": detail})
}

async fn plan_policy(
    client: &Client,
    p: &DevOpsPolicy,
    exclusions: &NamespaceExclusions,
    out: &mut Vec<Value>,
) -> anyhow::Result<()> {
    let ns = p.metadata.namespace.clone().unwrap_or_default();
    let name = p.metadata.name.clone().unwrap_or_default();
    let mode = p.spec.enforcement_mode.unwrap_or_default().as_str();
    let line = |workload: &str, action: &str, detail: Value| {
        entry(&ns, &name, mode, workload, action, detail)
    };
    let policy = match EffectivePolicy::from_spec(&p.spec) {
        Ok(policy) => policy,
        Err(e) => {
            out.push(line("-", "invalid", json!(e.to_string())));
            return Ok(());
        }
    };
    if exclusions.is_excluded(&ns) {
        out.push(line(
            "-",
            "skip",
            json!("excludedNamespace: kube-devops never enforces here"),
        ));
        return Ok(());
    }
    let now = Timestamp::now();
    let pods = list_all(&Api::<Pod>::namespaced(client.clone(), &ns)).await?;
    let facts: Vec<_> = pods.iter().map(facts_from_pod).collect();
    let findings: Vec<_> = facts.iter().map(|f| evaluate(f, &policy, now)).collect();
    let found = candidates(
        facts
            .iter()
            .zip(&findings)
            .map(|(f, fs)| (f, f.object.name.as_str(), fs.as_slice())),
    );
    let mut targets = std::collections::BTreeSet::new();
    for c in &found {
        match workloads::resolve(client, &ns, c).await? {
            Resolved::Workload(w) => {
                targets.insert(w);
            }
            Resolved::Skipped(what, skip) => {
                out.push(line(
                    &what,
                    "skip",
                    json!(format!("{}: {}", skip.reason, skip.detail)),
                ));
            }
        }
    }
    for w in targets {
        let live = workloads::get(client, &ns, w.kind.as_str(), &w.name).await?;
        let Ok(Some(facts)) = facts_from_json(live) else {
            continue;
        };
        let enforcing = Enforcing {
            policy: &policy,
            spec: &p.spec,
        };
        match plan(&facts, enforcing, now) {
            Decision::Compliant => {}
            Decision::Skip(s) => out.push(line(
                &w.to_string(),
                "skip",
                json!(format!("{}: {}", s.reason, s.detail)),
            )),
            Decision::Patch(plan) => {
                out.push(line(&w.to_string(), "patch", json!(plan.describe())))
            }
        }
    }
    Ok(())
}

async fn plan_cmd(
    client: Client,
    scope: &Scope,
    exclusions: &NamespaceExclusions,
    output: PlanFormat,
) -> anyhow::Result<u8> {
    let mut out = Vec::new();
    for p in policies(&client, scope).await? {
        plan_policy(&client, &p, exclusions, &mut out).await?;
    }
    match output {
        PlanFormat::Json => outln!("{}", serde_json::to_string_pretty(&out)?),
        PlanFormat::Table => {
            if out.is_empty() {
                eprintln!("Nothing to enforce.");
            }
            for e in &out {
                let head = format!(
                    "{}/{} ({}) {}",
                    e["namespace"].as_str().unwrap_or(""),
                    e["policy"].as_str().unwrap_or(""),
                    e["mode"].as_str().unwrap_or(""),
                    e["workload"].as_str().unwrap_or("")
                );
                match &e["detail"] {
                    Value::Array(changes) => {
                        for c in changes {
                            outln!("{head}: patch {}", c.as_str().unwrap_or(""));
                        }
                    }
                    other => outln!(
                        "{head}: {} {}",
                        e["action"].as_str().unwrap_or(""),
                        other.as_str().unwrap_or("")
                    ),
                }
            }
        }
    }
    Ok(0)
}

async fn revert_cmd(client: Client, scope: &Scope, dry_run: bool) -> anyhow::Result<u8> {
    let ns = namespace_of(&client, scope);
    // With --policy, only the workloads its status lists as remediated.
    let mut only: Option<BTreeMap<String, Vec<String>>> = None;
    if scope.policy.is_some() {
        let mut listed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in policies(&client, scope).await? {
            let pns = p.metadata.namespace.clone().unwrap_or_default();
            let workloads = p
                .status
                .and_then(|s| s.remediated_workloads)
                .unwrap_or_default();
            listed.entry(pns).or_default().extend(workloads);
        }
        only = Some(listed);
    }
    let mut failures = 0;
    let mut reverted = 0;
    for kind in [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
    ] {
        for live in workloads::list(&client, ns.as_deref(), kind.as_str()).await? {
            if !is_managed(&live) {
                continue;
            }
            let name = live
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let wns = live
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let w = WorkloadName {
                kind,
                name: name.to_owned(),
            };
            if let Some(only) = &only
                && !only.get(wns).is_some_and(|l| l.contains(&w.to_string()))
            {
                continue;
            }
            let body = revert_object(kind, wns, name);
            match workloads::apply(&client, wns, &w, &body, dry_run).await {
                Ok(_) => {
                    reverted += 1;
                    let verb = if dry_run {
                        "would revert (server dry run)"
                    } else {
                        "reverted"
                    };
                    outln!("{verb} {kind} {wns}/{name}");
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("error: cannot revert {kind} {wns}/{name}: {e}");
                }
            }
        }
    }
    if reverted == 0 && failures == 0 {
        eprintln!("No workload carries changes made by enforcement.");
    }
    Ok(if failures > 0 { 1 } else { 0 })
}
