//! The live index: workloads from their pods, and which subjects each pod or related
//! object change re-judges.

use serde_json::json;

use super::*;
use crate::cross::related_from_json;
use crate::policy::NamespaceExclusions;
use crate::testing::{pod, policy_with, with_uid};

const NS: &str = "shop";

/// The checks these tests follow (not `missingNetworkPolicy`, which every workload here
/// would fail).
fn related_checks() -> EffectivePolicy {
    policy_with(&[
        CheckId::MissingPodDisruptionBudget,
        CheckId::PdbDisruptionsIsZero,
        CheckId::ServiceSelectorMatchesNothing,
        CheckId::AutomountServiceAccountToken,
    ])
}

/// A live pod `name` of `app`, controlled by `(kind, owner)`.
fn live_pod(
    name: &str,
    app: &str,
    controller: Option<(&str, &str)>,
    hash: Option<&str>,
) -> PodFacts {
    let mut b = pod(name).ns(NS).label("app", app);
    if let Some(h) = hash {
        b = b.label(TEMPLATE_HASH_LABEL, h);
    }
    with_uid(b.facts(), &format!("uid-pod-{name}"), controller)
}

fn web_pod(name: &str) -> PodFacts {
    live_pod(name, "web", Some(("ReplicaSet", "web-5d8f")), Some("5d8f"))
}

fn web() -> ObjectId {
    ObjectId::new(
        ObjectKind::Workload(WorkloadKind::Deployment),
        Some(NS),
        "web",
    )
}

/// The verdict of `subject` under [`related_checks`].
fn verdict(live: &LiveCross, subject: &ObjectId) -> Verdict {
    let policy = related_checks();
    let exclusions = NamespaceExclusions::default();
    let judge = Judge {
        policy: &policy,
        exclusions: &exclusions,
        now: "2026-06-01T00:00:00Z".parse().unwrap(),
    };
    live.verdict(subject, &judge)
}

fn checks(live: &LiveCross, subject: &ObjectId) -> Vec<CheckId> {
    let mut ids: Vec<CheckId> = verdict(live, subject)
        .findings
        .iter()
        .map(|f| f.check)
        .collect();
    ids.sort();
    ids
}

fn object(v: serde_json::Value) -> RelatedObject {
    related_from_json(v).unwrap().unwrap()
}

fn web_pdb() -> RelatedObject {
    object(
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 1}}),
    )
}

fn pdb_id() -> ObjectId {
    ObjectId::new(ObjectKind::PodDisruptionBudget, Some(NS), "web")
}

#[test]
fn a_pod_belongs_to_its_controller_and_a_deployments_replica_set_to_the_deployment() {
    let cases = [
        (web_pod("a"), web()),
        (
            // Without the hash label the ReplicaSet is its own workload.
            live_pod("b", "web", Some(("ReplicaSet", "web-5d8f")), None),
            ObjectId::new(
                ObjectKind::Workload(WorkloadKind::ReplicaSet),
                Some(NS),
                "web-5d8f",
            ),
        ),
        (
            // A hash that does not end the name is no Deployment's.
            live_pod("c", "web", Some(("ReplicaSet", "web-5d8f")), Some("9999")),
            ObjectId::new(
                ObjectKind::Workload(WorkloadKind::ReplicaSet),
                Some(NS),
                "web-5d8f",
            ),
        ),
        (
            live_pod("db-0", "db", Some(("StatefulSet", "db")), None),
            ObjectId::new(
                ObjectKind::Workload(WorkloadKind::StatefulSet),
                Some(NS),
                "db",
            ),
        ),
        (
            live_pod("bare", "x", None, None),
            ObjectId::new(ObjectKind::Workload(WorkloadKind::Pod), Some(NS), "bare"),
        ),
        (
            live_pod("custom", "x", Some(("Rollout", "r")), None),
            ObjectId::new(ObjectKind::Workload(WorkloadKind::Pod), Some(NS), "custom"),
        ),
    ];
    for (facts, want) in cases {
        assert_eq!(
            workload_of(&facts, &facts.object.name),
            want,
            "{}",
            facts.object.name
        );
    }
}

