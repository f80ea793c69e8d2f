//! The audit: facts of many workloads, and the objects related to them, under one policy
//! to one report.
//!
//! In: [`PodFacts`] (from manifests or a cluster listing), each with an optional source
//! location, related objects (PodDisruptionBudgets, Services, RBAC, ...), one
//! [`EffectivePolicy`], excluded namespaces and an optional namespace filter. Out: an
//! [`AuditReport`] with per-object findings, per-namespace and cluster scores and
//! per-check counts. Offline, every workload counts as one scored pod: its template is what
//! each of its replicas will run. Findings on other objects (a Service, an RBAC binding)
//! add their penalty to their namespace (cluster-scoped objects: to the cluster) and no
//! pod. The same [`Auditor`] serves `analyze --path` and `analyze` against a cluster (see
//! [`cluster`]), so both agree by construction.

mod cluster;
mod manifests;
mod related;

pub use cluster::audit_cluster;
pub use manifests::{ManifestAudit, ManifestsRead, audit_input};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use serde::Serialize;

use crate::checks::{CheckId, Finding, Scope, Severity, evaluate, pod_score};
use crate::cross::{CrossIndex, ObjectId, ObjectKind, RelatedObject};
use crate::facts::{ObjectRef, PodFacts};
use crate::manifests::{InputError, Source};
use crate::policy::exemptions::{ExemptChecks, IGNORE};
use crate::policy::{EffectivePolicy, NamespaceExclusions, PolicySet};
use crate::score::{Aggregate, Penalty, Score};

/// One judged object: a workload or pod, or a Service, Ingress or RBAC object judged by
/// the cross-resource checks.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadResult {
    /// The object.
    #[serde(flatten)]
    pub object: ObjectId,
    /// Where it was read from (manifests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Its findings, counted and skipped.
    pub findings: Vec<Finding>,
}

impl WorkloadResult {
    /// Counted findings only.
    pub fn counted(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_counted())
    }
}

/// Score and counts of one namespace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSummary {
    /// Namespace name.
    pub name: String,
    /// Its score.
    pub score: Score,
    /// Classification of the score.
    pub classification: String,
    /// Workloads (pods) scored.
    pub workloads: u64,
    /// Counted findings.
    pub findings: u64,
}

/// An object that was read but not judged, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedObject {
    /// `Kind namespace/name`.
    pub object: String,
    /// Where it was read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Why it was skipped.
    pub reason: String,
}

/// The result of an audit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// When the audit was judged (exemption expiry and pending time use this instant).
    pub generated_at: Timestamp,
    /// Where the policy came from (`default`, `bundle restricted`, a file).
    pub policy_source: String,
    /// Enabled checks and their severities.
    pub policy: Vec<PolicyCheck>,
    /// Workloads (pods) judged.
    pub workloads_analyzed: u64,
    /// Counted findings in all.
    pub total_findings: u64,
    /// Judged workloads, in input order.
    pub workloads: Vec<WorkloadResult>,
    /// Scored namespaces, by name.
    pub namespaces: Vec<NamespaceSummary>,
    /// Cluster score over every scored workload; absent when nothing was scored.
    pub cluster_score: Option<Score>,
    /// Classification of the cluster score.
    pub cluster_status: Option<String>,
    /// Counted findings per check.
    pub counts: BTreeMap<String, u64>,
    /// Counted findings per severity.
    pub severities: BTreeMap<Severity, u64>,
    /// Findings covered by exemptions.
    pub exempted: u64,
    /// Objects in excluded namespaces, of kinds without pods, or outside `-n`.
    pub skipped: Vec<SkippedObject>,
    /// Things worth a look that are not findings (typos in exemptions, empty filters).
    pub warnings: Vec<String>,
    /// Input that could not be read.
    pub errors: Vec<InputError>,
}

/// One enabled check of the policy, for reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCheck {
    /// Check id.
    pub id: CheckId,
    /// Effective severity.
    pub severity: Severity,
}

impl AuditReport {
    /// Counted findings in all.
    /// The highest severity among counted findings.
    pub fn worst_severity(&self) -> Option<Severity> {
        self.severities
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, _)| *s)
            .max()
    }
}

