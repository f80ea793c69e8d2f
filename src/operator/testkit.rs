//! What the operator's unit tests share: fixed instants, a policy set, a held policy.

use jiff::Timestamp;

use super::status::PolicyState;
use crate::policy::crd::DevOpsPolicyStatus;
use crate::policy::{
    DevOpsPolicySpec, EffectivePolicy, NamespaceExclusions, PolicyError, PolicySet,
};

/// The instant tests judge at.
pub fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

/// Five minutes after [`now`].
pub fn later() -> Timestamp {
    "2026-06-01T00:05:00Z".parse().unwrap()
}

/// A spec turning on `forbidLatestTag`.
pub fn latest() -> DevOpsPolicySpec {
    DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        ..DevOpsPolicySpec::default()
    }
}

/// The built-in default, the default exclusions, and these `(namespace, name, spec)`.
pub fn set(policies: &[(&str, &str, DevOpsPolicySpec)]) -> PolicySet {
    PolicySet::new(
        EffectivePolicy::default(),
        "default",
        NamespaceExclusions::default(),
    )
    .with_policies(policies.iter().map(|(ns, name, spec)| (*ns, *name, spec)))
}

/// Policy `p` (generation 1 unless told), holding `status`.
pub fn policy<'a>(
    status: Option<&'a DevOpsPolicyStatus>,
    error: Option<&'a PolicyError>,
    retention: u32,
) -> PolicyState<'a> {
    PolicyState {
        name: "p",
        uid: "uid-p",
        generation: Some(1),
        error,
        status,
        retention,
    }
}
