//! Tests of the generated installation objects.

use std::collections::BTreeSet;

use super::*;
use crate::rbac::{Mode, checks};

/// (group, resource, verb) triples granted by a rule set.
fn granted(set: RuleSet) -> BTreeSet<(String, String, String)> {
    let names = Names {
        tls_secret: "tls",
        webhook_configuration: "hook",
    };
    rules(set, names)
        .into_iter()
        .flat_map(|r| {
            let group = r.api_groups.unwrap_or_default().concat();
            let resources = r.resources.unwrap_or_default();
            r.verbs.into_iter().flat_map(move |v| {
                let group = group.clone();
                resources
                    .clone()
                    .into_iter()
                    .map(move |res| (group.clone(), res, v.clone()))
            })
        })
        .collect()
}

#[test]
fn rule_sets_grant_every_controller_and_enforcement_permission_once_and_nothing_else() {
    let table: BTreeSet<_> = checks(Mode::Controller {
        enforcement: true,
        certificates: true,
    })
    .map(|(verb, p)| (p.group.to_owned(), p.rule_resource(), verb.to_owned()))
    .collect();
    let mut union = BTreeSet::new();
    for set in RuleSet::ALL {
        for triple in granted(set) {
            assert!(union.insert(triple.clone()), "{triple:?} granted twice");
        }
    }
    assert_eq!(union, table);
}

#[test]
fn workload_writes_are_enforcements_and_the_lease_is_namespaced() {
    for (group, resource, verb) in granted(RuleSet::Cluster) {
        assert!(
            !(group == "apps" && verb == "patch"),
            "{verb} on {resource} granted without enforcement"
        );
        assert_ne!(resource, "leases");
    }
    let enforcement = granted(RuleSet::Enforcement);
    assert!(!enforcement.is_empty());
    // Writes, and the `get`s the enforcer makes before it writes (the workload, a pod's
    // ReplicaSet); never a list or a watch, which the controller's rules hold.
    assert!(
        enforcement
            .iter()
            .all(|(_, _, v)| ["get", "create", "update", "patch", "delete"].contains(&v.as_str()))
    );
    assert!(enforcement.iter().any(|(_, _, v)| v == "patch"));
    let lease = granted(RuleSet::LeaderElection);
    assert!(!lease.is_empty());
    assert!(
        lease
            .iter()
            .all(|(g, r, _)| g == "coordination.k8s.io" && r == "leases")
    );
}

fn kinds(objects: &[Value]) -> Vec<(String, String)> {
    objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_owned(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn enforcement_adds_its_cluster_role_and_binding_only_when_enabled() {
    let off = kinds(&rbac_objects(&InstallSettings::default()));
    let on = kinds(&rbac_objects(&InstallSettings {
        enforcement: true,
        ..InstallSettings::default()
    }));
    let extra: Vec<_> = on.iter().filter(|k| !off.contains(k)).cloned().collect();
    assert_eq!(
        extra,
        [
            (
                "ClusterRole".to_owned(),
                "kube-devops-enforcement".to_owned()
            ),
            (
                "ClusterRoleBinding".to_owned(),
                "kube-devops-enforcement".to_owned()
            ),
        ]
    );
    assert_eq!(on.len(), off.len() + 2);
}

#[test]
fn webhook_leaves_out_the_own_and_the_plain_excluded_namespaces() {
    let settings = InstallSettings {
        namespace: "governance".to_owned(),
        exclude_namespaces: vec!["*-system".to_owned(), "vault".to_owned()],
        ..InstallSettings::default()
    };
    let objects = deployment_objects(&settings).unwrap();
    let config = objects
        .iter()
        .find(|o| o["kind"] == "ValidatingWebhookConfiguration")
        .unwrap();
    let hook = &config["webhooks"][0];
    assert_eq!(hook["failurePolicy"], "Ignore");
    assert!(hook["clientConfig"].get("caBundle").is_none());
    assert_eq!(hook["clientConfig"]["service"]["namespace"], "governance");
    let values: Vec<&str> = hook["namespaceSelector"]["matchExpressions"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(values.contains(&"governance"));
    assert!(values.contains(&"vault"));
    assert!(values.contains(&"kube-system"));
    assert!(!values.contains(&"*-system"));
}

#[test]
fn deployment_runs_two_restricted_replicas_with_the_downward_api() {
    let objects = deployment_objects(&InstallSettings::default()).unwrap();
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("valueFrom").is_some())
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(env, ["POD_NAME", "POD_NAMESPACE"]);
    let sc = &container["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    // By default the controller keeps its certificates: read from their Secret, not mounted.
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--manage-certificates"), "{args:?}");
    assert!(container.get("volumeMounts").is_none());
    assert!(pod.get("volumes").is_none());
}

#[test]
fn external_certificates_are_mounted_and_get_no_certificate_rules() {
    let settings = InstallSettings {
        manage_certificates: false,
        ..InstallSettings::default()
    };
    let objects = deployment_objects(&settings).unwrap();
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["volumeMounts"][0]["mountPath"],
        "/etc/kube-devops/tls"
    );
    assert!(
        !container["args"]
            .to_string()
            .contains("--manage-certificates")
    );
    let external = kinds(&rbac_objects(&settings));
    let managed = kinds(&rbac_objects(&InstallSettings::default()));
    let extra: Vec<_> = managed
        .iter()
        .filter(|k| !external.contains(k))
        .map(|(kind, name)| format!("{kind}/{name}"))
        .collect();
    assert_eq!(
        extra,
        [
            "ClusterRole/kube-devops-certificates",
            "ClusterRoleBinding/kube-devops-certificates",
            "Role/kube-devops-certificates",
            "RoleBinding/kube-devops-certificates",
        ]
    );
}

#[test]
fn yaml_stream_has_one_document_per_object() {
    let objects = rbac_objects(&InstallSettings::default());
    let yaml = to_yaml_stream(&objects).unwrap();
    assert_eq!(yaml.matches("---\n").count(), objects.len());
}

#[test]
fn webhook_sends_the_ephemeral_containers_subresource_admission_judges() {
    let objects = deployment_objects(&InstallSettings::default()).unwrap();
    let config = objects
        .iter()
        .find(|o| o["kind"] == "ValidatingWebhookConfiguration")
        .unwrap();
    let core = config["webhooks"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["apiGroups"][0] == "")
        .unwrap();
    let resources: Vec<&str> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let debug = format!("pods/{}", crate::admission::EPHEMERAL_CONTAINERS);
    assert!(resources.contains(&debug.as_str()), "{resources:?}");
    assert!(resources.contains(&"pods"));
    assert_eq!(core["operations"][1], "UPDATE");
}
