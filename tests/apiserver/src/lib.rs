//! A test Kubernetes API server. It speaks the Kubernetes REST protocol over loopback
//! HTTP closely enough that the real `kube` client, `kube_runtime::watcher` and `kubectl`
//! work against it: discovery, CRUD with resourceVersion semantics, pagination,
//! selectors, watches with bookmarks and 410 Gone, status subresources, merge / JSON /
//! strategic patches, server-side apply with managedFields, CRDs with schema validation
//! and pruning, finalizers, dry runs, validating admission webhooks called over HTTPS,
//! bearer-token authentication with RBAC authorization, a small workload simulation and
//! fault injection.
//! Start it with [`start`]; drive it through the returned [`ApiServerHandle`]. Where it
//! cannot match the real server it answers an explicit error rather than guessing.

mod admission;
mod app;
mod apply;
mod authn;
mod config;
mod convert;
mod crd;
mod defaults;
mod discovery;
mod faults;
mod fieldset;
mod handle;
mod history;
mod http;
mod kubeconfig;
mod lifecycle;
mod meta;
mod nodes;
mod openapi;
mod patch;
mod pending;
mod planned;
mod printers;
mod protobuf;
mod rbac;
mod read;
mod resources;
mod review;
mod routes;
mod scale;
mod schema;
mod seed;
mod selector;
mod simulation;
mod status;
mod store;
mod stored;
mod strategic;
mod strategy;
mod structure;
mod table;
mod tls;
mod watch;
mod write;

pub use config::ServerConfig;
pub use faults::{FaultAction, RequestMatch};
pub use handle::{ApiServerHandle, SeedReport, start};
pub use rbac::ForbiddenRequest;
pub use status::{ApiError, Reason};
pub use store::StoreStats;

/// Annotation that scripts a simulated pod's phase (`Pending`, `Running`, `Succeeded`, `Failed`).
pub const PHASE_ANNOTATION: &str = "apiserver.test/phase";
/// Annotation that scripts the restart count of every container of a simulated pod.
pub const RESTART_COUNT_ANNOTATION: &str = "apiserver.test/restart-count";
/// Annotation that scripts a waiting reason (e.g. `CrashLoopBackOff`) for every container.
pub const WAITING_REASON_ANNOTATION: &str = "apiserver.test/waiting-reason";
/// Annotation that scripts container readiness (`"false"` makes the pod not ready).
pub const READY_ANNOTATION: &str = "apiserver.test/ready";
/// Annotation listing ports nothing listens on (`"8080,9090"`): a container whose
/// liveness or readiness probe targets one of them fails it, as a real kubelet's probe
/// would: a failing readiness probe keeps it not ready, a failing liveness probe keeps it
/// restarting (`CrashLoopBackOff`).
pub const FAILING_PROBE_PORTS_ANNOTATION: &str = "apiserver.test/failing-probe-ports";

/// Errors of the handle and the binary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be opened.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The requested port.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A manifest could not be parsed.
    #[error("{path}: invalid YAML: {message}")]
    Manifest {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An object names a kind this server does not serve.
    #[error("no resource is served for apiVersion {api_version:?} kind {kind:?}")]
    UnknownKind {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// The server refused an object.
    #[error("the server refused the object: {0}")]
    Api(#[from] ApiError),
    /// The kube client could not be built.
    #[error("cannot build a kube client: {0}")]
    Client(String),
    /// The cluster CA certificate could not be made.
    #[error("cannot make the cluster CA certificate: {0}")]
    Certificate(String),
}

/// Result alias of the handle.
pub type Result<T, E = Error> = std::result::Result<T, E>;
