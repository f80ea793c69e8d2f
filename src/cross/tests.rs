//! The cross-resource index: each check's verdicts, and that applying and deleting
//! objects changes exactly the affected subjects' findings.

use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::checks::CheckId;
use crate::facts::facts_from_json;
use crate::policy::crd::CheckSettings;
use crate::policy::exemptions::IGNORE;
use crate::policy::{DevOpsPolicySpec, NamespaceExclusions};
use crate::testing::{ObjectBuilder, deployment, pod, workload};

const NS: &str = "shop";

fn every_related_check() -> EffectivePolicy {
    let checks = CheckId::ALL
        .iter()
        .filter(|id| id.spec().scope == Scope::Related)
        .map(|id| (id.as_str().to_owned(), CheckSettings::default()))
        .collect();
    EffectivePolicy::from_spec(&DevOpsPolicySpec {
        checks: Some(checks),
        ..DevOpsPolicySpec::default()
    })
    .unwrap()
}

struct Fixture {
    index: CrossIndex,
    policy: EffectivePolicy,
    exclusions: NamespaceExclusions,
}

fn fixture() -> Fixture {
    Fixture {
        index: CrossIndex::new(),
        policy: every_related_check(),
        exclusions: NamespaceExclusions::default(),
    }
}

impl Fixture {
    fn workload(&mut self, b: ObjectBuilder) -> ObjectId {
        let facts = facts_from_json(b.ns(NS).build()).unwrap().unwrap();
        self.index.apply_workload(&facts);
        ObjectId::from(&facts.object)
    }

    fn object(&mut self, value: Value) -> Vec<ObjectId> {
        let object = related_from_json(value).unwrap().unwrap();
        self.index.apply(object)
    }

    /// The checks that fire on `subject`, sorted.
    fn checks(&self, subject: &ObjectId) -> Vec<CheckId> {
        let judge = Judge {
            policy: &self.policy,
            exclusions: &self.exclusions,
            now: "2026-06-01T00:00:00Z".parse().unwrap(),
        };
        let mut ids: Vec<CheckId> = self
            .index
            .findings(subject, &judge)
            .into_iter()
            .map(|f| f.check)
            .collect();
        ids.sort();
        ids
    }

    fn fires(&self, subject: &ObjectId, check: CheckId) -> bool {
        self.checks(subject).contains(&check)
    }
}

fn pdb(name: &str, selector: Value, budget: Value) -> Value {
    let mut spec = json!({"selector": selector});
    for (k, v) in budget.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

fn hpa(name: &str, target: &str, min: Option<i32>, max: i32) -> Value {
    let mut spec = json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                          "maxReplicas": max});
    if let Some(min) = min {
        spec["minReplicas"] = json!(min);
    }
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

fn web_pdb(budget: Value) -> Value {
    pdb("web", json!({"matchLabels": {"app": "web"}}), budget)
}

// ---------------------------------------------------------------------------------------
// Disruption budgets and autoscalers

#[test]
fn adding_a_pdb_clears_the_missing_pdb_finding_and_deleting_it_brings_it_back() {
    let mut f = fixture();
    let web = f.workload(deployment("web").replicas(Some(3)));
    assert!(f.fires(&web, CheckId::MissingPodDisruptionBudget));
    let affected = f.object(web_pdb(json!({"maxUnavailable": 1})));
    assert_eq!(affected, std::slice::from_ref(&web));
    assert!(!f.fires(&web, CheckId::MissingPodDisruptionBudget));
    let id = ObjectId::new(ObjectKind::PodDisruptionBudget, Some(NS), "web");
    assert_eq!(f.index.delete(&id), std::slice::from_ref(&web));
    assert!(f.fires(&web, CheckId::MissingPodDisruptionBudget));
}

#[rstest]
#[case::one_replica(Some(1), None, false)]
#[case::replicas_absent_is_one(None, None, false)]
#[case::two_replicas(Some(2), None, true)]
#[case::one_replica_autoscaled_to_three(Some(1), Some(3), true)]
#[case::autoscaler_that_stays_at_one(Some(3), Some(1), false)]
fn missing_pdb_judges_workloads_that_can_run_two_replicas(
    #[case] replicas: Option<i32>,
    #[case] hpa_max: Option<i32>,
    #[case] fires: bool,
) {
    let mut f = fixture();
    let web = f.workload(deployment("web").replicas(replicas));
    if let Some(max) = hpa_max {
        f.object(hpa("web", "web", Some(1), max));
    }
    assert_eq!(f.fires(&web, CheckId::MissingPodDisruptionBudget), fires);
}

