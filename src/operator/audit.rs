//! PolicyAuditResults: the point-in-time record of a policy's evaluation, written when the
//! result changes and pruned to the policy's retention.
//!
//! In: a policy's name, the cluster's name, its namespace's evaluation and the time. Out:
//! the [`PolicyAuditResultSpec`] to create (violations sorted and capped at
//! [`MAX_AUDIT_VIOLATIONS`], with `truncated` counting the rest), its [`digest`] (what
//! "the result changed" compares: everything but the timestamp and cluster name, so a
//! result read back from the cluster digests as the one that was written), the label that
//! ties results to their policy, and which results retention removes (oldest first).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use jiff::Timestamp;

use crate::checks::Finding;
use crate::policy::crd::{AuditViolation, MAX_AUDIT_VIOLATIONS, PolicyAuditResultSpec};
use crate::score::store::NamespaceEvaluation;

/// Audit results kept per policy when the spec names no `auditRetention`.
pub const DEFAULT_RETENTION: u32 = 10;

/// Longest label value Kubernetes accepts.
const MAX_LABEL: usize = 63;

/// The audit result of `policy` for `evaluation`.
pub fn audit_result(
    policy: &str,
    cluster: &str,
    evaluation: &NamespaceEvaluation,
    now: Timestamp,
) -> PolicyAuditResultSpec {
    // Worst first, then by pod and container, so the kept hundred are the ones that
    // matter; only those are copied.
    let mut counted: Vec<(&str, &Finding)> = evaluation
        .counted()
        .map(|(pod, f)| (&*pod.name, f))
        .collect();
    counted.sort_by(|(pa, a), (pb, b)| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| pa.cmp(pb))
            .then_with(|| a.container.cmp(&b.container))
            .then_with(|| a.check.as_str().cmp(b.check.as_str()))
    });
    let total = counted.len();
    let violations: Vec<AuditViolation> = counted
        .into_iter()
        .take(MAX_AUDIT_VIOLATIONS)
        .map(|(pod, f)| AuditViolation {
            pod_name: pod.to_owned(),
            container_name: f.container.clone().unwrap_or_default(),
            check: f.check.as_str().to_owned(),
            severity: f.severity,
            message: f.message.clone(),
        })
        .collect();
    let truncated = total.saturating_sub(MAX_AUDIT_VIOLATIONS);
    let score = evaluation.score;
    PolicyAuditResultSpec {
        policy_name: policy.to_owned(),
        cluster_name: cluster.to_owned(),
        timestamp: now.to_string(),
        health_score: score.map_or(100.0, |s| s.rounded()),
        classification: score.map_or_else(
            || "NoPods".to_owned(),
            |s| s.classification().as_str().to_owned(),
        ),
        total_pods: u32::try_from(evaluation.pods.len()).unwrap_or(u32::MAX),
        total_violations: u32::try_from(total).unwrap_or(u32::MAX),
        violations,
        truncated: (truncated > 0).then(|| u32::try_from(truncated).unwrap_or(u32::MAX)),
    }
}

/// What "the result changed" compares: every field but the time and the cluster name.
pub fn digest(spec: &PolicyAuditResultSpec) -> u64 {
    let mut h = super::Digest::default();
    spec.policy_name.hash(&mut h);
    spec.health_score.to_bits().hash(&mut h);
    spec.classification.hash(&mut h);
    spec.total_pods.hash(&mut h);
    spec.total_violations.hash(&mut h);
    spec.violations.hash(&mut h);
    spec.truncated.hash(&mut h);
    h.finish()
}

/// The value of the `devops.stochastic.io/policy` label for a policy name: the name, or
/// for names longer than a label may be, a prefix and a hash of the whole name.
pub fn policy_label(policy: &str) -> String {
    if policy.len() <= MAX_LABEL {
        return policy.to_owned();
    }
    let mut h = DefaultHasher::new();
    policy.hash(&mut h);
    let suffix = format!("{:016x}", h.finish());
    let mut cut = MAX_LABEL - suffix.len() - 1;
    while !policy.is_char_boundary(cut) {
        cut -= 1;
    }
    let prefix = policy[..cut].trim_end_matches(['-', '.', '_']);
    format!("{prefix}-{suffix}")
}

/// One audit result held in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Object name.
    pub name: String,
    /// When it was evaluated (its `spec.timestamp`, to the nanosecond: several results
    /// can be created within the second `metadata.creationTimestamp` resolves).
    pub created: Timestamp,
    /// [`digest`] of its spec.
    pub digest: u64,
}

