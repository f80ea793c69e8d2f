use std::collections::BTreeMap;

use rstest::rstest;

use super::*;
use crate::policy::crd::{AdmissionSettings, CheckSettings, DefaultResources};

fn resolve(spec: DevOpsPolicySpec) -> EffectivePolicy {
    EffectivePolicy::from_spec(&spec).unwrap()
}

fn checks(entries: &[(&str, Option<Severity>)]) -> Option<BTreeMap<String, CheckSettings>> {
    Some(
        entries
            .iter()
            .map(|(k, severity)| {
                (
                    (*k).to_owned(),
                    CheckSettings {
                        severity: *severity,
                    },
                )
            })
            .collect(),
    )
}

fn overrides(entries: &[(&str, Severity)]) -> Option<BTreeMap<String, Severity>> {
    Some(entries.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect())
}

fn enabled_ids(p: &EffectivePolicy) -> Vec<CheckId> {
    p.enabled().map(|(id, _)| id).collect()
}

fn with_resources(res: DefaultResources) -> Result<EffectivePolicy, PolicyError> {
    EffectivePolicy::from_spec(&DevOpsPolicySpec {
        default_resources: Some(res),
        ..DevOpsPolicySpec::default()
    })
}

/// A policy with just these checks on (at their default severities) and these thresholds.
fn policy(ids: &[CheckId], max_restarts: u32, pending: u64) -> EffectivePolicy {
    let names: Vec<(&str, Option<Severity>)> = ids.iter().map(|id| (id.as_str(), None)).collect();
    let registries = ids
        .contains(&CheckId::ImageRegistryNotAllowed)
        .then(|| vec!["registry.example.com".to_owned()]);
    let mut p = resolve(DevOpsPolicySpec {
        checks: checks(&names),
        allowed_registries: registries,
        ..DevOpsPolicySpec::default()
    });
    p.max_restart_count = max_restarts;
    p.pending_seconds = pending;
    p
}

// ---------------------------------------------------------------------------------------
// Switches

#[rstest]
#[case::forbid_latest_tag(DevOpsPolicySpec { forbid_latest_tag: Some(true), ..Default::default() }, CheckId::LatestTag)]
#[case::require_liveness(DevOpsPolicySpec { require_liveness_probe: Some(true), ..Default::default() }, CheckId::MissingLivenessProbe)]
#[case::require_readiness(DevOpsPolicySpec { require_readiness_probe: Some(true), ..Default::default() }, CheckId::MissingReadinessProbe)]
#[case::max_restart_count(DevOpsPolicySpec { max_restart_count: Some(7), ..Default::default() }, CheckId::HighRestarts)]
#[case::max_restart_count_zero(DevOpsPolicySpec { max_restart_count: Some(0), ..Default::default() }, CheckId::HighRestarts)]
#[case::forbid_pending(DevOpsPolicySpec { forbid_pending_duration: Some(60), ..Default::default() }, CheckId::LongPending)]
#[case::forbid_pending_zero(DevOpsPolicySpec { forbid_pending_duration: Some(0), ..Default::default() }, CheckId::LongPending)]
fn a_switch_turns_on_its_check_alone_at_the_default_severity(
    #[case] spec: DevOpsPolicySpec,
    #[case] id: CheckId,
) {
    let p = resolve(spec);
    assert_eq!(p.enabled().collect::<Vec<_>>(), [(id, id.spec().severity)]);
}

#[rstest]
#[case::forbid_latest_tag(DevOpsPolicySpec { forbid_latest_tag: Some(false), ..Default::default() })]
#[case::require_liveness(DevOpsPolicySpec { require_liveness_probe: Some(false), ..Default::default() })]
#[case::require_readiness(DevOpsPolicySpec { require_readiness_probe: Some(false), ..Default::default() })]
#[case::nothing_set(DevOpsPolicySpec::default())]
fn a_false_or_absent_switch_leaves_every_check_off(#[case] spec: DevOpsPolicySpec) {
    assert!(resolve(spec).is_empty());
}

#[test]
fn max_restart_count_sets_the_restart_limit() {
    let p = resolve(DevOpsPolicySpec {
        max_restart_count: Some(7),
        ..Default::default()
    });
    assert_eq!(p.max_restart_count, 7);
}

