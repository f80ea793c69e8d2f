//! The policy snapshot admission judges against: per namespace, the union of its
//! DevOpsPolicies with runtime checks removed, plus the excluded namespaces.
//!
//! In: every DevOpsPolicy spec with its namespace and name, and the exclusions. Out: an
//! immutable [`PolicySnapshot`], built once per policy change and then shared by every
//! request. A policy that does not resolve (an unknown check id) is left out of the union
//! and reported as a warning on the requests of its namespace, never silently.

use std::collections::{BTreeMap, HashMap};

use crate::policy::{DevOpsPolicySpec, EffectivePolicy, NamespaceExclusions};

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

/// An immutable view of every namespace's admission policy.
#[derive(Debug, Clone, Default)]
pub struct PolicySnapshot {
    namespaces: HashMap<String, NamespacePolicy>,
    exclusions: NamespaceExclusions,
}

impl PolicySnapshot {
    /// A snapshot with no policies: every request is allowed.
    pub fn empty(exclusions: NamespaceExclusions) -> Self {
        PolicySnapshot {
            namespaces: HashMap::new(),
            exclusions,
        }
    }

    /// Builds the snapshot from `(namespace, name, spec)` of every policy.
    pub fn from_policies<'a>(
        policies: impl IntoIterator<Item = (&'a str, &'a str, &'a DevOpsPolicySpec)>,
        exclusions: NamespaceExclusions,
    ) -> Self {
        let mut by_ns: BTreeMap<&str, Vec<(&str, &DevOpsPolicySpec)>> = BTreeMap::new();
        for (ns, name, spec) in policies {
            by_ns.entry(ns).or_default().push((name, spec));
        }
        let namespaces = by_ns
            .into_iter()
            .map(|(ns, mut specs)| {
                specs.sort_by_key(|(name, _)| *name);
                let mut valid = Vec::new();
                let mut policies = Vec::new();
                let mut ignored = Vec::new();
                for (name, spec) in specs {
                    match EffectivePolicy::from_spec(spec) {
                        Ok(p) => {
                            valid.push(p.without_runtime_checks());
                            policies.push(name.to_owned());
                        }
                        Err(e) => ignored.push(format!("DevOpsPolicy {name:?} ignored: {e}")),
                    }
                }
                let entry = NamespacePolicy {
                    policy: EffectivePolicy::union(&valid),
                    policies,
                    ignored,
                };
                (ns.to_owned(), entry)
            })
            .collect();
        PolicySnapshot {
            namespaces,
            exclusions,
        }
    }

    /// The namespace's policy, `None` when it has no DevOpsPolicy.
    pub fn namespace(&self, ns: &str) -> Option<&NamespacePolicy> {
        self.namespaces.get(ns)
    }

    /// The excluded namespaces.
    pub fn exclusions(&self) -> &NamespaceExclusions {
        &self.exclusions
    }

    /// Namespaces with at least one policy.
    pub fn namespace_count(&self) -> usize {
        self.namespaces.len()
    }
}
