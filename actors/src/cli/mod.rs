//! The command line: clap definitions, logging set-up, dispatch and exit codes.
//!
//! In: `argv`. Out: results on stdout, logs and errors on stderr, and an exit code:
//! 0 success, 1 error, 2 usage, 3 findings at or above `--fail-on`, 4 score below
//! `--fail-below`.

mod analyze;
mod crd;
mod policy;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code for findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 3;
/// Exit code for a score below `--fail-below`.
pub const EXIT_SCORE: u8 = 4;

/// Kubernetes governance: best-practice checks, health scores, admission and enforcement.
#[derive(Debug, Parser)]
#[command(name = "kube-devops", version = kube_devops::VERSION, disable_version_flag = true)]
pub struct Cli {
    /// Path to a kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Log level: error, warn, info, debug or trace (or a RUST_LOG filter).
    #[arg(long, global = true, default_value = "warn", env = "KUBE_DEVOPS_LOG_LEVEL")]
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
    /// Audit workloads against a policy: manifest files offline with --path.
    Analyze(analyze::AnalyzeArgs),
    /// Custom resource definitions.
    #[command(subcommand)]
    Crd(crd::CrdCommand),
    /// Policies and built-in bundles.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs a parsed command; `Ok` carries the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Version => {
            println!("kube-devops version {}", kube_devops::VERSION);
            Ok(0)
        }
        Command::Analyze(args) => analyze::run(args),
        Command::Crd(cmd) => crd::run(cmd),
        Command::Policy(cmd) => policy::run(cmd),
    }
}