#[rstest]
#[case::daemonset(WorkloadKind::DaemonSet)]
#[case::job(WorkloadKind::Job)]
#[case::cronjob(WorkloadKind::CronJob)]
#[case::pod(WorkloadKind::Pod)]
fn kinds_without_replicas_never_need_a_pdb(#[case] kind: WorkloadKind) {
    let mut f = fixture();
    let w = f.workload(workload(kind, "web"));
    assert!(!f.fires(&w, CheckId::MissingPodDisruptionBudget));
    assert!(!f.fires(&w, CheckId::PdbDisruptionsIsZero));
}

#[rstest]
#[case::statefulset(WorkloadKind::StatefulSet)]
#[case::replicaset(WorkloadKind::ReplicaSet)]
#[case::replication_controller(WorkloadKind::ReplicationController)]
fn every_replicated_kind_needs_a_pdb(#[case] kind: WorkloadKind) {
    let mut f = fixture();
    let w = f.workload(workload(kind, "web"));
    assert!(f.fires(&w, CheckId::MissingPodDisruptionBudget));
}

#[test]
fn a_pdb_must_select_the_pods_with_every_requirement() {
    let mut f = fixture();
    let web = f.workload(deployment("web").label("tier", "front"));
    f.object(pdb(
        "other",
        json!({"matchLabels": {"app": "web", "tier": "back"}}),
        json!({"maxUnavailable": 1}),
    ));
    assert!(f.fires(&web, CheckId::MissingPodDisruptionBudget));
    f.object(pdb(
        "expr",
        json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}),
        json!({"maxUnavailable": 1}),
    ));
    assert!(!f.fires(&web, CheckId::MissingPodDisruptionBudget));
}

#[rstest]
#[case::max_unavailable_zero(json!({"maxUnavailable": 0}), 3, true)]
#[case::max_unavailable_zero_percent(json!({"maxUnavailable": "0%"}), 3, true)]
#[case::max_unavailable_one(json!({"maxUnavailable": 1}), 3, false)]
#[case::max_unavailable_percent_rounds_up(json!({"maxUnavailable": "10%"}), 3, false)]
#[case::min_available_all(json!({"minAvailable": 3}), 3, true)]
#[case::min_available_more_than_all(json!({"minAvailable": 5}), 3, true)]
#[case::min_available_one_less(json!({"minAvailable": 2}), 3, false)]
#[case::min_available_hundred_percent(json!({"minAvailable": "100%"}), 3, true)]
#[case::min_available_percent_rounds_up(json!({"minAvailable": "67%"}), 3, true)]
#[case::min_available_half(json!({"minAvailable": "50%"}), 3, false)]
#[case::min_available_one_of_one(json!({"minAvailable": 1}), 1, true)]
#[case::no_budget_fields(json!({}), 3, false)]
fn pdb_disruptions_follow_the_disruption_controller(
    #[case] budget: Value,
    #[case] replicas: i32,
    #[case] fires: bool,
) {
    let mut f = fixture();
    let web = f.workload(deployment("web").replicas(Some(replicas)));
    f.object(web_pdb(budget));
    assert_eq!(f.fires(&web, CheckId::PdbDisruptionsIsZero), fires);
}

#[rstest]
#[case::above_min(3, true, false)]
#[case::equal_to_min(2, false, true)]
#[case::below_min(1, false, false)]
fn min_available_above_the_autoscaler_minimum_is_its_own_finding(
    #[case] min_available: i32,
    #[case] greater: bool,
    #[case] zero: bool,
) {
    let mut f = fixture();
    let web = f.workload(deployment("web").replicas(None));
    f.object(hpa("web", "web", Some(2), 6));
    f.object(web_pdb(json!({"minAvailable": min_available})));
    assert_eq!(
        f.fires(&web, CheckId::PdbMinAvailableGreaterThanHpaMinReplicas),
        greater
    );
    assert_eq!(f.fires(&web, CheckId::PdbDisruptionsIsZero), zero);
}

