//! SARIF 2.1.0: one rule per enabled check, with help text and a link to its section of
//! the check documentation; one result per finding, located at the file and line of the
//! manifest document (and, logically, at `namespace/Kind/name`). Exempt findings carry an
//! `inSource` suppression with the exemption's reason, as code-scanning tools expect.

use serde_json::{Value, json};

use crate::audit::AuditReport;
use crate::checks::{CheckId, FindingStatus, Severity};

/// Where each check is documented: its section of `docs/checks.md`.
pub const CHECK_DOCS: &str =
    "https://github.com/stochastic-io/kube-devops/blob/main/docs/checks.md";

/// The link to a check's documentation (the section anchor is the id in lower case).
pub fn help_uri(id: CheckId) -> String {
    format!("{CHECK_DOCS}#{}", id.as_str().to_ascii_lowercase())
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub's security-severity scale (0-10).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

fn uri(file: &str) -> String {
    if file == "-" {
        return "stdin".to_owned();
    }
    let f = file.replace('\\', "/");
    f.strip_prefix("./").unwrap_or(&f).to_owned()
}

pub(super) fn sarif(r: &AuditReport) -> Value {
    let rules: Vec<Value> = r
        .policy
        .iter()
        .map(|c| {
            let spec = c.id.spec();
            json!({
                "id": c.id.as_str(),
                "name": c.id.as_str(),
                "shortDescription": {"text": spec.title},
                "fullDescription": {"text": format!("{}: {}.", spec.title, spec.remedy)},
                "help": {
                    "text": format!("{}. Fix: {}. Details: {}", spec.title, spec.remedy, help_uri(c.id)),
                    "markdown": format!("**{}.** Fix: {}. [Details]({})", spec.title, spec.remedy, help_uri(c.id)),
                },
                "helpUri": help_uri(c.id),
                "defaultConfiguration": {"level": level(c.severity)},
                "properties": {
                    "category": spec.category.as_str(),
                    "tags": [spec.category.as_str(), "kubernetes"],
                    "security-severity": security_severity(c.severity),
                }
            })
        })
        .collect();
    let index_of = |id: &str| r.policy.iter().position(|c| c.id.as_str() == id);
    let mut results = Vec::new();
    for w in &r.workloads {
        for f in &w.findings {
            let mut location = json!({
                "logicalLocations": [{
                    "fullyQualifiedName": w.object.to_string(),
                    "kind": "resource",
                }]
            });
            if let Some(src) = &w.source {
                location["physicalLocation"] = json!({
                    "artifactLocation": {"uri": uri(&src.file)},
                    "region": {"startLine": src.line.max(1)},
                });
            }
            let mut result = json!({
                "ruleId": f.check.as_str(),
                "level": level(f.severity),
                "message": {"text": format!("{}: {}", w.object, f.message)},
                "locations": [location],
                "partialFingerprints": {
                    "kubeDevopsFinding/v1": format!(
                        "{}/{}/{}",
                        w.object,
                        f.container.as_deref().unwrap_or("-"),
                        f.check
                    ),
                },
                "properties": {"severity": f.severity.as_str()},
            });
            if let Some(i) = index_of(f.check.as_str()) {
                result["ruleIndex"] = json!(i);
            }
            if let FindingStatus::Skipped { reason } = &f.status {
                result["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
            }
            results.push(result);
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kube-devops",
                "version": crate::VERSION,
                "informationUri": "https://github.com/stochastic-io/kube-devops",
                "rules": rules,
            }},
            "results": results,
            "columnKind": "utf16CodeUnits",
        }]
    })
}
