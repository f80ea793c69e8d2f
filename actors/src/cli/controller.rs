//! `watch`, `reconcile` and `run`: the long-running controller.
//!
//! In: flags. Out: [`ControllerOptions`] for the one runtime in `system`, which runs until
//! SIGTERM or SIGINT. `watch` scores; `reconcile` adds the operator (policy status, audit
//! results, reports) on its own ops port; `run` is everything, the webhook included.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kube_devops::policy::{NamespaceExclusions, PolicySet};

use super::ClusterTarget;
use super::analyze::resolve_policy;
use crate::http::{FailureMode, WebhookOptions};
use crate::system::certificates::CertificateSettings;
use crate::system::lease::LeaseSettings;
use crate::system::{ControllerOptions, OperatorSettings, run};
use jiff::SignedDuration;
use kube_devops::certificates::Lifetimes;

/// Where the service account's namespace is mounted in a pod.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Arguments shared by `watch`, `reconcile` and `run`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
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
    /// Judge namespaces that have no DevOpsPolicy with a built-in bundle instead of the
    /// default policy.
    #[arg(long, conflicts_with = "policy", value_parser = clap::builder::PossibleValuesParser::new(kube_devops::policy::bundles::BUNDLE_NAMES))]
    pub bundle: Option<String>,
    /// Judge namespaces that have no DevOpsPolicy with the DevOpsPolicy in this file.
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
    /// Path the web dashboard and its JSON API are served under, for an ingress that
    /// forwards a path prefix unchanged (e.g. /kube-devops). /healthz, /readyz, /metrics
    /// and /api/v1/scores stay at the root.
    #[arg(long, default_value = "/", value_parser = crate::http::dashboard::base_path)]
    pub dashboard_base_path: String,
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

/// The controller's namespace: `flag`, the service account's namespace, the context's
/// namespace, then `default`.
pub(super) fn own_namespace(flag: Option<String>, target: &ClusterTarget) -> String {
    if let Some(ns) = flag.filter(|s| !s.is_empty()) {
        return ns;
    }
    if let Ok(ns) = std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE) {
        let ns = ns.trim();
        if !ns.is_empty() {
            return ns.to_owned();
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
    from_context.unwrap_or_else(|| "default".to_owned())
}

/// Arguments of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Address of the ops HTTP server (/healthz, /readyz, /metrics, /api/v1/scores, /).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Controller settings.
    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// The operator's flags (`reconcile`, `run`).
#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Seconds between full resyncs of every policy.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(5..=86400))]
    pub resync_period: u64,
    /// Milliseconds pod changes in a namespace are gathered before its policies are
    /// reconciled again.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub debounce_ms: u64,
    /// PolicyReport writes per second at most (token bucket).
    #[arg(long, default_value_t = 20.0, value_parser = positive_rate)]
    pub report_writes_per_second: f64,
    /// The cluster's name in audit results (default: the kubeconfig context's name).
    #[arg(long)]
    pub cluster_name: Option<String>,
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

/// Arguments of `reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Address of the ops HTTP server (/healthz, /readyz, /metrics, /api/v1/scores, /).
    #[arg(long, default_value = "0.0.0.0:9090")]
    pub http_addr: SocketAddr,
    /// Controller settings.
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Operator settings.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Arguments of `run`: the controller's and the operator's, plus the admission webhook's.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address of the ops HTTP server (/healthz, /readyz, /metrics, /api/v1/scores, /).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Controller settings.
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Operator settings.
    #[command(flatten)]
    pub operator: OperatorArgs,
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
    /// Keep the webhook's certificates in a Secret: the leader creates them, renews them
    /// before they expire and keeps the webhook configuration's caBundle current; every
    /// replica serves what the Secret holds (--tls-cert and --tls-key are not read).
    #[arg(long)]
    pub manage_certificates: bool,
    /// The Secret of --manage-certificates, in the controller's namespace.
    #[arg(long, default_value = "kube-devops-webhook-tls")]
    pub tls_secret: String,
    /// The webhook Service the certificate names (--manage-certificates).
    #[arg(long, default_value = "kube-devops-webhook")]
    pub webhook_service: String,
    /// The ValidatingWebhookConfiguration whose caBundle is kept (--manage-certificates).
    #[arg(long, default_value = "kube-devops")]
    pub webhook_configuration: String,
    /// Lifetime of a serving certificate, seconds (--manage-certificates).
    #[arg(long, default_value_t = 90 * 86400, hide = true, value_parser = clap::value_parser!(u64).range(10..))]
    pub certificate_lifetime: u64,
    /// Renew a serving certificate this many seconds before it expires (below the lifetime).
    #[arg(long, default_value_t = 30 * 86400, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub certificate_renew_before: u64,
}

