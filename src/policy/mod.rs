//! Policies: the CRD types, effective-policy resolution, bundles, exemptions and excluded
//! namespaces.
//!
//! In: policy specs from the cluster, files or bundles, and object annotations. Out: the
//! [`EffectivePolicy`] the evaluator reads, the one resolution of a namespace's policy
//! ([`PolicySet::resolve`]), and the rules for what is left alone.

pub mod bundles;
pub mod crd;
pub mod diff;
mod effective;
pub mod exemptions;
pub mod namespaces;
mod resolve;
pub mod strict;

pub use crd::{
    DevOpsPolicy, DevOpsPolicySpec, DevOpsPolicyStatus, PolicyAuditResult, SeverityCounts,
};
pub use effective::{
    DEFAULT_DENY_SEVERITY, DEFAULT_MAX_RESTARTS, DEFAULT_PENDING_SECONDS, EffectivePolicy,
    PolicyError, is_quantity,
};
pub use namespaces::NamespaceExclusions;
pub use resolve::{IgnoredPolicy, NamespacePolicies, PolicySet, Resolution};
