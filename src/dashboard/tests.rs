use super::*;
use crate::facts::PodFacts;
use crate::policy::exemptions::{IGNORE, IGNORE_REASON, IGNORE_UNTIL};
use crate::policy::{EffectivePolicy, NamespaceExclusions, PolicySet};
use crate::score::store::PodStore;
use crate::testing::pod;

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn defaults() -> PolicySet {
    PolicySet::new(
        EffectivePolicy::default(),
        "default",
        NamespaceExclusions::default(),
    )
}

/// A running replica of `owner` (a ReplicaSet), or a bare pod when `owner` is empty.
fn running(ns: &str, name: &str, owner: &str, image: &str) -> PodFacts {
    let mut b = pod(name).ns(ns).image(image).status("Running", 0);
    if !owner.is_empty() {
        b = b.owned_by("ReplicaSet", owner);
    }
    let mut f = b.facts();
    f.uid = Some(format!("uid-{ns}-{name}"));
    f
}

fn details(pods: Vec<PodFacts>) -> Vec<NamespaceDetail> {
    let policies = defaults();
    let mut store = PodStore::new();
    let mut names: Vec<String> = pods.iter().map(|p| p.object.namespace.clone()).collect();
    names.sort();
    names.dedup();
    for p in pods {
        store.apply(p, &policies, now());
    }
    names
        .iter()
        .map(|ns| NamespaceDetail::new(&store.evaluate(ns, &policies, now()), now()))
        .collect()
}

fn latest_rows(w: &WorkloadView) -> Vec<&FindingView> {
    w.items
        .iter()
        .filter(|f| f.check == CheckId::LatestTag)
        .collect()
}

#[test]
fn replicas_of_one_controller_are_one_workload_whose_shared_finding_counts_once() {
    let d = details(vec![
        running("shop", "web-a", "web-1", "nginx:latest"),
        running("shop", "web-b", "web-1", "nginx:latest"),
        running("shop", "web-c", "web-1", "nginx:latest"),
        running("shop", "debug", "", "busybox:latest"),
    ]);
    let shop = &d[0];
    assert_eq!(shop.row.pods, 4);
    assert_eq!(shop.row.workloads, 2);
    let web = shop.workloads.iter().find(|w| w.name == "web-1").unwrap();
    assert_eq!((web.kind.as_str(), web.pods), ("ReplicaSet", 3));
    let latest = latest_rows(web);
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].pods, 3);
    assert_eq!(latest[0].fix, CheckId::LatestTag.spec().remedy);
    let bare = shop.workloads.iter().find(|w| w.kind == "Pod").unwrap();
    assert_eq!(bare.name, "debug");
    let counted: u32 = shop.workloads.iter().map(|w| w.findings).sum();
    assert_eq!(shop.row.findings, u64::from(counted));
    assert_eq!(
        shop.row.severities.get(Severity::Medium)
            + shop.row.severities.get(Severity::High)
            + shop.row.severities.get(Severity::Low)
            + shop.row.severities.get(Severity::Critical),
        counted
    );
}

#[test]
fn an_exempt_finding_shows_its_reason_and_expiry_and_is_not_counted() {
    let mut f = pod("legacy")
        .ns("ops")
        .image("nginx:latest")
        .annotation(IGNORE, "latestTag")
        .annotation(IGNORE_REASON, "vendor image")
        .annotation(IGNORE_UNTIL, "2026-12-31")
        .status("Running", 0)
        .facts();
    f.uid = Some("uid-legacy".into());
    let plain = details(vec![running("ops", "legacy", "", "nginx:latest")]);
    let d = details(vec![f]);
    let w = &d[0].workloads[0];
    let latest = latest_rows(w);
    assert_eq!(latest.len(), 1);
    assert_eq!(
        latest[0].exempt,
        Some(ExemptView {
            reason: Some("vendor image".into()),
            expires: Some("2026-12-31".into()),
        })
    );
    assert_eq!(d[0].row.exempt, 1);
    assert_eq!(d[0].row.findings + 1, plain[0].row.findings);
    // Exempt rows sort after counted ones.
    assert!(w.items.last().unwrap().exempt.is_some());
}

#[test]
fn the_overview_adds_up_the_namespaces_and_ranks_checks_by_failing_workloads() {
    let d = details(vec![
        running("a", "web-a", "web-1", "nginx:latest"),
        running("a", "api-a", "api-1", "api:latest"),
        running("b", "db-a", "db-1", "postgres:16"),
    ]);
    let mut trend = Trend::default();
    trend.push(now(), Some(90.0));
    let overview = Overview::new(None, &d, &trend, ControllerState::default(), now());
    assert_eq!(overview.namespaces, 2);
    assert_eq!(overview.pods, 3);
    assert_eq!(overview.workloads, 3);
    assert_eq!(overview.findings, d[0].row.findings + d[1].row.findings);
    let by_severity: u64 = Severity::ALL
        .iter()
        .map(|s| u64::from(overview.severities.get(*s)))
        .sum();
    assert_eq!(by_severity, overview.findings);
    assert_eq!(overview.categories.values().sum::<u64>(), overview.findings);
    let latest = overview
        .top_checks
        .iter()
        .find(|c| c.check == CheckId::LatestTag)
        .unwrap();
    assert_eq!(latest.workloads, 2);
    assert!(
        overview
            .top_checks
            .windows(2)
            .all(|w| w[0].workloads >= w[1].workloads)
    );
    assert_eq!(overview.trend.len(), 1);
}

