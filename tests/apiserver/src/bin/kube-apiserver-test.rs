//! The test API server as a program: starts a server on 127.0.0.1, optionally seeded from
//! manifests, prints its URL as the first line on stdout, and serves until SIGINT or
//! SIGTERM.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use kube_apiserver_test::{ServerConfig, start};

/// A test Kubernetes API server on loopback HTTP, for kube clients and kubectl.
#[derive(Debug, Parser)]
#[command(name = "kube-apiserver-test", version)]
struct Cli {
    /// Port to listen on (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Directory of YAML/JSON manifests to load at start (recursive; repeatable).
    #[arg(long)]
    seed: Vec<PathBuf>,
    /// Write a kubeconfig for this server to PATH.
    #[arg(long, value_name = "PATH")]
    kubeconfig_out: Option<PathBuf>,
    /// Do not simulate controllers and the kubelet.
    #[arg(long)]
    no_simulation: bool,
    /// How many Nodes the cluster registers at start.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let mut config = ServerConfig::new()
        .port(cli.port)
        .simulation(!cli.no_simulation)
        .nodes(cli.nodes);
    for dir in cli.seed {
        config = config.seed_dir(dir);
    }
    if let Some(path) = cli.kubeconfig_out {
        config = config.kubeconfig_out(path);
    }
    let handle = start(config)
        .await
        .context("starting the test API server")?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", handle.url())?;
    stdout.flush()?;
    eprintln!("kubeconfig: {}", handle.kubeconfig_path().display());
    wait_for_signal().await?;
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
