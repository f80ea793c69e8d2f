//! The command line: clap definitions, logging set-up, dispatch and exit codes.
//!
//! In: `argv`. Out: results on stdout, logs and errors on stderr, and an exit code:
//! 0 success, 1 error, 2 usage, 3 findings at or above `--fail-on`, 4 score below
//! `--fail-below`.

/// `println!` to stdout that ends the process quietly when the reader has gone away
/// (`kube-devops ... | head`), instead of panicking on a broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to stdout with the same broken-pipe handling as `outln!`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

mod analyze;
mod check;
mod controller;
mod crd;
pub mod deploy;
mod enforce;
mod gitops;
mod list;
mod multi_cluster;
mod observability;
mod policy;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use crate::cluster::ClusterTarget;

/// Exit code for findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 3;
/// Exit code for a score below `--fail-below`.
pub const EXIT_SCORE: u8 = 4;

/// Kubernetes governance: best-practice checks, health scores, admission and enforcement.
#[derive(Debug, Parser)]
#[command(name = "kube-devops", version = kube_devops::VERSION, disable_version_flag = true)]
pub struct Cli {
    /// Path to a kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the
    /// in-cluster service account).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Log level: error, warn, info, debug or trace (or a RUST_LOG filter).
    #[arg(
        long,
        global = true,
        default_value = "warn",
        env = "KUBE_DEVOPS_LOG_LEVEL"
    )]
    pub log_level: String,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per event.
    Json,
    /// Human-readable lines.
    Text,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version.
    Version,
    /// Check connectivity, the server version and every permission the controller (or,
    /// with --analyze, `analyze`) uses.
    Check(check::CheckArgs),
    /// List cluster objects.
    #[command(subcommand)]
    List(list::ListCommand),
    /// Audit workloads against a policy: the live cluster, or manifests with --path.
    Analyze(analyze::AnalyzeArgs),
    /// Custom resource definitions.
    #[command(subcommand)]
    Crd(crd::CrdCommand),
    /// Raw installation manifests: the objects the Helm chart renders by default.
    #[command(subcommand)]
    Deploy(deploy::DeployCommand),
    /// Policies: built-in bundles and GitOps export, import and diff.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Enforcement: print the plan for the live cluster, or undo what enforcement changed.
    #[command(subcommand)]
    Enforce(enforce::EnforceCommand),
    /// Audit several kubeconfig contexts at once.
    #[command(subcommand)]
    MultiCluster(multi_cluster::MultiClusterCommand),
    /// The validating admission webhook.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Monitoring objects: metrics Service, ServiceMonitor, Grafana dashboard, alert rules.
    #[command(subcommand)]
    Observability(observability::ObservabilityCommand),
    /// Watch controller: pod watch, namespace scores (by each namespace's DevOpsPolicies,
    /// else the default policy), leader election, ops HTTP server on :8080.
    Watch(controller::WatchArgs),
    /// Operator: reconciles DevOpsPolicies (status, audit results, policy reports, events)
    /// from its own pod and policy watches, with leader election; ops HTTP server on :9090.
    Reconcile(controller::ReconcileArgs),
    /// Every controller component in one process (the in-cluster default): the watch set,
    /// the operator, and the admission webhook on :8443.
    Run(controller::RunArgs),
}

/// Runs a future on a fresh multi-threaded runtime (one-shot commands only; the
/// controllers run inside their own actor system).
pub fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(f))
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Writes to stdout; a closed pipe ends the process with status 0, as other command-line
/// tools do, and any other write error is reported on stderr with status 1.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// An error and its causes on one line, each cause once (many errors repeat their
/// source's text in their own).
pub fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(&cli.log_level, cli.log_format);
    // One TLS crypto provider for the whole process, chosen before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!(
                "error: {}",
                kube_devops::report::terminal::escape(&describe(&e))
            );
            ExitCode::from(1)
        }
    }
}

/// Runs a parsed command; `Ok` carries the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let target = ClusterTarget {
        kubeconfig: cli.kubeconfig.clone(),
        context: cli.context.clone(),
    };
    match cli.command {
        Command::Version => {
            outln!("kube-devops version {}", kube_devops::VERSION);
            Ok(0)
        }
        Command::Check(args) => check::run(args, &target),
        Command::List(cmd) => block_on(async { list::run(target.connect().await?, cmd).await })?,
        Command::Analyze(args) => analyze::run(args, &target),
        Command::Crd(cmd) => crd::run(cmd, &target),
        Command::Deploy(cmd) => deploy::run(cmd),
        Command::Policy(cmd) => policy::run(cmd, &target),
        Command::Enforce(cmd) => enforce::run(cmd, &target),
        Command::MultiCluster(cmd) => multi_cluster::run(cmd, &target),
        Command::Webhook(cmd) => webhook::run(cmd, &target),
        Command::Observability(cmd) => observability::run(cmd),
        Command::Watch(args) => controller::run_controller(args, &target),
        Command::Reconcile(args) => controller::run_operator(args, &target),
        Command::Run(args) => controller::run_all(args, &target),
    }
}
