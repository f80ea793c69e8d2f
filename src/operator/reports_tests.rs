use super::*;
use crate::facts::PodFacts;
use crate::operator::testkit::{latest, now, set};
use crate::owners::ParentRef;
use crate::policy::{DevOpsPolicySpec, PolicySet};
use crate::score::store::PodStore;
use crate::testing::pod;

fn shop() -> PolicySet {
    let probes = DevOpsPolicySpec {
        require_liveness_probe: Some(true),
        ..DevOpsPolicySpec::default()
    };
    set(&[("shop", "latest", latest()), ("shop", "probes", probes)])
}

fn with_uid(mut f: PodFacts, uid: &str) -> PodFacts {
    f.uid = Some(uid.to_owned());
    f
}

fn evaluate(pods: &[PodFacts], set: &PolicySet) -> NamespaceEvaluation {
    let mut store = PodStore::new();
    for p in pods {
        store.apply(p.clone(), set, now());
    }
    store.evaluate("shop", set, now())
}

fn owners() -> OwnerIndex {
    let mut index = OwnerIndex::new();
    index.set(
        "ReplicaSet",
        "uid-web-1",
        Some(ParentRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            uid: "uid-web".into(),
        }),
    );
    index
}

fn shop_pods() -> Vec<PodFacts> {
    vec![
        with_uid(
            pod("web-a")
                .ns("shop")
                .image("nginx:latest")
                .owned_by("ReplicaSet", "web-1")
                .status("Running", 0)
                .facts(),
            "a",
        ),
        with_uid(
            pod("web-b")
                .ns("shop")
                .image("nginx:latest")
                .owned_by("ReplicaSet", "web-1")
                .status("Running", 0)
                .facts(),
            "b",
        ),
        with_uid(
            pod("solo")
                .ns("shop")
                .without_liveness()
                .status("Running", 0)
                .facts(),
            "solo",
        ),
    ]
}

#[test]
fn one_report_per_top_level_workload_with_a_result_per_check_judged() {
    let s = shop();
    let reports = build_reports(&evaluate(&shop_pods(), &s), s.resolve("shop"), &owners());
    let scopes: Vec<(&str, &str)> = reports
        .iter()
        .map(|r| (r.workload.kind.as_str(), r.workload.name.as_str()))
        .collect();
    assert_eq!(scopes, [("Deployment", "web"), ("Pod", "solo")]);
    let web = &reports[0];
    let rules: Vec<(&str, &str, Outcome)> = web
        .results
        .iter()
        .map(|r| (&*r.rule, r.policy.as_str(), r.result))
        .collect();
    assert_eq!(
        rules,
        [
            ("latestTag", "latest", Outcome::Fail),
            ("missingLivenessProbe", "probes", Outcome::Pass)
        ]
    );
    assert_eq!(web.results[0].properties["pods"], "2");
    assert!(
        web.results[0].message.contains("2 findings in 2 pod(s)"),
        "{}",
        web.results[0].message
    );
    let solo = &reports[1];
    assert_eq!(solo.summary().fail, 1);
    assert_eq!(solo.summary().pass, 1);
}

#[test]
fn exempt_findings_make_a_skip_result() {
    let s = shop();
    let exempt = with_uid(
        pod("e")
            .ns("shop")
            .image("nginx:latest")
            .annotation("devops.stochastic.io/ignore", "latestTag")
            .annotation("devops.stochastic.io/ignore-reason", "vendor image")
            .status("Running", 0)
            .facts(),
        "e",
    );
    let reports = build_reports(&evaluate(&[exempt], &s), s.resolve("shop"), &owners());
    let latest = reports[0]
        .results
        .iter()
        .find(|r| r.rule == "latestTag")
        .unwrap();
    assert_eq!(latest.result, Outcome::Skip);
    assert!(
        latest.message.contains("vendor image"),
        "{}",
        latest.message
    );
}

#[test]
fn a_namespace_judged_by_the_default_policy_gets_no_reports() {
    let s = shop();
    let mut other = shop_pods();
    for p in &mut other {
        p.object.namespace = "blog".into();
    }
    let mut store = PodStore::new();
    for p in &other {
        store.apply(p.clone(), &s, now());
    }
    let eval = store.evaluate("blog", &s, now());
    assert_eq!(eval.pods.len(), 3);
    assert!(build_reports(&eval, s.resolve("blog"), &owners()).is_empty());
}

#[test]
fn reports_read_back_from_the_cluster_digest_as_written() {
    let s = shop();
    for report in build_reports(&evaluate(&shop_pods(), &s), s.resolve("shop"), &owners()) {
        for api in ReportApi::ALL {
            let object = report.to_object(api);
            // What the API server returns adds metadata; the content reads back the same.
            let mut stored = object.clone();
            stored["metadata"]["resourceVersion"] = json!("42");
            stored["metadata"]["uid"] = json!("server-uid");
            let back = WorkloadReport::from_object(&stored).unwrap();
            assert_eq!(back.digest(), report.digest(), "{api:?}");
            assert_eq!(object["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY);
            assert_eq!(
                object["metadata"]["ownerReferences"][0]["uid"],
                json!(report.workload.uid)
            );
            assert_eq!(object["kind"], api.kind());
        }
    }
}

#[test]
fn a_workload_with_forty_containers_stays_a_few_kilobytes() {
    let everything = DevOpsPolicySpec {
        checks: Some(
            crate::checks::CheckId::ALL
                .iter()
                .map(|c| (c.as_str().to_owned(), Default::default()))
                .collect(),
        ),
        allowed_registries: Some(vec!["registry.example.com".to_owned()]),
        ..DevOpsPolicySpec::default()
    };
    let s = set(&[("shop", "all", everything)]);
    let mut b = pod("big").ns("shop").without_probes().without_resources();
    for i in 0..40 {
        b = b.container(
            &format!("container-with-a-long-name-{i:02}"),
            "registry.example.com/team/app",
        );
    }
    let pods: Vec<PodFacts> = (0..20)
        .map(|i| {
            let mut f = b
                .clone()
                .owned_by("ReplicaSet", "web-1")
                .status("Running", 0)
                .facts();
            f.object.name = format!("big-{i}");
            with_uid(f, &format!("big-{i}"))
        })
        .collect();
    let reports = build_reports(&evaluate(&pods, &s), s.resolve("shop"), &owners());
    assert_eq!(reports.len(), 1);
    let bytes = serde_json::to_vec(&reports[0].to_object(ReportApi::WgPolicy)).unwrap();
    assert!(
        bytes.len() < 16 * 1024,
        "a report of 20 pods x 40 containers is {} bytes",
        bytes.len()
    );
    assert!(reports[0].results.len() <= crate::checks::CHECK_COUNT);
}
