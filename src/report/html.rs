//! The HTML report: one self-contained page for CI artifacts and people without a cluster.
//!
//! In: an [`AuditReport`]. Out: one HTML document with its style inline and no script; a
//! Content-Security-Policy forbids every external resource and all scripts, so the page
//! loads nothing from anywhere. It shows the summary and cluster score, the checks, the
//! namespaces, every workload with each finding (container, check, severity, message,
//! fix), the exempt findings with reason and expiry, and what was skipped or unreadable.
//! Light and dark themes follow `prefers-color-scheme`. Every name and message is escaped.
//! Numbers carry `data-metric` / `data-field` attributes so tests can read them.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::audit::{AuditReport, WorkloadResult};
use crate::checks::{Finding, FindingStatus, Severity};

use super::junit::esc;

/// The report's stylesheet (light and dark), shared with the web dashboard.
pub const STYLESHEET: &str = include_str!("html.css");
const STYLE: &str = STYLESHEET;

fn classification_class(c: &str) -> &'static str {
    match c {
        "Healthy" => "healthy",
        "Stable" => "stable",
        "Degraded" => "degraded",
        _ => "critical",
    }
}

fn severity_badge(s: Severity) -> String {
    format!("<span class=\"badge sev-{0}\">{0}</span>", s.as_str())
}

fn summary(out: &mut String, r: &AuditReport) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"h-summary\"><h2 id=\"h-summary\">Summary</h2><div class=\"cards\">"
    );
    match (&r.cluster_score, &r.cluster_status) {
        (Some(score), Some(status)) => {
            let _ = write!(
                out,
                "<div class=\"card score {cls}\"><p class=\"label\">Cluster health score</p><p class=\"big\" data-metric=\"cluster-score\">{score}</p><p class=\"status\" data-metric=\"cluster-status\">{status}</p></div>",
                cls = classification_class(status),
                status = esc(status)
            );
        }
        _ => out.push_str("<div class=\"card score\"><p class=\"label\">Cluster health score</p><p class=\"big\" data-metric=\"cluster-score\">n/a</p><p class=\"status\">no workloads scored</p></div>"),
    }
    for (label, metric, value) in [
        ("Workloads analyzed", "workloads", r.workloads_analyzed),
        ("Counted findings", "findings", r.total_findings),
        ("Exempt findings", "exempted", r.exempted),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><p class=\"label\">{label}</p><p class=\"big\" data-metric=\"{metric}\">{value}</p></div>"
        );
    }
    out.push_str("</div><ul class=\"severities\" aria-label=\"Counted findings by severity\">");
    for s in Severity::ALL.iter().rev() {
        let n = r.severities.get(s).copied().unwrap_or(0);
        let _ = write!(
            out,
            "<li>{} <span data-metric=\"severity-{}\">{n}</span></li>",
            severity_badge(*s),
            s.as_str()
        );
    }
    out.push_str("</ul></section>");
}

fn checks(out: &mut String, r: &AuditReport) {
    out.push_str("<section aria-labelledby=\"h-checks\"><h2 id=\"h-checks\">Checks</h2><table><thead><tr><th scope=\"col\">Check</th><th scope=\"col\">What it asks</th><th scope=\"col\">Severity</th><th scope=\"col\" class=\"num\">Findings</th></tr></thead><tbody>");
    for c in &r.policy {
        let n = r.counts.get(c.id.as_str()).copied().unwrap_or(0);
        let _ = write!(
            out,
            "<tr data-check=\"{id}\"><td><code>{id}</code></td><td>{title}</td><td>{badge}</td><td class=\"num\" data-field=\"findings\">{n}</td></tr>",
            id = c.id.as_str(),
            title = esc(c.id.spec().title),
            badge = severity_badge(c.severity)
        );
    }
    out.push_str("</tbody></table></section>");
}

/// Namespaces in report order, then any other namespace a workload names, each with its
/// position: the page's anchors are `ns-<position>`, independent of the (untrusted) name.
fn anchors(r: &AuditReport) -> BTreeMap<&str, usize> {
    let mut ids = BTreeMap::new();
    let names = r
        .namespaces
        .iter()
        .map(|n| n.name.as_str())
        .chain(r.workloads.iter().map(|w| w.object.namespace.as_str()));
    for name in names {
        let next = ids.len();
        ids.entry(name).or_insert(next);
    }
    ids
}

