//! The web dashboard's views, computed from the controller's live evaluations.
//!
//! In: [`NamespaceEvaluation`]s (every finding of every stored pod of a namespace, as the
//! score store computes them), the cluster score, samples of it over time, and the
//! filters of a request. Out: serialisable views — a namespace's workloads and findings
//! ([`NamespaceDetail`]), the namespace list ([`NamespaceRow`]), the overview
//! ([`Overview`]) and the checks index ([`CheckView`]) — filtered and sorted as asked.
//!
//! Pods are grouped into workloads by their controller (a pod without one is its own
//! workload). A finding shared by several pods of a workload is one row with the number of
//! pods that carry it, and counts once: the dashboard counts what there is to fix, not
//! replicas. Exempt findings are kept, with the exemption's reason and expiry.

pub mod filter;
pub mod trend;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::checks::{Category, CheckId, Finding, FindingStatus, Severity};
use crate::policy::crd::SeverityCounts;
use crate::policy::exemptions::{ExemptUntil, ExemptionVerdict};
use crate::score::store::{NamespaceEvaluation, PodEvaluation};
use crate::score::{Classification, Score};

pub use filter::{Filter, NamespaceSort, SortOrder};
pub use trend::{Trend, TrendPoint};

/// Why a finding is exempt, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemptView {
    /// The exemption's reason, as the annotation gives it.
    pub reason: Option<String>,
    /// The `ignore-until` date as written; `None` when the exemption does not expire.
    pub expires: Option<String>,
}

/// One finding of a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingView {
    /// The check.
    pub check: CheckId,
    /// Its category.
    pub category: Category,
    /// Effective severity under the namespace's policy.
    pub severity: Severity,
    /// The container; `None` for pod-level findings.
    pub container: Option<String>,
    /// What was found.
    pub message: String,
    /// How to fix it.
    pub fix: &'static str,
    /// Pods of the workload that carry it.
    pub pods: u32,
    /// Set when an exemption covers it (it is then not counted).
    pub exempt: Option<ExemptView>,
}

/// One workload of a namespace: the pods of one controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadView {
    /// The controller's kind (`ReplicaSet`, `StatefulSet`, ...), `Pod` for a bare pod.
    pub kind: String,
    /// The controller's name, or the bare pod's.
    pub name: String,
    /// Stored pods.
    pub pods: u32,
    /// Counted findings.
    pub findings: u32,
    /// Exempt findings.
    pub exempt: u32,
    /// Every finding, counted ones first, worst first.
    pub items: Vec<FindingView>,
}

/// One namespace as the namespace list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceRow {
    /// The namespace.
    pub name: String,
    /// Its score, one decimal; `None` when no pod is scored.
    pub score: Option<f64>,
    /// Its classification.
    pub classification: Option<Classification>,
    /// Stored pods.
    pub pods: u64,
    /// Workloads.
    pub workloads: u64,
    /// Counted findings.
    pub findings: u64,
    /// Exempt findings.
    pub exempt: u64,
    /// Counted findings by severity.
    pub severities: SeverityCounts,
}

/// One namespace with its workloads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceDetail {
    /// The namespace's figures, as the namespace list shows them.
    #[serde(rename = "summary")]
    pub row: NamespaceRow,
    /// Counted findings by category.
    pub categories: BTreeMap<&'static str, u64>,
    /// Workloads, by kind and name.
    pub workloads: Vec<WorkloadView>,
}

impl NamespaceDetail {
    /// The view of one evaluated namespace at `now` (the time exemptions are judged at).
    pub fn new(eval: &NamespaceEvaluation, now: Timestamp) -> NamespaceDetail {
        let mut groups: BTreeMap<(String, String), Vec<&PodEvaluation>> = BTreeMap::new();
        for pod in &eval.pods {
            let key = match pod.controller() {
                Some(owner) => (owner.kind.clone(), owner.name.clone()),
                None => ("Pod".to_owned(), pod.name.to_string()),
            };
            groups.entry(key).or_default().push(pod);
        }
        let workloads: Vec<WorkloadView> = groups
            .into_iter()
            .map(|((kind, name), pods)| workload(kind, name, &pods, now))
            .collect();
        let mut row = NamespaceRow {
            name: eval.namespace.clone(),
            score: eval.score.map(|s| s.rounded()),
            classification: eval.score.map(|s| s.classification()),
            pods: eval.pods.len() as u64,
            workloads: workloads.len() as u64,
            findings: 0,
            exempt: 0,
            severities: SeverityCounts::default(),
        };
        let mut categories = BTreeMap::new();
        for f in workloads.iter().flat_map(|w| &w.items) {
            if f.exempt.is_some() {
                row.exempt += 1;
            } else {
                row.findings += 1;
                row.severities.add(f.severity);
                *categories.entry(f.category.as_str()).or_insert(0) += 1;
            }
        }
        NamespaceDetail {
            row,
            categories,
            workloads,
        }
    }
}

