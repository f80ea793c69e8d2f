//! The slim path must give exactly the facts of the typed path (without the runtime part,
//! which it never reads).

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{SlimObject, SlimPod};
use crate::facts::{FactsError, PodFacts, WorkloadKind, facts_from_json};
use crate::manifests;
use crate::testing::{ObjectBuilder, workload};

/// Typed facts, less what only a live pod's status gives.
fn typed(value: &Value) -> Result<Option<PodFacts>, FactsError> {
    facts_from_json(value.clone()).map(|facts| {
        facts.map(|mut f| {
            f.runtime = None;
            for c in &mut f.containers {
                c.restart_count = None;
            }
            f
        })
    })
}

fn slim(value: &Value) -> Result<Option<PodFacts>, FactsError> {
    let Some(kind) = value["kind"].as_str().and_then(WorkloadKind::from_kind) else {
        return Ok(None);
    };
    let bytes = serde_json::to_vec(value).unwrap();
    let object = SlimObject::from_slice(&bytes).expect("a valid object reads slim");
    object.facts(kind).map(Some)
}

fn assert_same(value: &Value) {
    assert_eq!(slim(value), typed(value), "object: {value:#}");
}

#[test]
fn every_example_manifest_gives_the_same_facts() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let input = manifests::load(&[root], &mut std::io::empty());
    assert!(input.errors.is_empty(), "{:?}", input.errors);
    let mut judged = 0;
    for document in &input.documents {
        assert_same(&document.value);
        judged += usize::from(typed(&document.value).unwrap().is_some());
    }
    assert!(judged >= 9, "only {judged} workloads in the examples");
}

#[test]
fn an_object_as_the_api_server_sends_it_gives_the_same_facts() {
    let value = json!({
      "apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {
        "name": "web", "namespace": "shop", "uid": "u-1", "generation": 3,
        "labels": {"app": "web"},
        "annotations": {
          "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"apps/v1\"}",
          "devops.stochastic.io/ignore": "liveness-probe",
          "devops.stochastic.io/ignore-reason": "batch-like",
          "devops.stochastic.io/ignore-until": "2030-01-01",
          "other": "x"
        },
        "managedFields": [{"manager": "kubectl", "operation": "Update",
                           "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
        "ownerReferences": [{"apiVersion": "v1", "kind": "Thing", "name": "t",
                             "uid": "o-1", "controller": true}]
      },
      "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
          "metadata": {"labels": {"app": "web"},
                       "annotations": {"devops.stochastic.io/ignore": "*"}},
          "spec": {
            "hostPID": true, "hostIPC": false,
            "securityContext": {"runAsUser": 0, "fsGroup": 2000},
            "volumes": [{"name": "data", "emptyDir": {}},
                        {"name": "root", "hostPath": {"path": "/"}}],
            "initContainers": [
              {"name": "migrate", "image": "migrate", "resources": {"requests": {"cpu": "1"}}},
              {"name": "proxy", "image": "envoy@sha256:abc", "restartPolicy": "Always",
               "readinessProbe": {"exec": {"command": ["true"]}}}
            ],
            "containers": [{"name": "app", "image": "nginx:1.27",
                            "imagePullPolicy": "IfNotPresent",
                            "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}],
                            "resources": {"limits": {"cpu": "1", "memory": "1Gi",
                                                     "nvidia.com/gpu": "1"},
                                          "requests": null},
                            "livenessProbe": null,
                            "securityContext": {"privileged": true,
                                                "capabilities": {"add": ["NET_ADMIN"],
                                                                 "drop": ["ALL"]}}}]
          }
        }
      },
      "status": {"replicas": 3, "conditions": [{"type": "Available", "status": "True"}]}
    });
    assert_same(&value);
    let facts = slim(&value).unwrap().unwrap();
    assert_eq!(facts.exemptions.len(), 2);
    let volumes: Vec<&str> = facts.host_paths.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(volumes, ["root"]);
    assert_eq!(facts.containers.len(), 3);
}

#[test]
fn templates_that_are_missing_are_the_same_error() {
    for kind in ["Deployment", "ReplicaSet", "Job", "CronJob"] {
        let value = json!({"kind": kind, "metadata": {"name": "x"}});
        assert_same(&value);
        assert!(matches!(slim(&value), Err(FactsError::NoTemplate { .. })));
    }
    let pod = json!({"kind": "Pod", "metadata": {"generateName": "web-"}});
    assert_same(&pod);
    // A spec without its required template holds an empty one, as the typed kinds read it.
    for (kind, spec) in [
        ("Deployment", json!({})),
        ("StatefulSet", json!({})),
        ("DaemonSet", json!({})),
        ("Job", json!({})),
        ("ReplicaSet", json!({})),
        ("ReplicationController", json!({})),
        ("CronJob", json!({})),
        ("CronJob", json!({"jobTemplate": {}})),
        ("CronJob", json!({"jobTemplate": {"spec": {}}})),
    ] {
        assert_same(&json!({"kind": kind, "metadata": {"name": "x"}, "spec": spec}));
    }
}

