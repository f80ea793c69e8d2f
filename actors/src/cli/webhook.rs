//! `webhook serve`, `webhook cert-generate` and `webhook install-config`.
//!
//! In: flags. Out: a running webhook until SIGTERM or SIGINT (`serve`), certificate files
//! (`cert-generate`), or the ValidatingWebhookConfiguration as YAML on stdout
//! (`install-config`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use kube_devops::deploy::{
    WebhookConfig, WebhookConfiguration, WebhookTarget, webhook_configuration,
};
use kube_devops::policy::NamespaceExclusions;

use super::ClusterTarget;
use crate::http::certs::{self, CertRequest};
use crate::http::{FailureMode, WebhookOptions};
use crate::metrics::Metrics;
use crate::system::admission;

/// Default Service name of the webhook.
pub const DEFAULT_SERVICE: &str = "kube-devops-webhook";
/// Default namespace of the controller.
pub const DEFAULT_NAMESPACE: &str = "kube-devops";

/// Webhook commands.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Serve the validating admission webhook over HTTPS until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Generate a CA and a serving certificate for the webhook Service.
    CertGenerate(CertArgs),
    /// Print the ValidatingWebhookConfiguration as YAML.
    InstallConfig(InstallArgs),
}

/// `webhook serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = crate::http::webhook_server::DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// PEM certificate chain (reloaded when the file changes).
    #[arg(long, default_value = "certs/tls.crt", value_name = "PATH")]
    pub tls_cert: PathBuf,
    /// PEM private key (reloaded when the file changes).
    #[arg(long, default_value = "certs/tls.key", value_name = "PATH")]
    pub tls_key: PathBuf,
    /// What to answer when a request cannot be judged: allow with a warning (open) or deny.
    #[arg(long, value_enum, default_value_t = FailureMode::Open)]
    pub failure_mode: FailureMode,
    /// Namespaces to leave alone, as globs (repeatable; replaces the default `*-system`,
    /// `cert-manager`; kube-system, kube-public and kube-node-lease are always excluded).
    #[arg(long = "exclude-namespace", value_name = "GLOB")]
    pub exclude_namespace: Vec<String>,
    /// The controller's own namespace, never judged.
    #[arg(long, env = "POD_NAMESPACE", value_name = "NS")]
    pub own_namespace: Option<String>,
}

/// `webhook cert-generate` flags.
#[derive(Debug, Args)]
pub struct CertArgs {
    /// The webhook Service's name.
    #[arg(long, default_value = DEFAULT_SERVICE)]
    pub service: String,
    /// The Service's namespace.
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Extra IP address SAN (repeatable), e.g. 127.0.0.1 for a local webhook.
    #[arg(long = "ip-san", value_name = "IP")]
    pub ip_san: Vec<IpAddr>,
    /// Output directory.
    #[arg(long, default_value = "certs", value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Overwrite existing files (an existing CA is still reused unless --new-ca).
    #[arg(long)]
    pub force: bool,
    /// Make a new CA even when ca.crt and ca.key exist.
    #[arg(long)]
    pub new_ca: bool,
}

/// failurePolicy of the webhook configuration.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FailurePolicy {
    /// Admit when the webhook cannot be reached.
    #[value(name = "Ignore")]
    Ignore,
    /// Refuse when the webhook cannot be reached.
    #[value(name = "Fail")]
    Fail,
}

/// `webhook install-config` flags.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// PEM file of the CA that signed the serving certificate (becomes caBundle).
    #[arg(long, default_value = "certs/ca.crt", value_name = "PATH")]
    pub ca_bundle_path: PathBuf,
    /// The webhook Service's name.
    #[arg(long, default_value = DEFAULT_SERVICE)]
    pub service: String,
    /// The Service's namespace (also excluded from admission).
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// The Service's port.
    #[arg(long, default_value_t = 443)]
    pub port: i32,
    /// Call this URL instead of a Service (e.g. https://127.0.0.1:8443/validate).
    #[arg(long, conflicts_with_all = ["service", "port"])]
    pub url: Option<String>,
    /// What the API server does when the webhook cannot be reached.
    #[arg(long, value_enum, ignore_case = true, default_value_t = FailurePolicy::Ignore)]
    pub failure_policy: FailurePolicy,
    /// Namespaces to leave alone, as globs (as for `webhook serve`).
    #[arg(long = "exclude-namespace", value_name = "GLOB")]
    pub exclude_namespace: Vec<String>,
}