impl AsRef<NamespaceDetail> for NamespaceDetail {
    fn as_ref(&self) -> &NamespaceDetail {
        self
    }
}

fn workload(kind: String, name: String, pods: &[&PodEvaluation], now: Timestamp) -> WorkloadView {
    let mut items: Vec<FindingView> = Vec::new();
    for pod in pods {
        for f in &pod.findings {
            let same = items.iter_mut().find(|i| {
                i.check == f.check
                    && i.container == f.container
                    && i.message == f.message
                    && i.exempt.is_some() != f.is_counted()
            });
            match same {
                Some(item) => item.pods += 1,
                None => items.push(finding_view(f, pod, now)),
            }
        }
    }
    items.sort_by(|a, b| {
        (
            a.exempt.is_some(),
            std::cmp::Reverse(a.severity),
            a.check.as_str(),
            &a.container,
        )
            .cmp(&(
                b.exempt.is_some(),
                std::cmp::Reverse(b.severity),
                b.check.as_str(),
                &b.container,
            ))
    });
    let exempt = items.iter().filter(|i| i.exempt.is_some()).count() as u32;
    WorkloadView {
        kind,
        name,
        pods: pods.len() as u32,
        findings: items.len() as u32 - exempt,
        exempt,
        items,
    }
}

fn finding_view(f: &Finding, pod: &PodEvaluation, now: Timestamp) -> FindingView {
    let exempt = match &f.status {
        FindingStatus::Counted => None,
        FindingStatus::Skipped { .. } => {
            // The exemption that applies, as the evaluator chose it: the first that exempts.
            let applying = pod
                .template
                .exemptions
                .iter()
                .find(|e| matches!(e.verdict(f.check, now), ExemptionVerdict::Exempt(_)));
            Some(ExemptView {
                reason: applying.and_then(|e| e.reason.clone()),
                expires: applying.and_then(|e| match &e.until {
                    Some(ExemptUntil::At(_, raw)) => Some(raw.clone()),
                    _ => None,
                }),
            })
        }
    };
    FindingView {
        check: f.check,
        category: f.check.spec().category,
        severity: f.severity,
        container: f.container.clone(),
        message: f.message.clone(),
        fix: f.check.spec().remedy,
        pods: 1,
        exempt,
    }
}

/// Leadership and watch state, as the overview shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerState {
    /// Whether this replica holds the lease; `None` when it runs no election.
    pub leader: Option<bool>,
    /// Each watch and its state (`waiting`, `live`, or why it fails).
    pub watches: BTreeMap<String, String>,
    /// Whether the process is ready.
    pub ready: bool,
}

/// A check and how many workloads fail it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckCount {
    /// The check.
    pub check: CheckId,
    /// Workloads with a counted finding of it.
    pub workloads: u64,
}

/// The overview: the cluster at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// Cluster score, one decimal (pod-weighted, as `/api/v1/scores`); `None` with no pod.
    pub cluster: Option<f64>,
    /// Its classification.
    pub classification: Option<Classification>,
    /// Pods scored.
    pub pods: u64,
    /// Namespaces with scored pods.
    pub namespaces: u64,
    /// Workloads.
    pub workloads: u64,
    /// Counted findings.
    pub findings: u64,
    /// Exempt findings.
    pub exempt: u64,
    /// Counted findings by severity.
    pub severities: SeverityCounts,
    /// Counted findings by category.
    pub categories: BTreeMap<&'static str, u64>,
    /// Namespaces by classification.
    pub classifications: BTreeMap<&'static str, u64>,
    /// The most failed checks, most workloads first.
    pub top_checks: Vec<CheckCount>,
    /// The cluster score over time, oldest first.
    pub trend: Vec<TrendPoint>,
    /// Leadership and watches.
    pub controller: ControllerState,
    /// When the views were computed.
    pub generated_at: Timestamp,
}

/// How many checks the overview lists.
pub const TOP_CHECKS: usize = 10;

