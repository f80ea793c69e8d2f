use super::*;
use crate::checks::{CheckId, Finding, FindingStatus};
use crate::policy::{DevOpsPolicySpec, EffectivePolicy, NamespaceExclusions, PolicySet};
use crate::score::store::PodEvaluation;
use crate::score::{Penalty, Score};

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn later() -> Timestamp {
    "2026-06-01T00:05:00Z".parse().unwrap()
}

fn set() -> PolicySet {
    let spec = DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        ..DevOpsPolicySpec::default()
    };
    PolicySet::new(
        EffectivePolicy::default(),
        "default",
        NamespaceExclusions::default(),
    )
    .with_policies([("shop", "p", &spec)])
}

fn evaluation(latest_pods: usize, clean_pods: usize) -> NamespaceEvaluation {
    let finding = Finding {
        check: CheckId::LatestTag,
        severity: Severity::High,
        container: Some("app".into()),
        message: "latest".into(),
        penalty: Penalty::of(CheckId::LatestTag, Severity::High, 1),
        status: FindingStatus::Counted,
    };
    let pods: Vec<PodEvaluation> = (0..latest_pods + clean_pods)
        .map(|i| PodEvaluation {
            uid: format!("u{i}").into(),
            name: format!("p{i}").into(),
            template: std::sync::Arc::new(crate::testing::pod("p").facts()),
            findings: if i < latest_pods {
                vec![finding.clone()]
            } else {
                vec![]
            },
        })
        .collect();
    NamespaceEvaluation {
        namespace: "shop".into(),
        score: Score::new(Penalty(60 * latest_pods as u64), pods.len() as u64),
        pods,
    }
}

fn view(error: Option<&PolicyError>) -> PolicyView<'_> {
    PolicyView {
        name: "p",
        namespace: "shop",
        generation: Some(3),
        error,
    }
}

fn condition<'a>(s: &'a DevOpsPolicyStatus, t: &str) -> &'a Condition {
    s.conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == t))
        .unwrap()
}

#[test]
fn an_evaluated_policy_shows_its_namespaces_numbers_and_is_ready() {
    let s = set();
    let st = desired_status(
        &view(None),
        s.resolve("shop"),
        Some(&evaluation(1, 1)),
        None,
        now(),
    );
    assert_eq!(st.observed_generation, Some(3));
    assert_eq!(st.health_score, Some(97.5));
    assert_eq!(st.classification.as_deref(), Some("Healthy"));
    assert_eq!(st.healthy, Some(false));
    assert_eq!(st.violations, Some(1));
    assert_eq!(st.pods_scanned, Some(2));
    assert_eq!(st.violations_by_severity.unwrap().high, 1);
    assert_eq!(st.last_evaluated.as_deref(), Some("2026-06-01T00:00:00Z"));
    assert_eq!(condition(&st, READY).status, "True");
    assert_eq!(condition(&st, DEGRADED).status, "False");
}

#[test]
fn an_invalid_policy_is_degraded_and_its_score_fields_are_cleared() {
    let s = set();
    let error = PolicyError::UnknownCheck {
        key: "nope".into(),
        field: "checks",
        known: String::new(),
    };
    let st = desired_status(
        &view(Some(&error)),
        s.resolve("shop"),
        Some(&evaluation(1, 0)),
        None,
        now(),
    );
    assert_eq!(condition(&st, READY).status, "False");
    assert_eq!(condition(&st, DEGRADED).status, "True");
    assert_eq!(condition(&st, DEGRADED).reason, "InvalidSpec");
    assert!(st.message.as_deref().unwrap().contains("nope"));
    assert_eq!(
        (st.health_score, st.violations, st.pods_scanned),
        (None, None, None)
    );
    assert_eq!(st.classification, None);
}

#[test]
fn a_policy_in_an_excluded_namespace_is_not_ready_and_says_why() {
    let s = set();
    let mut v = view(None);
    v.namespace = "kube-system";
    let st = desired_status(&v, s.resolve("kube-system"), None, None, now());
    assert_eq!(condition(&st, READY).reason, "NamespaceExcluded");
    assert_eq!(st.health_score, None);
}

#[test]
fn only_time_changing_is_the_same_status_and_keeps_transition_times() {
    let s = set();
    let first = desired_status(
        &view(None),
        s.resolve("shop"),
        Some(&evaluation(1, 1)),
        None,
        now(),
    );
    let again = desired_status(
        &view(None),
        s.resolve("shop"),
        Some(&evaluation(1, 1)),
        Some(&first),
        later(),
    );
    assert!(same_status(&first, &again));
    assert_eq!(
        condition(&first, READY).last_transition_time,
        condition(&again, READY).last_transition_time
    );
    assert!(events(Some(&first), &again).is_empty());
    // A real change is not the same status.
    let changed = desired_status(
        &view(None),
        s.resolve("shop"),
        Some(&evaluation(2, 0)),
        Some(&first),
        later(),
    );
    assert!(!same_status(&first, &changed));
}

#[test]
fn a_flipping_condition_moves_its_transition_time() {
    let s = set();
    let first = desired_status(
        &view(None),
        s.resolve("shop"),
        Some(&evaluation(1, 1)),
        None,
        now(),
    );
    let error = PolicyError::UnknownCheck {
        key: "nope".into(),
        field: "checks",
        known: String::new(),
    };
    let broken = desired_status(
        &view(Some(&error)),
        s.resolve("shop"),
        None,
        Some(&first),
        later(),
    );
    assert_eq!(condition(&broken, READY).last_transition_time.0, later());
    let evs = events(Some(&first), &broken);
    assert_eq!(evs.len(), 1);
    assert_eq!((evs[0].reason, evs[0].warning), ("Degraded", true));
}

#[test]
fn a_classification_change_is_an_event_and_a_worse_one_a_warning() {
    let s = set();
    let healthy = desired_status(
        &view(None),
        s.resolve("shop"),
        Some(&evaluation(0, 2)),
        None,
        now(),
    );
    let first = events(None, &healthy);
    assert_eq!(first.len(), 1);
    assert!(!first[0].warning);
    // 9 of 10 pods on latest: 100 - 45/10 ... use a single pod with many findings instead.
    let mut bad = evaluation(1, 0);
    bad.score = Score::new(Penalty(12 * 55), 1);
    let degraded = desired_status(
        &view(None),
        s.resolve("shop"),
        Some(&bad),
        Some(&healthy),
        later(),
    );
    assert_eq!(degraded.classification.as_deref(), Some("Degraded"));
    let evs = events(Some(&healthy), &degraded);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].reason, "ClassificationChanged");
    assert!(evs[0].warning);
    assert!(
        evs[0].note.contains("Healthy to Degraded"),
        "{}",
        evs[0].note
    );
}