pub(super) fn run(cmd: WebhookCommand, target: &ClusterTarget) -> anyhow::Result<u8> {
    match cmd {
        WebhookCommand::Serve(args) => serve(args, target),
        WebhookCommand::CertGenerate(args) => cert_generate(&args),
        WebhookCommand::InstallConfig(args) => {
            out!("{}", install_config(&args)?);
            Ok(0)
        }
    }
}

fn serve(args: ServeArgs, target: &ClusterTarget) -> anyhow::Result<u8> {
    crate::http::limits::raise_open_file_limit();
    let mut options = WebhookOptions::new(args.tls_cert, args.tls_key);
    options.addr = args.addr;
    options.failure_mode = args.failure_mode;
    options.exclusions =
        NamespaceExclusions::from_flags(args.own_namespace.as_deref(), &args.exclude_namespace)?;
    let target = target.clone();
    actix::System::new().block_on(async move {
        let client = target.connect().await?;
        let metrics = Metrics::new()?;
        let runtime = admission::start(options, client, metrics).await?;
        wait_for_signal().await?;
        tracing::info!("signal received; shutting down the webhook");
        runtime.stop().await;
        Ok(0)
    })
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}

fn cert_generate(args: &CertArgs) -> anyhow::Result<u8> {
    let generated = certs::generate(&CertRequest {
        service: args.service.clone(),
        namespace: args.namespace.clone(),
        ip_sans: args.ip_san.clone(),
        out_dir: args.out_dir.clone(),
        force: args.force,
        new_ca: args.new_ca,
    })?;
    if generated.reused_ca {
        outln!("reused the existing CA in {}", args.out_dir.display());
    }
    for path in &generated.written {
        outln!("wrote {}", path.display());
    }
    outln!(
        "serving certificate valid for {} days, SANs: {}",
        certs::VALIDITY_DAYS,
        generated.sans.join(", ")
    );
    Ok(0)
}

/// The ValidatingWebhookConfiguration of `args`, as YAML.
pub fn install_config(args: &InstallArgs) -> anyhow::Result<String> {
    // Only a regular file, and at most 1 MiB of it: a device or a FIFO is refused unread.
    let ca = crate::http::limits::read_small_file(&args.ca_bundle_path).with_context(|| {
        format!(
            "cannot read --ca-bundle-path {}",
            args.ca_bundle_path.display()
        )
    })?;
    if !String::from_utf8_lossy(&ca).contains("-----BEGIN CERTIFICATE-----") {
        anyhow::bail!("{} holds no PEM certificate", args.ca_bundle_path.display());
    }
    let target = match &args.url {
        Some(url) => WebhookTarget::Url(url.clone()),
        None => WebhookTarget::Service {
            name: args.service.clone(),
            port: args.port,
        },
    };
    let WebhookConfiguration { config, globs } = webhook_configuration(&WebhookConfig {
        name: "kube-devops".to_owned(),
        labels: [(
            "app.kubernetes.io/name".to_owned(),
            "kube-devops".to_owned(),
        )]
        .into(),
        namespace: args.namespace.clone(),
        target,
        fail_closed: matches!(args.failure_policy, FailurePolicy::Fail),
        exclude_namespaces: args.exclude_namespace.clone(),
        ca_bundle: Some(ca),
    })?;
    let mut yaml = String::new();
    if !globs.is_empty() {
        yaml.push_str(&format!(
            "# Namespaces matching {} are excluded by the webhook itself (a label selector\n# cannot express globs).\n",
            globs.join(", ")
        ));
    }
    yaml.push_str(&serde_yaml_ng::to_string(&config)?);
    Ok(yaml)
}
