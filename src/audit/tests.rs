use super::*;
use crate::manifests::{Input, parse_bytes};
use crate::testing::{deployment, pod};

fn auditor(namespace: Option<&str>) -> Auditor {
    Auditor::new(
        EffectivePolicy::default(),
        "default".into(),
        NamespaceExclusions::default(),
        namespace.map(str::to_owned),
        "2026-06-01T00:00:00Z".parse().unwrap(),
    )
}

#[test]
fn a_clean_workload_scores_100_with_no_findings() {
    let mut a = auditor(None);
    a.add(&deployment("web").facts(), None);
    let r = a.finish();
    assert_eq!(r.total_findings, 0);
    assert_eq!(r.cluster_score.unwrap().to_string(), "100.0");
    assert_eq!(r.cluster_status.as_deref(), Some("Healthy"));
}

#[test]
fn findings_are_counted_per_check_and_severity() {
    let mut a = auditor(None);
    a.add(
        &pod("p").image("nginx:latest").without_probes().facts(),
        None,
    );
    let r = a.finish();
    assert_eq!(r.counts.get("latestTag"), Some(&1));
    assert_eq!(r.counts.get("missingLivenessProbe"), Some(&1));
    assert_eq!(r.severities.get(&Severity::High), Some(&1));
    assert_eq!(r.worst_severity(), Some(Severity::High));
    assert_eq!(r.cluster_score.unwrap().to_string(), "90.0");
}

#[test]
fn the_cluster_score_is_pod_weighted_across_namespaces() {
    let mut a = auditor(None);
    a.add(
        &pod("bad")
            .ns("a")
            .image("nginx:latest")
            .without_probes()
            .facts(),
        None,
    );
    for i in 0..3 {
        a.add(&pod(&format!("ok{i}")).ns("b").facts(), None);
    }
    let r = a.finish();
    // 10 points over 4 pods, not the mean of 90 and 100.
    assert_eq!(r.cluster_score.unwrap().to_string(), "97.5");
    let names: Vec<_> = r.namespaces.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn excluded_namespaces_are_skipped_and_not_scored() {
    let mut a = auditor(None);
    a.add(
        &pod("dns").ns("kube-system").image("x:latest").facts(),
        None,
    );
    let r = a.finish();
    assert!(r.workloads.is_empty());
    assert_eq!(r.cluster_score, None);
    assert_eq!(r.skipped.len(), 1);
    assert!(r.namespaces.is_empty());
}

#[test]
fn the_namespace_filter_keeps_only_that_namespace() {
    let mut a = auditor(Some("b"));
    a.add(&pod("x").ns("a").facts(), None);
    a.add(&pod("y").ns("b").facts(), None);
    let r = a.finish();
    assert_eq!(r.workloads.len(), 1);
    assert_eq!(r.workloads[0].object.name, "y");
}

#[test]
fn exempt_findings_are_reported_but_not_counted() {
    let mut a = auditor(None);
    let p = pod("p")
        .image("nginx:latest")
        .annotation("devops.stochastic.io/ignore", "latestTag");
    a.add(&p.facts(), None);
    let r = a.finish();
    assert_eq!(r.exempted, 1);
    assert_eq!(r.total_findings, 0);
    assert_eq!(r.workloads[0].findings.len(), 1);
    assert_eq!(r.cluster_score.unwrap().to_string(), "100.0");
}

#[test]
fn manifest_input_judges_workloads_skips_other_kinds_and_reports_bad_objects() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n\
                apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: c, image: nginx}]}}}\n---\n\
                apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: \"not a list\"}\n";
    let mut input = Input::default();
    parse_bytes(text.as_bytes(), "m.yaml", &mut input);
    let mut a = auditor(None);
    audit_input(&mut a, input);
    let r = a.finish();
    assert_eq!(r.workloads.len(), 1);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].document, Some(3));
    assert!(
        r.errors[0].to_string().starts_with("m.yaml: document 3"),
        "{}",
        r.errors[0]
    );
}

