//! Verdicts and object penalties in the live pod state: what they add, and that setting
//! one re-judges only the pods of its workload.

use super::*;
use crate::checks::CheckId;
use crate::cross::{ObjectId, ObjectKind, Verdict};
use crate::facts::WorkloadKind;
use crate::policy::{EffectivePolicy, NamespaceExclusions};
use crate::score::Penalty;
use crate::testing::{pod, policy_with, with_uid};

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn policies() -> PolicySet {
    PolicySet::new(
        policy_with(&[
            CheckId::MissingPodDisruptionBudget,
            CheckId::AutomountServiceAccountToken,
        ]),
        "test",
        NamespaceExclusions::default(),
    )
}

fn policy() -> EffectivePolicy {
    policies().default_policy().clone()
}

/// A live pod of Deployment `app` (through ReplicaSet `<app>-h1`).
fn replica(app: &str, name: &str) -> PodFacts {
    let f = pod(name)
        .ns("shop")
        .label("app", app)
        .label("pod-template-hash", "h1")
        .status("Running", 0)
        .facts();
    with_uid(
        f,
        &format!("uid-{name}"),
        Some(("ReplicaSet", &format!("{app}-h1"))),
    )
}

fn deployment(app: &str) -> ObjectId {
    ObjectId::new(
        ObjectKind::Workload(WorkloadKind::Deployment),
        Some("shop"),
        app,
    )
}

fn missing_pdb() -> Verdict {
    let finding = crate::checks::finding(
        CheckId::MissingPodDisruptionBudget,
        None,
        "no PDB".into(),
        1,
        &policy(),
        &[],
        now(),
    )
    .unwrap();
    Verdict {
        findings: vec![finding],
        settled: Default::default(),
    }
}

fn store() -> PodStore {
    let mut s = PodStore::new();
    for (app, name) in [("web", "w1"), ("web", "w2"), ("db", "d1")] {
        s.apply(replica(app, name), &policies(), now());
    }
    s
}

#[test]
fn a_workload_verdict_counts_once_per_pod_of_that_workload_only() {
    let mut s = store();
    let before = s.namespace("shop").unwrap();
    let web_before = s.pod("uid-w1").unwrap();
    let db_before = s.pod("uid-d1").unwrap();
    let ns = s.set_verdict(&deployment("web"), missing_pdb(), &policies(), now());
    assert_eq!(ns.as_deref(), Some("shop"));
    let per_pod = missing_pdb().penalty();
    assert_eq!(
        s.pod("uid-w1").unwrap().penalty,
        web_before.penalty + per_pod
    );
    assert!(
        s.pod("uid-w2")
            .unwrap()
            .checks
            .contains(CheckId::MissingPodDisruptionBudget)
    );
    assert_eq!(
        s.pod("uid-d1").unwrap(),
        db_before,
        "another workload is untouched"
    );
    assert_eq!(
        s.namespace("shop").unwrap().penalty(),
        before.penalty() + per_pod + per_pod
    );
    // The evaluation (reports, policy status) shows it on each pod of the workload.
    let eval = s.evaluate("shop", &policies(), now());
    let with: Vec<&str> = eval
        .pods
        .iter()
        .filter(|p| {
            p.findings
                .iter()
                .any(|f| f.check == CheckId::MissingPodDisruptionBudget)
        })
        .map(|p| &*p.name)
        .collect();
    assert_eq!(with, ["w1", "w2"]);
    // A new pod of the workload carries it at once.
    s.apply(replica("web", "w3"), &policies(), now());
    assert!(
        s.pod("uid-w3")
            .unwrap()
            .checks
            .contains(CheckId::MissingPodDisruptionBudget)
    );
    // The same verdict again changes nothing; an empty one takes it away.
    assert!(
        s.set_verdict(&deployment("web"), missing_pdb(), &policies(), now())
            .is_none()
    );
    assert!(
        s.set_verdict(&deployment("web"), Verdict::default(), &policies(), now())
            .is_some()
    );
    assert_eq!(s.pod("uid-w1").unwrap(), web_before);
    assert!(s.verdict(&deployment("web")).is_none());
}

#[test]
fn settled_checks_leave_the_pods_findings() {
    let mut s = PodStore::new();
    let mut f = replica("web", "w1");
    f.automount_service_account_token = None;
    s.apply(f, &policies(), now());
    assert!(
        s.pod("uid-w1")
            .unwrap()
            .checks
            .contains(CheckId::AutomountServiceAccountToken)
    );
    let mut settled = crate::score::CheckMask::default();
    settled.insert(CheckId::AutomountServiceAccountToken);
    let verdict = Verdict {
        findings: Vec::new(),
        settled,
    };
    assert!(
        s.set_verdict(&deployment("web"), verdict, &policies(), now())
            .is_some()
    );
    assert!(
        !s.pod("uid-w1")
            .unwrap()
            .checks
            .contains(CheckId::AutomountServiceAccountToken)
    );
}

#[test]
fn object_penalties_count_in_their_namespace_and_cluster_scoped_ones_in_the_cluster_only() {
    let mut s = store();
    let (ns_before, cluster_before) = (s.namespace("shop").unwrap(), s.cluster().unwrap());
    let svc = ObjectId::new(ObjectKind::Service, Some("shop"), "web");
    let crb = ObjectId::new(ObjectKind::ClusterRoleBinding, None, "admins");
    assert!(s.set_object_penalty(&svc, Penalty(24)));
    assert!(!s.set_object_penalty(&svc, Penalty(24)));
    assert!(s.set_object_penalty(&crb, Penalty(72)));
    let ns = s.namespace("shop").unwrap();
    assert_eq!(ns.penalty(), ns_before.penalty() + Penalty(24));
    assert_eq!(ns.pods(), ns_before.pods(), "an object adds no pod");
    assert_eq!(
        s.cluster().unwrap().penalty(),
        cluster_before.penalty() + Penalty(96)
    );
    let listed: Vec<(&str, Aggregate)> = s.namespaces().collect();
    assert_eq!(listed[0].1.score(), Some(ns));
    assert!(s.set_object_penalty(&svc, Penalty(0)));
    assert!(s.set_object_penalty(&crb, Penalty(0)));
    assert_eq!(s.namespace("shop"), Some(ns_before));
    assert_eq!(s.cluster(), Some(cluster_before));
    assert_eq!(s.penalised_namespaces().count(), 0);
}
