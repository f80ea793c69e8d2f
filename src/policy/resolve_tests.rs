use std::collections::BTreeMap;

use super::*;
use crate::checks::Severity;
use crate::policy::crd::CheckSettings;

fn spec_with(checks: &[(&str, Option<Severity>)]) -> DevOpsPolicySpec {
    DevOpsPolicySpec {
        checks: Some(
            checks
                .iter()
                .map(|(k, severity)| {
                    (
                        (*k).to_owned(),
                        CheckSettings {
                            severity: *severity,
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        ),
        ..DevOpsPolicySpec::default()
    }
}

fn latest() -> DevOpsPolicySpec {
    DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        ..DevOpsPolicySpec::default()
    }
}

fn set(policies: &[(&str, &str, DevOpsPolicySpec)]) -> PolicySet {
    let exclusions = NamespaceExclusions::new(Some("kube-devops"), ["*-system"]).unwrap();
    PolicySet::new(EffectivePolicy::default(), "bundle baseline", exclusions)
        .with_policies(policies.iter().map(|(ns, name, spec)| (*ns, *name, spec)))
}

#[test]
fn a_namespace_without_policies_resolves_to_the_controller_default_and_says_so() {
    let s = set(&[("shop", "p", latest())]);
    match s.resolve("blog") {
        Resolution::Default {
            policy,
            origin,
            ignored,
        } => {
            assert_eq!(policy, &EffectivePolicy::default());
            assert_eq!(origin, "bundle baseline");
            assert!(ignored.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_namespace_with_policies_resolves_to_their_union_not_the_default() {
    let privileged = spec_with(&[("runAsPrivileged", None)]);
    let s = set(&[("shop", "a", latest()), ("shop", "b", privileged)]);
    let r = s.resolve("shop");
    let policy = r.policy().unwrap();
    assert_eq!(policy.severity(CheckId::LatestTag), Some(Severity::High));
    assert_eq!(
        policy.severity(CheckId::RunAsPrivileged),
        Some(Severity::Critical)
    );
    // The default's probe checks are not added to a namespace that has its own policies.
    assert_eq!(policy.severity(CheckId::MissingLivenessProbe), None);
    assert_eq!(r.policies().unwrap().names(), ["a", "b"]);
}

#[test]
fn excluded_namespaces_resolve_to_excluded_even_with_policies() {
    let s = set(&[
        ("kube-devops", "p", latest()),
        ("istio-system", "p", latest()),
    ]);
    for ns in ["kube-devops", "istio-system", "kube-system"] {
        assert_eq!(s.resolve(ns), Resolution::Excluded, "{ns}");
        assert_eq!(s.resolve(ns).policy(), None);
    }
}

#[test]
fn an_invalid_policy_is_left_out_of_the_union_and_reported() {
    let broken = spec_with(&[("noSuchCheck", None)]);
    let s = set(&[("shop", "broken", broken.clone()), ("shop", "ok", latest())]);
    let policies = s.resolve("shop").policies().unwrap();
    assert_eq!(policies.names(), ["ok"]);
    assert_eq!(policies.ignored().len(), 1);
    assert_eq!(policies.ignored()[0].name, "broken");
    assert!(
        policies.ignored()[0]
            .error
            .to_string()
            .contains("noSuchCheck")
    );

    // Only invalid policies: the default judges, and the ignored policy is named.
    let only = set(&[("shop", "broken", broken)]);
    match only.resolve("shop") {
        Resolution::Default { ignored, .. } => assert_eq!(ignored[0].name, "broken"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_check_is_credited_to_the_first_policy_that_sets_the_winning_severity() {
    let low = spec_with(&[("latestTag", Some(Severity::Low))]);
    let critical = spec_with(&[("latestTag", Some(Severity::Critical))]);
    let s = set(&[
        ("shop", "a-low", low),
        ("shop", "b-critical", critical.clone()),
        ("shop", "c-critical", critical),
    ]);
    let policies = s.namespace("shop").unwrap();
    assert_eq!(policies.attribution(CheckId::LatestTag), Some("b-critical"));
    assert_eq!(policies.attribution(CheckId::RunAsPrivileged), None);
}

#[test]
fn set_namespace_reports_whether_the_resolution_changed() {
    let mut s = set(&[("shop", "p", latest())]);
    let same = latest();
    assert!(!s.set_namespace("shop", [("p", &same)]));
    let stricter = spec_with(&[("runAsPrivileged", None)]);
    assert!(s.set_namespace("shop", [("p", &same), ("q", &stricter)]));
    assert!(s.set_namespace("shop", []));
    assert!(s.namespace("shop").is_none());
    assert!(!s.set_namespace("blog", []));
}

#[test]
fn changed_namespaces_lists_exactly_the_namespaces_judged_differently() {
    let before = set(&[("shop", "p", latest()), ("blog", "p", latest())]);
    let mut after = before.clone();
    let privileged = spec_with(&[("runAsPrivileged", None)]);
    after.set_namespace("shop", [("p", &privileged)]);
    after.set_namespace("news", [("p", &privileged)]);
    assert_eq!(after.changed_namespaces(&before), ["news", "shop"]);
    assert!(after.changed_namespaces(&after).is_empty());
}
