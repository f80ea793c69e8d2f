//! Tests of the monitoring objects: queries against the catalogue, dashboard layout, rule
//! coverage and the Kubernetes wrappers.

use std::collections::BTreeSet;

use serde_json::Value;

use super::catalog::{CATALOG, Kind, family};
use super::promql::metric_names;
use super::{Artifact, DEFAULT_NAMESPACE, dashboard, queries, render, rules};

#[test]
fn every_query_names_only_catalogued_families() {
    for (id, expr) in queries() {
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "{id}: no metric in {expr}");
        for name in names {
            assert!(
                name == "up" || family(&name).is_some(),
                "{id}: {name} is not exported (in {expr})"
            );
        }
    }
}

#[test]
fn every_kube_devops_family_is_on_the_dashboard() {
    let used: BTreeSet<&str> = dashboard::panels()
        .iter()
        .flat_map(|row| row.panels.iter())
        .flat_map(|p| p.targets.iter())
        .flat_map(|t| metric_names(&t.expr))
        .filter_map(|n| family(&n).map(|f| f.name))
        .collect();
    for fam in CATALOG
        .iter()
        .filter(|f| f.name.starts_with("kube_devops_"))
    {
        assert!(used.contains(fam.name), "{} has no panel", fam.name);
    }
}

#[test]
fn histogram_series_resolve_to_their_family_and_nothing_else_does() {
    let h = CATALOG.iter().find(|f| f.kind == Kind::Histogram).unwrap();
    assert_eq!(family(&format!("{}_bucket", h.name)), Some(h));
    let g = CATALOG.iter().find(|f| f.kind == Kind::Gauge).unwrap();
    assert_eq!(family(&format!("{}_bucket", g.name)), None);
    assert_eq!(family("kube_devops_nonexistent"), None);
}

#[test]
fn panels_fill_the_grid_without_overlapping() {
    let json = dashboard::dashboard_json();
    let panels = json["panels"].as_array().unwrap();
    let mut cells = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate id in {p}");
        assert!(
            titles.insert(p["title"].as_str().unwrap().to_owned()),
            "duplicate title {p}"
        );
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24, "{} sticks out of the grid", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{} overlaps another panel",
                    p["title"]
                );
            }
        }
        if p["type"] != "row" {
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(t["datasource"]["uid"], "${datasource}");
            }
        }
    }
}

#[test]
fn the_rules_alert_on_each_failure_the_operators_watch_for() {
    let names: BTreeSet<String> = rules::groups()
        .into_iter()
        .flat_map(|g| g.rules)
        .map(|r| r.alert)
        .collect();
    for expected in [
        "KubeDevopsControllerDown",
        "KubeDevopsNoLeader",
        "KubeDevopsWatchFailing",
        "KubeDevopsWebhookErrors",
        "KubeDevopsWebhookSlow",
        "KubeDevopsNamespaceScoreLow",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
    for rule in rules::groups().into_iter().flat_map(|g| g.rules) {
        assert!(["warning", "critical"].contains(&rule.labels["severity"].as_str()));
        assert!(rule.annotations.contains_key("summary"), "{}", rule.alert);
    }
}

fn documents(text: &str) -> Vec<Value> {
    text.split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml_ng::from_str(d).unwrap())
        .collect()
}

#[test]
fn the_dashboard_config_map_carries_the_sidecar_label_and_the_dashboard() {
    let docs = documents(&render(Artifact::DashboardConfigMap, DEFAULT_NAMESPACE).unwrap());
    assert_eq!(docs.len(), 1);
    let cm = &docs[0];
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let inner: Value =
        serde_json::from_str(cm["data"]["kube-devops.json"].as_str().unwrap()).unwrap();
    assert_eq!(inner, dashboard::dashboard_json());
    let bare: Value = serde_json::from_str(&render(Artifact::DashboardJson, "x").unwrap()).unwrap();
    assert_eq!(bare, inner);
}

#[test]
fn the_service_monitor_selects_the_service_and_its_port_and_keeps_the_job_name() {
    let docs = documents(&render(Artifact::ServiceMonitors, DEFAULT_NAMESPACE).unwrap());
    let (svc, sm) = (&docs[0], &docs[1]);
    assert_eq!(
        (svc["kind"].as_str(), sm["kind"].as_str()),
        (Some("Service"), Some("ServiceMonitor"))
    );
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&svc["metadata"]["labels"][k], v, "{k}");
    }
    let port = sm["spec"]["endpoints"][0]["port"].as_str().unwrap();
    assert_eq!(svc["spec"]["ports"][0]["name"], port);
    let job_label = sm["spec"]["jobLabel"].as_str().unwrap();
    assert_eq!(svc["metadata"]["labels"][job_label], super::JOB);
    assert_eq!(sm["spec"]["endpoints"][0]["honorLabels"], true);
}

#[test]
fn generate_all_puts_every_object_in_the_given_namespace() {
    let docs = documents(&render(Artifact::All, "observability-test").unwrap());
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["Service", "ServiceMonitor", "ConfigMap", "PrometheusRule"]
    );
    for d in &docs {
        assert_eq!(
            d["metadata"]["namespace"], "observability-test",
            "{}",
            d["kind"]
        );
    }
    let rule: Value = docs[3]["spec"].clone();
    let plain: Value = serde_yaml_ng::from_str(&render(Artifact::RulesFile, "x").unwrap()).unwrap();
    assert_eq!(rule, plain);
}