fn namespaces(out: &mut String, r: &AuditReport, ids: &BTreeMap<&str, usize>) {
    out.push_str(
        "<section aria-labelledby=\"h-namespaces\"><h2 id=\"h-namespaces\">Namespaces</h2>",
    );
    if r.namespaces.is_empty() {
        out.push_str("<p>No namespace was scored.</p></section>");
        return;
    }
    out.push_str("<table><thead><tr><th scope=\"col\">Namespace</th><th scope=\"col\" class=\"num\">Score</th><th scope=\"col\">Classification</th><th scope=\"col\" class=\"num\">Workloads</th><th scope=\"col\" class=\"num\">Findings</th></tr></thead><tbody>");
    for n in &r.namespaces {
        let id = ids.get(n.name.as_str()).copied().unwrap_or_default();
        let _ = write!(
            out,
            "<tr data-namespace-row><td><a href=\"#ns-{id}\" data-field=\"name\">{name}</a></td><td class=\"num\"><span class=\"bar\" aria-hidden=\"true\"><span style=\"width:{pct}%\"></span></span><span data-field=\"score\">{score}</span></td><td><span class=\"pill {cls}\">{class}</span></td><td class=\"num\" data-field=\"workloads\">{workloads}</td><td class=\"num\" data-field=\"findings\">{findings}</td></tr>",
            name = esc(&n.name),
            pct = n.score.rounded().clamp(0.0, 100.0),
            score = n.score,
            cls = classification_class(&n.classification),
            class = esc(&n.classification),
            workloads = n.workloads,
            findings = n.findings
        );
    }
    out.push_str("</tbody></table></section>");
}

fn finding_row(out: &mut String, f: &Finding) {
    let container = f.container.as_deref().map_or("(pod)".to_owned(), esc);
    let (class, state) = match &f.status {
        FindingStatus::Counted => ("", String::new()),
        FindingStatus::Skipped { reason } => (
            " class=\"exempt\"",
            format!(
                "<br><span class=\"badge exempt-tag\">exempt</span> {}",
                esc(reason.strip_prefix("exempt: ").unwrap_or(reason))
            ),
        ),
    };
    let _ = write!(
        out,
        "<tr{class}><td>{container}</td><td><code>{check}</code></td><td>{badge}</td><td>{message}{state}</td><td>{fix}</td></tr>",
        check = f.check.as_str(),
        badge = severity_badge(f.severity),
        message = esc(&f.message),
        fix = esc(f.check.spec().remedy)
    );
}