#[test]
fn forbid_pending_duration_sets_the_pending_limit() {
    let p = resolve(DevOpsPolicySpec {
        forbid_pending_duration: Some(42),
        ..Default::default()
    });
    assert_eq!(p.pending_seconds, 42);
}

// ---------------------------------------------------------------------------------------
// The checks map

#[test]
fn the_checks_map_turns_on_any_catalogue_check_at_its_default_severity() {
    for id in CheckId::ALL {
        let p = resolve(DevOpsPolicySpec {
            checks: checks(&[(id.as_str(), None)]),
            allowed_registries: (*id == CheckId::ImageRegistryNotAllowed)
                .then(|| vec!["ghcr.io/acme".to_owned()]),
            ..Default::default()
        });
        assert_eq!(
            p.enabled().collect::<Vec<_>>(),
            [(*id, id.spec().severity)],
            "{id}"
        );
    }
}

#[test]
fn the_checks_map_sets_the_severity_it_names() {
    let p = resolve(DevOpsPolicySpec {
        checks: checks(&[("hostPIDSet", Some(Severity::Low))]),
        ..Default::default()
    });
    assert_eq!(p.severity(CheckId::HostPidSet), Some(Severity::Low));
}

#[test]
fn runtime_checks_turned_on_by_the_checks_map_use_the_default_thresholds() {
    let p = resolve(DevOpsPolicySpec {
        checks: checks(&[("highRestarts", None), ("longPending", None)]),
        ..Default::default()
    });
    assert_eq!(p.max_restart_count, DEFAULT_MAX_RESTARTS);
    assert_eq!(p.pending_seconds, DEFAULT_PENDING_SECONDS);
    assert_eq!(
        enabled_ids(&p),
        [CheckId::HighRestarts, CheckId::LongPending]
    );
}

#[test]
fn the_checks_map_severity_beats_the_switch_default() {
    let p = resolve(DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        checks: checks(&[("latestTag", Some(Severity::Critical))]),
        ..Default::default()
    });
    assert_eq!(p.severity(CheckId::LatestTag), Some(Severity::Critical));
}

#[test]
fn enabled_checks_are_listed_in_catalogue_order() {
    let p = resolve(DevOpsPolicySpec {
        checks: checks(&[
            ("pullPolicyNotAlways", None),
            ("hostIPCSet", None),
            ("latestTag", None),
        ]),
        ..Default::default()
    });
    assert_eq!(
        enabled_ids(&p),
        [
            CheckId::LatestTag,
            CheckId::HostIpcSet,
            CheckId::PullPolicyNotAlways
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Severity overrides

/// The five seed checks, on at their default severities.
fn seed_spec() -> DevOpsPolicySpec {
    DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        require_liveness_probe: Some(true),
        require_readiness_probe: Some(true),
        max_restart_count: Some(3),
        forbid_pending_duration: Some(300),
        ..Default::default()
    }
}

#[rstest]
#[case::seed_latest_tag("latestTag", CheckId::LatestTag, Severity::Critical)]
#[case::seed_missing_liveness("missingLiveness", CheckId::MissingLivenessProbe, Severity::High)]
#[case::seed_missing_readiness("missingReadiness", CheckId::MissingReadinessProbe, Severity::High)]
#[case::seed_high_restarts("highRestarts", CheckId::HighRestarts, Severity::Medium)]
#[case::seed_pending("pending", CheckId::LongPending, Severity::High)]
#[case::id_missing_liveness_probe(
    "missingLivenessProbe",
    CheckId::MissingLivenessProbe,
    Severity::Low
)]
#[case::id_missing_readiness_probe(
    "missingReadinessProbe",
    CheckId::MissingReadinessProbe,
    Severity::Medium
)]
#[case::id_long_pending("longPending", CheckId::LongPending, Severity::Critical)]
fn a_severity_override_by_seed_key_or_id_sets_the_severity(
    #[case] key: &str,
    #[case] id: CheckId,
    #[case] severity: Severity,
) {
    assert_ne!(
        id.spec().severity,
        severity,
        "the case must change the severity"
    );
    let p = resolve(DevOpsPolicySpec {
        severity_overrides: overrides(&[(key, severity)]),
        ..seed_spec()
    });
    assert_eq!(p.severity(id), Some(severity));
    let others = p.enabled().filter(|(other, _)| *other != id);
    for (other, s) in others {
        assert_eq!(s, other.spec().severity, "{other} changed too");
    }
}