/// How an entry of the report counts in the scores.
#[derive(Debug, Clone, Default)]
struct EntryScore {
    /// Pods scored for it: 1 for a workload judged offline or a bare pod, the live pods
    /// it owns in a cluster audit, 0 for objects that are not workloads.
    pods: u64,
    /// Its own findings were scored as a pod's (offline workloads, bare pods).
    scored_itself: bool,
    /// Per check, the penalty its owned pods' findings carried (cluster audits), so a
    /// finding that related objects settle can be taken back from their score.
    pod_penalties: HashMap<CheckId, Penalty>,
}

/// Builds an [`AuditReport`] one object at a time.
#[derive(Debug)]
pub struct Auditor {
    policy: EffectivePolicy,
    /// Per-namespace resolution (cluster audits); `policy` alone when `None`.
    policies: Option<PolicySet>,
    exclusions: NamespaceExclusions,
    namespace: Option<String>,
    now: Timestamp,
    report: AuditReport,
    aggregates: BTreeMap<String, Aggregate>,
    /// Penalty of findings on cluster-scoped objects: counted in the cluster score only.
    cluster_penalty: Penalty,
    entries: HashMap<ObjectId, usize>,
    scores: Vec<EntryScore>,
    /// Related objects and workload placements, when a check needs them.
    cross: Option<CrossIndex>,
    /// Kinds of related objects some policy in force reads.
    read_kinds: BTreeSet<ObjectKind>,
    scored: u64,
}

impl Auditor {
    /// An auditor judging with `policy` at `now`, optionally limited to one namespace.
    pub fn new(
        policy: EffectivePolicy,
        policy_source: String,
        exclusions: NamespaceExclusions,
        namespace: Option<String>,
        now: Timestamp,
    ) -> Self {
        let checks = policy
            .enabled()
            .map(|(id, severity)| PolicyCheck { id, severity })
            .collect();
        Auditor {
            exclusions,
            namespace,
            now,
            report: AuditReport {
                generated_at: now,
                policy_source,
                policy: checks,
                workloads_analyzed: 0,
                total_findings: 0,
                workloads: Vec::new(),
                namespaces: Vec::new(),
                cluster_score: None,
                cluster_status: None,
                counts: BTreeMap::new(),
                severities: BTreeMap::new(),
                exempted: 0,
                skipped: Vec::new(),
                warnings: Vec::new(),
                errors: Vec::new(),
            },
            aggregates: BTreeMap::new(),
            cluster_penalty: Penalty(0),
            entries: HashMap::new(),
            scores: Vec::new(),
            cross: crate::cross::needed(&policy).then(CrossIndex::new),
            read_kinds: crate::cross::kinds_needed(&policy),
            policy,
            scored: 0,
            policies: None,
        }
    }

    /// Judges each namespace as the controller does: by the one resolution of `set` (its
    /// DevOpsPolicies, else the default this auditor was built with).
    /// Cross-resource checks that only a namespace's DevOpsPolicy turns on are judged too.
    pub fn with_policies(mut self, set: PolicySet) -> Self {
        for ns in set.namespaces() {
            if let Some(policy) = set.resolve(ns).policy() {
                self.read_kinds.extend(crate::cross::kinds_needed(policy));
                if self.cross.is_none() && crate::cross::needed(policy) {
                    self.cross = Some(CrossIndex::new());
                }
            }
        }
        self.policies = Some(set);
        self
    }

    /// The policy an object is judged by: its namespace's; the default for cluster-scoped
    /// objects (as the controller judges them).
    fn policy_of(&self, id: &ObjectId) -> &EffectivePolicy {
        if cluster_scoped(id.kind) {
            &self.policy
        } else {
            self.policy_for(&id.namespace)
        }
    }

    fn policy_for(&self, ns: &str) -> &EffectivePolicy {
        self.policies
            .as_ref()
            .and_then(|s| s.resolve(ns).policy())
            .unwrap_or(&self.policy)
    }

    /// Whether an object is judged; records excluded ones as skipped. Cluster-scoped
    /// objects belong to no namespace: a namespace filter leaves them out.
    fn admits(&mut self, object: &ObjectId, source: &Option<Source>) -> bool {
        let ns = &object.namespace;
        if self.namespace.as_ref().is_some_and(|want| want != ns) {
            return false;
        }
        if !ns.is_empty() && self.exclusions.is_excluded(ns) {
            self.skip(object.to_string(), source.clone(), "namespace is excluded");
            return false;
        }
        true
    }

