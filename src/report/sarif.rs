//! SARIF 2.1.0: one rule per enabled check, with help text and a link to its section of
//! the check documentation; one result per finding, located at the file and line of the
//! manifest document (and, logically, at `namespace/Kind/name`). Exempt findings carry an
//! `inSource` suppression with the exemption's reason, as code-scanning tools expect.
//! The document is written as it is built, one result at a time, so the memory it takes
//! does not grow with the number of findings.

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::audit::{AuditReport, WorkloadResult};
use crate::checks::{CheckId, Finding, FindingStatus, Severity};

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

fn rules(r: &AuditReport) -> Vec<Value> {
    r.policy
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
        .collect()
}

/// One result, built when it is written and dropped after.
fn result(r: &AuditReport, w: &WorkloadResult, f: &Finding) -> Value {
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
    if let Some(i) = r.policy.iter().position(|c| c.id == f.check) {
        result["ruleIndex"] = json!(i);
    }
    if let FindingStatus::Skipped { reason } = &f.status {
        result["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
    }
    result
}

/// The results of a report, serialized one by one.
struct Results<'a>(&'a AuditReport);

impl Serialize for Results<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        s.collect_seq(
            r.workloads
                .iter()
                .flat_map(|w| w.findings.iter().map(move |f| result(r, w, f))),
        )
    }
}

// Fields in the order of their names, as the keys of a JSON object are written.
#[derive(Serialize)]
struct Run<'a> {
    #[serde(rename = "columnKind")]
    column_kind: &'static str,
    results: Results<'a>,
    tool: Value,
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: [Run<'a>; 1],
    version: &'static str,
}

/// Writes the SARIF document of `r` to `out`.
pub(super) fn write(r: &AuditReport, out: &mut dyn std::io::Write) -> serde_json::Result<()> {
    let document = Document {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: [Run {
            column_kind: "utf16CodeUnits",
            results: Results(r),
            tool: json!({"driver": {
                "name": "kube-devops",
                "version": crate::VERSION,
                "informationUri": "https://github.com/stochastic-io/kube-devops",
                "rules": rules(r),
            }}),
        }],
        version: "2.1.0",
    };
    super::json::to_writer_pretty(out, &document)
}