#[test]
fn missing_required_fields_read_as_defaults_as_the_typed_kinds_do() {
    let pod = json!({
        "kind": "Pod",
        "metadata": {"ownerReferences": [{"controller": true}]},
        "spec": {
            "volumes": [{"hostPath": {"path": "/"}}],
            "containers": [{"image": "nginx:1.27", "ports": [{"hostPort": 80}]}]
        },
        "status": {"containerStatuses": [{"ready": true}]}
    });
    assert_same(&pod);
    let slim: SlimPod = serde_json::from_value(pod.clone()).unwrap();
    assert_eq!(Ok(Some(slim.facts())), facts_from_json(pod));
}

#[test]
fn wrong_types_in_what_is_read_are_errors() {
    for bad in [
        r#"{"metadata": {"annotations": {"devops.stochastic.io/ignore": 1}}}"#,
        r#"{"spec": {"containers": "nginx"}}"#,
        r#"{"spec": {"hostNetwork": "yes"}}"#,
        r#"{"metadata": {"labels": 7}}"#,
        r#"{"spec": {"replicas": "x"}}"#,
        r#"{"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": 1}]}]}}"#,
        r#"{"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "80"}]}]}}"#,
    ] {
        assert!(SlimObject::from_slice(bad.as_bytes()).is_err(), "{bad}");
    }
    // What is not read is not checked: the API server validated it.
    let unread = r#"{"metadata": {"annotations": {"other": 1}, "finalizers": 7},
                     "spec": {"minReadySeconds": "x"}, "status": {"conditions": 5}}"#;
    assert!(SlimObject::from_slice(unread.as_bytes()).is_ok());
}

