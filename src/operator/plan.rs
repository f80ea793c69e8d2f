//! The reconcile of one namespace as a plan: the writes that bring the cluster to what
//! the evaluation says, and nothing more.
//!
//! In: the namespace's [`NamespaceEvaluation`], the policy set, the namespace's
//! DevOpsPolicies as the operator holds them, the owner index, what the cluster holds of
//! kube-devops's own objects ([`Held`]: audit results and reports, as the watches show
//! them), the report APIs installed, the cluster's name and the time. Out: a
//! [`NamespacePlan`]: status applies, audit results to create and prune, reports to apply
//! and delete, each only where the cluster differs in more than time. Planning is pure; the
//! operator performs the writes (only while it leads), so a standby that plans the same
//! namespace against the same held state would write exactly the same, and a quiet cluster
//! plans nothing.

use std::collections::HashMap;

use jiff::Timestamp;

use super::audit::{self, AuditRecord};
use super::reports::{self, ReportApi, WorkloadReport};
pub use super::status::PolicyState;
use super::status::{self, PolicyEvent};
use crate::owners::OwnerIndex;
use crate::policy::PolicySet;
use crate::policy::crd::{DevOpsPolicyStatus, PolicyAuditResultSpec};
use crate::score::store::NamespaceEvaluation;

/// Which report a key names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportKey {
    /// The API it lives in.
    pub api: ReportApi,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// What the cluster holds of kube-devops's own objects.
#[derive(Debug, Default, Clone)]
pub struct Held {
    /// Audit results per (namespace, policy name).
    pub audits: HashMap<(String, String), Vec<AuditRecord>>,
    /// Report digests per API and namespace, by report name.
    pub reports: HashMap<ReportApi, HashMap<String, HashMap<String, u64>>>,
}

impl Held {
    /// Records a report's digest (`None`: it is gone).
    pub fn set_report(&mut self, key: &ReportKey, digest: Option<u64>) {
        match digest {
            Some(d) => {
                self.reports
                    .entry(key.api)
                    .or_default()
                    .entry(key.namespace.clone())
                    .or_default()
                    .insert(key.name.clone(), d);
            }
            None => {
                if let Some(by_ns) = self.reports.get_mut(&key.api)
                    && let Some(names) = by_ns.get_mut(&key.namespace)
                {
                    names.remove(&key.name);
                    if names.is_empty() {
                        by_ns.remove(&key.namespace);
                    }
                }
            }
        }
    }

    /// A report's digest, if held.
    pub fn report(&self, key: &ReportKey) -> Option<u64> {
        self.names(key.api, &key.namespace)?.get(&key.name).copied()
    }

    /// The reports held through `api` in `ns`, by name.
    pub fn names(&self, api: ReportApi, ns: &str) -> Option<&HashMap<String, u64>> {
        self.reports.get(&api)?.get(ns)
    }

    /// Namespaces holding audit results or reports.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.audits.keys().map(|(ns, _)| ns.as_str()).chain(
            self.reports
                .values()
                .flat_map(|m| m.keys().map(String::as_str)),
        )
    }
}

/// One write of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Apply a policy's status; record the events once it is written.
    Status {
        /// The policy.
        policy: String,
        /// The status.
        status: Box<DevOpsPolicyStatus>,
        /// Events the change deserves.
        events: Vec<PolicyEvent>,
    },
    /// Create an audit result.
    AuditResult {
        /// The policy.
        policy: String,
        /// Its uid (ownerReference).
        policy_uid: String,
        /// The result.
        spec: Box<PolicyAuditResultSpec>,
        /// Its digest.
        digest: u64,
    },
    /// Delete an audit result (retention).
    DeleteAuditResult {
        /// The policy it belongs to.
        policy: String,
        /// Its name.
        name: String,
    },
    /// Apply a report.
    ApplyReport {
        /// Which.
        key: ReportKey,
        /// Its content.
        report: Box<WorkloadReport>,
        /// Its digest.
        digest: u64,
    },
    /// Delete a report.
    DeleteReport {
        /// Which.
        key: ReportKey,
    },
}

/// The writes of one namespace, and every policy's status (for the metrics, whether or
/// not it needs writing).
#[derive(Debug, Clone, Default)]
pub struct NamespacePlan {
    /// The namespace.
    pub namespace: String,
    /// Writes, in order: statuses, audit results, reports.
    pub writes: Vec<Write>,
    /// Each policy's desired status.
    pub statuses: Vec<(String, DevOpsPolicyStatus)>,
}

/// Plans the reconcile of `evaluation.namespace`. `policies` are the namespace's
/// DevOpsPolicies that are not being deleted.
#[allow(clippy::too_many_arguments)]
pub fn plan_namespace(
    evaluation: &NamespaceEvaluation,
    set: &PolicySet,
    policies: &[PolicyState<'_>],
    owners: &OwnerIndex,
    held: &Held,
    report_apis: &[ReportApi],
    cluster: &str,
    now: Timestamp,
) -> NamespacePlan {
    let ns = evaluation.namespace.as_str();
    let resolution = set.resolve(ns);
    let judged = resolution.policy().is_some();
    let mut plan = NamespacePlan {
        namespace: ns.to_owned(),
        ..NamespacePlan::default()
    };
    let mut audits = Vec::new();
    for p in policies {
        let desired = status::desired_status(p, ns, resolution, Some(evaluation), now);
        if p.status
            .is_none_or(|held| !status::same_status(held, &desired))
        {
            plan.writes.push(Write::Status {
                policy: p.name.to_owned(),
                events: status::events(p.status, &desired),
                status: Box::new(desired.clone()),
            });
        }
        plan.statuses.push((p.name.to_owned(), desired));
        let records = held
            .audits
            .get(&(ns.to_owned(), p.name.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut keep = p.retention;
        if judged && p.error.is_none() && p.retention > 0 {
            let spec = audit::audit_result(p.name, cluster, evaluation, now);
            let digest = audit::digest(&spec);
            if audit::newest(records).is_none_or(|r| r.digest != digest) {
                keep -= 1;
                audits.push(Write::AuditResult {
                    policy: p.name.to_owned(),
                    policy_uid: p.uid.to_owned(),
                    spec: Box::new(spec),
                    digest,
                });
            }
        }
        for name in audit::beyond_retention(records, keep) {
            audits.push(Write::DeleteAuditResult {
                policy: p.name.to_owned(),
                name,
            });
        }
    }
    plan.writes.extend(audits);
    let desired = reports::build_reports(evaluation, resolution, owners);
    let wanted = reports::by_name(&desired);
    for api in report_apis {
        for (name, report) in &wanted {
            let key = ReportKey {
                api: *api,
                namespace: ns.to_owned(),
                name: name.clone(),
            };
            let digest = report.digest();
            if held.report(&key) != Some(digest) {
                plan.writes.push(Write::ApplyReport {
                    key,
                    report: Box::new((*report).clone()),
                    digest,
                });
            }
        }
        let mut stale: Vec<&String> = held
            .names(*api, ns)
            .map(|m| m.keys().filter(|n| !wanted.contains_key(*n)).collect())
            .unwrap_or_default();
        stale.sort();
        for name in stale {
            plan.writes.push(Write::DeleteReport {
                key: ReportKey {
                    api: *api,
                    namespace: ns.to_owned(),
                    name: name.clone(),
                },
            });
        }
    }
    plan
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
