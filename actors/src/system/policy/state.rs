//! The reconciler's view of the DevOpsPolicies, and turning evaluations into jobs and
//! outcomes back into state and metrics.
//!
//! In: DevOpsPolicy objects (applied, deleted, relisted), namespace evaluations, and the
//! outcomes of the writer. Out: the policy set behind the snapshot, one [`NamespaceJob`]
//! per evaluated namespace, the per-policy metric series (written on every replica, removed
//! with their policy), and the held state updated by what was written.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube_devops::checks::Severity;
use kube_devops::operator::audit::DEFAULT_RETENTION;
use kube_devops::operator::{PolicyState, ReportApi, plan_namespace};
use kube_devops::policy::crd::{EnforcementMode, FINALIZER};
use kube_devops::policy::{
    DevOpsPolicy, DevOpsPolicySpec, DevOpsPolicyStatus, EffectivePolicy, PolicyError,
};
use kube_devops::score::store::NamespaceEvaluation;

use super::writer::{Applied, Cleanup, NamespaceJob, NamespaceOutcome};
use super::{PolicyKey, PolicyReconcilerActor};

/// One DevOpsPolicy as the reconciler holds it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HeldPolicy {
    pub uid: String,
    pub generation: Option<i64>,
    pub spec: DevOpsPolicySpec,
    pub error: Option<PolicyError>,
    pub status: Option<DevOpsPolicyStatus>,
    pub finalizers: Vec<String>,
    pub deleting: bool,
}

impl HeldPolicy {
    /// The key and state of a policy object; `None` when it has no namespace or name.
    pub fn of(p: DevOpsPolicy) -> Option<(PolicyKey, HeldPolicy)> {
        let key = (p.metadata.namespace.clone()?, p.metadata.name.clone()?);
        let error = EffectivePolicy::from_spec(&p.spec).err();
        Some((
            key,
            HeldPolicy {
                uid: p.metadata.uid.unwrap_or_default(),
                generation: p.metadata.generation,
                error,
                spec: p.spec,
                status: p.status,
                finalizers: p.metadata.finalizers.unwrap_or_default(),
                deleting: p.metadata.deletion_timestamp.is_some(),
            },
        ))
    }

    fn has_finalizer(&self) -> bool {
        self.finalizers.iter().any(|f| f == FINALIZER)
    }

    /// Whether a change from `self` to `next` needs a reconcile (a status we wrote does
    /// not: that would loop).
    pub fn needs_reconcile(&self, next: &HeldPolicy) -> bool {
        self.generation != next.generation
            || self.spec != next.spec
            || self.deleting != next.deleting
            || self.has_finalizer() != next.has_finalizer()
    }
}

fn mode_value(mode: Option<EnforcementMode>) -> f64 {
    match mode.unwrap_or_default() {
        EnforcementMode::Audit => 0.0,
        EnforcementMode::Enforce => 1.0,
        EnforcementMode::DryRun => 2.0,
    }
}

