//! `policy bundle-list`, `bundle-show` and `bundle-apply`: the built-in bundles.

use anyhow::{Context, bail};
use clap::Subcommand;
use kube_devops::policy::EffectivePolicy;
use kube_devops::policy::bundles::{BUNDLE_NAMES, bundle, bundles, policy_from_bundle};

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

pub(super) fn run(cmd: PolicyCommand) -> anyhow::Result<u8> {
    match cmd {
        PolicyCommand::BundleList => {
            println!("Available policy bundles:");
            for b in bundles() {
                println!("  {:<11} - {}", b.name, b.description);
            }
        }
        PolicyCommand::BundleShow { name } => {
            let b = find(&name)?;
            let policy = EffectivePolicy::from_spec(&b.spec)
                .with_context(|| format!("bundle {name} is invalid"))?;
            println!("Bundle: {}\nDescription: {}", b.name, b.description);
            let mode = b.spec.enforcement_mode.unwrap_or_default();
            println!("Enforcement mode: {}", mode.as_str());
            println!("\nCHECK                        SEVERITY  CATEGORY");
            for (id, sev) in policy.enabled() {
                println!("{:<28} {:<9} {}", id.as_str(), sev.as_str(), id.spec().category.as_str());
            }
            println!("\nSpec:");
            print!("{}", serde_yaml_ng::to_string(&b.spec)?);
        }
        PolicyCommand::BundleApply {
            name,
            namespace,
            policy_name,
        } => {
            let b = find(&name)?;
            let policy = policy_from_bundle(&b, &namespace, &policy_name);
            print!("{}", serde_yaml_ng::to_string(&policy)?);
        }
    }
    Ok(0)
}
