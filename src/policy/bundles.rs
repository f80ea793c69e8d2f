//! Built-in policy bundles: baseline, restricted and permissive.
//!
//! In: a bundle name. Out: a ready `DevOpsPolicySpec` (and, for `bundle-apply`, a whole
//! `DevOpsPolicy` object). Bundles are plain specs, so everything that reads a policy reads
//! a bundle the same way.

use std::collections::BTreeMap;

use super::crd::{
    CheckSettings, DefaultProbe, DefaultResources, DevOpsPolicy, DevOpsPolicySpec, EnforcementMode,
};
use crate::checks::{Category, CheckId, Severity};

/// A named, documented policy template.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// Name used on the command line.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// The policy it stands for.
    pub spec: DevOpsPolicySpec,
}

/// Names of the built-in bundles.
pub const BUNDLE_NAMES: [&str; 3] = ["baseline", "restricted", "permissive"];

/// Every built-in bundle.
pub fn bundles() -> Vec<Bundle> {
    BUNDLE_NAMES.iter().filter_map(|n| bundle(n)).collect()
}

/// The bundle with this name.
pub fn bundle(name: &str) -> Option<Bundle> {
    match name {
        "baseline" => Some(Bundle {
            name: "baseline",
            description: "Balanced audit policy for general use",
            spec: DevOpsPolicySpec {
                forbid_latest_tag: Some(true),
                require_readiness_probe: Some(true),
                enforcement_mode: Some(EnforcementMode::Audit),
                ..DevOpsPolicySpec::default()
            },
        }),
        "restricted" => Some(Bundle {
            name: "restricted",
            description: "Strict enforcement with auto-patching",
            spec: restricted(),
        }),
        "permissive" => Some(Bundle {
            name: "permissive",
            description: "Lenient monitoring for development",
            spec: DevOpsPolicySpec {
                enforcement_mode: Some(EnforcementMode::Audit),
                severity_overrides: Some(overrides(&[
                    (CheckId::LatestTag, Severity::Low),
                    (CheckId::MissingLivenessProbe, Severity::Low),
                    (CheckId::MissingReadinessProbe, Severity::Low),
                    (CheckId::HighRestarts, Severity::Medium),
                    (CheckId::LongPending, Severity::Low),
                ])),
                ..seed_checks(10, 600)
            },
        }),
        _ => None,
    }
}

fn seed_checks(max_restarts: u32, pending: u64) -> DevOpsPolicySpec {
    DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        require_liveness_probe: Some(true),
        require_readiness_probe: Some(true),
        max_restart_count: Some(max_restarts),
        forbid_pending_duration: Some(pending),
        ..DevOpsPolicySpec::default()
    }
}

fn overrides(pairs: &[(CheckId, Severity)]) -> BTreeMap<String, Severity> {
    pairs
        .iter()
        .map(|(id, s)| (id.as_str().to_owned(), *s))
        .collect()
}

fn restricted() -> DevOpsPolicySpec {
    let checks = CheckId::ALL
        .iter()
        .filter(|id| {
            let cat = id.spec().category;
            cat == Category::Security || cat == Category::Efficiency
        })
        .map(|id| (id.as_str().to_owned(), CheckSettings::default()))
        .collect();
    DevOpsPolicySpec {
        enforcement_mode: Some(EnforcementMode::Enforce),
        default_probe: Some(DefaultProbe {
            tcp_port: None,
            http_get_path: None,
            initial_delay_seconds: Some(5),
            period_seconds: Some(10),
        }),
        default_resources: Some(DefaultResources {
            cpu_request: Some("100m".into()),
            cpu_limit: Some("500m".into()),
            memory_request: Some("128Mi".into()),
            memory_limit: Some("256Mi".into()),
        }),
        severity_overrides: Some(overrides(&[
            (CheckId::LatestTag, Severity::Critical),
            (CheckId::HighRestarts, Severity::Critical),
            (CheckId::MissingLivenessProbe, Severity::High),
            (CheckId::MissingReadinessProbe, Severity::High),
            (CheckId::LongPending, Severity::High),
        ])),
        checks: Some(checks),
        ..seed_checks(3, 300)
    }
}

/// A `DevOpsPolicy` object made from a bundle, ready for `kubectl apply`.
pub fn policy_from_bundle(bundle: &Bundle, namespace: &str, name: &str) -> DevOpsPolicy {
    let mut policy = DevOpsPolicy::new(name, bundle.spec.clone());
    policy.metadata.namespace = Some(namespace.to_owned());
    policy.metadata.labels = Some(BTreeMap::from([(
        "devops.stochastic.io/bundle".to_owned(),
        bundle.name.to_owned(),
    )]));
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::EffectivePolicy;

    #[test]
    fn every_bundle_resolves_to_a_valid_policy() {
        for b in bundles() {
            EffectivePolicy::from_spec(&b.spec).unwrap_or_else(|e| panic!("{}: {e}", b.name));
        }
        assert_eq!(bundles().len(), 3);
        assert!(bundle("strict").is_none());
    }

    #[test]
    fn baseline_checks_latest_tag_and_readiness_only() {
        let p = EffectivePolicy::from_spec(&bundle("baseline").unwrap().spec).unwrap();
        let on: Vec<_> = p.enabled().map(|(id, _)| id).collect();
        assert_eq!(on, [CheckId::LatestTag, CheckId::MissingReadinessProbe]);
    }

    #[test]
    fn restricted_turns_everything_on_with_raised_severities() {
        let b = bundle("restricted").unwrap();
        let p = EffectivePolicy::from_spec(&b.spec).unwrap();
        // Everything but pullPolicyNotAlways, which is neither a seed, resource nor
        // security check.
        assert_eq!(p.enabled().count(), CheckId::ALL.len() - 1);
        assert_eq!(p.severity(CheckId::PullPolicyNotAlways), None);
        assert_eq!(p.severity(CheckId::LatestTag), Some(Severity::Critical));
        assert_eq!(
            p.severity(CheckId::MissingReadinessProbe),
            Some(Severity::High)
        );
        assert_eq!(p.severity(CheckId::LongPending), Some(Severity::High));
        assert_eq!(p.max_restart_count, 3);
        assert_eq!(b.spec.enforcement_mode, Some(EnforcementMode::Enforce));
    }

    #[test]
    fn permissive_is_lenient() {
        let p = EffectivePolicy::from_spec(&bundle("permissive").unwrap().spec).unwrap();
        assert_eq!(p.max_restart_count, 10);
        assert_eq!(p.pending_seconds, 600);
        assert_eq!(p.severity(CheckId::LatestTag), Some(Severity::Low));
        assert_eq!(p.severity(CheckId::HighRestarts), Some(Severity::Medium));
    }
}