#[rstest]
#[case::defaults_to_one(None, 1, true, true)]
#[case::one_to_five(Some(1), 5, false, true)]
#[case::two_to_two(Some(2), 2, true, false)]
#[case::two_to_five(Some(2), 5, false, false)]
fn autoscaler_bounds_are_judged_on_their_target(
    #[case] min: Option<i32>,
    #[case] max: i32,
    #[case] max_fires: bool,
    #[case] min_fires: bool,
) {
    let mut f = fixture();
    let web = f.workload(deployment("web"));
    let affected = f.object(hpa("web-hpa", "web", min, max));
    assert_eq!(affected, std::slice::from_ref(&web));
    assert_eq!(f.fires(&web, CheckId::HpaMaxAvailability), max_fires);
    assert_eq!(f.fires(&web, CheckId::HpaMinAvailability), min_fires);
    let other = f.workload(deployment("api"));
    assert!(!f.fires(&other, CheckId::HpaMinAvailability));
}

// ---------------------------------------------------------------------------------------
// Network policies, Services, Ingresses

fn netpol(name: &str, selector: Value, types: Option<Value>) -> Value {
    let mut spec = json!({"podSelector": selector});
    if let Some(t) = types {
        spec["policyTypes"] = t;
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

#[rstest]
#[case::none(None, true, 0)]
#[case::default_deny_all(Some(netpol("deny", json!({}), None)), false, 4)]
#[case::selecting_the_pods(Some(netpol("web", json!({"matchLabels": {"app": "web"}}), Some(json!(["Ingress"])))), false, 4)]
#[case::selecting_other_pods(Some(netpol("db", json!({"matchLabels": {"app": "db"}}), None)), true, 0)]
#[case::egress_only(Some(netpol("out", json!({}), Some(json!(["Egress"])))), true, 4)]
#[case::ingress_and_egress(Some(netpol("both", json!({}), Some(json!(["Ingress", "Egress"])))), false, 4)]
fn missing_network_policy_needs_an_ingress_policy_selecting_the_pods(
    #[case] policy: Option<Value>,
    #[case] fires: bool,
    #[case] affects: usize,
) {
    let mut f = fixture();
    let kinds = [
        WorkloadKind::Deployment,
        WorkloadKind::DaemonSet,
        WorkloadKind::CronJob,
        WorkloadKind::Pod,
    ];
    let ids: Vec<ObjectId> = kinds
        .iter()
        .map(|k| f.workload(workload(*k, "web")))
        .collect();
    if let Some(p) = policy {
        // Only the workloads a policy selects are re-judged.
        assert_eq!(f.object(p).len(), affects);
    }
    for id in &ids {
        assert_eq!(f.fires(id, CheckId::MissingNetworkPolicy), fires, "{id}");
    }
}

fn service(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

#[test]
fn a_service_selecting_no_workload_is_found_until_the_workload_appears() {
    let mut f = fixture();
    let svc = f.object(service(
        "web",
        json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}),
    ));
    assert!(f.fires(&svc[0], CheckId::ServiceSelectorMatchesNothing));
    let affected = f.index.apply_workload(&deployment("web").ns(NS).facts());
    assert!(affected.contains(&svc[0]), "{affected:?}");
    assert!(!f.fires(&svc[0], CheckId::ServiceSelectorMatchesNothing));
    let web = ObjectId::new(
        ObjectKind::Workload(WorkloadKind::Deployment),
        Some(NS),
        "web",
    );
    assert_eq!(f.index.delete_workload(&web), svc);
    assert!(f.fires(&svc[0], CheckId::ServiceSelectorMatchesNothing));
}

#[rstest]
#[case::no_selector(json!({"ports": [{"port": 80}]}))]
#[case::empty_selector(json!({"selector": {}}))]
#[case::external_name(json!({"type": "ExternalName", "externalName": "db.example.com", "selector": {"app": "x"}}))]
fn services_without_a_managed_selector_are_not_judged(#[case] spec: Value) {
    let mut f = fixture();
    let svc = f.object(service("ext", spec));
    assert_eq!(f.checks(&svc[0]), []);
}

#[test]
fn a_service_in_another_namespace_does_not_match() {
    let mut f = fixture();
    f.index
        .apply_workload(&deployment("web").ns("other").facts());
    let svc = f.object(service("web", json!({"selector": {"app": "web"}})));
    assert!(f.fires(&svc[0], CheckId::ServiceSelectorMatchesNothing));
}

fn ingress(rules: Value, tls: Option<Value>) -> Value {
    let mut spec = json!({"rules": rules});
    if let Some(t) = tls {
        spec["tls"] = t;
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": "web", "namespace": NS}, "spec": spec})
}

#[rstest]
#[case::no_tls(json!([{"host": "shop.example.com"}]), None, true)]
#[case::tls_for_the_host(json!([{"host": "shop.example.com"}]), Some(json!([{"hosts": ["shop.example.com"], "secretName": "tls"}])), false)]
#[case::host_case_differs(json!([{"host": "Shop.Example.com"}]), Some(json!([{"hosts": ["shop.example.com"]}])), false)]
#[case::wildcard_covers_one_label(json!([{"host": "shop.example.com"}]), Some(json!([{"hosts": ["*.example.com"]}])), false)]
#[case::wildcard_not_two_labels(json!([{"host": "a.shop.example.com"}]), Some(json!([{"hosts": ["*.example.com"]}])), true)]
#[case::second_host_uncovered(json!([{"host": "shop.example.com"}, {"host": "admin.example.com"}]), Some(json!([{"hosts": ["shop.example.com"]}])), true)]
#[case::tls_without_hosts_covers_all(json!([{"host": "shop.example.com"}, {}]), Some(json!([{"secretName": "default"}])), false)]
#[case::hostless_rule_with_host_tls(json!([{}]), Some(json!([{"hosts": ["shop.example.com"]}])), true)]
fn ingress_tls_must_cover_every_host(
    #[case] rules: Value,
    #[case] tls: Option<Value>,
    #[case] fires: bool,
) {
    let mut f = fixture();
    let ing = f.object(ingress(rules, tls));
    assert_eq!(f.fires(&ing[0], CheckId::IngressTlsMissing), fires);
}

// ---------------------------------------------------------------------------------------
// RBAC

fn role(kind: &str, name: &str, rules: Value) -> Value {
    let mut v = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                       "metadata": {"name": name}, "rules": rules});
    if kind == "Role" {
        v["metadata"]["namespace"] = json!(NS);
    }
    v
}