#[test]
fn a_severity_override_applies_to_a_check_from_the_checks_map() {
    let p = resolve(DevOpsPolicySpec {
        checks: checks(&[("runAsPrivileged", None)]),
        severity_overrides: overrides(&[("runAsPrivileged", Severity::Medium)]),
        ..Default::default()
    });
    assert_eq!(p.severity(CheckId::RunAsPrivileged), Some(Severity::Medium));
}

#[test]
fn a_severity_override_has_the_last_word_over_the_checks_map() {
    let p = resolve(DevOpsPolicySpec {
        checks: checks(&[("hostPathSet", Some(Severity::Low))]),
        severity_overrides: overrides(&[("hostPathSet", Severity::Critical)]),
        ..Default::default()
    });
    assert_eq!(p.severity(CheckId::HostPathSet), Some(Severity::Critical));
}

#[rstest]
#[case::seed_key("pending")]
#[case::catalogue_id("dangerousCapabilities")]
#[case::switch_check("latestTag")]
fn an_override_of_a_check_that_is_off_does_not_turn_it_on(#[case] key: &str) {
    let p = resolve(DevOpsPolicySpec {
        severity_overrides: overrides(&[(key, Severity::Critical)]),
        ..Default::default()
    });
    assert!(p.is_empty(), "{:?}", p.enabled().collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------
// Errors

#[test]
fn an_unknown_key_in_checks_is_an_error_naming_it() {
    let err = EffectivePolicy::from_spec(&DevOpsPolicySpec {
        checks: checks(&[("latestTagz", None)]),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::UnknownCheck { key, field: "checks", .. } if key == "latestTagz")
    );
    let text = err.to_string();
    assert!(
        text.contains("\"latestTagz\"") && text.contains("checks"),
        "{text}"
    );
    assert!(
        text.contains("hostPIDSet"),
        "the message lists the known checks: {text}"
    );
}

#[test]
fn an_unknown_key_in_severity_overrides_is_an_error_naming_it() {
    let err = EffectivePolicy::from_spec(&DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        severity_overrides: overrides(&[("liveness", Severity::High)]),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(&err, PolicyError::UnknownCheck { key, field: "severityOverrides", .. } if key == "liveness"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"liveness\""), "{err}");
}

#[test]
fn check_keys_are_case_sensitive() {
    let err = EffectivePolicy::from_spec(&DevOpsPolicySpec {
        checks: checks(&[("LatestTag", None)]),
        ..Default::default()
    });
    assert!(err.is_err());
}

#[rstest]
#[case::milli_cpu("100m")]
#[case::decimal("1.5")]
#[case::binary_suffix("128Mi")]
#[case::exponent("1e3")]
#[case::integer("2")]
#[case::upper_exponent("1E3")]
#[case::negative_exponent("5e-1")]
#[case::exa("1E")]
#[case::kilo("1k")]
#[case::gibi("0.5Gi")]
#[case::leading_dot(".5")]
#[case::plus("+1")]
fn a_kubernetes_quantity_is_accepted(#[case] value: &str) {
    assert!(is_quantity(value), "{value}");
    for res in [
        DefaultResources {
            cpu_request: Some(value.into()),
            ..Default::default()
        },
        DefaultResources {
            memory_limit: Some(value.into()),
            ..Default::default()
        },
    ] {
        assert!(with_resources(res).is_ok(), "{value}");
    }
}

#[rstest]
#[case::empty("")]
#[case::word("lots")]
#[case::bare_suffix("Mi")]
#[case::two_dots("1.2.3")]
#[case::only_dot(".")]
#[case::bytes_suffix("10MB")]
#[case::lower_binary_suffix("10mi")]
#[case::dangling_exponent("1e")]
#[case::negative("-1")]
#[case::inner_space("1 Gi")]
#[case::two_suffixes("1Kim")]
#[case::fraction_exponent("1e1.5")]
fn a_bad_quantity_is_rejected(#[case] value: &str) {
    assert!(!is_quantity(value), "{value}");
}

#[rstest]
#[case::cpu_request("cpuRequest", DefaultResources { cpu_request: Some("fast".into()), ..Default::default() })]
#[case::cpu_limit("cpuLimit", DefaultResources { cpu_limit: Some("fast".into()), ..Default::default() })]
#[case::memory_request("memoryRequest", DefaultResources { memory_request: Some("fast".into()), ..Default::default() })]
#[case::memory_limit("memoryLimit", DefaultResources { memory_limit: Some("fast".into()), ..Default::default() })]
fn a_bad_default_resource_is_an_error_naming_the_field(
    #[case] field: &'static str,
    #[case] res: DefaultResources,
) {
    let err = with_resources(res).unwrap_err();
    assert_eq!(
        err,
        PolicyError::BadQuantity {
            field,
            value: "fast".into()
        }
    );
    assert!(err.to_string().contains(field), "{err}");
}

#[test]
fn good_default_resources_are_accepted() {
    let res = DefaultResources {
        cpu_request: Some("100m".into()),
        cpu_limit: Some("500m".into()),
        memory_request: Some("128Mi".into()),
        memory_limit: Some("256Mi".into()),
    };
    assert!(with_resources(res).is_ok());
}

// ---------------------------------------------------------------------------------------
// Admission threshold

#[test]
fn the_deny_severity_defaults_to_high() {
    assert_eq!(
        resolve(DevOpsPolicySpec::default()).deny_severity,
        Severity::High
    );
    assert_eq!(DEFAULT_DENY_SEVERITY, Severity::High);
}

#[test]
fn the_deny_severity_comes_from_admission_settings() {
    let p = resolve(DevOpsPolicySpec {
        admission: Some(AdmissionSettings {
            deny_severity: Some(Severity::Critical),
        }),
        ..Default::default()
    });
    assert_eq!(p.deny_severity, Severity::Critical);
}

// ---------------------------------------------------------------------------------------
// Union

#[test]
fn the_union_of_no_policies_is_none() {
    assert_eq!(EffectivePolicy::union([]), None);
}

#[test]
fn the_union_of_one_policy_is_that_policy() {
    let p = EffectivePolicy::default();
    assert_eq!(EffectivePolicy::union([&p]), Some(p));
}

#[test]
fn in_a_union_a_check_is_on_if_any_policy_turns_it_on() {
    let a = policy(&[CheckId::LatestTag], 3, 300);
    let b = policy(&[CheckId::HostNetworkSet], 3, 300);
    let u = EffectivePolicy::union([&a, &b]).unwrap();
    assert_eq!(
        enabled_ids(&u),
        [CheckId::LatestTag, CheckId::HostNetworkSet]
    );
}

#[test]
fn in_a_union_the_highest_severity_wins() {
    let low = resolve(DevOpsPolicySpec {
        checks: checks(&[("latestTag", Some(Severity::Low))]),
        ..Default::default()
    });
    let critical = resolve(DevOpsPolicySpec {
        checks: checks(&[("latestTag", Some(Severity::Critical))]),
        ..Default::default()
    });
    for order in [[&low, &critical], [&critical, &low]] {
        let u = EffectivePolicy::union(order).unwrap();
        assert_eq!(u.severity(CheckId::LatestTag), Some(Severity::Critical));
    }
}

#[test]
fn in_a_union_the_strictest_restart_limit_of_the_enabling_policies_wins() {
    let lax = policy(&[CheckId::HighRestarts], 10, 300);
    let strict = policy(&[CheckId::HighRestarts], 2, 300);
    let u = EffectivePolicy::union([&lax, &strict]).unwrap();
    assert_eq!(u.max_restart_count, 2);
}

#[test]
fn in_a_union_a_restart_limit_from_a_policy_without_the_check_is_ignored() {
    let enabler = policy(&[CheckId::HighRestarts], 10, 300);
    let bystander = policy(&[CheckId::LatestTag], 0, 300);
    let u = EffectivePolicy::union([&bystander, &enabler]).unwrap();
    assert_eq!(u.max_restart_count, 10);
}

#[test]
fn in_a_union_the_strictest_pending_limit_of_the_enabling_policies_wins() {
    let lax = policy(&[CheckId::LongPending], 3, 900);
    let strict = policy(&[CheckId::LongPending], 3, 120);
    let bystander = policy(&[CheckId::LatestTag], 3, 1);
    let u = EffectivePolicy::union([&lax, &bystander, &strict]).unwrap();
    assert_eq!(u.pending_seconds, 120);
}

#[test]
fn in_a_union_the_lowest_deny_severity_wins() {
    let deny = |s: Severity| {
        resolve(DevOpsPolicySpec {
            admission: Some(AdmissionSettings {
                deny_severity: Some(s),
            }),
            ..Default::default()
        })
    };
    let (critical, medium, high) = (
        deny(Severity::Critical),
        deny(Severity::Medium),
        deny(Severity::High),
    );
    let u = EffectivePolicy::union([&critical, &medium, &high]).unwrap();
    assert_eq!(u.deny_severity, Severity::Medium);
}

// ---------------------------------------------------------------------------------------
// Runtime checks and the default policy

#[test]
fn without_runtime_checks_turns_off_only_the_runtime_checks() {
    let all = policy(CheckId::ALL, 3, 300);
    let p = all.without_runtime_checks();
    assert_eq!(p.severity(CheckId::HighRestarts), None);
    assert_eq!(p.severity(CheckId::LongPending), None);
    let left: Vec<CheckId> = CheckId::ALL
        .iter()
        .copied()
        .filter(|id| !id.spec().runtime)
        .collect();
    assert_eq!(enabled_ids(&p), left);
    assert_eq!(p.deny_severity, all.deny_severity);
}

#[test]
fn the_default_policy_turns_on_the_five_seed_checks_at_their_default_severities() {
    let p = EffectivePolicy::default();
    let want: Vec<(CheckId, Severity)> = [
        CheckId::LatestTag,
        CheckId::MissingLivenessProbe,
        CheckId::MissingReadinessProbe,
        CheckId::HighRestarts,
        CheckId::LongPending,
    ]
    .into_iter()
    .map(|id| (id, id.spec().severity))
    .collect();
    assert_eq!(p.enabled().collect::<Vec<_>>(), want);
}

#[test]
fn the_default_policy_allows_3_restarts_and_300_seconds_pending() {
    let p = EffectivePolicy::default();
    assert_eq!(p.max_restart_count, 3);
    assert_eq!(p.pending_seconds, 300);
    assert_eq!(p.deny_severity, Severity::High);
}

#[test]
fn an_empty_policy_has_no_check_on() {
    let p = EffectivePolicy::empty();
    assert!(p.is_empty());
    assert_eq!(p.enabled().count(), 0);
    assert!(!EffectivePolicy::default().is_empty());
}

#[test]
fn allowed_registries_turn_on_the_registry_check_and_an_empty_list_is_refused() {
    let p = resolve(DevOpsPolicySpec {
        allowed_registries: Some(vec!["ghcr.io/acme".to_owned()]),
        ..Default::default()
    });
    assert_eq!(
        p.severity(CheckId::ImageRegistryNotAllowed),
        Some(Severity::High)
    );
    assert_eq!(p.allowed_registries, [vec!["ghcr.io/acme".to_owned()]]);
    for bad in [
        DevOpsPolicySpec {
            allowed_registries: Some(vec![]),
            ..Default::default()
        },
        DevOpsPolicySpec {
            allowed_registries: Some(vec![" ".to_owned()]),
            ..Default::default()
        },
        DevOpsPolicySpec {
            checks: checks(&[("imageRegistryNotAllowed", None)]),
            ..Default::default()
        },
    ] {
        assert_eq!(
            EffectivePolicy::from_spec(&bad),
            Err(PolicyError::NoAllowedRegistries)
        );
    }
}

#[test]
fn the_union_of_policies_requires_every_registry_list() {
    let a = resolve(DevOpsPolicySpec {
        allowed_registries: Some(vec!["ghcr.io".to_owned()]),
        ..Default::default()
    });
    let b = resolve(DevOpsPolicySpec {
        allowed_registries: Some(vec!["ghcr.io/acme".to_owned()]),
        ..Default::default()
    });
    let off = resolve(DevOpsPolicySpec::default());
    let u = EffectivePolicy::union([&a, &b, &off]).unwrap();
    assert_eq!(u.allowed_registries.len(), 2);
}