/// One change to a builder's default (compliant) object.
#[derive(Debug, Clone)]
enum Change {
    Image(&'static str),
    WithoutLiveness,
    WithoutReadiness,
    WithoutResources,
    Security(Value),
    Container(&'static str),
    Init(&'static str),
    Sidecar(&'static str),
    PodFlag(&'static str, bool),
    HostPathVolume,
    PodSecurity,
    Exemption,
    TemplateExemption,
    OwnedBy(&'static str),
    Status,
    Pending,
    NoNamespace,
    HostPort,
    Ephemeral(&'static str),
    Env(Value),
    PodSpecField(&'static str, Value),
    AppArmorAnnotation(&'static str, &'static str),
    Replicas(Option<i32>),
    Label(&'static str, &'static str),
}

impl Change {
    fn apply(&self, b: ObjectBuilder) -> ObjectBuilder {
        match self {
            Change::Image(i) => b.image(i),
            Change::WithoutLiveness => b.without_liveness(),
            Change::WithoutReadiness => b.without_readiness(),
            Change::WithoutResources => b.without_resources(),
            Change::Security(sc) => b.container_security(sc.clone()),
            Change::Container(i) => b.container("extra", i),
            Change::Init(i) => b.init_container("init", i),
            Change::Sidecar(i) => b.sidecar("side", i),
            Change::PodFlag(f, on) => b.pod_field(f, json!(on)),
            Change::HostPathVolume => b.pod_field(
                "volumes",
                json!([{"name": "h", "hostPath": {"path": "/var"}}, {"name": "e", "emptyDir": {}}]),
            ),
            Change::PodSecurity => b.pod_field(
                "securityContext",
                json!({"runAsNonRoot": false, "runAsUser": 0}),
            ),
            Change::Exemption => b
                .annotation("devops.stochastic.io/ignore", "latest-tag, no-such-check")
                .annotation("devops.stochastic.io/ignore-until", "2020-01-01"),
            Change::TemplateExemption => b
                .template_annotation("devops.stochastic.io/ignore", "*")
                .template_annotation("devops.stochastic.io/ignore-reason", "legacy"),
            Change::OwnedBy(kind) => b.owned_by(kind, "owner"),
            Change::Status => b.status("Running", 7),
            Change::Pending => b.status("Pending", 0).created("2026-05-31T23:00:00Z"),
            Change::NoNamespace => b.namespace(None),
            Change::HostPort => {
                b.main_field("ports", json!([{"containerPort": 80, "hostPort": 80}]))
            }
            Change::Ephemeral(i) => b.ephemeral(json!({
                "name": "debug", "image": i, "targetContainerName": "app",
                "env": [{"name": "TOKEN", "value": "t"}],
                "securityContext": {"privileged": true, "runAsUser": 0,
                                    "capabilities": {"add": ["SYS_PTRACE"]}}
            })),
            Change::Env(env) => b.main_field("env", env.clone()),
            Change::PodSpecField(k, v) => b.pod_field(k, v.clone()),
            Change::AppArmorAnnotation(c, v) => {
                let key = format!("container.apparmor.security.beta.kubernetes.io/{c}");
                b.annotation(&key, v).template_annotation(&key, v)
            }
            Change::Replicas(r) => b.replicas(*r),
            Change::Label(k, v) => b.label(k, v),
        }
    }
}

fn change() -> impl Strategy<Value = Change> {
    let images = prop_oneof![
        Just("nginx"),
        Just("nginx:latest"),
        Just("registry.example.com/app@sha256:0123"),
        Just("localhost:5000/app:1.2"),
    ];
    let flags = prop_oneof![
        Just("hostNetwork"),
        Just("hostPID"),
        Just("hostIPC"),
        Just("automountServiceAccountToken")
    ];
    let profile = prop_oneof![
        Just(Value::Null),
        Just(json!({"type": "RuntimeDefault"})),
        Just(json!({"type": "Unconfined"})),
        Just(json!({"type": "Localhost", "localhostProfile": "p.json"})),
    ];
    let pod_context = (profile.clone(), profile.clone(), any::<bool>(), proptest::option::of(any::<bool>()))
        .prop_map(|(seccomp, apparmor, selinux, host_process)| {
            Change::PodSpecField(
                "securityContext",
                json!({"seccompProfile": seccomp, "appArmorProfile": apparmor,
                       "seLinuxOptions": if selinux { json!({"type": "spc_t"}) } else { json!({"level": ""}) },
                       "windowsOptions": {"hostProcess": host_process},
                       "runAsUser": 1000}),
            )
        });
    let container_context = (
        profile.clone(),
        profile,
        proptest::option::of(prop_oneof![Just("Default"), Just("Unmasked")]),
        proptest::collection::vec(prop_oneof![Just("ALL"), Just("NET_RAW")], 0..3),
    )
        .prop_map(|(seccomp, apparmor, proc_mount, drop)| {
            Change::Security(
                json!({"seccompProfile": seccomp, "appArmorProfile": apparmor,
                                    "procMount": proc_mount, "seLinuxOptions": {"user": "u"},
                                    "windowsOptions": {"hostProcess": false},
                                    "capabilities": {"drop": drop}}),
            )
        });
    let env = prop_oneof![
        Just(json!([{"name": "DB_PASSWORD", "value": "x"}, {"name": "LOG", "value": "debug"}])),
        Just(
            json!([{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}])
        ),
        Just(
            json!([{"name": "KEY", "value": "-----BEGIN PRIVATE KEY-----"}, {"name": "EMPTY_TOKEN", "value": ""}])
        ),
    ];
    let spec_fields = prop_oneof![
        Just(Change::PodSpecField("serviceAccountName", json!("builder"))),
        Just(Change::PodSpecField("serviceAccountName", json!(""))),
        Just(Change::PodSpecField("serviceAccount", json!("legacy"))),
        Just(Change::PodSpecField(
            "automountServiceAccountToken",
            json!(true)
        )),
        Just(Change::PodSpecField("priorityClassName", Value::Null)),
        Just(Change::PodSpecField(
            "topologySpreadConstraints",
            json!([
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"},
            {"maxSkew": 2, "topologyKey": "rack", "whenUnsatisfiable": "ScheduleAnyway"}])
        )),
        Just(Change::PodSpecField(
            "volumes",
            json!([{"name": "sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}])
        )),
        Just(Change::AppArmorAnnotation("app", "runtime/default")),
        Just(Change::AppArmorAnnotation("debug", "localhost/strict")),
        Just(Change::Replicas(None)),
        Just(Change::Replicas(Some(1))),
        Just(Change::Label("tier", "front")),
        Just(Change::PodSpecField(
            "containers",
            json!([{"name": "app", "image": "nginx",
            "resources": {"limits": {"ephemeral-storage": "1Gi", "nvidia.com/gpu": "1"}}}])
        )),
    ];
    let security = (
        proptest::option::of(any::<bool>()),
        proptest::option::of(0i64..2000),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::collection::vec(prop_oneof![Just("NET_ADMIN"), Just("SYS_ADMIN")], 0..3),
    )
        .prop_map(
            |(non_root, user, privileged, escalation, read_only, caps)| {
                Change::Security(json!({"runAsNonRoot": non_root, "runAsUser": user,
                                    "privileged": privileged,
                                    "allowPrivilegeEscalation": escalation,
                                    "readOnlyRootFilesystem": read_only,
                                    "capabilities": {"add": caps}}))
            },
        );
    prop_oneof![
        images.clone().prop_map(Change::Image),
        Just(Change::WithoutLiveness),
        Just(Change::WithoutReadiness),
        Just(Change::WithoutResources),
        security,
        images.clone().prop_map(Change::Container),
        images.clone().prop_map(Change::Init),
        images.prop_map(Change::Sidecar),
        (flags, any::<bool>()).prop_map(|(f, on)| Change::PodFlag(f, on)),
        Just(Change::HostPathVolume),
        Just(Change::PodSecurity),
        Just(Change::Exemption),
        Just(Change::TemplateExemption),
        prop_oneof![Just("Job"), Just("ReplicaSet")].prop_map(Change::OwnedBy),
        Just(Change::Status),
        Just(Change::Pending),
        Just(Change::NoNamespace),
        Just(Change::HostPort),
        prop_oneof![Just("busybox:latest"), Just("registry.example.com/tools:1")]
            .prop_map(Change::Ephemeral),
        env.prop_map(Change::Env),
        pod_context,
        container_context,
        spec_fields,
    ]
}

proptest! {
    #[test]
    fn generated_objects_give_the_same_facts(
        kind in proptest::sample::select(WorkloadKind::ALL.to_vec()),
        changes in proptest::collection::vec(change(), 0..8),
    ) {
        let builder = changes.iter().fold(workload(kind, "w"), |b, c| c.apply(b));
        let value = builder.build();
        prop_assert_eq!(slim(&value), typed(&value));
        if kind == WorkloadKind::Pod {
            let pod: SlimPod = serde_json::from_value(value.clone()).unwrap();
            prop_assert_eq!(Ok(Some(pod.facts())), facts_from_json(value));
        }
    }
}

/// A Pod as a watch event carries it: managed fields, defaults, a full status.
fn served_pod() -> Value {
    json!({
      "apiVersion": "v1", "kind": "Pod",
      "metadata": {
        "name": "web-7d4b9c-x2x9z", "generateName": "web-7d4b9c-", "namespace": "shop",
        "uid": "9b1c", "resourceVersion": "48213", "creationTimestamp": "2026-05-31T10:00:00Z",
        "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                             "uid": "rs-1", "controller": true, "blockOwnerDeletion": true}],
        "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                           "apiVersion": "v1", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {"f:generateName": {}}}}]
      },
      "spec": {
        "volumes": [{"name": "kube-api-access", "projected": {"sources": []}}],
        "initContainers": [{"name": "init", "image": "busybox:1.36",
                            "resources": {}, "imagePullPolicy": "IfNotPresent"}],
        "containers": [{"name": "app", "image": "registry.example.com/web:1.4.2",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                        "resources": {"requests": {"cpu": "100m"}},
                        "imagePullPolicy": "IfNotPresent"}],
        "restartPolicy": "Always", "nodeName": "node-1",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                         "effect": "NoExecute", "tolerationSeconds": 300}]
      },
      "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "podIP": "10.0.0.7",
        "initContainerStatuses": [{"name": "init", "ready": true, "restartCount": 1,
                                   "image": "busybox:1.36", "imageID": "x",
                                   "state": {"terminated": {"exitCode": 0}}}],
        "containerStatuses": [{"name": "app", "ready": true, "restartCount": 12,
                               "image": "registry.example.com/web:1.4.2", "imageID": "y",
                               "started": true, "state": {"running": {}}}]
      }
    })
}

#[test]
fn a_served_pod_gives_the_typed_facts_with_its_status() {
    let value = served_pod();
    let pod: SlimPod = serde_json::from_value(value.clone()).unwrap();
    let expected = facts_from_json(value).unwrap().unwrap();
    assert_eq!(pod.facts(), expected);
    assert_eq!(pod.facts().containers[1].restart_count, Some(12));
    assert!(pod.facts().runtime.is_some());
}

#[test]
fn a_slim_pod_is_a_namespaced_v1_pod_with_its_resource_version() {
    use kube::Resource;
    let pod: SlimPod = serde_json::from_value(served_pod()).unwrap();
    assert_eq!(pod.meta().resource_version.as_deref(), Some("48213"));
    assert_eq!(pod.meta().uid.as_deref(), Some("9b1c"));
    assert_eq!(pod.meta().namespace.as_deref(), Some("shop"));
    assert_eq!(
        SlimPod::url_path(&(), Some("shop")),
        "/api/v1/namespaces/shop/pods"
    );
    assert_eq!(SlimPod::url_path(&(), None), "/api/v1/pods");
    assert_eq!(SlimPod::kind(&()), "Pod");
    // A watch event decodes into it, as the watcher decodes events.
    let event = json!({"type": "MODIFIED", "object": served_pod()});
    let decoded: kube::core::WatchEvent<SlimPod> = serde_json::from_value(event).unwrap();
    assert!(matches!(decoded, kube::core::WatchEvent::Modified(p) if p == pod));
}