#[test]
fn a_second_live_pod_makes_a_deployment_need_a_pdb_and_the_pdb_clears_it() {
    let mut live = LiveCross::new();
    assert_eq!(live.apply_pod(&web_pod("a")), vec![web()]);
    assert!(checks(&live, &web()).is_empty(), "one replica needs no PDB");
    assert_eq!(live.apply_pod(&web_pod("b")), vec![web()]);
    assert_eq!(checks(&live, &web()), [CheckId::MissingPodDisruptionBudget]);
    // The same pod again (a status change) re-judges nothing.
    assert!(live.apply_pod(&web_pod("b")).is_empty());

    assert_eq!(live.apply(web_pdb()), vec![web()]);
    assert!(checks(&live, &web()).is_empty());
    assert_eq!(live.delete(&pdb_id()), vec![web(), pdb_id()]);
    assert_eq!(checks(&live, &web()), [CheckId::MissingPodDisruptionBudget]);

    // Down to one pod: nothing to protect any more.
    assert_eq!(live.delete_pod("uid-pod-b"), vec![web()]);
    assert!(checks(&live, &web()).is_empty());
    // The last pod gone: the workload is forgotten, and still re-judged (to nothing).
    assert_eq!(live.delete_pod("uid-pod-a"), vec![web()]);
    assert_eq!(live.pod_count(), 0);
}

#[test]
fn a_terminated_pod_no_longer_counts_as_a_replica() {
    let mut live = LiveCross::new();
    live.apply_pod(&web_pod("a"));
    live.apply_pod(&web_pod("b"));
    let mut done = web_pod("b");
    done.runtime = Some(crate::facts::PodRuntime {
        phase: Some("Succeeded".into()),
        pending_since: None,
    });
    assert_eq!(live.apply_pod(&done), vec![web()]);
    assert!(checks(&live, &web()).is_empty());
}

#[test]
fn a_relist_prunes_the_objects_and_pods_it_did_not_see_again() {
    let mut live = LiveCross::new();
    live.apply_pod(&web_pod("a"));
    live.apply_pod(&web_pod("b"));
    live.apply(web_pdb());
    assert!(checks(&live, &web()).is_empty());
    // The PDB was deleted while the watch was down: the relist did not list it.
    assert_eq!(
        live.retain(ObjectKind::PodDisruptionBudget, |_| false),
        vec![web(), pdb_id()]
    );
    assert_eq!(checks(&live, &web()), [CheckId::MissingPodDisruptionBudget]);
    // Listed again: nothing changes.
    live.apply(web_pdb());
    assert!(
        live.retain(ObjectKind::PodDisruptionBudget, |id| *id == pdb_id())
            .is_empty()
    );
    // Pods too.
    live.delete(&pdb_id());
    assert_eq!(live.retain_pods(|uid| uid == "uid-pod-a"), vec![web()]);
    assert!(checks(&live, &web()).is_empty());
}

#[test]
fn a_service_follows_the_pods_it_selects() {
    let mut live = LiveCross::new();
    let svc = ObjectId::new(ObjectKind::Service, Some(NS), "web");
    assert_eq!(
        live.apply(object(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"selector": {"app": "web"}}}))),
        vec![svc.clone()]
    );
    assert_eq!(
        checks(&live, &svc),
        [CheckId::ServiceSelectorMatchesNothing]
    );
    let affected = live.apply_pod(&web_pod("a"));
    assert!(affected.contains(&svc), "{affected:?}");
    assert!(checks(&live, &svc).is_empty());
    let affected = live.delete_pod("uid-pod-a");
    assert!(affected.contains(&svc), "{affected:?}");
    assert_eq!(
        checks(&live, &svc),
        [CheckId::ServiceSelectorMatchesNothing]
    );
}

#[test]
fn a_service_account_that_opts_out_settles_its_pods_automount_finding() {
    let mut live = LiveCross::new();
    let mut facts = web_pod("a");
    facts.automount_service_account_token = None;
    live.apply_pod(&facts);
    assert!(verdict(&live, &web()).settled == CheckMask::default());
    let affected = live.apply(object(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "app", "namespace": NS}, "automountServiceAccountToken": false})));
    assert_eq!(affected, vec![web()]);
    assert!(
        verdict(&live, &web())
            .settled
            .contains(CheckId::AutomountServiceAccountToken)
    );
}

