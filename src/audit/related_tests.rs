//! The audit with cross-resource checks: findings on workloads and on other objects, how
//! each counts in the scores, and findings that related objects settle.

use serde_json::json;

use super::*;
use crate::facts::WorkloadKind;
use crate::manifests::parse_bytes;
use crate::testing::{deployment, pod, policy_with, workload};

const NOW: &str = "2026-06-01T00:00:00Z";

fn auditor_with(ids: &[CheckId]) -> Auditor {
    Auditor::new(
        policy_with(ids),
        "test".into(),
        NamespaceExclusions::default(),
        None,
        NOW.parse().unwrap(),
    )
}

fn read(file: &str, yaml: &str) -> crate::manifests::Input {
    let mut input = crate::manifests::Input::default();
    parse_bytes(yaml.as_bytes(), file, &mut input);
    input
}

fn audit(ids: &[CheckId], yaml: &str) -> AuditReport {
    let mut a = auditor_with(ids);
    audit_input(&mut a, read("all.yaml", yaml));
    a.finish()
}

fn checks_of(r: &AuditReport, object: &str) -> Vec<CheckId> {
    let entry = r
        .workloads
        .iter()
        .find(|w| w.object.to_string() == object)
        .unwrap_or_else(|| {
            panic!(
                "{object} not in {:?}",
                r.workloads
                    .iter()
                    .map(|w| w.object.to_string())
                    .collect::<Vec<_>>()
            )
        });
    entry.findings.iter().map(|f| f.check).collect()
}

/// The worked example of docs/scoring.md.
const SHOP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example.com/web:1.0"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: "registry.example.com/api:1.0"}]
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: shop}
spec:
  selector: {app: billing}
  ports: [{port: 80}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: ci, namespace: shop}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
"#;

const SHOP_CHECKS: [CheckId; 3] = [
    CheckId::MissingNetworkPolicy,
    CheckId::ServiceSelectorMatchesNothing,
    CheckId::ClusterAdminBinding,
];

#[test]
fn findings_attach_to_the_object_they_are_about_wherever_the_related_object_comes() {
    let r = audit(&SHOP_CHECKS, SHOP);
    // The NetworkPolicy comes last in the stream and still covers web.
    assert_eq!(checks_of(&r, "shop/Deployment/web"), []);
    assert_eq!(
        checks_of(&r, "shop/Deployment/api"),
        [CheckId::MissingNetworkPolicy]
    );
    assert_eq!(
        checks_of(&r, "shop/Service/legacy"),
        [CheckId::ServiceSelectorMatchesNothing]
    );
    assert_eq!(
        checks_of(&r, "ClusterRoleBinding/ci-admin"),
        [CheckId::ClusterAdminBinding]
    );
    assert_eq!(r.total_findings, 3);
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
}

#[test]
fn other_objects_add_their_penalty_but_no_pod() {
    let r = audit(&SHOP_CHECKS, SHOP);
    // shop: (api 2 + Service 2) / 2 pods; the cluster adds the binding's 6.
    assert_eq!(r.workloads_analyzed, 2);
    let shop = r.namespaces.iter().find(|n| n.name == "shop").unwrap();
    assert_eq!((shop.workloads, shop.findings), (2, 2));
    assert_eq!(shop.score.to_string(), "98.0");
    assert_eq!(r.cluster_score.unwrap().to_string(), "95.0");
}

#[test]
fn related_objects_of_checks_that_are_off_are_listed_as_not_judged() {
    let r = audit(&[CheckId::LatestTag], SHOP);
    let reasons: Vec<&str> = r.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons, ["kind has no pod template"; 3]);
    assert_eq!(r.workloads.len(), 2);
}

#[test]
fn a_namespace_filter_leaves_out_cluster_scoped_objects_but_still_resolves_them() {
    let yaml = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ci, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects: [{kind: ServiceAccount, name: ci}]
"#;
    let mut a = Auditor::new(
        policy_with(&[
            CheckId::SecretsReadableByServiceAccount,
            CheckId::RoleWildcard,
        ]),
        "test".into(),
        NamespaceExclusions::default(),
        Some("shop".into()),
        NOW.parse().unwrap(),
    );
    audit_input(&mut a, read("rbac.yaml", yaml));
    let r = a.finish();
    let listed: Vec<String> = r.workloads.iter().map(|w| w.object.to_string()).collect();
    assert_eq!(listed, ["shop/RoleBinding/ci"]);
    assert_eq!(
        checks_of(&r, "shop/RoleBinding/ci"),
        [CheckId::SecretsReadableByServiceAccount]
    );
}

#[test]
fn related_objects_in_excluded_namespaces_are_not_judged() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: kube-system}
spec: {selector: {k8s-app: missing}}
"#;
    let r = audit(&[CheckId::ServiceSelectorMatchesNothing], yaml);
    assert!(r.workloads.is_empty());
    assert_eq!(r.skipped[0].reason, "namespace is excluded");
}

