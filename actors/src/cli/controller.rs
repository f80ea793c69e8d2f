//! `watch` and `run`: the long-running controller.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kube_devops::policy::NamespaceExclusions;

use super::ClusterTarget;
use super::analyze::resolve_policy;
use crate::http::{FailureMode, WebhookOptions};
use crate::system::lease::LeaseSettings;
use crate::system::{ControllerOptions, run};

/// Where the service account's namespace is mounted in a pod.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Arguments of `watch` and `run`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Address of the ops HTTP server (/healthz, /readyz, /metrics, /api/v1/scores, /).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// The controller's own namespace (holds the lease; never scored). Default:
    /// $POD_NAMESPACE, the service account's namespace, then the context's namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
    /// This replica's identity in leader election (unique per replica). Default: $POD_NAME,
    /// then the host name and process id.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Namespaces to leave alone, as globs (repeatable; replaces the default `*-system`,
    /// `cert-manager`).
    #[arg(long = "exclude-namespace", value_name = "GLOB")]
    pub exclude_namespace: Vec<String>,
    /// Score with a built-in bundle instead of the default policy.
    #[arg(long, conflicts_with = "policy", value_parser = clap::builder::PossibleValuesParser::new(kube_devops::policy::bundles::BUNDLE_NAMES))]
    pub bundle: Option<String>,
    /// Score with the DevOpsPolicy in this file.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "kube-devops-leader")]
    pub lease_name: String,
    /// Lease duration in seconds.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease_duration: u64,
    /// Renew the lease this many seconds before it expires (below the duration).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3599))]
    pub renew_before: u64,
    /// Seconds between turning not-ready and stopping at SIGTERM (lets endpoints update).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60))]
    pub shutdown_delay: u64,
    /// Require `Authorization: Bearer <token>` on /metrics and /api/v1/scores, the token
    /// being the content of this file (e.g. a mounted Secret; re-read every 10 s).
    /// /healthz and /readyz stay open for probes.
    #[arg(long, value_name = "FILE", env = "KUBE_DEVOPS_OPS_TOKEN_FILE")]
    pub ops_token_file: Option<PathBuf>,
    /// Seconds between attempts after a failed renewal.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub retry_period: u64,
}

fn identity(flag: Option<String>) -> String {
    if let Some(id) = flag.filter(|s| !s.is_empty()) {
        return id;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "kube-devops".to_owned());
    format!("{host}-{}", std::process::id())
}

fn own_namespace(flag: Option<String>, target: &ClusterTarget) -> anyhow::Result<String> {
    if let Some(ns) = flag.filter(|s| !s.is_empty()) {
        return Ok(ns);
    }
    if let Ok(ns) = std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE) {
        let ns = ns.trim();
        if !ns.is_empty() {
            return Ok(ns.to_owned());
        }
    }
    let kc = crate::cluster::read_kubeconfig(target.kubeconfig.as_deref()).ok();
    let from_context = kc.and_then(|kc| {
        let name = target.context.clone().or(kc.current_context.clone())?;
        kc.contexts
            .into_iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context)
            .and_then(|c| c.namespace)
    });
    Ok(from_context.unwrap_or_else(|| "default".to_owned()))
}

/// Arguments of `run`: the controller's, plus the admission webhook's.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Controller settings.
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Do not serve the admission webhook.
    #[arg(long)]
    pub no_webhook: bool,
    /// Address of the HTTPS admission webhook.
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub webhook_addr: SocketAddr,
    /// Serving certificate (PEM), reloaded when it changes.
    #[arg(long, default_value = "/etc/kube-devops/tls/tls.crt")]
    pub tls_cert: PathBuf,
    /// Serving key (PEM), reloaded when it changes.
    #[arg(long, default_value = "/etc/kube-devops/tls/tls.key")]
    pub tls_key: PathBuf,
    /// Answer to internal admission errors: allow with a warning (open) or deny (closed).
    #[arg(long, value_enum, default_value_t = FailureMode::Open)]
    pub failure_mode: FailureMode,
}

/// `run`: every component, the webhook included unless `--no-webhook`.
pub(super) fn run_all(args: RunArgs, target: &ClusterTarget) -> anyhow::Result<u8> {
    let webhook = if args.no_webhook {
        None
    } else {
        for (flag, path) in [("--tls-cert", &args.tls_cert), ("--tls-key", &args.tls_key)] {
            if !path.is_file() {
                anyhow::bail!(
                    "{flag} {} does not exist; give the webhook's certificate and key \
                     (kube-devops webhook cert-generate makes them) or pass --no-webhook",
                    path.display()
                );
            }
        }
        let mut options = WebhookOptions::new(args.tls_cert, args.tls_key);
        options.addr = args.webhook_addr;
        options.failure_mode = args.failure_mode;
        Some(options)
    };
    start_controller(args.controller, webhook, target)
}

/// `watch`: the watch set only.
pub(super) fn run_controller(args: ControllerArgs, target: &ClusterTarget) -> anyhow::Result<u8> {
    start_controller(args, None, target)
}

fn start_controller(
    args: ControllerArgs,
    mut webhook: Option<WebhookOptions>,
    target: &ClusterTarget,
) -> anyhow::Result<u8> {
    if args.renew_before >= args.lease_duration {
        anyhow::bail!(
            "--renew-before ({}) must be below --lease-duration ({})",
            args.renew_before,
            args.lease_duration
        );
    }
    crate::http::limits::raise_open_file_limit();
    let (policy, source) = resolve_policy(args.bundle.as_deref(), args.policy.as_ref())?;
    let namespace = own_namespace(args.namespace, target)?;
    let exclusions = NamespaceExclusions::from_flags(Some(&namespace), &args.exclude_namespace)?;
    if let Some(w) = webhook.as_mut() {
        w.exclusions = exclusions.clone();
    }
    let ops_access = match &args.ops_token_file {
        Some(path) => Some(std::sync::Arc::new(
            crate::http::ops_access::OpsAccess::from_file(path)?,
        )),
        None => None,
    };
    let identity = identity(args.identity);
    tracing::info!(%namespace, %identity, policy = %source, "starting controller");
    let options = ControllerOptions {
        http_addr: args.http_addr,
        policy,
        exclusions,
        lease: LeaseSettings {
            name: args.lease_name,
            namespace,
            identity,
            duration: args.lease_duration,
            renew_before: args.renew_before,
            retry: Duration::from_secs(args.retry_period),
        },
        shutdown_delay: Duration::from_secs(args.shutdown_delay),
        webhook,
        ops_access,
    };
    run(options, target.clone())
}