/// The certificate settings of `run --manage-certificates`.
fn certificate_settings(
    args: &RunArgs,
) -> anyhow::Result<Option<(String, String, String, Lifetimes)>> {
    if !args.manage_certificates {
        return Ok(None);
    }
    if args.certificate_renew_before >= args.certificate_lifetime {
        anyhow::bail!(
            "--certificate-renew-before ({}) must be below --certificate-lifetime ({})",
            args.certificate_renew_before,
            args.certificate_lifetime
        );
    }
    let secs = |s: u64| SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX));
    let lifetimes = Lifetimes {
        serving: secs(args.certificate_lifetime),
        renew_before: secs(args.certificate_renew_before),
        ..Lifetimes::DEFAULT
    };
    Ok(Some((
        args.tls_secret.clone(),
        args.webhook_service.clone(),
        args.webhook_configuration.clone(),
        lifetimes,
    )))
}

/// `run`: every component, the webhook included unless `--no-webhook`.
pub(super) fn run_all(args: RunArgs, target: &ClusterTarget) -> anyhow::Result<u8> {
    let managed = certificate_settings(&args)?;
    let webhook = if args.no_webhook {
        None
    } else if managed.is_some() {
        // No paths: the pair comes from the Secret.
        let mut options = WebhookOptions::new(PathBuf::new(), PathBuf::new());
        options.addr = args.webhook_addr;
        options.failure_mode = args.failure_mode;
        Some(options)
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
    let operator = operator_settings(args.operator, target);
    start_controller(
        args.http_addr,
        args.controller,
        webhook,
        Some(operator),
        managed,
        target,
    )
}

/// `reconcile`: the operator with its own watch set.
pub(super) fn run_operator(args: ReconcileArgs, target: &ClusterTarget) -> anyhow::Result<u8> {
    let operator = operator_settings(args.operator, target);
    start_controller(
        args.http_addr,
        args.controller,
        None,
        Some(operator),
        None,
        target,
    )
}

/// `watch`: the watch set only.
pub(super) fn run_controller(args: WatchArgs, target: &ClusterTarget) -> anyhow::Result<u8> {
    start_controller(args.http_addr, args.controller, None, None, None, target)
}

fn context_name(target: &ClusterTarget) -> Option<String> {
    let kc = crate::cluster::read_kubeconfig(target.kubeconfig.as_deref()).ok()?;
    target.context.clone().or(kc.current_context)
}

fn operator_settings(args: OperatorArgs, target: &ClusterTarget) -> OperatorSettings {
    OperatorSettings {
        resync: Duration::from_secs(args.resync_period),
        debounce: Duration::from_millis(args.debounce_ms),
        report_writes_per_second: args.report_writes_per_second,
        cluster_name: args
            .cluster_name
            .or_else(|| context_name(target))
            .unwrap_or_default(),
    }
}

fn start_controller(
    http_addr: SocketAddr,
    args: ControllerArgs,
    mut webhook: Option<WebhookOptions>,
    operator: Option<OperatorSettings>,
    certificates: Option<(String, String, String, Lifetimes)>,
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
    let namespace = own_namespace(args.namespace, target);
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
        http_addr,
        dashboard_base_path: args.dashboard_base_path,
        defaults: PolicySet::new(policy, &source, exclusions),
        lease: LeaseSettings {
            name: args.lease_name,
            namespace: namespace.clone(),
            identity,
            duration: args.lease_duration,
            renew_before: args.renew_before,
            retry: Duration::from_secs(args.retry_period),
        },
        shutdown_delay: Duration::from_secs(args.shutdown_delay),
        certificates: certificates.map(|(secret, service, webhook_configuration, lifetimes)| {
            CertificateSettings {
                secret,
                namespace: namespace.clone(),
                service,
                webhook_configuration,
                lifetimes,
            }
        }),
        webhook,
        operator,
        ops_access,
    };
    run(options, target.clone())
}
