use super::*;
use crate::checks::{CheckId, Finding, FindingStatus};
use crate::operator::testkit::{later, latest, now, policy, set};
use crate::policy::PolicySet;
use crate::score::store::PodEvaluation;
use crate::score::{Penalty, Score};

fn shop() -> PolicySet {
    set(&[("shop", "p", latest())])
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

fn unknown_check() -> PolicyError {
    PolicyError::UnknownCheck {
        key: "nope".into(),
        field: "checks",
        known: String::new(),
    }
}

/// The status of policy `p` in shop (generation 3), holding `previous`, for `eval` at `at`.
fn status_of(
    error: Option<&PolicyError>,
    eval: Option<&NamespaceEvaluation>,
    previous: Option<&DevOpsPolicyStatus>,
    at: Timestamp,
) -> DevOpsPolicyStatus {
    let mut p = policy(previous, error, 10);
    p.generation = Some(3);
    desired_status(&p, "shop", shop().resolve("shop"), eval, at)
}

fn condition<'a>(s: &'a DevOpsPolicyStatus, t: &str) -> &'a Condition {
    s.conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == t))
        .unwrap()
}

#[test]
fn an_evaluated_policy_shows_its_namespaces_numbers_and_is_ready() {
    let st = status_of(None, Some(&evaluation(1, 1)), None, now());
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
    let error = unknown_check();
    let st = status_of(Some(&error), Some(&evaluation(1, 0)), None, now());
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
    let p = policy(None, None, 10);
    let st = desired_status(
        &p,
        "kube-system",
        shop().resolve("kube-system"),
        None,
        now(),
    );
    assert_eq!(condition(&st, READY).reason, "NamespaceExcluded");
    assert!(st.message.as_deref().unwrap().contains("kube-system"));
    assert_eq!(st.health_score, None);
}

#[test]
fn only_time_changing_is_the_same_status_and_keeps_transition_times() {
    let first = status_of(None, Some(&evaluation(1, 1)), None, now());
    let again = status_of(None, Some(&evaluation(1, 1)), Some(&first), later());
    assert!(same_status(&first, &again));
    assert_eq!(
        condition(&first, READY).last_transition_time,
        condition(&again, READY).last_transition_time
    );
    assert!(events(Some(&first), &again).is_empty());
    // A real change is not the same status.
    let changed = status_of(None, Some(&evaluation(2, 0)), Some(&first), later());
    assert!(!same_status(&first, &changed));
}

#[test]
fn a_flipping_condition_moves_its_transition_time() {
    let first = status_of(None, Some(&evaluation(1, 1)), None, now());
    let error = unknown_check();
    let broken = status_of(Some(&error), None, Some(&first), later());
    assert_eq!(condition(&broken, READY).last_transition_time.0, later());
    let evs = events(Some(&first), &broken);
    assert_eq!(evs.len(), 1);
    assert_eq!((evs[0].reason, evs[0].warning), ("Degraded", true));
}

#[test]
fn a_classification_change_is_an_event_and_a_worse_one_a_warning() {
    let healthy = status_of(None, Some(&evaluation(0, 2)), None, now());
    let first = events(None, &healthy);
    assert_eq!(first.len(), 1);
    assert!(!first[0].warning);
    let mut bad = evaluation(1, 0);
    bad.score = Score::new(Penalty(12 * 55), 1);
    let degraded = status_of(None, Some(&bad), Some(&healthy), later());
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
