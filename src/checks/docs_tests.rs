//! The whole catalogue against its documentation: every check id has a section in
//! `docs/checks.md`, a failing and a passing example there that this test runs through the
//! real audit, a SARIF rule with help text and a link to that section, and a place in a
//! bundle or a written reason why not.
//!
//! An example is a fenced `yaml` block whose first line is `# fails: id, id` or
//! `# passes: id, id`: complete manifests (with a `DevOpsPolicy` when the check needs
//! settings), judged at the instant the documentation uses, with only the listed checks
//! on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::CheckId;
use crate::audit::{AuditReport, Auditor, audit_input};
use crate::manifests::{Input, parse_bytes};
use crate::policy::bundles::{BUNDLE_NAMES, OUTSIDE_BUNDLES, bundle};
use crate::policy::strict::policy_from_value;
use crate::policy::{EffectivePolicy, NamespaceExclusions};
use crate::report::{OutputFormat, help_uri, render};
use crate::testing::policy_with;

/// The audit instant of every example in the documentation.
const NOW: &str = "2026-11-22T00:00:00Z";

fn checks_md() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/checks.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An example: whether it should fail, the checks it is for, and its text.
struct Example {
    fails: bool,
    checks: Vec<CheckId>,
    text: String,
    line: usize,
}

fn examples(doc: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut lines = doc.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim() != "```yaml" {
            continue;
        }
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| l.trim() != "```")
            .collect();
        let Some(first) = body.first() else { continue };
        let (fails, list) = match (
            first.strip_prefix("# fails:"),
            first.strip_prefix("# passes:"),
        ) {
            (Some(list), _) => (true, list),
            (_, Some(list)) => (false, list),
            _ => continue,
        };
        let checks = list
            .split(',')
            .map(|id| {
                let id = id.trim();
                CheckId::parse(id)
                    .unwrap_or_else(|| panic!("docs/checks.md:{}: unknown check {id:?}", n + 2))
            })
            .collect();
        out.push(Example {
            fails,
            checks,
            text: body.join("\n"),
            line: n + 2,
        });
    }
    out
}

fn judge(example: &Example) -> AuditReport {
    let mut input = Input::default();
    parse_bytes(example.text.as_bytes(), "example.yaml", &mut input);
    assert!(
        input.errors.is_empty(),
        "docs/checks.md:{}: {:?}",
        example.line,
        input.errors
    );
    let policy = match input
        .documents
        .iter()
        .find(|d| d.value["kind"] == "DevOpsPolicy")
    {
        Some(doc) => {
            let spec = policy_from_value(&doc.value)
                .unwrap_or_else(|e| panic!("docs/checks.md:{}: {e}", example.line))
                .spec;
            EffectivePolicy::from_spec(&spec)
                .unwrap_or_else(|e| panic!("docs/checks.md:{}: {e}", example.line))
        }
        None => policy_with(&example.checks),
    };
    let mut auditor = Auditor::new(
        policy,
        "docs".into(),
        NamespaceExclusions::default(),
        None,
        NOW.parse().unwrap(),
    );
    audit_input(&mut auditor, input);
    let report = auditor.finish();
    assert!(
        report.errors.is_empty(),
        "docs/checks.md:{}: {:?}",
        example.line,
        report.errors
    );
    report
}

#[test]
fn every_example_in_the_check_documentation_does_what_it_says() {
    let doc = checks_md();
    let examples = examples(&doc);
    assert!(!examples.is_empty(), "no examples found in docs/checks.md");
    for example in &examples {
        let report = judge(example);
        for id in &example.checks {
            let found = report
                .workloads
                .iter()
                .flat_map(|w| &w.findings)
                .filter(|f| f.check == *id && f.is_counted())
                .count();
            if example.fails {
                assert!(
                    found > 0,
                    "docs/checks.md:{}: {id} does not fail",
                    example.line
                );
            } else {
                assert_eq!(
                    found, 0,
                    "docs/checks.md:{}: {id} does not pass",
                    example.line
                );
            }
        }
    }
}

#[test]
fn every_check_has_a_section_and_a_failing_and_a_passing_example() {
    let doc = checks_md();
    let examples = examples(&doc);
    let mut seen: BTreeMap<CheckId, (bool, bool)> = BTreeMap::new();
    for e in &examples {
        for id in &e.checks {
            let entry = seen.entry(*id).or_default();
            if e.fails {
                entry.0 = true;
            } else {
                entry.1 = true;
            }
        }
    }
    for id in CheckId::ALL {
        let heading = doc.lines().any(|l| {
            l.strip_prefix("### ")
                .is_some_and(|h| h.split(',').any(|name| name.trim() == id.as_str()))
        });
        let anchor = format!("<a id=\"{}\"></a>", id.as_str().to_ascii_lowercase());
        let single = doc.lines().any(|l| l.trim() == format!("### {id}"));
        assert!(heading, "no section names {id}");
        assert!(
            single || doc.contains(&anchor),
            "no anchor {anchor} for {id}"
        );
        assert_eq!(
            seen.get(id),
            Some(&(true, true)),
            "{id}: (failing, passing) examples"
        );
        assert!(
            doc.contains(&format!("| `{id}` |")),
            "{id} is not in the catalogue table"
        );
    }
}

#[test]
fn every_check_has_a_sarif_rule_with_help_text_and_a_link() {
    let mut auditor = Auditor::new(
        policy_with(CheckId::ALL),
        "all".into(),
        NamespaceExclusions::default(),
        None,
        NOW.parse().unwrap(),
    );
    audit_input(&mut auditor, Input::default());
    let sarif = render(&auditor.finish(), OutputFormat::Sarif).unwrap();
    let sarif: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), CheckId::ALL.len());
    for (rule, id) in rules.iter().zip(CheckId::ALL) {
        assert_eq!(rule["id"], id.as_str());
        let help = rule["help"]["text"].as_str().unwrap();
        assert!(help.contains(id.spec().remedy), "{id}: {help}");
        assert_eq!(rule["helpUri"], help_uri(*id));
    }
}

#[test]
fn checks_outside_every_bundle_are_documented_with_their_reason() {
    let doc = checks_md();
    for (id, _) in OUTSIDE_BUNDLES {
        assert!(
            doc.lines()
                .any(|l| l.contains(&format!("`{id}`")) && l.contains("no bundle")),
            "{id}: docs/checks.md does not say why it is in no bundle"
        );
    }
    for name in BUNDLE_NAMES {
        assert!(bundle(name).is_some());
    }
}

#[test]
fn the_benchmark_policy_turns_on_every_check() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/every-check.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut input = Input::default();
    parse_bytes(text.as_bytes(), "every-check.yaml", &mut input);
    let spec = policy_from_value(&input.documents[0].value).unwrap().spec;
    let policy = EffectivePolicy::from_spec(&spec).unwrap();
    for id in CheckId::ALL {
        assert!(policy.severity(*id).is_some(), "{id} is not on");
    }
}
