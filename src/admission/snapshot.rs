//! The policy snapshot: one immutable view of every namespace's policy, published by the
//! operator and read by admission (and by everything else that judges).
//!
//! In: a [`PolicySet`] (every DevOpsPolicy, the controller's default policy and the
//! excluded namespaces). Out: an immutable [`PolicySnapshot`], cut once per policy change
//! and shared by every request. [`PolicySnapshot::resolve`] is the set's one resolution;
//! [`PolicySnapshot::namespace`] is admission's projection of it: the union of the
//! namespace's valid DevOpsPolicies with runtime checks removed, or `None` when the
//! namespace has no DevOpsPolicy (the default policy scores such a namespace but never
//! denies in it). A policy that does not resolve is left out of the union and reported as a
//! warning on the requests of its namespace, never silently.

use std::collections::HashMap;

use crate::policy::{
    DevOpsPolicySpec, EffectivePolicy, NamespaceExclusions, PolicySet, Resolution,
};

/// What admission knows about one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePolicy {
    /// The union of the namespace's valid policies, without runtime checks; `None` when
    /// every policy there is invalid.
    pub policy: Option<EffectivePolicy>,
    /// Names of the policies in the union, sorted.
    pub policies: Vec<String>,
    /// One line per policy left out, saying why.
    pub ignored: Vec<String>,
}

/// An immutable view of every namespace's policy.
#[derive(Debug, Clone, Default)]
pub struct PolicySnapshot {
    set: PolicySet,
    admission: HashMap<String, NamespacePolicy>,
}

impl PolicySnapshot {
    /// A snapshot with no DevOpsPolicies: every request is allowed.
    pub fn empty(exclusions: NamespaceExclusions) -> Self {
        Self::new(PolicySet::new(
            EffectivePolicy::default(),
            "default",
            exclusions,
        ))
    }

    /// Cuts a snapshot of `set`.
    pub fn new(set: PolicySet) -> Self {
        let admission = set
            .namespaces()
            .filter_map(|ns| {
                let policies = set.namespace(ns)?;
                let entry = NamespacePolicy {
                    policy: policies
                        .union()
                        .map(EffectivePolicy::without_runtime_checks),
                    policies: policies.names().to_vec(),
                    ignored: policies
                        .ignored()
                        .iter()
                        .map(|i| format!("DevOpsPolicy {:?} ignored: {}", i.name, i.error))
                        .collect(),
                };
                Some((ns.to_owned(), entry))
            })
            .collect();
        PolicySnapshot { set, admission }
    }

    /// Builds the snapshot from `(namespace, name, spec)` of every policy, with the
    /// built-in default policy for namespaces without one.
    pub fn from_policies<'a>(
        policies: impl IntoIterator<Item = (&'a str, &'a str, &'a DevOpsPolicySpec)>,
        exclusions: NamespaceExclusions,
    ) -> Self {
        Self::new(
            PolicySet::new(EffectivePolicy::default(), "default", exclusions)
                .with_policies(policies),
        )
    }

    /// How `ns` is judged: the one resolution (see [`PolicySet::resolve`]).
    pub fn resolve(&self, ns: &str) -> Resolution<'_> {
        self.set.resolve(ns)
    }

    /// The policy set the snapshot was cut from.
    pub fn set(&self) -> &PolicySet {
        &self.set
    }

    /// Admission's view of a namespace: `None` when it has no DevOpsPolicy.
    pub fn namespace(&self, ns: &str) -> Option<&NamespacePolicy> {
        self.admission.get(ns)
    }

    /// The excluded namespaces.
    pub fn exclusions(&self) -> &NamespaceExclusions {
        self.set.exclusions()
    }

    /// Namespaces with at least one policy.
    pub fn namespace_count(&self) -> usize {
        self.admission.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::CheckId;

    #[test]
    fn admission_sees_the_union_without_runtime_checks_and_only_where_policies_exist() {
        let spec = DevOpsPolicySpec {
            forbid_latest_tag: Some(true),
            max_restart_count: Some(3),
            ..DevOpsPolicySpec::default()
        };
        let snap =
            PolicySnapshot::from_policies([("shop", "p", &spec)], NamespaceExclusions::default());
        let shop = snap.namespace("shop").unwrap();
        let policy = shop.policy.as_ref().unwrap();
        assert!(policy.severity(CheckId::LatestTag).is_some());
        assert_eq!(policy.severity(CheckId::HighRestarts), None);
        // The full resolution keeps the runtime check for scores and status.
        let full = snap.resolve("shop").policy().unwrap();
        assert!(full.severity(CheckId::HighRestarts).is_some());
        // A namespace without policies: scored by the default, never judged at admission.
        assert!(snap.namespace("blog").is_none());
        assert!(matches!(snap.resolve("blog"), Resolution::Default { .. }));
    }
}
