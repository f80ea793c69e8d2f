//! Effective-policy resolution: the one answer to "which checks judge namespace N, and
//! where do they come from".
//!
//! In: every DevOpsPolicy spec with its namespace and name, the controller's default
//! policy (from `--policy`, `--bundle`, or the built-in default) and the excluded
//! namespaces. Out: a [`PolicySet`] whose [`PolicySet::resolve`] is the only resolution
//! in kube-devops: the live scores, admission, policy status, audit results, reports,
//! enforcement and cluster audits all call it, so they cannot disagree.
//!
//! The rule: an excluded namespace resolves to [`Resolution::Excluded`]; a namespace with
//! at least one valid DevOpsPolicy resolves to the union of its valid policies
//! ([`Resolution::Policies`]: a check is on if any policy turns it on, the highest
//! severity and the strictest thresholds win); any other namespace resolves to the
//! controller's default ([`Resolution::Default`]). A policy that does not resolve (an
//! unknown check id, a bad quantity) is left out of the union and reported with the
//! resolution, never dropped silently. Admission judges only `Policies`: a namespace
//! without a DevOpsPolicy is allowed, as the product has always promised.

use std::collections::HashMap;
use std::sync::Arc;

use super::crd::DevOpsPolicySpec;
use super::effective::{EffectivePolicy, PolicyError};
use super::namespaces::NamespaceExclusions;
use crate::checks::CheckId;

/// A DevOpsPolicy left out of its namespace's union, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredPolicy {
    /// The policy's name.
    pub name: String,
    /// Why it does not resolve.
    pub error: PolicyError,
}

/// The DevOpsPolicies of one namespace, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePolicies {
    names: Vec<String>,
    members: Vec<EffectivePolicy>,
    ignored: Vec<IgnoredPolicy>,
    union: Option<EffectivePolicy>,
}

impl NamespacePolicies {
    /// Resolves the `(name, spec)` pairs of one namespace.
    pub fn new<'a>(specs: impl IntoIterator<Item = (&'a str, &'a DevOpsPolicySpec)>) -> Self {
        let mut specs: Vec<(&str, &DevOpsPolicySpec)> = specs.into_iter().collect();
        specs.sort_by_key(|(name, _)| *name);
        let mut out = NamespacePolicies {
            names: Vec::new(),
            members: Vec::new(),
            ignored: Vec::new(),
            union: None,
        };
        for (name, spec) in specs {
            match EffectivePolicy::from_spec(spec) {
                Ok(policy) => {
                    out.names.push(name.to_owned());
                    out.members.push(policy);
                }
                Err(error) => out.ignored.push(IgnoredPolicy {
                    name: name.to_owned(),
                    error,
                }),
            }
        }
        out.union = EffectivePolicy::union(&out.members);
        out
    }

    /// Names of the valid policies, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The policies left out, with why.
    pub fn ignored(&self) -> &[IgnoredPolicy] {
        &self.ignored
    }

    /// The union of the valid policies; `None` when every policy here is invalid.
    pub fn union(&self) -> Option<&EffectivePolicy> {
        self.union.as_ref()
    }

    /// One valid policy's own resolution, by name.
    pub fn member(&self, name: &str) -> Option<&EffectivePolicy> {
        let i = self.names.iter().position(|n| n == name)?;
        self.members.get(i)
    }

    /// The policy a check of the union is credited to: the first valid policy (by name)
    /// that turns the check on at the union's severity. `None` when the check is off.
    pub fn attribution(&self, check: CheckId) -> Option<&str> {
        let wanted = self.union.as_ref()?.severity(check)?;
        self.names
            .iter()
            .zip(&self.members)
            .find(|(_, p)| p.severity(check) == Some(wanted))
            .map(|(n, _)| n.as_str())
    }

    /// Every policy here, valid or not, by name.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .map(String::as_str)
            .chain(self.ignored.iter().map(|i| i.name.as_str()))
    }
}

/// How a namespace is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution<'a> {
    /// Excluded: not scored, not admitted, never enforced.
    Excluded,
    /// The union of the namespace's valid DevOpsPolicies.
    Policies {
        /// The union.
        policy: &'a EffectivePolicy,
        /// The namespace's policies: the valid ones, the ignored ones and attribution.
        policies: &'a NamespacePolicies,
    },
    /// No valid DevOpsPolicy: the controller's default policy.
    Default {
        /// The default policy.
        policy: &'a EffectivePolicy,
        /// Where it came from: `default`, `bundle restricted`, a file name.
        origin: &'a str,
        /// Policies of the namespace that were left out (all of them invalid), if any.
        ignored: &'a [IgnoredPolicy],
    },
}

