//! JUnit XML: one test suite per namespace, one test case per workload; a workload with
//! counted findings fails, listing them all; a workload whose findings are all exempt is
//! skipped. Input errors become an `errors` suite so CI shows them too.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::audit::{AuditReport, WorkloadResult};

/// Escapes text for XML and drops characters XML 1.0 cannot carry.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn case(out: &mut String, w: &WorkloadResult) {
    let file = w
        .source
        .as_ref()
        .map(|s| format!(" file=\"{}\"", esc(&s.file)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "    <testcase classname=\"{}.{}\" name=\"{}\"{file}",
        esc(&w.object.namespace),
        w.object.kind,
        esc(&w.object.name)
    );
    let counted: Vec<_> = w.counted().collect();
    if counted.is_empty() && w.findings.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    if counted.is_empty() {
        let _ = writeln!(out, "      <skipped message=\"all findings exempt\"/>");
    } else {
        let checks: Vec<&str> = counted.iter().map(|f| f.check.as_str()).collect();
        let body: Vec<String> = counted
            .iter()
            .map(|f| format!("[{}] {}: {}", f.severity, f.check, f.message))
            .collect();
        let _ = writeln!(
            out,
            "      <failure type=\"{}\" message=\"{} finding(s): {}\">{}</failure>",
            esc(checks[0]),
            counted.len(),
            esc(&checks.join(", ")),
            esc(&body.join("\n"))
        );
    }
    out.push_str("    </testcase>\n");
}

pub(super) fn render(r: &AuditReport) -> String {
    let mut suites: BTreeMap<&str, Vec<&WorkloadResult>> = BTreeMap::new();
    for w in &r.workloads {
        suites
            .entry(w.object.namespace.as_str())
            .or_default()
            .push(w);
    }
    let failed =
        |ws: &[&WorkloadResult]| ws.iter().filter(|w| w.counted().next().is_some()).count();
    let total_failed: usize = suites.values().map(|ws| failed(ws)).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kube-devops\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        r.workloads.len(),
        total_failed,
        r.errors.len()
    );
    for (ns, ws) in &suites {
        let skipped = ws
            .iter()
            .filter(|w| !w.findings.is_empty() && w.counted().next().is_none())
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{skipped}\">",
            esc(ns),
            ws.len(),
            failed(ws)
        );
        for w in ws {
            case(&mut out, w);
        }
        out.push_str("  </testsuite>\n");
    }
    if !r.errors.is_empty() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"input\" tests=\"{0}\" failures=\"0\" errors=\"{0}\">",
            r.errors.len()
        );
        for e in &r.errors {
            let _ = writeln!(
                out,
                "    <testcase classname=\"input\" name=\"{}\">\n      <error message=\"{}\"/>\n    </testcase>",
                esc(&e.file),
                esc(&e.to_string())
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn xml_special_and_control_characters_are_escaped_or_dropped() {
        assert_eq!(esc("a<b>&\"c'\u{1}d"), "a&lt;b&gt;&amp;&quot;c&apos;d");
    }
}