fn binding(kind: &str, name: &str, role_kind: &str, role: &str, subjects: Value) -> Value {
    let mut v = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                       "metadata": {"name": name},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
                       "subjects": subjects});
    if kind == "RoleBinding" {
        v["metadata"]["namespace"] = json!(NS);
    }
    v
}

fn sa(name: &str, ns: &str) -> Value {
    json!([{"kind": "ServiceAccount", "name": name, "namespace": ns}])
}

#[rstest]
#[case::wildcard_verbs(json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]), vec![CheckId::RoleWildcard])]
#[case::wildcard_resources(json!([{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}]), vec![CheckId::RoleWildcard])]
#[case::wildcard_subresource(json!([{"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}]), vec![CheckId::RoleWildcard])]
#[case::exec(json!([{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]), vec![CheckId::PodExecAttachAllowed])]
#[case::attach_by_get(json!([{"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["get"]}]), vec![CheckId::PodExecAttachAllowed])]
#[case::every_pod_subresource(json!([{"apiGroups": [""], "resources": ["pods/*"], "verbs": ["create"]}]), vec![CheckId::PodExecAttachAllowed])]
#[case::everything(json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]), vec![CheckId::RoleWildcard, CheckId::PodExecAttachAllowed])]
#[case::reader(json!([{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]), vec![])]
#[case::wildcard_group_only(json!([{"apiGroups": ["*"], "resources": ["deployments"], "verbs": ["get"]}]), vec![])]
fn role_rules_are_judged(#[case] rules: Value, #[case] want: Vec<CheckId>) {
    for kind in ["Role", "ClusterRole"] {
        let mut f = fixture();
        let id = f.object(role(kind, "custom", rules.clone()));
        assert_eq!(f.checks(&id[0]), want, "{kind}");
    }
}

