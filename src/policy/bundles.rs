//! Built-in policy bundles: baseline, restricted and permissive.
//!
//! In: a bundle name. Out: a ready `DevOpsPolicySpec` (and, for `bundle-apply`, a whole
//! `DevOpsPolicy` object). Bundles are plain specs, so everything that reads a policy reads
//! a bundle the same way. `baseline` is the Pod Security Standards' baseline profile plus
//! two hygiene checks, in audit mode; `restricted` is every check that needs no
//! organisation-specific setting, in enforce mode; `permissive` watches the seed checks
//! leniently and keeps node escapes visible. [`OUTSIDE_BUNDLES`] says why the rest are in
//! none.

use std::collections::BTreeMap;

use super::crd::{
    CheckSettings, DefaultProbe, DefaultResources, DevOpsPolicy, DevOpsPolicySpec, EnforcementMode,
};
use crate::checks::{CheckId, Severity};

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
            description: "Pod Security Standards baseline plus image and readiness hygiene; audit",
            spec: DevOpsPolicySpec {
                forbid_latest_tag: Some(true),
                require_readiness_probe: Some(true),
                enforcement_mode: Some(EnforcementMode::Audit),
                checks: Some(settings(&BASELINE_CHECKS, None)),
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
            description: "Lenient monitoring for development: seed checks low, node escapes medium",
            spec: DevOpsPolicySpec {
                enforcement_mode: Some(EnforcementMode::Audit),
                checks: Some(settings(&NODE_ESCAPES, Some(Severity::Medium))),
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

/// The checks behind the Pod Security Standards' baseline profile (see docs/checks.md for
/// the mapping), besides the two hygiene switches `baseline` sets.
pub const BASELINE_CHECKS: [CheckId; 11] = [
    CheckId::RunAsPrivileged,
    CheckId::HostProcess,
    CheckId::HostNetworkSet,
    CheckId::HostPidSet,
    CheckId::HostIpcSet,
    CheckId::HostPathSet,
    CheckId::HostPathSensitive,
    CheckId::HostPortSet,
    CheckId::DangerousCapabilities,
    CheckId::ProcMount,
    CheckId::SeccompProfileUnconfined,
];

/// Settings that give a pod the node: `permissive` keeps them visible at medium.
pub const NODE_ESCAPES: [CheckId; 3] = [
    CheckId::RunAsPrivileged,
    CheckId::HostProcess,
    CheckId::HostPathSensitive,
];

/// Checks no bundle turns on, and why: turn them on in your own policy.
pub const OUTSIDE_BUNDLES: [(CheckId, &str); 3] = [
    (
        CheckId::PullPolicyNotAlways,
        "with pinned tags or digests it only adds a registry round trip to every start, and \
         latestTag already covers mutable tags",
    ),
    (
        CheckId::ImageRegistryNotAllowed,
        "it needs your organisation's list of registries (allowedRegistries)",
    ),
    (
        CheckId::PriorityClassNotSet,
        "PriorityClasses are defined per cluster; requiring one only makes sense where the \
         platform provides them",
    ),
];

fn settings(ids: &[CheckId], severity: Option<Severity>) -> BTreeMap<String, CheckSettings> {
    ids.iter()
        .map(|id| (id.as_str().to_owned(), CheckSettings { severity }))
        .collect()
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
    let seeds = [
        CheckId::LatestTag,
        CheckId::MissingLivenessProbe,
        CheckId::MissingReadinessProbe,
        CheckId::HighRestarts,
        CheckId::LongPending,
    ];
    let checks: Vec<CheckId> = CheckId::ALL
        .iter()
        .copied()
        .filter(|id| !seeds.contains(id) && !OUTSIDE_BUNDLES.iter().any(|(o, _)| o == id))
        .collect();
    let checks = settings(&checks, None);
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

    fn resolved(name: &str) -> EffectivePolicy {
        EffectivePolicy::from_spec(&bundle(name).unwrap().spec).unwrap()
    }

    #[test]
    fn every_bundle_resolves_to_a_valid_policy() {
        for b in bundles() {
            EffectivePolicy::from_spec(&b.spec).unwrap_or_else(|e| panic!("{}: {e}", b.name));
        }
        assert_eq!(bundles().len(), 3);
        assert!(bundle("strict").is_none());
    }

    #[test]
    fn baseline_is_the_pod_security_baseline_plus_hygiene() {
        let on: Vec<_> = resolved("baseline").enabled().map(|(id, _)| id).collect();
        let mut want = vec![CheckId::LatestTag, CheckId::MissingReadinessProbe];
        want.extend(BASELINE_CHECKS);
        want.sort();
        let mut on_sorted = on.clone();
        on_sorted.sort();
        assert_eq!(on_sorted, want);
        assert_eq!(
            bundle("baseline").unwrap().spec.enforcement_mode,
            Some(EnforcementMode::Audit)
        );
    }

    #[test]
    fn restricted_turns_on_everything_but_the_checks_outside_bundles() {
        let b = bundle("restricted").unwrap();
        let p = resolved("restricted");
        for id in CheckId::ALL {
            let outside = OUTSIDE_BUNDLES.iter().any(|(o, _)| o == id);
            assert_eq!(p.severity(*id).is_none(), outside, "{id}");
        }
        assert!(BASELINE_CHECKS.iter().all(|id| p.severity(*id).is_some()));
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
    fn permissive_is_lenient_but_keeps_node_escapes_visible() {
        let p = resolved("permissive");
        assert_eq!(p.max_restart_count, 10);
        assert_eq!(p.pending_seconds, 600);
        assert_eq!(p.severity(CheckId::LatestTag), Some(Severity::Low));
        assert_eq!(p.severity(CheckId::HighRestarts), Some(Severity::Medium));
        for id in NODE_ESCAPES {
            assert_eq!(p.severity(id), Some(Severity::Medium), "{id}");
        }
        // Nothing in it reaches the default admission deny threshold.
        assert!(p.enabled().all(|(_, s)| s < Severity::High));
    }

    #[test]
    fn every_check_is_in_a_bundle_or_says_why_not() {
        let policies: Vec<EffectivePolicy> = BUNDLE_NAMES.iter().map(|n| resolved(n)).collect();
        for id in CheckId::ALL {
            let bundled = policies.iter().any(|p| p.severity(*id).is_some());
            let reason = OUTSIDE_BUNDLES.iter().find(|(o, _)| o == id);
            assert!(
                bundled != reason.is_some(),
                "{id}: bundled {bundled}, reason {reason:?}"
            );
            assert!(reason.is_none_or(|(_, why)| !why.is_empty()));
        }
    }
}