fn workload(out: &mut String, w: &WorkloadResult) {
    let counted = w.counted().count();
    let exempt = w.findings.len() - counted;
    let kind = esc(&w.object.kind.to_string());
    let name = esc(&w.object.name);
    let mut tally = match counted {
        0 => "passes".to_owned(),
        1 => "1 finding".to_owned(),
        n => format!("{n} findings"),
    };
    if exempt > 0 {
        let _ = write!(tally, ", {exempt} exempt");
    }
    let source = w.source.as_ref().map_or(String::new(), |s| {
        format!(
            " <span class=\"source\">· {}:{}</span>",
            esc(&s.file),
            s.line
        )
    });
    let state = if counted > 0 { "failing" } else { "passing" };
    let _ = write!(
        out,
        "<details class=\"workload {state}\" data-counted=\"{counted}\" data-exempt=\"{exempt}\"{open}><summary><span class=\"kind\">{kind}</span> <strong>{name}</strong> <span class=\"tally {state}\">{tally}</span>{source}</summary>",
        open = if w.findings.is_empty() { "" } else { " open" }
    );
    if !w.findings.is_empty() {
        let _ = write!(
            out,
            "<table><caption class=\"visually-hidden\">Findings of {kind} {name}</caption><thead><tr><th scope=\"col\">Container</th><th scope=\"col\">Check</th><th scope=\"col\">Severity</th><th scope=\"col\">Message</th><th scope=\"col\">Fix</th></tr></thead><tbody>"
        );
        for f in &w.findings {
            finding_row(out, f);
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</details>");
}

fn workloads(out: &mut String, r: &AuditReport, ids: &BTreeMap<&str, usize>) {
    out.push_str("<section aria-labelledby=\"h-workloads\"><h2 id=\"h-workloads\">Workloads</h2>");
    let mut by_ns: Vec<(&str, Vec<&WorkloadResult>)> = Vec::new();
    for w in &r.workloads {
        let ns = w.object.namespace.as_str();
        match by_ns.iter_mut().find(|(n, _)| *n == ns) {
            Some((_, list)) => list.push(w),
            None => by_ns.push((ns, vec![w])),
        }
    }
    by_ns.sort_by_key(|(ns, _)| ids.get(ns).copied());
    for (ns, list) in by_ns {
        let id = ids.get(ns).copied().unwrap_or_default();
        let _ = write!(out, "<h3 id=\"ns-{id}\">Namespace {}</h3>", esc(ns));
        for w in list {
            workload(out, w);
        }
    }
    if r.workloads.is_empty() {
        out.push_str("<p>No workload was judged.</p>");
    }
    out.push_str("</section>");
}

fn exemptions(out: &mut String, r: &AuditReport) {
    let rows: Vec<(&WorkloadResult, &Finding, &str)> = r
        .workloads
        .iter()
        .flat_map(|w| w.findings.iter().map(move |f| (w, f)))
        .filter_map(|(w, f)| match &f.status {
            FindingStatus::Skipped { reason } => Some((w, f, reason.as_str())),
            FindingStatus::Counted => None,
        })
        .collect();
    out.push_str("<section aria-labelledby=\"h-exempt\"><h2 id=\"h-exempt\">Exempt findings</h2>");
    if rows.is_empty() {
        out.push_str("<p>No finding is exempt.</p></section>");
        return;
    }
    out.push_str("<table><thead><tr><th scope=\"col\">Workload</th><th scope=\"col\">Container</th><th scope=\"col\">Check</th><th scope=\"col\">Severity</th><th scope=\"col\">Reason and expiry</th></tr></thead><tbody>");
    for (w, f, reason) in rows {
        let _ = write!(
            out,
            "<tr data-exempt-row><td>{ns}/{kind}/{name}</td><td>{container}</td><td><code>{check}</code></td><td>{badge}</td><td>{reason}</td></tr>",
            ns = esc(&w.object.namespace),
            kind = esc(&w.object.kind.to_string()),
            name = esc(&w.object.name),
            container = f.container.as_deref().map_or("(pod)".to_owned(), esc),
            check = f.check.as_str(),
            badge = severity_badge(f.severity),
            reason = esc(reason)
        );
    }
    out.push_str("</tbody></table></section>");
}

fn leftovers(out: &mut String, r: &AuditReport) {
    if !r.skipped.is_empty() {
        out.push_str("<section aria-labelledby=\"h-skipped\"><h2 id=\"h-skipped\">Not judged</h2><table><thead><tr><th scope=\"col\">Object</th><th scope=\"col\">Why</th></tr></thead><tbody>");
        for s in &r.skipped {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&s.object),
                esc(&s.reason)
            );
        }
        out.push_str("</tbody></table></section>");
    }
    for (title, id, items) in [
        ("Warnings", "h-warnings", r.warnings.clone()),
        (
            "Unreadable input",
            "h-errors",
            r.errors.iter().map(ToString::to_string).collect(),
        ),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<section aria-labelledby=\"{id}\"><h2 id=\"{id}\">{title}</h2><ul>"
        );
        for item in items {
            let _ = write!(out, "<li>{}</li>", esc(&item));
        }
        out.push_str("</ul></section>");
    }
}

