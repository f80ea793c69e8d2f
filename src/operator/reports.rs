//! Policy reports: one report per top-level workload, in the shape report viewers read
//! (`wgpolicyk8s.io/v1alpha2` `PolicyReport`, `openreports.io/v1alpha1` `Report`).
//!
//! In: a namespace's evaluation, its resolution (the checks judged and which DevOpsPolicy
//! each is credited to) and the owner index. Out: [`WorkloadReport`]s, one per workload
//! with scored pods: one result per check judged (`pass`, `fail`, or `skip` when every
//! finding is exempt), with severity, category, message, `source: kube-devops`, `policy`
//! the DevOpsPolicy and `rule` the check id; the object to apply for each report API; and
//! a [`WorkloadReport::digest`] that an object read back from the cluster reproduces, so
//! "written only on change" compares with what the cluster holds. A result carries one
//! message whatever the number of containers and pods (the first finding, and counts), so
//! a report stays a few kilobytes: at most one result per catalogue check.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::checks::{CheckId, Finding, FindingStatus, Severity};
use crate::owners::{OwnerIndex, WorkloadRef};
use crate::policy::Resolution;
use crate::score::store::{NamespaceEvaluation, PodEvaluation};

/// Label on every report kube-devops writes.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGED_BY: &str = "kube-devops";
/// `source` of every result.
pub const SOURCE: &str = "kube-devops";
/// Longest result message.
pub const MAX_MESSAGE: usize = 1024;

/// A report API kube-devops writes to when its CRD is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportApi {
    /// `wgpolicyk8s.io/v1alpha2` `PolicyReport`.
    WgPolicy,
    /// `openreports.io/v1alpha1` `Report`.
    OpenReports,
}

impl ReportApi {
    /// Both APIs.
    pub const ALL: [ReportApi; 2] = [ReportApi::WgPolicy, ReportApi::OpenReports];

    /// API group.
    pub fn group(self) -> &'static str {
        match self {
            ReportApi::WgPolicy => "wgpolicyk8s.io",
            ReportApi::OpenReports => "openreports.io",
        }
    }

    /// Version written.
    pub fn version(self) -> &'static str {
        match self {
            ReportApi::WgPolicy => "v1alpha2",
            ReportApi::OpenReports => "v1alpha1",
        }
    }

    /// Kind.
    pub fn kind(self) -> &'static str {
        match self {
            ReportApi::WgPolicy => "PolicyReport",
            ReportApi::OpenReports => "Report",
        }
    }

    /// Plural resource name.
    pub fn plural(self) -> &'static str {
        match self {
            ReportApi::WgPolicy => "policyreports",
            ReportApi::OpenReports => "reports",
        }
    }

    /// `group/version`.
    pub fn api_version(self) -> String {
        format!("{}/{}", self.group(), self.version())
    }

    /// Name of the CRD that serves it.
    pub fn crd_name(self) -> String {
        format!("{}.{}", self.plural(), self.group())
    }
}

/// A result's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// No pod of the workload fails the check.
    Pass,
    /// Some pod fails it.
    Fail,
    /// Every finding is covered by an exemption.
    Skip,
}

/// One result of a report. Text that is the same for every result of a check is
/// borrowed, not copied: a resync builds one result per check per workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReportResult {
    /// The DevOpsPolicy the check is credited to.
    pub policy: String,
    /// The check id.
    pub rule: Cow<'static, str>,
    /// The verdict.
    pub result: Outcome,
    /// The check's effective severity.
    pub severity: Severity,
    /// The check's category.
    pub category: Cow<'static, str>,
    /// What was found.
    pub message: Cow<'static, str>,
    /// Always [`SOURCE`].
    pub source: Cow<'static, str>,
    /// Counts for a failure: `pods` and `findings`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

/// The report of one workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkloadReport {
    /// The workload (the report's scope and owner).
    pub workload: WorkloadRef,
    /// One result per check judged, in catalogue order.
    pub results: Vec<ReportResult>,
}

/// `summary` of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Passed checks.
    pub pass: u32,
    /// Failed checks.
    pub fail: u32,
    /// Warnings (never written).
    pub warn: u32,
    /// Errors (never written).
    pub error: u32,
    /// Checks whose findings are all exempt.
    pub skip: u32,
}

/// Message of a passed check.
pub const PASSED: &str = "no container of the workload fails this check";

