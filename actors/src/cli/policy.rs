//! `policy bundle-list`, `bundle-show` and `bundle-apply` (the built-in bundles), and the
//! GitOps commands `export`, `import` and `diff` (see `gitops`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;

use super::{ClusterTarget, block_on, gitops};
use kube_devops::policy::EffectivePolicy;
use kube_devops::policy::bundles::{BUNDLE_NAMES, bundle, bundles, policy_from_bundle};
use kube_devops::policy::namespaces::{is_dns_label, is_dns_subdomain};

/// Policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List the built-in bundles.
    BundleList,
    /// Show a bundle: its checks, severities and spec.
    BundleShow {
        /// Bundle name (baseline, restricted, permissive).
        name: String,
    },
    /// Print a DevOpsPolicy made from a bundle, ready for `kubectl apply -f -`.
    BundleApply {
        /// Bundle name (baseline, restricted, permissive).
        name: String,
        /// Namespace of the policy.
        #[arg(long, default_value = "default")]
        namespace: String,
        /// Name of the policy.
        #[arg(long, default_value = "devops-policy")]
        policy_name: String,
    },
    /// Print the cluster's DevOpsPolicies as YAML for Git.
    Export {
        /// Namespace (default: the context's namespace).
        #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
        namespace: Option<String>,
        /// Every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Apply the DevOpsPolicies of a file (server-side apply); all are validated first.
    Import {
        /// A YAML or JSON file of DevOpsPolicies, or - for stdin.
        file: PathBuf,
        /// Ask the server to validate without persisting anything.
        #[arg(long)]
        dry_run: bool,
        /// Take ownership of fields another manager set, instead of failing.
        #[arg(long)]
        force_conflicts: bool,
    },
    /// Compare a file of DevOpsPolicies with the cluster; exit 1 on drift.
    Diff {
        /// A YAML or JSON file of DevOpsPolicies.
        file: PathBuf,
        /// Also report cluster policies outside the file's namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
}

fn find(name: &str) -> anyhow::Result<kube_devops::policy::bundles::Bundle> {
    match bundle(name) {
        Some(b) => Ok(b),
        None => bail!(
            "unknown bundle {name:?}; available: {}",
            BUNDLE_NAMES.join(", ")
        ),
    }
}

pub(super) fn run(cmd: PolicyCommand, target: &ClusterTarget) -> anyhow::Result<u8> {
    match cmd {
        PolicyCommand::Export {
            namespace,
            all_namespaces,
        } => {
            return block_on(async {
                let client = target.connect().await?;
                let ns = match (all_namespaces, namespace) {
                    (true, _) => None,
                    (false, Some(ns)) => Some(ns),
                    (false, None) => Some(client.default_namespace().to_owned()),
                };
                gitops::export(client, ns.as_deref()).await
            })?;
        }
        PolicyCommand::Import {
            file,
            dry_run,
            force_conflicts,
        } => {
            return block_on(async {
                gitops::import(target.connect().await?, &file, dry_run, force_conflicts).await
            })?;
        }
        PolicyCommand::Diff {
            file,
            all_namespaces,
        } => {
            return block_on(async {
                gitops::diff_file(target.connect().await?, &file, all_namespaces).await
            })?;
        }
        PolicyCommand::BundleList => {
            outln!("Available policy bundles:");
            for b in bundles() {
                outln!("  {:<11} - {}", b.name, b.description);
            }
        }
        PolicyCommand::BundleShow { name } => {
            let b = find(&name)?;
            let policy = EffectivePolicy::from_spec(&b.spec)
                .with_context(|| format!("bundle {name} is invalid"))?;
            outln!("Bundle: {}\nDescription: {}", b.name, b.description);
            let mode = b.spec.enforcement_mode.unwrap_or_default();
            outln!("Enforcement mode: {}", mode.as_str());
            let width = policy
                .enabled()
                .map(|(id, _)| id.as_str().len())
                .max()
                .unwrap_or(0)
                .max(28);
            outln!("\n{:<width$} SEVERITY  CATEGORY", "CHECK");
            for (id, sev) in policy.enabled() {
                outln!(
                    "{:<width$} {:<9} {}",
                    id.as_str(),
                    sev.as_str(),
                    id.spec().category.as_str()
                );
            }
            outln!("\nSpec:");
            out!("{}", serde_yaml_ng::to_string(&b.spec)?);
        }
        PolicyCommand::BundleApply {
            name,
            namespace,
            policy_name,
        } => {
            let b = find(&name)?;
            if !is_dns_label(&namespace) {
                bail!(
                    "--namespace {namespace:?} is not a valid namespace name (lower-case letters, digits and '-')"
                );
            }
            if !is_dns_subdomain(&policy_name) {
                bail!(
                    "--policy-name {policy_name:?} is not a valid object name (lower-case letters, digits, '-' and '.')"
                );
            }
            let policy = policy_from_bundle(&b, &namespace, &policy_name);
            out!("{}", serde_yaml_ng::to_string(&policy)?);
        }
    }
    Ok(0)
}