impl Overview {
    /// The overview of `namespaces` under a cluster score.
    pub fn new(
        cluster: Option<Score>,
        namespaces: &[impl AsRef<NamespaceDetail>],
        trend: &Trend,
        controller: ControllerState,
        generated_at: Timestamp,
    ) -> Overview {
        let mut overview = Overview {
            cluster: cluster.map(|s| s.rounded()),
            classification: cluster.map(|s| s.classification()),
            pods: 0,
            namespaces: namespaces.len() as u64,
            workloads: 0,
            findings: 0,
            exempt: 0,
            severities: SeverityCounts::default(),
            categories: BTreeMap::new(),
            classifications: BTreeMap::new(),
            top_checks: Vec::new(),
            trend: trend.points(),
            controller,
            generated_at,
        };
        for ns in namespaces.iter().map(AsRef::as_ref) {
            let row = &ns.row;
            overview.pods += row.pods;
            overview.workloads += row.workloads;
            overview.findings += row.findings;
            overview.exempt += row.exempt;
            for s in Severity::ALL {
                for _ in 0..row.severities.get(s) {
                    overview.severities.add(s);
                }
            }
            for (c, n) in &ns.categories {
                *overview.categories.entry(c).or_insert(0) += n;
            }
            if let Some(c) = row.classification {
                *overview.classifications.entry(c.as_str()).or_insert(0) += 1;
            }
        }
        let mut top: Vec<CheckCount> = checks(namespaces, &Filter::default())
            .into_iter()
            .filter(|c| c.failing > 0)
            .map(|c| CheckCount {
                check: c.check,
                workloads: c.failing,
            })
            .collect();
        top.sort_by(|a, b| b.workloads.cmp(&a.workloads).then(a.check.cmp(&b.check)));
        top.truncate(TOP_CHECKS);
        overview.top_checks = top;
        overview
    }
}

/// A workload that fails a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailingWorkload {
    /// Its namespace.
    pub namespace: String,
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The worst severity of its findings of the check.
    pub severity: Severity,
    /// Whether every one of them is exempt.
    pub exempt: bool,
}

/// One check and the workloads that fail it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckView {
    /// The check.
    pub check: CheckId,
    /// Its one-line title.
    pub title: &'static str,
    /// Its category.
    pub category: Category,
    /// Workloads with a counted finding of it (before `limit`).
    pub failing: u64,
    /// Workloads whose findings of it are all exempt (before `limit`).
    pub exempt: u64,
    /// The workloads, by namespace and name, at most the filter's limit.
    pub workloads: Vec<FailingWorkload>,
}

/// Every check (in catalogue order) with the workloads that fail it, under `filter`.
pub fn checks(namespaces: &[impl AsRef<NamespaceDetail>], filter: &Filter) -> Vec<CheckView> {
    let mut views: Vec<CheckView> = CheckId::ALL
        .iter()
        .map(|id| CheckView {
            check: *id,
            title: id.spec().title,
            category: id.spec().category,
            failing: 0,
            exempt: 0,
            workloads: Vec::new(),
        })
        .collect();
    for ns in namespaces.iter().map(AsRef::as_ref) {
        if !filter.namespace_matches(&ns.row.name) {
            continue;
        }
        for w in &ns.workloads {
            let mut worst: [Option<(Severity, bool)>; crate::checks::CHECK_COUNT] =
                [None; crate::checks::CHECK_COUNT];
            for f in w.items.iter().filter(|f| filter.finding_matches(f)) {
                let slot = &mut worst[f.check.index()];
                let counted = f.exempt.is_none();
                *slot = Some(match *slot {
                    Some((s, c)) => (s.max(f.severity), c || counted),
                    None => (f.severity, counted),
                });
            }
            for (view, found) in views.iter_mut().zip(worst) {
                let Some((severity, counted)) = found else {
                    continue;
                };
                if !filter.text_matches(&[view.check.as_str(), view.title, &w.name, &ns.row.name]) {
                    continue;
                }
                if counted {
                    view.failing += 1;
                } else if filter.failing {
                    continue;
                } else {
                    view.exempt += 1;
                }
                if view.workloads.len() < filter.limit {
                    view.workloads.push(FailingWorkload {
                        namespace: ns.row.name.clone(),
                        kind: w.kind.clone(),
                        name: w.name.clone(),
                        severity,
                        exempt: !counted,
                    });
                }
            }
        }
    }
    if filter.failing || filter.query.is_some() || filter.severity.is_some() {
        views.retain(|v| v.failing + v.exempt > 0);
    }
    views
}

#[cfg(test)]
mod tests;