#[test]
fn the_checks_index_names_the_workloads_failing_each_check_within_the_filter() {
    let d = details(vec![
        running("a", "web-a", "web-1", "nginx:latest"),
        running("b", "api-a", "api-1", "api:latest"),
        running("b", "db-a", "db-1", "postgres:16"),
    ]);
    let all = checks(&d, &Filter::default());
    assert_eq!(all.len(), CheckId::ALL.len());
    let latest = all.iter().find(|c| c.check == CheckId::LatestTag).unwrap();
    let names: Vec<&str> = latest.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["web-1", "api-1"]);
    let only_b = Filter::parse([("namespace", "b"), ("failing", "true")]).unwrap();
    let b = checks(&d, &only_b);
    let latest = b.iter().find(|c| c.check == CheckId::LatestTag).unwrap();
    assert_eq!(latest.failing, 1);
    assert_eq!(latest.workloads[0].namespace, "b");
    assert!(b.iter().all(|c| c.failing > 0));
    let limited = checks(&d, &Filter::parse([("limit", "1")]).unwrap());
    let latest = limited
        .iter()
        .find(|c| c.check == CheckId::LatestTag)
        .unwrap();
    assert_eq!((latest.failing, latest.workloads.len()), (2, 1));
}

#[test]
fn the_namespace_list_sorts_and_filters_as_the_query_asks() {
    let d = details(vec![
        running("clean", "db-a", "db-1", "postgres:16"),
        running("messy", "web-a", "web-1", "nginx:latest"),
        running("messy", "api-a", "", "api:latest"),
    ]);
    let by_score = Filter::parse([("sort", "score"), ("order", "asc")]).unwrap();
    let rows = by_score.namespaces(&d);
    assert!(rows[0].score <= rows[1].score);
    assert_eq!(rows[0].name, "messy");
    let search = Filter::parse([("q", "CLE")]).unwrap();
    let rows: Vec<String> = search.namespaces(&d).into_iter().map(|r| r.name).collect();
    assert_eq!(rows, ["clean"]);
    let critical = Filter::parse([("severity", "critical")]).unwrap();
    let worst = d
        .iter()
        .filter(|n| n.row.severities.get(Severity::Critical) > 0)
        .count();
    assert_eq!(critical.namespaces(&d).len(), worst);
}

#[test]
fn a_severity_filter_hides_lesser_findings_of_a_namespace() {
    let mut probeless = pod("web-a")
        .ns("shop")
        .image("nginx:latest")
        .without_probes()
        .status("Running", 0)
        .facts();
    probeless.uid = Some("uid-web-a".into());
    let d = details(vec![probeless]);
    let high = Filter::parse([("severity", "high")]).unwrap();
    let shown = high.namespace(&d[0]);
    let items: Vec<&FindingView> = shown.workloads.iter().flat_map(|w| &w.items).collect();
    assert!(items.iter().all(|f| f.severity >= Severity::High));
    assert!(
        items.iter().any(|f| f.check == CheckId::LatestTag),
        "a high finding is at least high"
    );
    let all: usize = d[0].workloads.iter().map(|w| w.items.len()).sum();
    assert!(items.len() < all, "the pod has findings below high");
    assert_eq!(shown.row, d[0].row);
}

#[test]
fn bad_filter_values_are_named_in_the_error() {
    for (key, value) in [
        ("severity", "urgent"),
        ("failing", "maybe"),
        ("sort", "colour"),
        ("order", "up"),
        ("limit", "0"),
        ("limit", "x"),
    ] {
        let err = Filter::parse([(key, value)]).unwrap_err();
        assert!(err.contains(key) && err.contains(value), "{err}");
    }
    assert_eq!(
        Filter::parse([("view", "checks"), ("q", "")]).unwrap(),
        Filter::default()
    );
}

#[test]
fn the_trend_ring_keeps_the_newest_samples_only() {
    let mut trend = Trend::with_capacity(3);
    for i in 0..5 {
        trend.push(Timestamp::from_second(i).unwrap(), Some(i as f64));
    }
    let scores: Vec<Option<f64>> = trend.points().iter().map(|p| p.score).collect();
    assert_eq!(scores, [Some(2.0), Some(3.0), Some(4.0)]);
}