#[test]
fn roles_kubernetes_maintains_are_not_judged() {
    let mut f = fixture();
    let all = json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]);
    let system = f.object(role("ClusterRole", "system:controller:foo", all.clone()));
    let mut bootstrap = role("ClusterRole", "cluster-admin", all.clone());
    bootstrap["metadata"]["labels"] = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    let bootstrap = f.object(bootstrap);
    let mut aggregated = role("ClusterRole", "monitoring", all);
    aggregated["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]});
    let aggregated = f.object(aggregated);
    for id in [system, bootstrap, aggregated] {
        assert_eq!(f.checks(&id[0]), []);
    }
}

#[rstest]
#[case::user(json!([{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]), true)]
#[case::service_account(sa("ci", NS), true)]
#[case::masters_group(json!([{"kind": "Group", "name": "system:masters", "apiGroup": "rbac.authorization.k8s.io"}]), false)]
#[case::every_service_account(json!([{"kind": "Group", "name": "system:serviceaccounts", "apiGroup": "rbac.authorization.k8s.io"}]), true)]
#[case::kube_system_account(sa("addon", "kube-system"), false)]
#[case::no_subject(json!([]), false)]
fn cluster_admin_bindings_other_than_the_system_ones_are_found(
    #[case] subjects: Value,
    #[case] fires: bool,
) {
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        let mut f = fixture();
        let id = f.object(binding(
            kind,
            "admins",
            "ClusterRole",
            "cluster-admin",
            subjects.clone(),
        ));
        assert_eq!(
            f.fires(&id[0], CheckId::ClusterAdminBinding),
            fires,
            "{kind}"
        );
    }
}

#[test]
fn bindings_kubernetes_maintains_are_not_judged() {
    let mut f = fixture();
    let users = json!([{"kind": "User", "name": "alice"}]);
    let system = f.object(binding(
        "ClusterRoleBinding",
        "system:x",
        "ClusterRole",
        "cluster-admin",
        users.clone(),
    ));
    let kubeadm = f.object(binding(
        "ClusterRoleBinding",
        "kubeadm:cluster-admins",
        "ClusterRole",
        "cluster-admin",
        users,
    ));
    assert_eq!(f.checks(&system[0]), []);
    assert_eq!(f.checks(&kubeadm[0]), []);
}

#[test]
fn a_binding_reading_secrets_follows_its_role_as_it_changes() {
    let mut f = fixture();
    let b = f.object(binding(
        "RoleBinding",
        "ci",
        "Role",
        "deployer",
        sa("ci", NS),
    ));
    // The role is unknown: nothing can be said.
    assert!(!f.fires(&b[0], CheckId::SecretsReadableByServiceAccount));
    let reads = json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]);
    let affected = f.object(role("Role", "deployer", reads));
    assert!(affected.contains(&b[0]), "{affected:?}");
    assert!(f.fires(&b[0], CheckId::SecretsReadableByServiceAccount));
    let named = json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["ci-token"], "verbs": ["get"]}]);
    let affected = f.object(role("Role", "deployer", named));
    assert!(affected.contains(&b[0]));
    assert!(!f.fires(&b[0], CheckId::SecretsReadableByServiceAccount));
}

#[rstest]
#[case::edit_cluster_role("edit", true)]
#[case::admin_cluster_role("admin", true)]
#[case::cluster_admin("cluster-admin", true)]
#[case::view_cluster_role("view", false)]
#[case::unknown_cluster_role("custom", false)]
fn bootstrap_cluster_roles_are_known_without_being_read(#[case] role: &str, #[case] fires: bool) {
    let mut f = fixture();
    let b = f.object(binding(
        "RoleBinding",
        "ci",
        "ClusterRole",
        role,
        sa("ci", NS),
    ));
    assert_eq!(
        f.fires(&b[0], CheckId::SecretsReadableByServiceAccount),
        fires
    );
    let users = f.object(binding(
        "RoleBinding",
        "people",
        "ClusterRole",
        role,
        json!([{"kind": "User", "name": "bob"}]),
    ));
    assert!(!f.fires(&users[0], CheckId::SecretsReadableByServiceAccount));
}

// ---------------------------------------------------------------------------------------
// Refinement, exemptions, exclusions

