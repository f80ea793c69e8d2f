//! kube-devops actors crate: the command line, and (as it grows) the actix system, the
//! Kubernetes I/O and the HTTP servers. Decisions are made by the `kube-devops` domain
//! crate; this crate reads input, calls it, and writes results.

pub mod cli;
pub mod cluster;
pub mod http;
pub mod metrics;
pub mod system;
