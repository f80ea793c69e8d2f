//! The audit's second pass: findings that need related objects, and what they do to the
//! scores.
//!
//! In: the finished list of judged objects and the cross-resource index built while
//! reading. Out: each workload's object findings refined (a ServiceAccount that opts out of
//! token mounting, an autoscaler that owns the replicas), each object's cross-resource
//! findings appended, and the namespace and cluster totals adjusted. A finding on a
//! workload counts once per pod of the workload (offline: once, the workload being one
//! pod); a finding on another object adds its penalty to its namespace, or for a
//! cluster-scoped object to the cluster, and no pod.

use super::{Auditor, cluster_scoped, owner_level};
use crate::checks::{CheckId, Finding};
use crate::cross::{Judge, ObjectId, ObjectKind};
use crate::policy::EffectivePolicy;
use crate::score::Penalty;

/// Kinds that cross-resource checks judge (and list as report entries) under `policy`.
pub(super) fn judged_kind(policy: &EffectivePolicy, kind: ObjectKind) -> bool {
    let on = |ids: &[CheckId]| ids.iter().any(|id| policy.severity(*id).is_some());
    match kind {
        ObjectKind::Service => on(&[CheckId::ServiceSelectorMatchesNothing]),
        ObjectKind::Ingress => on(&[CheckId::IngressTlsMissing]),
        ObjectKind::Role | ObjectKind::ClusterRole => {
            on(&[CheckId::RoleWildcard, CheckId::PodExecAttachAllowed])
        }
        ObjectKind::RoleBinding | ObjectKind::ClusterRoleBinding => on(&[
            CheckId::ClusterAdminBinding,
            CheckId::SecretsReadableByServiceAccount,
        ]),
        _ => false,
    }
}

impl Auditor {
    fn untally(&mut self, f: &Finding) {
        if f.is_counted() {
            if let Some(n) = self.report.counts.get_mut(f.check.as_str()) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.report.counts.remove(f.check.as_str());
                }
            }
            if let Some(n) = self.report.severities.get_mut(&f.severity) {
                *n = n.saturating_sub(1);
            }
        } else {
            self.report.exempted = self.report.exempted.saturating_sub(1);
        }
    }

    /// Adds `delta` twelfths to the total the object's findings count in.
    fn adjust(&mut self, namespace: &str, kind: ObjectKind, delta: i128) {
        let apply = |p: &mut Penalty| {
            let value = (i128::from(p.0) + delta).clamp(0, i128::from(u64::MAX));
            *p = Penalty(u64::try_from(value).unwrap_or(u64::MAX));
        };
        if cluster_scoped(kind) {
            apply(&mut self.cluster_penalty);
        } else {
            apply(
                &mut self
                    .aggregates
                    .entry(namespace.to_owned())
                    .or_default()
                    .penalty,
            );
        }
    }

    /// Refines and completes every entry's findings with the cross-resource index.
    pub(super) fn judge_related(&mut self) {
        let Some(index) = self.cross.take() else {
            return;
        };
        let policy = self.policy.clone();
        let set = self.policies.take();
        // Each object is judged by its namespace's policy; cluster-scoped ones by the
        // default (`Auditor::policy_of`).
        let policy_of = |id: &ObjectId| -> &EffectivePolicy {
            if cluster_scoped(id.kind) {
                return &policy;
            }
            set.as_ref()
                .and_then(|s| s.resolve(&id.namespace).policy())
                .unwrap_or(&policy)
        };
        let exclusions = self.exclusions.clone();
        let now = self.now;
        let counted = |fs: &[Finding]| -> i128 {
            fs.iter()
                .filter(|f| f.is_counted())
                .map(|f| i128::from(f.penalty.0))
                .sum()
        };
        for i in 0..self.report.workloads.len() {
            let id = self.report.workloads[i].object.clone();
            let entry = std::mem::take(&mut self.scores[i]);
            let pods = i128::from(entry.pods);
            let mut delta: i128 = 0;
            if id.workload_kind().is_some() {
                let mut findings = std::mem::take(&mut self.report.workloads[i].findings);
                let removed = index.refine(&id, &mut findings);
                for f in &removed {
                    self.untally(f);
                }
                delta -= if entry.scored_itself {
                    counted(&removed)
                } else {
                    let mut checks: Vec<CheckId> = removed.iter().map(|f| f.check).collect();
                    checks.dedup();
                    checks
                        .iter()
                        .filter_map(|c| entry.pod_penalties.get(c))
                        .map(|p| i128::from(p.0))
                        .sum()
                };
                if !entry.scored_itself {
                    // Its live pods carry what the workload object itself fails.
                    let own: Vec<Finding> = findings
                        .iter()
                        .filter(|f| owner_level(f.check))
                        .cloned()
                        .collect();
                    delta += counted(&own) * pods;
                }
                self.report.workloads[i].findings = findings;
            }
            let judge = Judge {
                policy: policy_of(&id),
                exclusions: &exclusions,
                now,
            };
            let related = index.findings(&id, &judge);
            self.tally(&related);
            delta += if id.workload_kind().is_some() {
                counted(&related) * pods
            } else {
                counted(&related)
            };
            self.report.workloads[i].findings.extend(related);
            self.adjust(&id.namespace, id.kind, delta);
            self.scores[i] = entry;
        }
        self.policies = set;
    }
}