#[test]
fn a_service_account_that_opts_out_settles_the_automount_finding() {
    let mut f = fixture();
    let quiet = pod("p").pod_field("automountServiceAccountToken", Value::Null);
    let id = f.workload(quiet.clone());
    let findings = |f: &Fixture| {
        let policy = crate::testing::policy_with(&[CheckId::AutomountServiceAccountToken]);
        let mut fs = crate::checks::evaluate(
            &quiet.clone().ns(NS).facts(),
            &policy,
            "2026-06-01T00:00:00Z".parse().unwrap(),
        );
        let removed = f.index.refine(&id, &mut fs);
        (fs.len(), removed.len())
    };
    assert_eq!(findings(&f), (1, 0));
    let affected = f.object(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "app", "namespace": NS}, "automountServiceAccountToken": false}));
    assert_eq!(affected, std::slice::from_ref(&id));
    assert_eq!(findings(&f), (0, 1));
    // A pod that asks for the token explicitly keeps it, whatever its ServiceAccount says.
    let loud = pod("p").pod_field("automountServiceAccountToken", json!(true));
    f.workload(loud.clone());
    let policy = crate::testing::policy_with(&[CheckId::AutomountServiceAccountToken]);
    let mut fs = crate::checks::evaluate(
        &loud.ns(NS).facts(),
        &policy,
        "2026-06-01T00:00:00Z".parse().unwrap(),
    );
    assert!(f.index.refine(&id, &mut fs).is_empty());
    assert_eq!(fs.len(), 1);
}

#[test]
fn an_autoscaler_settles_the_missing_replicas_finding() {
    let mut f = fixture();
    let b = deployment("web").replicas(None);
    let id = f.workload(b.clone());
    let policy = crate::testing::policy_with(&[CheckId::DeploymentMissingReplicas]);
    let judge = |f: &Fixture| {
        let mut fs = crate::checks::evaluate(
            &b.clone().ns(NS).facts(),
            &policy,
            "2026-06-01T00:00:00Z".parse().unwrap(),
        );
        f.index.refine(&id, &mut fs);
        fs.len()
    };
    assert_eq!(judge(&f), 1);
    f.object(hpa("web", "web", Some(2), 5));
    assert_eq!(judge(&f), 0);
}

#[test]
fn exemptions_on_the_workload_skip_its_cross_resource_findings() {
    let mut f = fixture();
    let web = f.workload(deployment("web").annotation(IGNORE, "missingPodDisruptionBudget"));
    let judge = Judge {
        policy: &f.policy,
        exclusions: &f.exclusions,
        now: "2026-06-01T00:00:00Z".parse().unwrap(),
    };
    let findings = f.index.findings(&web, &judge);
    let pdb = findings
        .iter()
        .find(|x| x.check == CheckId::MissingPodDisruptionBudget)
        .unwrap();
    assert!(!pdb.is_counted());
    assert!(
        findings
            .iter()
            .any(|x| x.check == CheckId::MissingNetworkPolicy && x.is_counted())
    );
}

#[test]
fn subjects_in_excluded_namespaces_have_no_findings_and_checks_that_are_off_none_either() {
    let mut f = fixture();
    let facts = deployment("dns").ns("kube-system").facts();
    f.index.apply_workload(&facts);
    assert_eq!(f.checks(&ObjectId::from(&facts.object)), []);
    let web = f.workload(deployment("web"));
    f.policy = EffectivePolicy::empty();
    assert_eq!(f.checks(&web), []);
}

#[test]
fn subjects_list_every_judged_object_once() {
    let mut f = fixture();
    f.workload(deployment("web"));
    f.object(service("web", json!({"selector": {"app": "web"}})));
    f.object(web_pdb(json!({"maxUnavailable": 1})));
    f.object(role("ClusterRole", "reader", json!([])));
    let kinds: Vec<ObjectKind> = f.index.subjects().into_iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            ObjectKind::Workload(WorkloadKind::Deployment),
            ObjectKind::Service,
            ObjectKind::ClusterRole
        ]
    );
}

#[test]
fn manifests_of_retired_api_versions_are_not_read() {
    assert_eq!(related_kind("policy/v1beta1", "PodDisruptionBudget"), None);
    assert_eq!(related_kind("extensions/v1beta1", "Ingress"), None);
    assert_eq!(
        related_kind("autoscaling/v1", "HorizontalPodAutoscaler"),
        Some(ObjectKind::HorizontalPodAutoscaler)
    );
    let bad = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                     "metadata": {"name": "x"}, "spec": {"selector": "app=web"}});
    assert!(related_from_json(bad).is_err());
}