fn cap(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE - 3;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Name of a workload's report: one per workload uid, whatever the workload's name length.
pub fn report_name(workload: &WorkloadRef) -> String {
    format!("kube-devops-{}", workload.uid)
}

fn result_for(
    check: CheckId,
    severity: Severity,
    policy: &str,
    pods: &[&PodEvaluation],
) -> ReportResult {
    let mut counted: Vec<(&str, &Finding)> = Vec::new();
    let mut exempt: Option<&str> = None;
    for pod in pods {
        for f in pod.findings.iter().filter(|f| f.check == check) {
            match &f.status {
                FindingStatus::Counted => counted.push((&pod.name, f)),
                FindingStatus::Skipped { reason } => exempt = exempt.or(Some(reason.as_str())),
            }
        }
    }
    let mut properties = BTreeMap::new();
    let (result, message) = match (counted.first(), exempt) {
        (Some((pod, first)), _) => {
            let failing_pods = {
                let mut names: Vec<&str> = counted.iter().map(|(p, _)| *p).collect();
                names.dedup();
                names.len()
            };
            properties.insert("pods".to_owned(), failing_pods.to_string());
            properties.insert("findings".to_owned(), counted.len().to_string());
            let more = match counted.len() {
                1 => String::new(),
                n => format!(" ({n} findings in {failing_pods} pod(s))"),
            };
            let message = cap(format!("pod {pod}: {}{more}", first.message));
            (Outcome::Fail, Cow::Owned(message))
        }
        (None, Some(reason)) => (Outcome::Skip, Cow::Owned(cap(format!("exempt: {reason}")))),
        (None, None) => (Outcome::Pass, Cow::Borrowed(PASSED)),
    };
    ReportResult {
        policy: policy.to_owned(),
        rule: Cow::Borrowed(check.as_str()),
        result,
        severity,
        category: Cow::Borrowed(check.spec().category.as_str()),
        message,
        source: Cow::Borrowed(SOURCE),
        properties,
    }
}

/// The reports of a namespace: one per top-level workload with scored pods, when the
/// namespace is judged by DevOpsPolicies (none otherwise: results name their policy).
pub fn build_reports(
    evaluation: &NamespaceEvaluation,
    resolution: Resolution<'_>,
    owners: &OwnerIndex,
) -> Vec<WorkloadReport> {
    let Resolution::Policies { policy, policies } = resolution else {
        return Vec::new();
    };
    // Siblings share a controller: resolve each controller once, keep pods in name order.
    let mut groups: HashMap<&str, usize> = HashMap::new();
    let mut slots: HashMap<WorkloadRef, usize> = HashMap::new();
    let mut workloads: Vec<(WorkloadRef, Vec<&PodEvaluation>)> = Vec::new();
    for pod in &evaluation.pods {
        let controller = pod.controller();
        let group = controller.map_or(&*pod.uid, |o| o.uid.as_str());
        let i = match groups.get(group) {
            Some(i) => *i,
            None => {
                let w = owners.top_level(&evaluation.namespace, &pod.name, &pod.uid, controller);
                let i = *slots.entry(w.clone()).or_insert_with(|| {
                    workloads.push((w, Vec::new()));
                    workloads.len() - 1
                });
                groups.insert(group, i);
                i
            }
        };
        workloads[i].1.push(pod);
    }
    workloads.sort_by(|a, b| a.0.cmp(&b.0));
    workloads
        .into_iter()
        .map(|(workload, pods)| {
            let results = policy
                .enabled()
                .map(|(check, severity)| {
                    let credited = policies.attribution(check).unwrap_or_default();
                    result_for(check, severity, credited, &pods)
                })
                .collect();
            WorkloadReport { workload, results }
        })
        .collect()
}

impl WorkloadReport {
    /// Counts of the results.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.results {
            match r.result {
                Outcome::Pass => s.pass += 1,
                Outcome::Fail => s.fail += 1,
                Outcome::Skip => s.skip += 1,
            }
        }
        s
    }

    /// What "the report changed" compares; equal for a report read back from the cluster.
    pub fn digest(&self) -> u64 {
        let mut h = super::Digest::default();
        self.hash(&mut h);
        h.finish()
    }

    fn scope(&self) -> Value {
        let w = &self.workload;
        json!({
            "apiVersion": w.api_version, "kind": w.kind, "name": w.name,
            "namespace": w.namespace, "uid": w.uid,
        })
    }

    /// The object to apply through `api`: labelled, owned by the workload (so Kubernetes
    /// collects it with the workload), scoped to it.
    pub fn to_object(&self, api: ReportApi) -> Value {
        let w = &self.workload;
        let results: Vec<Value> = self
            .results
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
                v["scored"] = json!(true);
                v
            })
            .collect();
        let mut object = json!({
            "apiVersion": api.api_version(),
            "kind": api.kind(),
            "metadata": {
                "name": report_name(w),
                "namespace": w.namespace,
                "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                "ownerReferences": [{
                    "apiVersion": w.api_version, "kind": w.kind, "name": w.name, "uid": w.uid,
                }],
            },
            "scope": self.scope(),
            "summary": self.summary(),
            "results": results,
        });
        if api == ReportApi::OpenReports {
            object["source"] = json!(SOURCE);
        }
        object
    }

    /// Reads back a report this module wrote; `None` for anything else.
    pub fn from_object(object: &Value) -> Option<WorkloadReport> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Scope {
            api_version: String,
            kind: String,
            namespace: String,
            name: String,
            uid: String,
        }
        let scope: Scope = serde_json::from_value(object.get("scope")?.clone()).ok()?;
        let results: Vec<ReportResult> = match object.get("results") {
            Some(r) => serde_json::from_value(r.clone()).ok()?,
            None => Vec::new(),
        };
        Some(WorkloadReport {
            workload: WorkloadRef {
                api_version: scope.api_version,
                kind: scope.kind,
                namespace: scope.namespace,
                name: scope.name,
                uid: scope.uid,
            },
            results,
        })
    }
}

/// The reports a namespace should hold, by report name.
pub fn by_name(reports: &[WorkloadReport]) -> HashMap<String, &WorkloadReport> {
    reports
        .iter()
        .map(|r| (report_name(&r.workload), r))
        .collect()
}

#[cfg(test)]
#[path = "reports_tests.rs"]
mod tests;
