//! The test API server as a program: starts a server on 127.0.0.1, optionally seeded from
//! manifests, with webhook Services mapped to loopback addresses, prints its URL as the
//! first line on stdout, and serves until SIGINT or SIGTERM.

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
    /// Route a webhook Service's port to a loopback address:
    /// `NAMESPACE/NAME:PORT=127.0.0.1:PORT` (repeatable).
    #[arg(long, value_name = "NS/NAME:PORT=ADDRESS", value_parser = parse_mapping)]
    map_service: Vec<ServiceMapping>,
}

/// One `--map-service` value.
#[derive(Clone, Debug)]
struct ServiceMapping {
    namespace: String,
    name: String,
    port: u16,
    address: String,
}

fn parse_mapping(text: &str) -> Result<ServiceMapping, String> {
    let usage = || format!("{text:?} is not NAMESPACE/NAME:PORT=127.0.0.1:PORT");
    let (service, address) = text.split_once('=').ok_or_else(usage)?;
    let (namespace, rest) = service.split_once('/').ok_or_else(usage)?;
    let (name, port) = rest.rsplit_once(':').ok_or_else(usage)?;
    let port = port.parse::<u16>().map_err(|_| usage())?;
    let host = address
        .trim_start_matches("https://")
        .rsplit_once(':')
        .map(|(host, _)| host)
        .ok_or_else(usage)?;
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return Err(format!("{address:?} is not a loopback address"));
    }
    if namespace.is_empty() || name.is_empty() {
        return Err(usage());
    }
    Ok(ServiceMapping {
        namespace: namespace.to_string(),
        name: name.to_string(),
        port,
        address: address.to_string(),
    })
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
    for mapping in &cli.map_service {
        handle.map_service(
            &mapping.namespace,
            &mapping.name,
            mapping.port,
            &mapping.address,
        );
    }
    // The handlers exist before the URL is printed, so a signal sent as soon as a caller
    // reads it stops the server cleanly.
    let stop = stop_signals()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", handle.url())?;
    stdout.flush()?;
    eprintln!("kubeconfig: {}", handle.kubeconfig_path().display());
    wait_for_signal(stop).await;
    handle.shutdown().await;
    Ok(())
}

/// SIGINT and SIGTERM handlers.
fn stop_signals() -> anyhow::Result<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok((
        signal(SignalKind::interrupt())?,
        signal(SignalKind::terminate())?,
    ))
}

async fn wait_for_signal(
    (mut interrupt, mut terminate): (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
) {
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::parse_mapping;

    #[test]
    fn service_mappings_parse_and_refuse_what_is_not_loopback() {
        let parsed = parse_mapping("hooks/policy:443=127.0.0.1:8443")
            .map(|m| (m.namespace, m.name, m.port, m.address));
        assert_eq!(
            parsed,
            Ok((
                "hooks".into(),
                "policy".into(),
                443,
                "127.0.0.1:8443".into()
            ))
        );
        for bad in [
            "hooks/policy=127.0.0.1:8443",
            "policy:443=127.0.0.1:8443",
            "hooks/policy:443=10.0.0.5:8443",
            "hooks/policy:http=127.0.0.1:8443",
        ] {
            assert!(parse_mapping(bad).is_err(), "{bad}");
        }
    }
}