#[test]
fn judging_while_reading_gives_the_report_of_judging_after_reading() {
    // A decoding error in the first file and a YAML error in the second: read errors come
    // first in the report, decoding errors after, whichever file they were found in.
    let first = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: 3}\n---\n\
                 apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n\
                 apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: nginx:latest\n";
    let second = "kind: [unclosed\n---\nnot: an object\n";
    let files = [
        ("a.yaml", first),
        ("b.yaml", second),
        ("c.yaml", "# nothing\n"),
    ];
    let mut input = Input::default();
    for (name, text) in files {
        parse_bytes(text.as_bytes(), name, &mut input);
    }
    let mut whole = auditor(None);
    audit_input(&mut whole, input);
    let whole = whole.finish();

    let mut streamed = auditor(None);
    let mut audit = ManifestAudit::new(&mut streamed);
    for (name, text) in files {
        crate::manifests::parse_into(text.as_bytes(), name, &mut audit);
    }
    let read = audit.finish();
    let streamed = streamed.finish();

    assert_eq!(
        serde_json::to_string(&streamed).unwrap(),
        serde_json::to_string(&whole).unwrap()
    );
    let files: Vec<&str> = streamed.errors.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(files, ["b.yaml", "a.yaml"]);
    assert_eq!((read.documents, read.read_errors), (4, 1));
    assert_eq!(read.empty_files, ["c.yaml"]);
}

mod cluster {
    use super::*;
    use crate::facts::WorkloadKind;
    use crate::testing::with_uid;
    use crate::testing::workload;

    fn owned_pod(name: &str, owner_kind: &str, owner: &str) -> crate::testing::ObjectBuilder {
        pod(name).ns("a").owned_by(owner_kind, owner)
    }

    #[test]
    fn pods_are_scored_and_their_runtime_findings_join_the_top_level_workload() {
        let deploy = with_uid(
            deployment("web").ns("a").image("nginx:latest").facts(),
            "uid-web",
            None,
        );
        let rs = with_uid(
            workload(WorkloadKind::ReplicaSet, "web-1")
                .ns("a")
                .image("nginx:latest")
                .facts(),
            "uid-web-1",
            Some(("Deployment", "web")),
        );
        let crashing = owned_pod("web-1-a", "ReplicaSet", "web-1")
            .image("nginx:latest")
            .status("Running", 9)
            .facts();
        let healthy = owned_pod("web-1-b", "ReplicaSet", "web-1")
            .image("nginx:latest")
            .status("Running", 0)
            .facts();
        let mut a = auditor(None);
        audit_cluster(&mut a, &[deploy, rs], &[crashing, healthy], Vec::new());
        let r = a.finish();
        // One entry: the Deployment; the ReplicaSet it controls is not listed again.
        assert_eq!(r.workloads.len(), 1);
        let checks: Vec<_> = r.workloads[0].findings.iter().map(|f| f.check).collect();
        assert_eq!(checks, [CheckId::LatestTag, CheckId::HighRestarts]);
        assert!(
            r.workloads[0].findings[1]
                .message
                .starts_with("pod web-1-a:")
        );
        // Scores come from the two pods: latest (5) each, plus 9 restarts capped at 5 x 6.
        assert_eq!(r.workloads_analyzed, 2);
        assert_eq!(r.cluster_score.unwrap().to_string(), "80.0");
    }

    #[test]
    fn bare_pods_get_entries_of_their_own() {
        let bare = pod("debug")
            .ns("a")
            .image("busybox")
            .status("Running", 0)
            .facts();
        let mut a = auditor(None);
        audit_cluster(&mut a, &[], &[bare], Vec::new());
        let r = a.finish();
        assert_eq!(r.workloads.len(), 1);
        assert_eq!(
            r.workloads[0].object.kind,
            ObjectKind::Workload(WorkloadKind::Pod)
        );
        assert_eq!(r.counts.get("latestTag"), Some(&1));
    }

    #[test]
    fn terminated_pods_are_not_scored() {
        let done = pod("job-x").ns("a").status("Succeeded", 0).facts();
        let mut a = auditor(None);
        audit_cluster(&mut a, &[], &[done], Vec::new());
        let r = a.finish();
        assert_eq!(r.cluster_score, None);
        assert_eq!(r.skipped[0].reason, "pod has terminated");
    }
}

#[test]
fn a_job_of_another_api_group_is_not_judged_and_is_no_error() {
    // A Volcano Job shares the kind name of batch/v1 Job, not its schema.
    let text = "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: train}\n\
                spec: {minAvailable: 1, tasks: [{name: worker, replicas: 2, template: \
                {spec: {containers: [{name: w, image: 'trainer:latest'}]}}}]}\n---\n\
                apiVersion: batch/v1\nkind: Job\nmetadata: {name: real}\n\
                spec: {template: {spec: {containers: [{name: c, image: 'nginx:1.27'}], restartPolicy: Never}}}\n";
    let mut input = Input::default();
    parse_bytes(text.as_bytes(), "m.yaml", &mut input);
    let mut a = auditor(None);
    audit_input(&mut a, input);
    let r = a.finish();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.workloads.len(), 1);
    assert_eq!(r.workloads[0].object.name, "real");
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].object, "-/Job/train");
    assert_eq!(r.skipped[0].reason, "kind of another API group");
}
