//! The table report: the summary block of the earlier release, then namespaces, then
//! findings per workload, then what was skipped and what could not be read. Everything that
//! came from the input (names, messages, paths) is written escaped for a terminal.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::terminal::escape;
use crate::audit::AuditReport;
use crate::checks::{CheckId, FindingStatus};

const RULE: &str = "======================================";

/// Summary labels the earlier release used for the five seed checks.
fn label(id: CheckId) -> String {
    match id {
        CheckId::LatestTag => "Images using :latest".into(),
        CheckId::MissingLivenessProbe => "Missing liveness probes".into(),
        CheckId::MissingReadinessProbe => "Missing readiness probes".into(),
        CheckId::HighRestarts => "High restart containers".into(),
        CheckId::LongPending => "Pending pods".into(),
        other => other.as_str().to_owned(),
    }
}

fn line(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{label:<27}: {value}");
}

pub(super) fn render(r: &AuditReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "===== DevOps Governance Summary =====");
    line(&mut out, "Workload Pods Analyzed", r.workloads_analyzed);
    for check in &r.policy {
        let n = r.counts.get(check.id.as_str()).copied().unwrap_or(0);
        line(&mut out, &label(check.id), n);
    }
    if r.exempted > 0 {
        line(&mut out, "Exempted findings", r.exempted);
    }
    let _ = writeln!(out, "--------------------------------------");
    match (&r.cluster_score, &r.cluster_status) {
        (Some(score), Some(status)) => {
            line(&mut out, "Cluster Health Score", score);
            line(&mut out, "Cluster Status", status);
        }
        _ => {
            line(
                &mut out,
                "Cluster Health Score",
                "n/a (no workloads scored)",
            );
            line(&mut out, "Cluster Status", "n/a");
        }
    }
    let _ = writeln!(out, "{RULE}");

    if !r.namespaces.is_empty() {
        let width = r
            .namespaces
            .iter()
            .map(|n| escape(&n.name).chars().count())
            .max()
            .unwrap_or(9)
            .max(9);
        let _ = writeln!(
            out,
            "\n{:<width$}  {:>5}  {:<8}  {:>9}  {:>8}",
            "NAMESPACE", "SCORE", "STATUS", "WORKLOADS", "FINDINGS"
        );
        for ns in &r.namespaces {
            let _ = writeln!(
                out,
                "{:<width$}  {:>5}  {:<8}  {:>9}  {:>8}",
                escape(&ns.name),
                ns.score.to_string(),
                ns.classification,
                ns.workloads,
                ns.findings
            );
        }
    }

    let with_findings: Vec<_> = r
        .workloads
        .iter()
        .filter(|w| !w.findings.is_empty())
        .collect();
    if !with_findings.is_empty() {
        let _ = writeln!(out, "\nFINDINGS");
        for w in with_findings {
            let at = w
                .source
                .as_ref()
                .map(|s| format!("  ({})", escape(&s.to_string())))
                .unwrap_or_default();
            let _ = writeln!(out, "{}{at}", escape(&w.object.to_string()));
            for f in &w.findings {
                let sev = match &f.status {
                    FindingStatus::Counted => f.severity.as_str().to_uppercase(),
                    FindingStatus::Skipped { .. } => "SKIPPED".to_owned(),
                };
                let why = match &f.status {
                    FindingStatus::Skipped { reason } => format!(" [{}]", escape(reason)),
                    FindingStatus::Counted => String::new(),
                };
                let _ = writeln!(
                    out,
                    "  {sev:<8}  {:<27}  {}{why}",
                    f.check.as_str(),
                    escape(&f.message)
                );
            }
        }
    }

    if !r.skipped.is_empty() {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &r.skipped {
            *reasons.entry(s.reason.as_str()).or_default() += 1;
        }
        let summary: Vec<String> = reasons
            .iter()
            .map(|(why, n)| format!("{n} ({})", escape(why)))
            .collect();
        let _ = writeln!(out, "\nNot judged: {}", summary.join(", "));
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(out, "\nWARNINGS ({})", r.warnings.len());
        for w in &r.warnings {
            let _ = writeln!(out, "  {}", escape(w));
        }
    }
    if !r.errors.is_empty() {
        let _ = writeln!(out, "\nERRORS ({})", r.errors.len());
        for e in &r.errors {
            let _ = writeln!(out, "  {}", escape(&e.to_string()));
        }
    }
    let policy: Vec<String> = r
        .policy
        .iter()
        .map(|c| format!("{} {}", c.id, c.severity))
        .collect();
    let _ = writeln!(
        out,
        "\nPolicy: {} ({})",
        escape(&r.policy_source),
        policy.join(", ")
    );
    out
}