    /// Records exemption annotations that name no check: a typo there silently exempts
    /// nothing, so say so.
    fn note_exemption_typos(&mut self, facts: &PodFacts) {
        for e in &facts.exemptions {
            if let ExemptChecks::Only { unknown, .. } = &e.checks
                && !unknown.is_empty()
            {
                self.report.warnings.push(format!(
                    "{}: {IGNORE} names unknown checks: {}",
                    facts.object,
                    unknown.join(", ")
                ));
            }
        }
    }

    fn tally<'a>(&mut self, findings: impl IntoIterator<Item = &'a Finding>) {
        for f in findings {
            if f.is_counted() {
                // Most findings are of a check counted already: no key to allocate then.
                match self.report.counts.get_mut(f.check.as_str()) {
                    Some(n) => *n += 1,
                    None => {
                        self.report.counts.insert(f.check.as_str().to_owned(), 1);
                    }
                }
                *self.report.severities.entry(f.severity).or_default() += 1;
            } else {
                self.report.exempted += 1;
            }
        }
    }

    fn score(&mut self, ns: &str, findings: &[Finding]) {
        let score = pod_score(findings);
        let agg = self.aggregates.entry(ns.to_owned()).or_default();
        agg.pods += 1;
        agg.penalty = agg.penalty + score.penalty;
        self.scored += 1;
    }

    fn push(
        &mut self,
        object: ObjectId,
        source: Option<Source>,
        findings: Vec<Finding>,
        score: EntryScore,
    ) {
        self.entries
            .insert(object.clone(), self.report.workloads.len());
        let findings = self.compact(findings);
        self.report.workloads.push(WorkloadResult {
            object,
            source,
            findings,
        });
        self.scores.push(score);
    }

    /// A report keeps every finding to its end, so each is kept at its size, not at the
    /// size it grew to: `format!` reserves about twice a message's literal text, and a list
    /// doubles as it grows. With the cross-resource checks on, the list keeps room for the
    /// two findings they most often add at the end (no PodDisruptionBudget, no
    /// NetworkPolicy), so adding them does not double it again.
    fn compact(&self, findings: Vec<Finding>) -> Vec<Finding> {
        let room = if self.cross.is_some() { 2 } else { 0 };
        let mut kept = Vec::with_capacity(findings.len() + room);
        kept.extend(findings.into_iter().map(|mut f| {
            if f.message.capacity() > f.message.len() {
                f.message = f.message.as_str().to_owned();
            }
            f
        }));
        kept
    }

    /// Records a workload's placement for the cross-resource checks.
    fn place(&mut self, facts: &PodFacts) {
        if let Some(index) = &mut self.cross {
            index.apply_workload(facts);
        }
    }

    /// Judges one object and scores it as one pod (offline audits: a workload's template
    /// is what each of its replicas runs).
    pub fn add(&mut self, facts: &PodFacts, source: Option<Source>) {
        let id = ObjectId::from(&facts.object);
        if !self.admits(&id, &source) {
            return;
        }
        self.note_exemption_typos(facts);
        self.place(facts);
        let findings = evaluate(facts, self.policy_for(&facts.object.namespace), self.now);
        self.tally(&findings);
        self.score(&facts.object.namespace, &findings);
        let score = EntryScore {
            pods: 1,
            scored_itself: true,
            ..EntryScore::default()
        };
        self.push(id, source, findings, score);
    }

    /// Judges a workload's template and lists it without scoring it (cluster audits score
    /// the workload's pods instead).
    pub fn add_workload(&mut self, facts: &PodFacts) {
        let id = ObjectId::from(&facts.object);
        if !self.admits(&id, &None) {
            return;
        }
        self.note_exemption_typos(facts);
        self.place(facts);
        let findings = evaluate(facts, self.policy_for(&facts.object.namespace), self.now);
        self.tally(&findings);
        self.push(id, None, findings, EntryScore::default());
    }

    /// Judges and scores a live pod. A pod owned by a listed workload adds only its
    /// runtime findings (restarts, pending) to that workload's entry, since the template
    /// findings are already there, and carries that workload's findings about the
    /// workload itself and its related objects in its score; a bare pod gets an entry of
    /// its own.
    pub fn add_pod(&mut self, facts: &PodFacts, owner: Option<&ObjectRef>) {
        let id = ObjectId::from(&facts.object);
        if !self.admits(&id, &None) {
            return;
        }
        if facts.is_terminated() {
            self.skip(facts.object.to_string(), None, "pod has terminated");
            return;
        }
        let owner_index = owner.and_then(|o| self.entries.get(&ObjectId::from(o)).copied());
        if owner_index.is_none() {
            self.note_exemption_typos(facts);
            self.place(facts);
        }
        let findings = evaluate(facts, self.policy_for(&facts.object.namespace), self.now);
        self.score(&facts.object.namespace, &findings);
        match owner_index {
            Some(index) => {
                let entry = &mut self.scores[index];
                entry.pods += 1;
                for f in findings.iter().filter(|f| f.is_counted()) {
                    let p = entry.pod_penalties.entry(f.check).or_default();
                    *p = *p + f.penalty;
                }
                let runtime: Vec<Finding> = findings
                    .into_iter()
                    .filter(|f| f.check.spec().runtime)
                    .map(|mut f| {
                        f.message = format!("pod {}: {}", facts.object.name, f.message);
                        f
                    })
                    .collect();
                self.tally(&runtime);
                self.report.workloads[index].findings.extend(runtime);
            }
            None => {
                self.tally(&findings);
                let score = EntryScore {
                    pods: 1,
                    scored_itself: true,
                    ..EntryScore::default()
                };
                self.push(id, None, findings, score);
            }
        }
    }

    /// Records an object that cross-resource checks read (a PodDisruptionBudget, a
    /// Service, an RBAC binding, ...). Services, Ingresses and RBAC objects are judged
    /// themselves when a check about them is on, and listed; the others are only read.
    /// Returns `false` when no enabled check reads the object.
    pub fn add_related(&mut self, object: RelatedObject, source: Option<Source>) -> bool {
        if self.cross.is_none() {
            return false;
        }
        let id = object.id().clone();
        let judged = related::judged_kind(self.policy_of(&id), id.kind);
        let read = self.read_kinds.contains(&id.kind);
        if !judged && !read {
            return false;
        }
        if !id.namespace.is_empty() && self.exclusions.is_excluded(&id.namespace) {
            self.skip(id.to_string(), source, "namespace is excluded");
            return true;
        }
        if let Some(index) = &mut self.cross {
            index.apply(object);
        }
        if judged && !self.entries.contains_key(&id) && self.admits(&id, &source) {
            self.push(id, source, Vec::new(), EntryScore::default());
        }
        true
    }

    /// Records an object that was read but not judged.
    pub fn skip(&mut self, object: String, source: Option<Source>, reason: &str) {
        self.report.skipped.push(SkippedObject {
            object,
            source,
            reason: reason.to_owned(),
        });
    }

    /// Records input that could not be read.
    pub fn error(&mut self, error: InputError) {
        self.report.errors.push(error);
    }

    /// Finishes the report: findings that need related objects, then namespace and
    /// cluster scores.
    pub fn finish(mut self) -> AuditReport {
        self.judge_related();
        if let Some(ns) = &self.namespace
            && self.report.workloads.is_empty()
        {
            self.report
                .warnings
                .push(format!("no workloads found in namespace {ns:?}"));
        }
        let mut findings: BTreeMap<&str, u64> = BTreeMap::new();
        for w in &self.report.workloads {
            *findings.entry(w.object.namespace.as_str()).or_default() += w.counted().count() as u64;
        }
        let mut cluster = Aggregate {
            pods: 0,
            penalty: self.cluster_penalty,
        };
        let mut namespaces = Vec::new();
        for (name, agg) in &self.aggregates {
            cluster.pods += agg.pods;
            cluster.penalty = cluster.penalty + agg.penalty;
            if let Some(score) = agg.score() {
                namespaces.push(NamespaceSummary {
                    name: name.clone(),
                    score,
                    classification: score.classification().to_string(),
                    workloads: agg.pods,
                    findings: findings.get(name.as_str()).copied().unwrap_or(0),
                });
            }
        }
        self.report.namespaces = namespaces;
        self.report.workloads_analyzed = self.scored;
        self.report.total_findings = self.report.counts.values().sum();
        self.report.cluster_score = cluster.score();
        self.report.cluster_status = cluster.score().map(|s| s.classification().to_string());
        self.report
    }
}

/// Whether a check's findings on a workload are about the workload object or its related
/// objects, not about what its pods run (so its live pods do not find them themselves).
fn owner_level(check: CheckId) -> bool {
    matches!(check.spec().scope, Scope::Workload | Scope::Related)
}

/// Whether a namespace or cluster total is kept for this object kind.
fn cluster_scoped(kind: ObjectKind) -> bool {
    kind.is_cluster_scoped()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod related_tests;
