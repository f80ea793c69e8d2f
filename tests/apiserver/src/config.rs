//! Server configuration: port, workload simulation and its events, how many Nodes,
//! watch history bounds, bookmark period, seed directories and where to write the kubeconfig.
//! Built with chained setters.

use std::path::PathBuf;
use std::time::Duration;

/// How to start a server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Run the simulated controllers and kubelet.
    pub simulation: bool,
    /// The most watch events kept per resource; older resourceVersions answer 410 Gone.
    pub history_limit: usize,
    /// The most bytes (serialized objects) of watch events kept per resource.
    pub history_bytes: usize,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Directories of manifests loaded at start.
    pub seed_dirs: Vec<PathBuf>,
    /// Where to write the kubeconfig; a temporary file when unset.
    pub kubeconfig_out: Option<PathBuf>,
    /// Whether the simulated controllers, scheduler and kubelet record events.
    pub simulated_events: bool,
    /// How many Nodes (`node-1` .. `node-N`) the cluster registers at start.
    pub nodes: usize,
    /// Whether watches serve streaming lists (`sendInitialEvents`), as kube-apiserver does
    /// with its WatchList feature; off, such a watch is refused with 422 as it refuses it.
    pub watch_list: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 0,
            simulation: true,
            history_limit: crate::history::UPPER_BOUND,
            history_bytes: crate::history::DEFAULT_BYTES,
            bookmark_interval: Duration::from_secs(1),
            seed_dirs: Vec::new(),
            kubeconfig_out: None,
            simulated_events: true,
            nodes: 3,
            watch_list: true,
        }
    }
}

impl ServerConfig {
    /// The defaults: free port, simulation and its events on, 3 Nodes, watch history per
    /// resource as kube-apiserver keeps it (75 s of events, at most 102,400 of them) and
    /// at most 64 MiB of it, 1 s bookmarks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Listen on this port (0 = free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Turn the workload simulation on or off.
    pub fn simulation(mut self, on: bool) -> Self {
        self.simulation = on;
        self
    }

    /// Keep at most this many watch events per resource (a small number lets a test
    /// push a version out of the window and see 410 Gone).
    pub fn history_limit(mut self, events: usize) -> Self {
        self.history_limit = events;
        self
    }

    /// Keep at most this many bytes of watch events per resource.
    pub fn history_bytes(mut self, bytes: usize) -> Self {
        self.history_bytes = bytes;
        self
    }

    /// Send bookmarks this often.
    pub fn bookmark_interval(mut self, every: Duration) -> Self {
        self.bookmark_interval = every;
        self
    }

    /// Load the manifests under this directory at start.
    pub fn seed_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.seed_dirs.push(dir.into());
        self
    }

    /// Turn the events of the simulated components on or off (on by default; a large
    /// simulation may leave them out).
    pub fn simulated_events(mut self, on: bool) -> Self {
        self.simulated_events = on;
        self
    }

    /// Register this many Nodes at start (3 by default; 0 for none).
    pub fn nodes(mut self, count: usize) -> Self {
        self.nodes = count;
        self
    }

    /// Write the kubeconfig here.
    pub fn kubeconfig_out(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig_out = Some(path.into());
        self
    }

    /// Serve streaming lists (on by default), or refuse them as a server without the
    /// WatchList feature does.
    pub fn watch_list(mut self, on: bool) -> Self {
        self.watch_list = on;
        self
    }
}
