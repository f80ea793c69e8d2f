use super::*;
use crate::checks::{CheckId, Severity};

fn penalty(check: CheckId) -> Penalty {
    Penalty::of(check, check.spec().severity, 1)
}

#[test]
fn default_penalties_equal_the_catalogue_weights() {
    for id in CheckId::ALL {
        assert_eq!(penalty(*id).points(), f64::from(id.spec().weight), "{id}");
    }
}

#[test]
fn one_pod_on_latest_without_probes_scores_90() {
    let p = penalty(CheckId::LatestTag)
        + penalty(CheckId::MissingLivenessProbe)
        + penalty(CheckId::MissingReadinessProbe);
    let s = Score::new(p, 1).unwrap();
    assert_eq!(s.to_string(), "90.0");
    assert_eq!(s.classification(), Classification::Healthy);
}

#[test]
fn nineteen_of_a_hundred_pods_without_readiness_score_99_6_not_100() {
    let p: Penalty = (0..19)
        .map(|_| penalty(CheckId::MissingReadinessProbe))
        .sum();
    let s = Score::new(p, 100).unwrap();
    assert_eq!(s.to_string(), "99.6");
    assert!((s.value() - 99.62).abs() < 1e-9);
}

#[test]
fn a_tiny_penalty_never_displays_as_a_perfect_score() {
    // 1 point over 10,000 pods is 99.9999: shown as 99.9, never 100.0.
    let s = Score::new(Penalty(12), 10_000).unwrap();
    assert_eq!(s.to_string(), "99.9");
    assert_eq!(Score::new(Penalty(0), 3).unwrap().to_string(), "100.0");
}

#[test]
fn the_deduction_is_capped_at_100() {
    let s = Score::new(Penalty(12 * 1000), 2).unwrap();
    assert_eq!(s.to_string(), "0.0");
    assert_eq!(s.value(), 0.0);
    assert_eq!(s.classification(), Classification::Critical);
}

#[test]
fn classification_boundaries_are_inclusive_on_the_exact_value() {
    let pts = |points: u64| Penalty(points * 12);
    let cases = [
        (pts(20), Classification::Healthy),             // exactly 80
        (Penalty(20 * 12 + 1), Classification::Stable), // 79.99
        (pts(40), Classification::Stable),              // exactly 60
        (Penalty(40 * 12 + 1), Classification::Degraded),
        (pts(60), Classification::Degraded), // exactly 40
        (Penalty(60 * 12 + 1), Classification::Critical),
    ];
    for (p, want) in cases {
        assert_eq!(Score::new(p, 1).unwrap().classification(), want, "{p:?}");
    }
}

#[test]
fn classification_is_not_fooled_by_display_rounding() {
    // 79.96 displays as 80.0 but is Stable.
    let s = Score::new(Penalty(2004), 8).unwrap(); // 2004/12/8 = 20.875 -> 79.125
    assert_eq!(s.classification(), Classification::Stable);
    let s = Score::new(Penalty(20 * 12 * 100 + 48), 100).unwrap(); // 79.96
    assert_eq!(s.to_string(), "80.0");
    assert_eq!(s.classification(), Classification::Stable);
}

#[test]
fn severity_overrides_scale_penalties_by_the_multiplier_ratio() {
    let cases = [
        (CheckId::LatestTag, Severity::Critical, 7.5),
        (CheckId::LatestTag, Severity::Medium, 2.5),
        (CheckId::LatestTag, Severity::Low, 1.25),
        (CheckId::MissingReadinessProbe, Severity::High, 8.0),
        (CheckId::MissingLivenessProbe, Severity::Low, 1.5),
        (CheckId::HighRestarts, Severity::Low, 1.0),
        (CheckId::HighRestarts, Severity::High, 4.0),
    ];
    for (check, severity, points) in cases {
        assert_eq!(
            Penalty::of(check, severity, 1).points(),
            points,
            "{check} {severity}"
        );
    }
}

#[test]
fn restart_penalties_multiply_by_the_count() {
    assert_eq!(
        Penalty::of(CheckId::HighRestarts, Severity::Critical, 5).points(),
        30.0
    );
}

fn pod(points: u64, checks: &[CheckId]) -> PodScore {
    let mut mask = CheckMask::default();
    for c in checks {
        mask.insert(*c);
    }
    PodScore {
        penalty: Penalty(points * 12),
        checks: mask,
    }
}

#[test]
fn an_empty_board_has_no_scores() {
    let b = ScoreBoard::new();
    assert_eq!(b.cluster(), None);
    assert_eq!(b.namespace("default"), None);
}

#[test]
fn applying_pods_aggregates_per_namespace_and_cluster() {
    let mut b = ScoreBoard::new();
    assert_eq!(b.apply("u1", "a", pod(10, &[CheckId::LatestTag])), None);
    b.apply("u2", "a", pod(0, &[]));
    b.apply("u3", "b", pod(4, &[]));
    assert_eq!(b.namespace("a").unwrap().to_string(), "95.0");
    assert_eq!(b.namespace("b").unwrap().to_string(), "96.0");
    // Cluster is pod-weighted: 14 points over 3 pods.
    assert_eq!(b.cluster().unwrap().to_string(), "95.3");
}

#[test]
fn reapplying_a_pod_replaces_its_contribution() {
    let mut b = ScoreBoard::new();
    b.apply("u1", "a", pod(10, &[CheckId::LatestTag]));
    let prev = b.apply("u1", "a", pod(2, &[CheckId::MissingReadinessProbe]));
    assert_eq!(prev.unwrap().penalty, Penalty(120));
    assert_eq!(b.len(), 1);
    assert_eq!(b.namespace("a").unwrap().to_string(), "98.0");
}

#[test]
fn deleting_the_last_pod_removes_the_namespace() {
    let mut b = ScoreBoard::new();
    b.apply("u1", "a", pod(10, &[]));
    b.apply("u2", "b", pod(0, &[]));
    let (ns, _) = b.delete("u1").unwrap();
    assert_eq!(&*ns, "a");
    assert_eq!(b.namespace("a"), None);
    assert_eq!(b.namespaces().count(), 1);
    assert_eq!(b.delete("u1"), None);
    assert_eq!(b.cluster().unwrap().to_string(), "100.0");
}

#[test]
fn reset_forgets_everything() {
    let mut b = ScoreBoard::new();
    b.apply("u1", "a", pod(10, &[]));
    b.reset();
    assert!(b.is_empty());
    assert_eq!(b.cluster(), None);
}

#[test]
fn check_masks_report_gained_checks() {
    let before = pod(0, &[CheckId::LatestTag]).checks;
    let after = pod(0, &[CheckId::LatestTag, CheckId::HostPidSet]).checks;
    assert_eq!(
        after.minus(before).collect::<Vec<_>>(),
        [CheckId::HostPidSet]
    );
    assert_eq!(before.minus(after).count(), 0);
}
