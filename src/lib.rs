//! kube-devops domain crate: everything that decides, nothing that talks to a network.
//!
//! In: Kubernetes objects (typed or raw JSON/YAML), policies, and the current time. Out:
//! facts, findings, scores, reports. The actor system and the CLI live in
//! `kube-devops-actors` and call into this crate; nothing here knows about actix, tokio or
//! HTTP.

pub mod admission;
pub mod audit;
pub mod certificates;
pub mod checks;
pub mod cross;
pub mod dashboard;
pub mod deploy;
pub mod enforce;
pub mod facts;
pub mod manifests;
pub mod observability;
pub mod operator;
pub mod owners;
pub mod policy;
pub mod rbac;
pub mod report;
pub mod score;
#[doc(hidden)]
pub mod testing;

/// The crate version, shared by the binary's `version` command.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
