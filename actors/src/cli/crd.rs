//! `crd generate`: the CRD YAML generated from the Rust types.

use clap::Subcommand;
use kube::CustomResourceExt;
use kube_devops::policy::{DevOpsPolicy, PolicyAuditResult};

/// CRD commands.
#[derive(Debug, Subcommand)]
pub enum CrdCommand {
    /// Print the CustomResourceDefinitions as multi-document YAML.
    Generate,
}

/// The CRDs as multi-document YAML, exactly as committed under `deploy/crds/`.
pub fn crds_yaml() -> anyhow::Result<String> {
    let mut out = String::new();
    for crd in [DevOpsPolicy::crd(), PolicyAuditResult::crd()] {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}

pub(super) fn run(cmd: CrdCommand) -> anyhow::Result<u8> {
    match cmd {
        CrdCommand::Generate => {
            print!("{}", crds_yaml()?);
            Ok(0)
        }
    }
}