impl<'a> Resolution<'a> {
    /// The policy that judges the namespace; `None` when it is excluded.
    pub fn policy(&self) -> Option<&'a EffectivePolicy> {
        match *self {
            Resolution::Excluded => None,
            Resolution::Policies { policy, .. } | Resolution::Default { policy, .. } => {
                Some(policy)
            }
        }
    }

    /// The namespace's DevOpsPolicies, when they decide.
    pub fn policies(&self) -> Option<&'a NamespacePolicies> {
        match *self {
            Resolution::Policies { policies, .. } => Some(policies),
            _ => None,
        }
    }
}

/// Every namespace's policies plus the default: the input of [`PolicySet::resolve`].
/// Cheap to clone (namespaces are shared), so a new immutable snapshot can be cut after
/// each change.
#[derive(Debug, Clone)]
pub struct PolicySet {
    default: Arc<EffectivePolicy>,
    origin: Arc<str>,
    exclusions: NamespaceExclusions,
    namespaces: HashMap<String, Arc<NamespacePolicies>>,
}

const NO_IGNORED: &[IgnoredPolicy] = &[];

impl Default for PolicySet {
    /// The built-in default policy, the default exclusions, no DevOpsPolicies.
    fn default() -> Self {
        PolicySet::new(
            EffectivePolicy::default(),
            "default",
            NamespaceExclusions::default(),
        )
    }
}

impl PolicySet {
    /// A set with no DevOpsPolicies: every namespace that is not excluded resolves to
    /// `default`, described as `origin`.
    pub fn new(default: EffectivePolicy, origin: &str, exclusions: NamespaceExclusions) -> Self {
        PolicySet {
            default: Arc::new(default),
            origin: Arc::from(origin),
            exclusions,
            namespaces: HashMap::new(),
        }
    }

    /// Adds every `(namespace, name, spec)`, replacing what the set held.
    pub fn with_policies<'a>(
        mut self,
        policies: impl IntoIterator<Item = (&'a str, &'a str, &'a DevOpsPolicySpec)>,
    ) -> Self {
        let mut by_ns: HashMap<&str, Vec<(&str, &DevOpsPolicySpec)>> = HashMap::new();
        for (ns, name, spec) in policies {
            by_ns.entry(ns).or_default().push((name, spec));
        }
        self.namespaces = by_ns
            .into_iter()
            .map(|(ns, specs)| (ns.to_owned(), Arc::new(NamespacePolicies::new(specs))))
            .collect();
        self
    }

    /// Replaces the policies of one namespace (none: it has no DevOpsPolicy any more).
    /// Returns whether its resolution changed.
    pub fn set_namespace<'a>(
        &mut self,
        ns: &str,
        specs: impl IntoIterator<Item = (&'a str, &'a DevOpsPolicySpec)>,
    ) -> bool {
        let next = NamespacePolicies::new(specs);
        let empty = next.names.is_empty() && next.ignored.is_empty();
        let changed = match self.namespaces.get(ns) {
            Some(current) => **current != next,
            None => !empty,
        };
        if empty {
            self.namespaces.remove(ns);
        } else if changed {
            self.namespaces.insert(ns.to_owned(), Arc::new(next));
        }
        changed
    }

    /// How `ns` is judged. The only resolution function: see the module documentation.
    pub fn resolve(&self, ns: &str) -> Resolution<'_> {
        if self.exclusions.is_excluded(ns) {
            return Resolution::Excluded;
        }
        match self.namespaces.get(ns) {
            Some(policies) => match &policies.union {
                Some(policy) => Resolution::Policies {
                    policy,
                    policies: policies.as_ref(),
                },
                None => Resolution::Default {
                    policy: &self.default,
                    origin: &self.origin,
                    ignored: &policies.ignored,
                },
            },
            None => Resolution::Default {
                policy: &self.default,
                origin: &self.origin,
                ignored: NO_IGNORED,
            },
        }
    }

    /// The DevOpsPolicies of a namespace (valid or not), if it has any.
    pub fn namespace(&self, ns: &str) -> Option<&NamespacePolicies> {
        self.namespaces.get(ns).map(Arc::as_ref)
    }

    /// Namespaces holding at least one DevOpsPolicy, valid or not.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.namespaces.keys().map(String::as_str)
    }

    /// Namespaces whose resolution differs between `self` and `other`.
    pub fn changed_namespaces(&self, other: &PolicySet) -> Vec<String> {
        let mut out: Vec<String> = self
            .namespaces
            .keys()
            .chain(other.namespaces.keys())
            .filter(|ns| self.resolve(ns) != other.resolve(ns))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The excluded namespaces.
    pub fn exclusions(&self) -> &NamespaceExclusions {
        &self.exclusions
    }

    /// The controller's default policy.
    pub fn default_policy(&self) -> &EffectivePolicy {
        &self.default
    }

    /// Where the default policy came from.
    pub fn default_origin(&self) -> &str {
        &self.origin
    }

    /// Whether the default policy or the exclusions differ (every namespace may judge
    /// differently then).
    pub fn same_defaults(&self, other: &PolicySet) -> bool {
        self.default == other.default
            && self.exclusions.names_and_globs() == other.exclusions.names_and_globs()
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
