//! GitOps for policies: `policy export` (cluster to YAML), `policy import` (YAML to cluster
//! by server-side apply, `--dry-run` as a server dry run), `policy diff` (two-way; exit 1 on
//! drift). Imports validate every policy in the file before writing any.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::bail;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube_devops::manifests;
use kube_devops::policy::diff::diff;
use kube_devops::policy::strict::policy_from_value;
use kube_devops::policy::{DevOpsPolicy, EffectivePolicy};
use serde_json::{Value, json};

use crate::cluster::list_all;

/// Field manager of `policy import`.
pub const FIELD_MANAGER: &str = "kube-devops-gitops";

type Key = (String, String);

/// The portable form of a policy: what belongs in Git, without server-set fields.
fn portable(p: &DevOpsPolicy) -> Value {
    let mut metadata = json!({
        "name": p.metadata.name,
        "namespace": p.metadata.namespace,
    });
    if let Some(labels) = p.metadata.labels.as_ref().filter(|l| !l.is_empty()) {
        metadata["labels"] = json!(labels);
    }
    let annotations: BTreeMap<&String, &String> = p
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with("kubectl.kubernetes.io/"))
        .collect();
    if !annotations.is_empty() {
        metadata["annotations"] = json!(annotations);
    }
    json!({
        "apiVersion": "devops.stochastic.io/v1",
        "kind": "DevOpsPolicy",
        "metadata": metadata,
        "spec": p.spec,
    })
}

fn key(p: &DevOpsPolicy) -> Key {
    (
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default(),
    )
}

async fn live(client: &Client, namespace: Option<&str>) -> anyhow::Result<Vec<DevOpsPolicy>> {
    let api: Api<DevOpsPolicy> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut out = list_all(&api).await?;
    out.sort_by_key(key);
    Ok(out)
}

/// Prints the policies as multi-document YAML.
pub async fn export(client: Client, namespace: Option<&str>) -> anyhow::Result<u8> {
    let policies = live(&client, namespace).await?;
    if policies.is_empty() {
        eprintln!("No DevOpsPolicies found.");
    }
    for p in &policies {
        out!("---\n{}", serde_yaml_ng::to_string(&portable(p))?);
    }
    Ok(0)
}

/// Reads and validates every DevOpsPolicy of a file; any error refuses the whole file.
fn read_file(file: &PathBuf, default_ns: &str) -> anyhow::Result<Vec<DevOpsPolicy>> {
    let input = manifests::load(std::slice::from_ref(file), &mut std::io::stdin().lock());
    let mut problems: Vec<String> = input.errors.iter().map(ToString::to_string).collect();
    let mut policies = Vec::new();
    let mut seen = BTreeSet::new();
    for doc in input.documents {
        let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "DevOpsPolicy" {
            problems.push(format!(
                "{}: kind {kind:?} is not a DevOpsPolicy",
                doc.source
            ));
            continue;
        }
        match policy_from_value(&doc.value) {
            Ok(mut p) => {
                if p.metadata.namespace.as_deref().is_none_or(str::is_empty) {
                    p.metadata.namespace = Some(default_ns.to_owned());
                }
                if p.metadata.name.as_deref().is_none_or(str::is_empty) {
                    problems.push(format!("{}: policy has no metadata.name", doc.source));
                } else if let Err(e) = EffectivePolicy::from_spec(&p.spec) {
                    problems.push(format!("{}: {e}", doc.source));
                } else if !seen.insert(key(&p)) {
                    problems.push(format!(
                        "{}: {}/{} appears twice",
                        doc.source,
                        key(&p).0,
                        key(&p).1
                    ));
                } else {
                    policies.push(p);
                }
            }
            Err(e) => problems.push(format!("{}: {e}", doc.source)),
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} is not a valid policy file; nothing was applied:\n  {}",
            file.display(),
            problems.join("\n  ")
        );
    }
    if policies.is_empty() {
        bail!("{}: no DevOpsPolicy objects found", file.display());
    }
    Ok(policies)
}

/// Server-side applies every policy of the file.
pub async fn import(
    client: Client,
    file: &PathBuf,
    dry_run: bool,
    force: bool,
) -> anyhow::Result<u8> {
    let policies = read_file(file, client.default_namespace())?;
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = force;
    params.dry_run = dry_run;
    let suffix = if dry_run { " (server dry run)" } else { "" };
    let mut failed = 0;
    for p in &policies {
        let (ns, name) = key(p);
        let api: Api<DevOpsPolicy> = Api::namespaced(client.clone(), &ns);
        match api.patch(&name, &params, &Patch::Apply(portable(p))).await {
            Ok(_) => outln!(
                "devopspolicy.devops.stochastic.io/{name} -n {ns} serverside-applied{suffix}"
            ),
            Err(e) => {
                failed += 1;
                eprintln!("error: {ns}/{name}: {e}");
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Compares the file with the cluster, both ways. Exit 1 on drift.
pub async fn diff_file(client: Client, file: &PathBuf, all_namespaces: bool) -> anyhow::Result<u8> {
    let desired = read_file(file, client.default_namespace())?;
    let namespaces: BTreeSet<String> = desired.iter().map(|p| key(p).0).collect();
    let mut live_policies = Vec::new();
    if all_namespaces {
        live_policies = live(&client, None).await?;
    } else {
        for ns in &namespaces {
            live_policies.extend(live(&client, Some(ns)).await?);
        }
    }
    let live_by_key: BTreeMap<Key, &DevOpsPolicy> =
        live_policies.iter().map(|p| (key(p), p)).collect();
    let desired_by_key: BTreeMap<Key, &DevOpsPolicy> =
        desired.iter().map(|p| (key(p), p)).collect();
    let mut drift = 0;
    for (k, want) in &desired_by_key {
        match live_by_key.get(k) {
            None => {
                drift += 1;
                outln!("+ {}/{}: in the file, not in the cluster", k.0, k.1);
            }
            Some(have) => {
                let changes = diff("spec", Some(&json!(want.spec)), Some(&json!(have.spec)));
                if !changes.is_empty() {
                    drift += 1;
                    outln!("~ {}/{}:", k.0, k.1);
                    for c in changes {
                        outln!("    {c}");
                    }
                }
            }
        }
    }
    for k in live_by_key
        .keys()
        .filter(|k| !desired_by_key.contains_key(*k))
    {
        drift += 1;
        outln!("- {}/{}: in the cluster, not in the file", k.0, k.1);
    }
    if drift == 0 {
        outln!("no drift: {} policies match", desired.len());
        Ok(0)
    } else {
        outln!("{drift} policies drifted");
        Ok(1)
    }
}