impl AuditRecord {
    /// The record of a result read from the cluster: `timestamp` is its spec's,
    /// `created` its creation time, used when the spec's does not parse.
    pub fn of(name: &str, spec: &PolicyAuditResultSpec, created: Option<Timestamp>) -> Self {
        AuditRecord {
            name: name.to_owned(),
            created: spec
                .timestamp
                .parse()
                .ok()
                .or(created)
                .unwrap_or(Timestamp::UNIX_EPOCH),
            digest: digest(spec),
        }
    }
}

/// The newest of a policy's audit results.
pub fn newest(records: &[AuditRecord]) -> Option<&AuditRecord> {
    records
        .iter()
        .max_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)))
}

/// The results beyond the newest `keep`, oldest first: what retention deletes.
pub fn beyond_retention(records: &[AuditRecord], keep: u32) -> Vec<String> {
    let mut sorted: Vec<&AuditRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
    let excess = sorted.len().saturating_sub(keep as usize);
    sorted
        .into_iter()
        .take(excess)
        .map(|r| r.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{CheckId, FindingStatus, Severity};
    use crate::score::store::PodEvaluation;
    use crate::score::{Penalty, Score};

    fn finding(check: CheckId, container: &str) -> Finding {
        Finding {
            check,
            severity: check.spec().severity,
            container: Some(container.to_owned()),
            message: format!("{check} in {container}"),
            penalty: Penalty::of(check, check.spec().severity, 1),
            status: FindingStatus::Counted,
        }
    }

    fn evaluation(pods: usize, findings_per_pod: usize) -> NamespaceEvaluation {
        let pods: Vec<PodEvaluation> = (0..pods)
            .map(|i| PodEvaluation {
                uid: format!("uid-{i}").into(),
                name: format!("pod-{i:03}").into(),
                template: std::sync::Arc::new(crate::testing::pod("p").facts()),
                findings: (0..findings_per_pod)
                    .map(|c| finding(CheckId::LatestTag, &format!("c{c}")))
                    .collect(),
            })
            .collect();
        NamespaceEvaluation {
            namespace: "shop".into(),
            score: Score::new(
                Penalty(60 * (pods.len() * findings_per_pod) as u64),
                pods.len() as u64,
            ),
            pods,
        }
    }

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn violations_are_capped_at_a_hundred_and_the_rest_counted() {
        let spec = audit_result("p", "prod", &evaluation(30, 5), now());
        assert_eq!(spec.violations.len(), MAX_AUDIT_VIOLATIONS);
        assert_eq!(spec.total_violations, 150);
        assert_eq!(spec.truncated, Some(50));
        assert_eq!(spec.total_pods, 30);
        let small = audit_result("p", "prod", &evaluation(2, 1), now());
        assert_eq!(small.truncated, None);
        assert_eq!(small.violations[0].severity, Severity::High);
    }

    #[test]
    fn the_digest_ignores_time_and_cluster_but_not_the_result() {
        let eval = evaluation(3, 1);
        let a = audit_result("p", "prod", &eval, now());
        let later = audit_result(
            "p",
            "other",
            &eval,
            now() + jiff::SignedDuration::from_secs(60),
        );
        assert_eq!(digest(&a), digest(&later));
        let changed = audit_result("p", "prod", &evaluation(3, 2), now());
        assert_ne!(digest(&a), digest(&changed));
    }

    #[test]
    fn retention_deletes_the_oldest_beyond_the_limit() {
        let records: Vec<AuditRecord> = (1..=5)
            .map(|i| AuditRecord {
                name: format!("r{i}"),
                created: now() + jiff::SignedDuration::from_millis(i as i64),
                digest: i,
            })
            .collect();
        assert_eq!(beyond_retention(&records, 3), ["r1", "r2"]);
        assert!(beyond_retention(&records, 10).is_empty());
        assert_eq!(newest(&records).map(|r| r.name.as_str()), Some("r5"));
    }

    #[test]
    fn long_policy_names_become_valid_distinct_label_values() {
        let long_a = format!("{}-a", "x".repeat(80));
        let long_b = format!("{}-b", "x".repeat(80));
        assert_eq!(policy_label("short"), "short");
        assert!(policy_label(&long_a).len() <= MAX_LABEL);
        assert_ne!(policy_label(&long_a), policy_label(&long_b));
    }
}
