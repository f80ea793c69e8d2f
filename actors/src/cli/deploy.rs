//! `deploy generate-all | generate-rbac | generate-deployments` print the in-cluster
//! installation as raw manifests; `deploy write-files` rewrites the committed generated
//! files (raw manifests, the Helm chart's CRDs and RBAC rule files).
//!
//! In: flags. Out: multi-document YAML on stdout, or files under `--root`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use kube_devops::deploy::{
    InstallSettings, RuleSet, deployment_objects, rbac_objects, rules_yaml, to_yaml_stream,
};
use kube_devops::observability::{self, Artifact};

use super::crd::crds_yaml;

/// Where the Helm chart lives, from the repository root.
pub const CHART_DIR: &str = "deploy/helm/kube-devops";
/// Where the raw manifests live, from the repository root.
pub const MANIFESTS: &str = "deploy/manifests/kube-devops.yaml";

/// Deploy commands.
#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Print everything: CRDs, RBAC, the Deployment, Services, PodDisruptionBudget and the
    /// webhook configuration.
    GenerateAll(GenerateArgs),
    /// Print the ServiceAccount, ClusterRoles, Role and bindings.
    GenerateRbac(GenerateArgs),
    /// Print the Deployment, Services, PodDisruptionBudget and webhook configuration.
    GenerateDeployments(GenerateArgs),
    /// Rewrite the committed generated files (raw manifests, the chart's CRDs and rules).
    WriteFiles(WriteArgs),
}

/// Flags of the `generate-*` commands.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Namespace to install into (it must exist).
    #[arg(long, default_value = "kube-devops")]
    pub namespace: String,
    /// Grant enforcement's write verbs on workloads.
    #[arg(long)]
    pub enforcement: bool,
    /// The webhook's serving certificate comes from a Secret you create (mounted at
    /// /etc/kube-devops/tls), not from the controller.
    #[arg(long)]
    pub external_certificates: bool,
}

/// Flags of `write-files`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// The repository root.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
}

fn settings(args: &GenerateArgs) -> InstallSettings {
    InstallSettings {
        namespace: args.namespace.clone(),
        enforcement: args.enforcement,
        manage_certificates: !args.external_certificates,
        ..InstallSettings::default()
    }
}

/// Everything `generate-all` prints for these settings.
pub fn generate_all(settings: &InstallSettings) -> anyhow::Result<String> {
    let mut objects = rbac_objects(settings);
    objects.extend(deployment_objects(settings)?);
    Ok(format!("{}{}", crds_yaml()?, to_yaml_stream(&objects)?))
}

/// Every generated file, as (path from the repository root, content).
pub fn generated_files() -> anyhow::Result<Vec<(String, String)>> {
    let mut files = vec![
        (
            MANIFESTS.to_owned(),
            generate_all(&InstallSettings::default())?,
        ),
        (format!("{CHART_DIR}/crds/crds.yaml"), crds_yaml()?),
    ];
    // The chart's Grafana dashboard ConfigMap and PrometheusRule read these.
    for (file, artifact) in [
        ("dashboard.json", Artifact::DashboardJson),
        ("rules.yaml", Artifact::RulesFile),
    ] {
        files.push((
            format!("{CHART_DIR}/files/observability/{file}"),
            observability::render(artifact, observability::DEFAULT_NAMESPACE)?,
        ));
    }
    for set in RuleSet::ALL {
        files.push((
            format!("{CHART_DIR}/files/rbac/{}.yaml", set.as_str()),
            rules_yaml(set)?,
        ));
    }
    Ok(files)
}

fn write_file(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, content).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

pub(super) fn run(cmd: DeployCommand) -> anyhow::Result<u8> {
    match cmd {
        DeployCommand::GenerateAll(args) => out!("{}", generate_all(&settings(&args))?),
        DeployCommand::GenerateRbac(args) => {
            out!("{}", to_yaml_stream(&rbac_objects(&settings(&args)))?)
        }
        DeployCommand::GenerateDeployments(args) => {
            out!(
                "{}",
                to_yaml_stream(&deployment_objects(&settings(&args))?)?
            )
        }
        DeployCommand::WriteFiles(args) => {
            // Everything is generated before anything is written.
            let files = generated_files()?;
            for (path, content) in files {
                write_file(&args.root.join(&path), &content)?;
                outln!("wrote {path}");
            }
        }
    }
    Ok(0)
}
