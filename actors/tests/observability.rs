//! The monitoring objects: `observability generate-*` prints exactly what
//! `deploy/observability/` holds, the metric catalogue the queries are written against
//! equals what the binary registers, and the promtool rule tests cover every alert.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use kube_devops::observability::{Artifact, COMMITTED, catalog::CATALOG, rules};
use kube_devops_actors::metrics::Metrics;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("actors/ has a parent")
        .to_path_buf()
}

fn generate(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_kube-devops"))
        .arg("observability")
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn command_for(artifact: Artifact) -> &'static [&'static str] {
    match artifact {
        Artifact::ServiceMonitors => &["generate-service-monitors"],
        Artifact::DashboardJson => &["generate-dashboard", "--raw"],
        Artifact::DashboardConfigMap => &["generate-dashboard"],
        Artifact::RulesFile => &["generate-rules", "--raw"],
        Artifact::PrometheusRule => &["generate-rules"],
        Artifact::All => &["generate-all"],
    }
}

#[test]
fn generated_objects_match_the_committed_files() {
    let mut stale = Vec::new();
    for (file, artifact) in COMMITTED {
        let args = command_for(*artifact);
        let committed = std::fs::read_to_string(root().join("deploy/observability").join(file))
            .unwrap_or_default();
        if generate(args) != committed {
            stale.push(format!(
                "cargo run -- observability {} > deploy/observability/{file}",
                args.join(" ")
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "deploy/observability/ is stale; run:\n{}",
        stale.join("\n")
    );
}

#[test]
fn generate_all_is_the_service_monitors_dashboard_and_rules_in_order() {
    let all = generate(&["generate-all", "-n", "monitoring"]);
    let parts = [
        generate(&["generate-service-monitors", "--namespace", "monitoring"]),
        generate(&["generate-dashboard", "-n", "monitoring"]),
        generate(&["generate-rules", "-n", "monitoring"]),
    ];
    assert_eq!(all, parts.concat());
    assert!(all.contains("namespace: monitoring") && !all.contains("namespace: kube-devops"));
}

/// Gives every labelled family of the registry a child, so that each appears in the
/// exposition (a vector without children is not exposed).
fn touch_every_family(m: &Metrics) {
    m.namespace_health_score.set(["n"], 1.0);
    m.pod_events_total.with_label_values(&["applied"]).inc();
    m.watch_errors_total.with_label_values(&["pods"]).inc();
    m.watch_backpressure_total
        .with_label_values(&["pods"])
        .inc();
    m.policy_health_score.set(["n", "p"], 1.0);
    m.policy_violations.set(["n", "p"], 1.0);
    m.policy_violations_by_severity.set(["n", "p", "high"], 1.0);
    m.enforcement_mode.set(["n", "p"], 1.0);
    m.remediations_skipped_total.with_label_values(&["r"]).inc();
    m.webhook_requests_total
        .with_label_values(&["CREATE", "true"])
        .inc();
    m.webhook_denials_total.with_label_values(&["c"]).inc();
    m.webhook_errors_total.with_label_values(&["open"]).inc();
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the process collector is registered on Linux only"
)]
fn the_catalogue_is_exactly_what_the_binary_registers() {
    let m = Metrics::new().unwrap();
    touch_every_family(&m);
    let text = m.encode();
    let mut registered: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            registered.insert(name.to_owned(), (kind.to_owned(), BTreeSet::new()));
        } else if !line.starts_with('#') && line.contains('{') {
            let (series, labels) = line.split_once('{').unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    series
                        .strip_suffix(s)
                        .filter(|f| registered.contains_key(*f))
                })
                .unwrap_or(series);
            let names = labels
                .split(',')
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_owned()))
                .filter(|k| k != "le");
            registered.get_mut(family).unwrap().1.extend(names);
        }
    }
    let catalogued: BTreeMap<String, (String, BTreeSet<String>)> = CATALOG
        .iter()
        .map(|f| {
            let labels = f.labels.iter().map(|l| (*l).to_owned()).collect();
            (f.name.to_owned(), (f.kind.as_str().to_owned(), labels))
        })
        .collect();
    assert_eq!(catalogued, registered);
}

#[test]
fn the_promtool_rule_tests_cover_every_alert_firing() {
    let tests =
        std::fs::read_to_string(root().join("deploy/observability/rules-test.yaml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&tests).unwrap();
    let mut fired = BTreeSet::new();
    for test in doc["tests"].as_sequence().unwrap() {
        for case in test["alert_rule_test"].as_sequence().unwrap() {
            if !case["exp_alerts"].as_sequence().unwrap().is_empty() {
                fired.insert(case["alertname"].as_str().unwrap().to_owned());
            }
        }
    }
    for rule in rules::groups().into_iter().flat_map(|g| g.rules) {
        assert!(
            fired.contains(&rule.alert),
            "no promtool test fires {}",
            rule.alert
        );
    }
}
