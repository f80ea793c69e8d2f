//! `crd generate` prints the CRDs generated from the Rust types; `crd install` creates or
//! upgrades them by server-side apply and waits until the API server serves them.

use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube_devops::policy::{DevOpsPolicy, PolicyAuditResult};

use super::{ClusterTarget, block_on};
use crate::system::policy::established;

/// Field manager of the CRD installer.
pub const FIELD_MANAGER: &str = "kube-devops";
/// How long `crd install` waits for the CRDs to be established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// CRD commands.
#[derive(Debug, Subcommand)]
pub enum CrdCommand {
    /// Print the CustomResourceDefinitions as multi-document YAML.
    Generate,
    /// Create or upgrade the CustomResourceDefinitions (server-side apply).
    Install,
}

fn crds() -> [CustomResourceDefinition; 2] {
    [DevOpsPolicy::crd(), PolicyAuditResult::crd()]
}

/// The CRDs as multi-document YAML, exactly as committed under `deploy/crds/`.
pub fn crds_yaml() -> anyhow::Result<String> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}

async fn install(target: &ClusterTarget) -> anyhow::Result<u8> {
    let client = target.connect().await?;
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(&crd)).await?;
        outln!("customresourcedefinition.apiextensions.k8s.io/{name} serverside-applied");
    }
    let deadline = tokio::time::Instant::now() + ESTABLISH_TIMEOUT;
    for crd in crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        loop {
            if established(&api.get(&name).await?) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{name} was applied but is not Established after {ESTABLISH_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    outln!("CRDs established");
    Ok(0)
}

pub(super) fn run(cmd: CrdCommand, target: &ClusterTarget) -> anyhow::Result<u8> {
    match cmd {
        CrdCommand::Generate => {
            out!("{}", crds_yaml()?);
            Ok(0)
        }
        CrdCommand::Install => block_on(install(target))?,
    }
}
