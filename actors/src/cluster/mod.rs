//! Talking to a cluster for the one-shot commands: connecting, paginated listing, and
//! gathering the facts of every workload and pod.
//!
//! In: a kubeconfig path and context (or the usual defaults). Out: a `kube::Client`, and
//! facts in the domain crate's types. Lists are read page by page and turned into facts
//! page by page, so memory follows the facts, not the full objects.

mod connect;
mod gather;

pub use connect::{ClusterTarget, ConnectError, connect, read_kubeconfig};
pub use gather::{ClusterFacts, GatherError, gather, list_all, list_pages};
