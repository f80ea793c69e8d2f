//! The audit: facts of many workloads under one policy to one report.
//!
//! In: [`PodFacts`] (from manifests or a cluster listing), each with an optional source
//! location, one [`EffectivePolicy`], excluded namespaces and an optional namespace filter.
//! Out: an [`AuditReport`] with per-workload findings, per-namespace and cluster scores and
//! per-check counts. Offline, every workload counts as one scored pod: its template is what
//! each of its replicas will run. The same [`Auditor`] serves `analyze --path` and
//! `analyze` against a cluster (see [`cluster`]), so both agree by construction.

mod cluster;

pub use cluster::audit_cluster;

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::Serialize;

use crate::checks::{CheckId, Finding, Severity, evaluate, pod_score};
use crate::facts::{ObjectRef, PodFacts, facts_from_json};
use crate::manifests::{Document, Input, InputError, InputSink, Source};
use crate::policy::exemptions::{ExemptChecks, IGNORE};
use crate::policy::{EffectivePolicy, NamespaceExclusions};
use crate::score::{Aggregate, Score};

/// One judged workload or pod.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadResult {
    /// The object.
    #[serde(flatten)]
    pub object: ObjectRef,
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

/// Builds an [`AuditReport`] one object at a time.
#[derive(Debug)]
pub struct Auditor {
    policy: EffectivePolicy,
    exclusions: NamespaceExclusions,
    namespace: Option<String>,
    now: Timestamp,
    report: AuditReport,
    aggregates: BTreeMap<String, Aggregate>,
    entries: HashMap<ObjectRef, usize>,
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
            policy,
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
            entries: HashMap::new(),
            scored: 0,
        }
    }

    /// Whether an object in `ns` is judged; records excluded ones as skipped.
    fn admits(&mut self, object: &ObjectRef, source: &Option<Source>) -> bool {
        let ns = &object.namespace;
        if self.namespace.as_ref().is_some_and(|want| want != ns) {
            return false;
        }
        if self.exclusions.is_excluded(ns) {
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
                *self
                    .report
                    .counts
                    .entry(f.check.as_str().to_owned())
                    .or_default() += 1;
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

    fn push(&mut self, object: ObjectRef, source: Option<Source>, findings: Vec<Finding>) {
        self.entries
            .insert(object.clone(), self.report.workloads.len());
        self.report.workloads.push(WorkloadResult {
            object,
            source,
            findings,
        });
    }

    /// Judges one object and scores it as one pod (offline audits: a workload's template
    /// is what each of its replicas runs).
    pub fn add(&mut self, facts: &PodFacts, source: Option<Source>) {
        if !self.admits(&facts.object, &source) {
            return;
        }
        self.note_exemption_typos(facts);
        let findings = evaluate(facts, &self.policy, self.now);
        self.tally(&findings);
        self.score(&facts.object.namespace, &findings);
        self.push(facts.object.clone(), source, findings);
    }

    /// Judges a workload's template and lists it without scoring it (cluster audits score
    /// the workload's pods instead).
    pub fn add_workload(&mut self, facts: &PodFacts) {
        if !self.admits(&facts.object, &None) {
            return;
        }
        self.note_exemption_typos(facts);
        let findings = evaluate(facts, &self.policy, self.now);
        self.tally(&findings);
        self.push(facts.object.clone(), None, findings);
    }

    /// Judges and scores a live pod. A pod owned by a listed workload adds only its
    /// runtime findings (restarts, pending) to that workload's entry, since the template
    /// findings are already there; a bare pod gets an entry of its own.
    pub fn add_pod(&mut self, facts: &PodFacts, owner: Option<&ObjectRef>) {
        if !self.admits(&facts.object, &None) {
            return;
        }
        if facts.is_terminated() {
            self.skip(facts.object.to_string(), None, "pod has terminated");
            return;
        }
        if owner.is_none() {
            self.note_exemption_typos(facts);
        }
        let findings = evaluate(facts, &self.policy, self.now);
        self.score(&facts.object.namespace, &findings);
        match owner.and_then(|o| self.entries.get(o).copied()) {
            Some(index) => {
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
                self.push(facts.object.clone(), None, findings);
            }
        }
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

    /// Finishes the report: namespace and cluster scores.
    pub fn finish(mut self) -> AuditReport {
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
        let mut cluster = Aggregate::default();
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

/// Judges everything read from manifests: workloads are judged, objects of other kinds
/// are listed as skipped, and undecodable objects become errors naming their source.
pub fn audit_input(auditor: &mut Auditor, input: Input) {
    for e in input.errors {
        auditor.error(e);
    }
    for doc in input.documents {
        if let Some(e) = audit_document(auditor, doc) {
            auditor.error(e);
        }
    }
}

/// Judges manifests while they are read: each document is turned into facts and findings
/// as soon as it is parsed and then dropped, so memory follows the report, not the input.
/// The report is the one [`audit_input`] makes of the same input: read errors come first
/// and decoding errors after them, each in input order.
#[derive(Debug)]
pub struct ManifestAudit<'a> {
    auditor: &'a mut Auditor,
    decode_errors: Vec<InputError>,
    read: ManifestsRead,
}

/// What a [`ManifestAudit`] saw of its input.
#[derive(Debug, Default)]
pub struct ManifestsRead {
    /// Objects read.
    pub documents: usize,
    /// Problems reading the input.
    pub read_errors: usize,
    /// Files read that held no object at all.
    pub empty_files: Vec<String>,
}

impl<'a> ManifestAudit<'a> {
    /// Judges into `auditor`.
    pub fn new(auditor: &'a mut Auditor) -> Self {
        ManifestAudit {
            auditor,
            decode_errors: Vec::new(),
            read: ManifestsRead::default(),
        }
    }

    /// Records the decoding errors after the read errors; call once everything is read.
    pub fn finish(self) -> ManifestsRead {
        for e in self.decode_errors {
            self.auditor.error(e);
        }
        self.read
    }
}

impl InputSink for ManifestAudit<'_> {
    fn document(&mut self, document: Document) {
        self.read.documents += 1;
        if let Some(e) = audit_document(self.auditor, document) {
            self.decode_errors.push(e);
        }
    }
    fn error(&mut self, error: InputError) {
        self.read.read_errors += 1;
        self.auditor.error(error);
    }
    fn file_read(&mut self, _: &str) {}
    fn empty_file(&mut self, file: &str) {
        self.read.empty_files.push(file.to_owned());
    }
}

/// Judges one document; an object that cannot be decoded comes back as an error.
fn audit_document(auditor: &mut Auditor, doc: Document) -> Option<InputError> {
    let text = |pointer: &str| {
        doc.value
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let (kind, name) = (text("/kind"), text("/metadata/name"));
    let namespace = text("/metadata/namespace");
    let outside_filter = auditor.namespace.as_ref().is_some_and(|want| {
        *want
            != if namespace.is_empty() {
                "default"
            } else {
                namespace.as_str()
            }
    });
    if outside_filter {
        return None;
    }
    if kind.is_empty() && text("/apiVersion").is_empty() {
        // Helm values, kustomize patches and other YAML that lives next to manifests.
        auditor.skip(
            doc.source.to_string(),
            Some(doc.source),
            "not a Kubernetes object (no apiVersion or kind)",
        );
        return None;
    }
    match facts_from_json(doc.value) {
        Ok(Some(facts)) => auditor.add(&facts, Some(doc.source)),
        Ok(None) => {
            let ns = if namespace.is_empty() {
                "-"
            } else {
                namespace.as_str()
            };
            // A kind of another API group that shares one of our names (a Volcano Job).
            let why = if crate::facts::WorkloadKind::from_kind(&kind).is_some() {
                "kind of another API group"
            } else {
                "kind has no pod template"
            };
            auditor.skip(format!("{ns}/{kind}/{name}"), Some(doc.source), why)
        }
        Err(e) => {
            return Some(InputError {
                file: doc.source.file,
                document: Some(doc.source.document),
                line: Some(doc.source.line),
                message: e.to_string(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests;