#[test]
fn an_autoscaler_later_in_the_stream_settles_missing_replicas_and_the_score() {
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example.com/web:1.0"}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 3
  maxReplicas: 10
"#;
    let without = audit(
        &[CheckId::DeploymentMissingReplicas],
        &yaml[..yaml.find("---").unwrap()],
    );
    assert_eq!(without.counts.get("deploymentMissingReplicas"), Some(&1));
    assert_eq!(without.cluster_score.unwrap().to_string(), "98.0");
    let with = audit(&[CheckId::DeploymentMissingReplicas], yaml);
    assert_eq!(checks_of(&with, "shop/Deployment/web"), []);
    assert_eq!(with.counts.get("deploymentMissingReplicas"), None);
    assert_eq!(with.total_findings, 0);
    assert_eq!(with.cluster_score.unwrap().to_string(), "100.0");
}

#[test]
fn a_service_account_that_opts_out_settles_automount_offline() {
    let yaml = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
automountServiceAccountToken: false
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  serviceAccountName: web
  containers: [{name: web, image: "registry.example.com/web:1.0"}]
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: shop}
spec:
  containers: [{name: web, image: "registry.example.com/web:1.0"}]
"#;
    let r = audit(&[CheckId::AutomountServiceAccountToken], yaml);
    assert_eq!(checks_of(&r, "shop/Pod/web"), []);
    assert_eq!(
        checks_of(&r, "shop/Pod/other"),
        [CheckId::AutomountServiceAccountToken]
    );
}

mod cluster {
    use super::*;
    use crate::cross::Related;
    use crate::testing::with_uid;
    use k8s_openapi::api::networking::v1::NetworkPolicy;

    fn live(n: usize) -> (Vec<PodFacts>, Vec<PodFacts>) {
        live_in("a", "web", n)
    }

    fn live_in(ns: &str, name: &str, n: usize) -> (Vec<PodFacts>, Vec<PodFacts>) {
        let rs_name = format!("{name}-1");
        let deploy = with_uid(
            deployment(name).ns(ns).replicas(Some(1)).facts(),
            &format!("uid-{name}"),
            None,
        );
        let rs = with_uid(
            workload(WorkloadKind::ReplicaSet, &rs_name).ns(ns).facts(),
            &format!("uid-{rs_name}"),
            Some(("Deployment", name)),
        );
        let pods = (0..n)
            .map(|i| {
                pod(&format!("{rs_name}-{i}"))
                    .ns(ns)
                    .owned_by("ReplicaSet", &rs_name)
                    .status("Running", 0)
                    .facts()
            })
            .collect();
        (vec![deploy, rs], pods)
    }

    #[test]
    fn a_workloads_own_and_related_findings_count_once_per_live_pod() {
        let (workloads, pods) = live(2);
        let mut a = auditor_with(&[
            CheckId::DeploymentMissingReplicas,
            CheckId::MissingNetworkPolicy,
        ]);
        audit_cluster(&mut a, &workloads, &pods, Vec::new());
        let r = a.finish();
        assert_eq!(
            checks_of(&r, "a/Deployment/web"),
            [
                CheckId::DeploymentMissingReplicas,
                CheckId::MissingNetworkPolicy
            ]
        );
        // (2 + 2) for each of the two pods, over two pods.
        assert_eq!(r.workloads_analyzed, 2);
        assert_eq!(r.cluster_score.unwrap().to_string(), "96.0");
    }

    #[test]
    fn a_listed_network_policy_clears_the_finding_from_every_pod() {
        let (workloads, pods) = live(3);
        let policy: NetworkPolicy = serde_json::from_value(json!({
            "metadata": {"name": "deny", "namespace": "a"},
            "spec": {"podSelector": {}}
        }))
        .unwrap();
        let mut a = auditor_with(&[CheckId::MissingNetworkPolicy]);
        audit_cluster(&mut a, &workloads, &pods, vec![policy.related()]);
        let r = a.finish();
        assert_eq!(checks_of(&r, "a/Deployment/web"), []);
        assert_eq!(r.cluster_score.unwrap().to_string(), "100.0");
    }

    #[test]
    fn a_check_only_a_namespaces_policy_turns_on_is_judged_there_and_only_there() {
        use crate::policy::crd::{CheckSettings, DevOpsPolicySpec};
        let (mut workloads, mut pods) = live_in("a", "web", 2);
        let (more_workloads, more_pods) = live_in("b", "api", 2);
        workloads.extend(more_workloads);
        pods.extend(more_pods);
        let spec = DevOpsPolicySpec {
            checks: Some([("missingNetworkPolicy".to_owned(), CheckSettings::default())].into()),
            ..DevOpsPolicySpec::default()
        };
        let set = PolicySet::new(policy_with(&[]), "test", NamespaceExclusions::default())
            .with_policies([("a", "p", &spec)]);
        let mut a = auditor_with(&[]).with_policies(set);
        audit_cluster(&mut a, &workloads, &pods, Vec::new());
        let r = a.finish();
        assert_eq!(
            checks_of(&r, "a/Deployment/web"),
            [CheckId::MissingNetworkPolicy]
        );
        assert_eq!(checks_of(&r, "b/Deployment/api"), []);
    }

    #[test]
    fn a_workload_without_pods_is_listed_but_adds_nothing() {
        let (workloads, _) = live(0);
        let mut a = auditor_with(&[CheckId::MissingNetworkPolicy]);
        audit_cluster(&mut a, &workloads, &[], Vec::new());
        let r = a.finish();
        assert_eq!(
            checks_of(&r, "a/Deployment/web"),
            [CheckId::MissingNetworkPolicy]
        );
        assert_eq!(r.cluster_score, None);
    }
}
