//! Slim decoding of related objects gives the facts of the typed decoding.

use serde_json::{Value, json};

use super::*;
use crate::cross::related_from_json;

fn noisy(mut v: Value) -> Value {
    v["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Apply",
        "fieldsV1": {"f:spec": {}}}]);
    v["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "kube-devops.io/ignore": "missingNetworkPolicy"
    });
    v["metadata"]["uid"] = json!("u-1");
    v["metadata"]["resourceVersion"] = json!("42");
    v["status"] = json!({"anything": [1, 2, 3]});
    v
}

fn same<K: SlimKind>(v: Value) {
    let v = noisy(v);
    let typed = related_from_json(v.clone()).unwrap().unwrap();
    let slim: SlimRelated<K> = serde_json::from_value(v).unwrap();
    assert_eq!(slim.related, typed);
    let meta = kube::Resource::meta(&slim);
    assert_eq!(meta.resource_version.as_deref(), Some("42"));
    assert_eq!(meta.uid.as_deref(), Some("u-1"));
    assert!(meta.managed_fields.is_none() && meta.annotations.is_none());
}

#[test]
fn every_kind_reads_slim_as_it_reads_typed() {
    let ns = |api: &str, kind: &str, rest: Value| {
        let mut v = json!({"apiVersion": api, "kind": kind,
            "metadata": {"name": "x", "namespace": "shop", "labels": {"a": "b"}}});
        for (k, val) in rest.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    same::<PodDisruptionBudget>(ns(
        "policy/v1",
        "PodDisruptionBudget",
        json!({"spec": {
        "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
        "minAvailable": "50%", "unhealthyPodEvictionPolicy": "AlwaysAllow"}}),
    ));
    same::<PodDisruptionBudget>(ns("policy/v1", "PodDisruptionBudget", json!({})));
    same::<HorizontalPodAutoscaler>(ns(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        json!({"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2, "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}]}}),
    ));
    same::<NetworkPolicy>(ns(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        json!({"spec": {
        "podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}}),
    ));
    same::<NetworkPolicy>(ns(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        json!({"spec": {"podSelector": {}}}),
    ));
    same::<Service>(ns(
        "v1",
        "Service",
        json!({"spec": {"selector": {"app": "web"},
        "ports": [{"port": 80}], "type": "ClusterIP"}}),
    ));
    same::<Service>(ns(
        "v1",
        "Service",
        json!({"spec": {"type": "ExternalName", "externalName": "a.example"}}),
    ));
    same::<Ingress>(ns(
        "networking.k8s.io/v1",
        "Ingress",
        json!({"spec": {
        "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
        "rules": [{"host": "a.example", "http": {"paths": []}}, {"http": {"paths": []}}],
        "tls": [{"hosts": ["a.example"], "secretName": "tls"}, {}]}}),
    ));
    same::<ServiceAccount>(ns(
        "v1",
        "ServiceAccount",
        json!({"automountServiceAccountToken": false,
        "secrets": [{"name": "t"}]}),
    ));
    same::<Role>(ns(
        "rbac.authorization.k8s.io/v1",
        "Role",
        json!({"rules": [
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"], "resourceNames": ["p"]}]}),
    ));
    let cluster = |kind: &str, rest: Value| {
        let mut v = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
            "metadata": {"name": "system:x", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}});
        for (k, val) in rest.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    same::<ClusterRole>(cluster(
        "ClusterRole",
        json!({"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    ));
    same::<ClusterRole>(cluster(
        "ClusterRole",
        json!({"aggregationRule": {"clusterRoleSelectors": []}}),
    ));
    let subjects = json!([{"kind": "ServiceAccount", "name": "app", "namespace": "shop"},
                          {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}]);
    same::<RoleBinding>(ns(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        json!({
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": subjects.clone()}),
    ));
    same::<ClusterRoleBinding>(cluster(
        "ClusterRoleBinding",
        json!({
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": subjects}),
    ));
}