/// Renders the report as one self-contained HTML document.
pub(super) fn render(r: &AuditReport) -> String {
    let ids = anchors(r);
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"color-scheme\" content=\"light dark\"><title>kube-devops report</title><style>{STYLE}</style></head><body><header><h1>kube-devops governance report</h1><p class=\"meta\">Judged at <time>{at}</time> with policy <strong>{policy}</strong> · kube-devops {version}</p></header><main>",
        at = r.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        policy = esc(&r.policy_source),
        version = crate::VERSION
    );
    summary(&mut out, r);
    namespaces(&mut out, r, &ids);
    checks(&mut out, r);
    workloads(&mut out, r, &ids);
    exemptions(&mut out, r);
    leftovers(&mut out, r);
    out.push_str("</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::render;
    use crate::audit::{AuditReport, Auditor};
    use crate::policy::{EffectivePolicy, NamespaceExclusions};
    use crate::testing::{deployment, pod};

    fn report(add: impl FnOnce(&mut Auditor)) -> AuditReport {
        let mut a = Auditor::new(
            EffectivePolicy::default(),
            "default".into(),
            NamespaceExclusions::default(),
            None,
            "2026-06-01T00:00:00Z".parse().unwrap(),
        );
        add(&mut a);
        a.finish()
    }

    #[test]
    fn hostile_names_and_messages_are_escaped() {
        let hostile = "<script>alert(1)</script>";
        let r = report(|a| {
            let p = pod(hostile)
                .ns("x\"><img onerror=alert(2)>")
                .image("evil<script>:latest");
            a.add(&p.facts(), None);
        });
        let html = render(&r);
        assert_eq!(html.matches("<script").count(), 0, "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("x&quot;&gt;&lt;img onerror=alert(2)&gt;"));
    }

    #[test]
    fn the_page_loads_nothing_from_anywhere() {
        let r = report(|a| a.add(&pod("p").image("nginx:latest").facts(), None));
        let html = render(&r);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
        for banned in [
            "<script", "<link", "src=", "url(", "@import", "http://", "https://",
        ] {
            assert!(!html.contains(banned), "{banned} in the page");
        }
        assert!(html.contains("prefers-color-scheme:dark"));
    }

    #[test]
    fn every_finding_appears_with_container_check_severity_message_and_fix() {
        let r = report(|a| {
            a.add(
                &deployment("web")
                    .ns("shop")
                    .image("nginx:latest")
                    .without_probes()
                    .facts(),
                None,
            );
        });
        let html = render(&r);
        let w = &r.workloads[0];
        assert!(w.findings.len() >= 3);
        for f in &w.findings {
            let row = format!(
                "<td>{}</td><td><code>{}</code></td><td><span class=\"badge sev-{sev}\">{sev}</span></td><td>{}</td><td>{}</td>",
                f.container.as_deref().unwrap_or("(pod)"),
                f.check.as_str(),
                super::esc(&f.message),
                super::esc(f.check.spec().remedy),
                sev = f.severity.as_str(),
            );
            assert!(html.contains(&row), "missing {row}");
        }
        assert!(html.contains(&format!("data-metric=\"findings\">{}<", r.total_findings)));
        assert!(html.contains(&format!(
            "data-metric=\"cluster-score\">{}<",
            r.cluster_score.unwrap()
        )));
    }

    #[test]
    fn exempt_findings_show_their_reason_and_expiry() {
        let r = report(|a| {
            let d = deployment("vendor")
                .image("vendor/app:latest")
                .annotation("devops.stochastic.io/ignore", "latestTag")
                .annotation(
                    "devops.stochastic.io/ignore-reason",
                    "vendor ships <latest> only",
                )
                .annotation("devops.stochastic.io/ignore-until", "2099-12-31");
            a.add(&d.facts(), None);
        });
        assert_eq!(r.exempted, 1);
        let html = render(&r);
        assert_eq!(html.matches("<tr data-exempt-row>").count(), 1);
        assert!(html.contains("vendor ships &lt;latest&gt; only"), "{html}");
        assert!(html.contains("2099-12-31"));
        assert!(html.contains("data-metric=\"exempted\">1<"));
    }

    #[test]
    fn every_namespace_link_leads_to_its_workloads() {
        let r = report(|a| {
            a.add(&deployment("a").ns("<one>").facts(), None);
            a.add(&deployment("b").ns("two").image("x:latest").facts(), None);
        });
        let html = render(&r);
        let links: Vec<&str> = html
            .split("href=\"#")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        assert_eq!(links.len(), 2);
        for (link, ns) in links.iter().zip(["&lt;one&gt;", "two"]) {
            assert!(
                html.contains(&format!("<h3 id=\"{link}\">Namespace {ns}</h3>")),
                "{link}"
            );
        }
    }

    #[test]
    fn an_empty_report_still_renders_a_page() {
        let html = render(&report(|_| {}));
        assert!(html.contains("data-metric=\"cluster-score\">n/a<"));
        assert!(html.contains("No workload was judged."));
        assert!(html.ends_with("</html>\n"));
    }
}
