//! The enforcement part of a DevOpsPolicy's status.
//!
//! In: the policy's mode, the enforcement fields it holds, and what one enforcement cycle
//! did ([`CycleOutcome`]). Out: the enforcement fields to apply under the enforcer's own
//! field manager (the operator owns the other status fields), and whether they differ from
//! what is held, so a quiet cycle writes nothing. Counts and `remediatedWorkloads` are
//! cumulative (what enforcement has done to the namespace, minus what it reverted);
//! `skipped` and `plannedChanges` describe the last cycle. In `audit` mode every
//! enforcement field is cleared.

use crate::policy::crd::{DevOpsPolicyStatus, EnforcementMode, SkippedWorkload};

/// What one enforcement cycle did for one policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleOutcome {
    /// Workloads patched (`Kind/name`).
    pub applied: Vec<String>,
    /// Workloads whose write failed, or whose remediation was reverted.
    pub failed: Vec<String>,
    /// Workloads whose remediation was reverted (they leave `remediatedWorkloads`).
    pub reverted: Vec<String>,
    /// Workloads left alone.
    pub skipped: Vec<SkippedWorkload>,
    /// dryRun: workloads that would be patched.
    pub would_patch: Vec<String>,
    /// dryRun: one line per change that would be made.
    pub planned_changes: Vec<String>,
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The enforcement fields after `outcome`, given what is held. Only the enforcement
/// fields are set.
pub fn enforcement_status(
    mode: EnforcementMode,
    held: Option<&DevOpsPolicyStatus>,
    outcome: &CycleOutcome,
) -> DevOpsPolicyStatus {
    let mut skipped = outcome.skipped.clone();
    skipped.sort();
    skipped.dedup();
    let skipped = (!skipped.is_empty()).then_some(skipped);
    match mode {
        EnforcementMode::Audit => DevOpsPolicyStatus::default(),
        EnforcementMode::DryRun => DevOpsPolicyStatus {
            remediated_workloads: Some(sorted(outcome.would_patch.clone())),
            planned_changes: Some(outcome.planned_changes.clone()),
            skipped,
            ..DevOpsPolicyStatus::default()
        },
        EnforcementMode::Enforce => {
            let applied = held.and_then(|h| h.remediations_applied).unwrap_or(0);
            let failed = held.and_then(|h| h.remediations_failed).unwrap_or(0);
            let mut workloads: Vec<String> = held
                .and_then(|h| h.remediated_workloads.clone())
                .unwrap_or_default();
            workloads.extend(outcome.applied.iter().cloned());
            workloads.retain(|w| !outcome.reverted.contains(w));
            DevOpsPolicyStatus {
                remediations_applied: Some(applied.saturating_add(count(outcome.applied.len()))),
                remediations_failed: Some(failed.saturating_add(count(outcome.failed.len()))),
                remediated_workloads: Some(sorted(workloads)),
                skipped,
                ..DevOpsPolicyStatus::default()
            }
        }
    }
}

/// Whether two statuses agree on every enforcement field.
pub fn same_enforcement(a: &DevOpsPolicyStatus, b: &DevOpsPolicyStatus) -> bool {
    a.remediations_applied == b.remediations_applied
        && a.remediations_failed == b.remediations_failed
        && a.remediated_workloads == b.remediated_workloads
        && a.skipped == b.skipped
        && a.planned_changes == b.planned_changes
}

/// Skips in `next` that `held` did not list (each deserves an event once).
pub fn new_skips<'a>(
    held: Option<&DevOpsPolicyStatus>,
    next: &'a DevOpsPolicyStatus,
) -> Vec<&'a SkippedWorkload> {
    let before = held.and_then(|h| h.skipped.as_deref()).unwrap_or(&[]);
    next.skipped
        .iter()
        .flatten()
        .filter(|s| {
            !before
                .iter()
                .any(|b| b.workload == s.workload && b.reason == s.reason)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(w: &str, reason: &str) -> SkippedWorkload {
        SkippedWorkload {
            workload: w.into(),
            reason: reason.into(),
            message: String::new(),
        }
    }

    #[test]
    fn enforce_counts_accumulate_and_a_quiet_cycle_changes_nothing() {
        let first = CycleOutcome {
            applied: vec!["Deployment/web".into()],
            skipped: vec![skip("Pod/bare", "barePod")],
            ..CycleOutcome::default()
        };
        let s1 = enforcement_status(EnforcementMode::Enforce, None, &first);
        assert_eq!(s1.remediations_applied, Some(1));
        assert_eq!(s1.remediations_failed, Some(0));
        assert_eq!(s1.remediated_workloads, Some(vec!["Deployment/web".into()]));
        let quiet = CycleOutcome {
            skipped: vec![skip("Pod/bare", "barePod")],
            ..CycleOutcome::default()
        };
        let s2 = enforcement_status(EnforcementMode::Enforce, Some(&s1), &quiet);
        assert!(same_enforcement(&s1, &s2), "{s1:?} vs {s2:?}");
        assert!(new_skips(Some(&s1), &s2).is_empty());
        assert_eq!(new_skips(None, &s2).len(), 1);
    }

    #[test]
    fn a_revert_counts_as_failed_and_leaves_the_remediated_list() {
        let held = DevOpsPolicyStatus {
            remediations_applied: Some(2),
            remediations_failed: Some(0),
            remediated_workloads: Some(vec!["Deployment/a".into(), "Deployment/b".into()]),
            ..DevOpsPolicyStatus::default()
        };
        let outcome = CycleOutcome {
            failed: vec!["Deployment/b".into()],
            reverted: vec!["Deployment/b".into()],
            skipped: vec![skip("Deployment/b", "rolloutFailed")],
            ..CycleOutcome::default()
        };
        let s = enforcement_status(EnforcementMode::Enforce, Some(&held), &outcome);
        assert_eq!(s.remediations_applied, Some(2));
        assert_eq!(s.remediations_failed, Some(1));
        assert_eq!(s.remediated_workloads, Some(vec!["Deployment/a".into()]));
    }

    #[test]
    fn dry_run_lists_the_changes_and_audit_clears_everything() {
        let outcome = CycleOutcome {
            would_patch: vec!["Deployment/web".into()],
            planned_changes: vec![
                "Deployment/web: container app: resources.requests.cpu 100m".into(),
            ],
            ..CycleOutcome::default()
        };
        let s = enforcement_status(EnforcementMode::DryRun, None, &outcome);
        assert_eq!(s.remediations_applied, None);
        assert_eq!(s.planned_changes.as_ref().map(Vec::len), Some(1));
        assert_eq!(s.remediated_workloads, Some(vec!["Deployment/web".into()]));
        let cleared = enforcement_status(EnforcementMode::Audit, Some(&s), &outcome);
        assert_eq!(cleared, DevOpsPolicyStatus::default());
        assert!(!same_enforcement(&s, &cleared));
    }
}