impl PolicyReconcilerActor {
    /// Recomputes a namespace's entry in the set from the policies that are not being
    /// deleted. Returns whether its resolution changed.
    pub(super) fn refresh_namespace(&mut self, ns: &str) -> bool {
        let specs: Vec<(&str, &DevOpsPolicySpec)> = self
            .policies
            .range((ns.to_owned(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .filter(|(_, p)| !p.deleting)
            .map(|((_, name), p)| (name.as_str(), &p.spec))
            .collect();
        self.set.set_namespace(ns, specs)
    }

    /// Writes the enforcement-mode series of a policy (none while it is being deleted).
    pub(super) fn record_mode(&self, key: &PolicyKey, policy: &HeldPolicy) {
        if policy.deleting {
            return;
        }
        self.metrics
            .enforcement_mode
            .set([&key.0, &key.1], mode_value(policy.spec.enforcement_mode));
    }

    /// Removes every series of a policy.
    pub(super) fn remove_series(&self, ns: &str, name: &str) {
        let m = &self.metrics;
        m.policy_health_score.remove([ns, name]);
        m.policy_violations.remove([ns, name]);
        m.enforcement_mode.remove([ns, name]);
        for s in Severity::ALL {
            m.policy_violations_by_severity
                .remove([ns, name, s.as_str()]);
        }
    }

    fn record_status(&self, ns: &str, name: &str, status: &DevOpsPolicyStatus) {
        let m = &self.metrics;
        match status.health_score {
            Some(score) => m.policy_health_score.set([ns, name], score),
            None => {
                m.policy_health_score.remove([ns, name]);
            }
        }
        match (status.violations, status.violations_by_severity) {
            (Some(total), Some(by)) => {
                m.policy_violations.set([ns, name], f64::from(total));
                for s in Severity::ALL {
                    m.policy_violations_by_severity
                        .set([ns, name, s.as_str()], f64::from(by.get(s)));
                }
            }
            _ => {
                m.policy_violations.remove([ns, name]);
                for s in Severity::ALL {
                    m.policy_violations_by_severity
                        .remove([ns, name, s.as_str()]);
                }
            }
        }
        m.policy_pods_scanned_total
            .inc_by(u64::from(status.pods_scanned.unwrap_or(0)));
        m.policy_reconcile_total.inc();
    }

    /// Plans one evaluated namespace: its job, and its policies' metrics.
    pub(super) fn plan(&self, eval: &NamespaceEvaluation, started: Instant) -> NamespaceJob {
        let ns = eval.namespace.as_str();
        let in_ns: Vec<(&String, &HeldPolicy)> = self
            .policies
            .range((ns.to_owned(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .map(|((_, name), p)| (name, p))
            .collect();
        let states: Vec<PolicyState<'_>> = in_ns
            .iter()
            .filter(|(_, p)| !p.deleting)
            .map(|(name, p)| PolicyState {
                name,
                uid: &p.uid,
                generation: p.generation,
                error: p.error.as_ref(),
                status: p.status.as_ref(),
                retention: p.spec.audit_retention.unwrap_or(DEFAULT_RETENTION),
            })
            .collect();
        let mut job = NamespaceJob::new(ns, started);
        let Some(op) = &self.op else {
            return job;
        };
        let apis: Vec<ReportApi> = op.report_apis.iter().copied().collect();
        let plan = plan_namespace(
            eval,
            &self.set,
            &states,
            &op.owners,
            &op.held,
            &apis,
            &op.options.cluster_name,
            Timestamp::now(),
        );
        for (name, status) in &plan.statuses {
            self.record_status(ns, name, status);
        }
        job.writes = plan.writes;
        job.policies = in_ns.len();
        for (name, p) in &in_ns {
            job.uids.insert((*name).clone(), p.uid.clone());
            if p.deleting && p.has_finalizer() {
                job.cleanup.push(Cleanup {
                    policy: (*name).clone(),
                    finalizers: p.finalizers.clone(),
                });
            } else if !p.deleting && !p.has_finalizer() {
                job.add_finalizer
                    .push(((*name).clone(), p.finalizers.clone()));
            }
        }
        job
    }

    /// Takes a job's outcome into the held state.
    pub(super) fn performed(&mut self, outcome: NamespaceOutcome) {
        let ns = outcome.namespace.clone();
        for applied in outcome.applied {
            self.take_applied(&ns, applied);
        }
        self.observe(outcome.started, outcome.policies);
        if let Some(error) = outcome.error {
            tracing::warn!(%ns, %error, "reconcile failed; retrying with backoff");
            self.failed(&ns);
        } else if outcome.not_leading {
            tracing::info!(%ns, "stopped writing: not leading");
        } else if let Some(op) = self.op.as_mut() {
            op.failures.remove(&ns);
        }
    }

    fn take_applied(&mut self, ns: &str, applied: Applied) {
        let key = |name: &str| (ns.to_owned(), name.to_owned());
        match applied {
            Applied::Status { policy, status } => {
                if let Some(p) = self.policies.get_mut(&key(&policy)) {
                    p.status = Some(*status);
                }
            }
            Applied::FinalizerAdded { policy } => {
                if let Some(p) = self.policies.get_mut(&key(&policy)) {
                    p.finalizers.push(FINALIZER.to_owned());
                }
            }
            Applied::CleanedUp { policy } => {
                tracing::info!(%ns, %policy, "policy cleaned up; finalizer removed");
                self.remove_series(ns, &policy);
                if let Some(op) = self.op.as_mut() {
                    op.held.audits.remove(&key(&policy));
                }
            }
            Applied::AuditCreated { policy, record } => {
                self.metrics.audit_results_total.inc();
                if let Some(op) = self.op.as_mut() {
                    let records = op.held.audits.entry(key(&policy)).or_default();
                    if !records.iter().any(|r| r.name == record.name) {
                        records.push(record);
                    }
                }
            }
            Applied::AuditDeleted { policy, name } => {
                if let Some(op) = self.op.as_mut()
                    && let Some(records) = op.held.audits.get_mut(&key(&policy))
                {
                    records.retain(|r| r.name != name);
                }
            }
            Applied::Report { key, digest } => {
                if let Some(op) = self.op.as_mut() {
                    op.held.set_report(&key, digest);
                }
            }
        }
    }

    /// A policy was created or changed.
    pub(super) fn policy_applied(&mut self, key: PolicyKey, next: HeldPolicy) {
        self.record_mode(&key, &next);
        let needs = self
            .policies
            .get(&key)
            .is_none_or(|prev| prev.needs_reconcile(&next));
        self.policies.insert(key.clone(), next);
        let changed = self.refresh_namespace(&key.0);
        if changed && self.synced {
            self.publish(Some(vec![key.0.clone()]));
        }
        if needs || changed {
            self.enqueue(&key.0, Duration::ZERO);
        }
    }

    /// A policy is gone.
    pub(super) fn policy_deleted(&mut self, key: PolicyKey) {
        self.policies.remove(&key);
        self.remove_series(&key.0, &key.1);
        if self.refresh_namespace(&key.0) && self.synced {
            self.publish(Some(vec![key.0.clone()]));
        }
        self.enqueue(&key.0, Duration::ZERO);
    }

    /// A full list replaced the policies.
    pub(super) fn policies_listed(&mut self, listed: BTreeMap<PolicyKey, HeldPolicy>) {
        let before = self.set.clone();
        let gone: Vec<PolicyKey> = self
            .policies
            .keys()
            .filter(|k| !listed.contains_key(*k))
            .cloned()
            .collect();
        for key in &gone {
            self.remove_series(&key.0, &key.1);
        }
        let changed: Vec<PolicyKey> = listed
            .iter()
            .filter(|(k, p)| {
                self.policies
                    .get(*k)
                    .is_none_or(|prev| prev.needs_reconcile(p))
            })
            .map(|(k, _)| k.clone())
            .collect();
        self.policies = listed;
        let mut namespaces: Vec<String> = self.policies.keys().map(|(ns, _)| ns.clone()).collect();
        namespaces.extend(gone.iter().map(|(ns, _)| ns.clone()));
        namespaces.sort();
        namespaces.dedup();
        for ns in &namespaces {
            self.refresh_namespace(ns);
        }
        for (key, p) in self.policies.clone() {
            self.record_mode(&key, &p);
        }
        let first = !self.synced;
        self.synced = true;
        let resolved = self.set.changed_namespaces(&before);
        if first {
            tracing::info!(policies = self.policies.len(), "policy set synced");
            self.publish(None);
            self.enqueue_all();
        } else {
            self.publish(Some(resolved.clone()));
            for ns in resolved
                .iter()
                .chain(changed.iter().map(|(ns, _)| ns))
                .chain(gone.iter().map(|(ns, _)| ns))
            {
                self.enqueue(ns, Duration::ZERO);
            }
        }
    }
}
