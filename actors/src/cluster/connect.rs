//! Building a `kube::Client` from `--kubeconfig` and `--context`, with connection and read
//! timeouts so an unreachable cluster fails in seconds, not minutes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};

/// How long to wait for a TCP and TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a response.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig file could not be read.
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// The cause.
        source: kube::config::KubeconfigError,
    },
    /// The kubeconfig does not describe a usable cluster (unknown context, bad user...).
    #[error("kubeconfig: {0}")]
    Config(#[from] kube::config::KubeconfigError),
    /// Neither a kubeconfig nor an in-cluster service account was found.
    #[error(
        "no cluster configuration found (give --kubeconfig, set KUBECONFIG, or run in a pod): {0}"
    )]
    Infer(#[from] kube::config::InferConfigError),
    /// The client could not be built.
    #[error("cannot build a client: {0}")]
    Client(#[from] kube::Error),
}

/// Reads a kubeconfig: the given file, or `$KUBECONFIG` (all its files, merged), or
/// `~/.kube/config`.
pub fn read_kubeconfig(path: Option<&Path>) -> Result<Kubeconfig, ConnectError> {
    match path {
        Some(p) => Kubeconfig::read_from(p).map_err(|source| ConnectError::Kubeconfig {
            path: p.display().to_string(),
            source,
        }),
        None => match Kubeconfig::from_env()? {
            Some(kc) => Ok(kc),
            None => Ok(Kubeconfig::read()?),
        },
    }
}

/// Connects to the cluster of `context` in `kubeconfig` (each defaulted as kubectl does).
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Client, ConnectError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let mut config = match (kubeconfig, context) {
        (Some(_), _) => {
            Config::from_custom_kubeconfig(read_kubeconfig(kubeconfig)?, &options).await?
        }
        (None, Some(_)) => Config::from_kubeconfig(&options).await?,
        (None, None) => Config::infer().await?,
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    Ok(Client::try_from(config)?)
}

/// Which cluster the global flags point at.
#[derive(Debug, Clone, Default)]
pub struct ClusterTarget {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
}

impl ClusterTarget {
    /// Connects to the cluster.
    pub async fn connect(&self) -> Result<kube::Client, ConnectError> {
        connect(self.kubeconfig.as_deref(), self.context.as_deref()).await
    }
}