#[test]
fn a_relist_forgets_only_its_kind_and_a_stopped_watch_forgets_its_objects() {
    let mut live = LiveCross::new();
    live.apply_pod(&web_pod("a"));
    live.apply_pod(&web_pod("b"));
    let svc = object(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": NS}, "spec": {"selector": {"app": "web"}}}));
    live.apply(svc.clone());
    live.apply(web_pdb());
    live.relist_started(ObjectKind::PodDisruptionBudget);
    live.relisted(web_pdb());
    assert!(live.relist_done(ObjectKind::PodDisruptionBudget).is_empty());
    live.relist_started(ObjectKind::PodDisruptionBudget);
    assert_eq!(
        live.relist_done(ObjectKind::PodDisruptionBudget),
        vec![web(), pdb_id()]
    );
    assert_eq!(
        live.index().ids(ObjectKind::Service),
        vec![svc.id().clone()]
    );
    assert_eq!(live.forget(ObjectKind::Service), vec![svc.id().clone()]);
    assert!(live.index().ids(ObjectKind::Service).is_empty());
}

#[test]
fn the_kinds_watched_are_those_of_every_policy_in_force() {
    use crate::policy::crd::CheckSettings;
    use crate::policy::{DevOpsPolicySpec, PolicySet};
    let none = PolicySet::new(
        EffectivePolicy::default(),
        "default",
        NamespaceExclusions::default(),
    );
    assert!(kinds_needed_by(&none).is_empty());
    let spec = DevOpsPolicySpec {
        checks: Some(
            [(
                "missingPodDisruptionBudget".to_owned(),
                CheckSettings::default(),
            )]
            .into(),
        ),
        ..DevOpsPolicySpec::default()
    };
    let set = none.clone().with_policies([("shop", "p", &spec)]);
    assert_eq!(
        kinds_needed_by(&set),
        [
            ObjectKind::PodDisruptionBudget,
            ObjectKind::HorizontalPodAutoscaler
        ]
        .into()
    );
    let by_default = PolicySet::new(
        policy_with(&[CheckId::ClusterAdminBinding]),
        "test",
        NamespaceExclusions::default(),
    );
    assert_eq!(
        kinds_needed_by(&by_default),
        [ObjectKind::RoleBinding, ObjectKind::ClusterRoleBinding].into()
    );
}

#[test]
fn cluster_scoped_subjects_are_judged_by_the_default_policy_and_namespaced_ones_by_theirs() {
    use crate::policy::crd::CheckSettings;
    use crate::policy::{DevOpsPolicySpec, PolicySet};
    let mut live = LiveCross::new();
    let binding = |kind: &str, ns: Option<&str>| {
        let mut v = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
            "metadata": {"name": "admins"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "User", "name": "alice"}]});
        if let Some(ns) = ns {
            v["metadata"]["namespace"] = json!(ns);
        }
        object(v)
    };
    let crb = binding("ClusterRoleBinding", None);
    let rb = binding("RoleBinding", Some(NS));
    live.apply(crb.clone());
    live.apply(rb.clone());
    let now = "2026-06-01T00:00:00Z".parse().unwrap();
    let fires = |set: &PolicySet, id: &ObjectId| !live.verdict_in(id, set, now).findings.is_empty();
    let default_on = PolicySet::new(
        policy_with(&[CheckId::ClusterAdminBinding]),
        "test",
        NamespaceExclusions::default(),
    );
    assert!(fires(&default_on, crb.id()) && fires(&default_on, rb.id()));
    // A namespace whose DevOpsPolicy turns the check off: its RoleBinding is not judged;
    // the cluster view keeps the default.
    let spec = DevOpsPolicySpec {
        checks: Some([("latestTag".to_owned(), CheckSettings::default())].into()),
        ..DevOpsPolicySpec::default()
    };
    let off_in_shop = default_on.clone().with_policies([(NS, "p", &spec)]);
    assert!(fires(&off_in_shop, crb.id()) && !fires(&off_in_shop, rb.id()));
}
