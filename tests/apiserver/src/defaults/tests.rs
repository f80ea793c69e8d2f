//! Defaulting of each built-in kind against what kube-apiserver stores for the same input.

use serde_json::{Value, json};

use super::{apply, pod::image_tag};
use crate::resources::{ResourceType, builtin_types};

fn rt(kind: &str) -> ResourceType {
    builtin_types()
        .into_iter()
        .find(|t| t.kind == kind)
        .map(|t| (*t).clone())
        .unwrap_or_else(|| panic!("{kind} is built in"))
}

fn defaulted(kind: &str, object: Value) -> Value {
    let mut object = object;
    apply(&rt(kind), &mut object);
    object
}

fn container(image: &str) -> Value {
    json!({"name": "app", "image": image})
}

#[test]
fn a_pod_gets_the_pod_spec_and_container_defaults() {
    let pod = defaulted(
        "Pod",
        json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                         "ports": [{"containerPort": 80}]}]}}),
    );
    assert_eq!(
        pod["spec"],
        json!({
            "containers": [{
                "name": "app", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        })
    );
}

#[test]
fn values_the_client_set_are_kept() {
    let spec = json!({"containers": [{"name": "app", "image": "nginx", "imagePullPolicy": "Never",
                                       "terminationMessagePolicy": "FallbackToLogsOnError"}],
                      "dnsPolicy": "Default", "restartPolicy": "Never",
                      "securityContext": {"runAsNonRoot": true},
                      "terminationGracePeriodSeconds": 0, "enableServiceLinks": false});
    let pod = defaulted("Pod", json!({"spec": spec}));
    for (field, expected) in [
        ("/spec/containers/0/imagePullPolicy", json!("Never")),
        (
            "/spec/containers/0/terminationMessagePolicy",
            json!("FallbackToLogsOnError"),
        ),
        ("/spec/dnsPolicy", json!("Default")),
        ("/spec/restartPolicy", json!("Never")),
        ("/spec/securityContext", json!({"runAsNonRoot": true})),
        ("/spec/terminationGracePeriodSeconds", json!(0)),
        ("/spec/enableServiceLinks", json!(false)),
    ] {
        assert_eq!(pod.pointer(field), Some(&expected), "{field}");
    }
}

#[test]
fn the_pull_policy_follows_the_image_tag() {
    let cases = [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("registry.local:5000/team/app", "Always"),
        ("registry.local:5000/team/app:2.1", "IfNotPresent"),
        ("nginx@sha256:0123456789abcdef", "IfNotPresent"),
        ("nginx:latest@sha256:0123456789abcdef", "Always"),
        ("nginx:1.27", "IfNotPresent"),
    ];
    for (image, expected) in cases {
        let pod = defaulted("Pod", json!({"spec": {"containers": [container(image)]}}));
        assert_eq!(
            pod.pointer("/spec/containers/0/imagePullPolicy"),
            Some(&json!(expected)),
            "{image} (tag {:?})",
            image_tag(image)
        );
    }
}

#[test]
fn probes_get_their_timings_and_http_defaults() {
    let probe = json!({"httpGet": {"port": 8080}, "periodSeconds": 5});
    let pod = defaulted(
        "Pod",
        json!({"spec": {"containers": [{"name": "app", "image": "a:1", "livenessProbe": probe,
                                         "readinessProbe": {"tcpSocket": {"port": 80}}}]}}),
    );
    assert_eq!(
        pod["spec"]["containers"][0]["livenessProbe"],
        json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "periodSeconds": 5,
               "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(
        pod["spec"]["containers"][0]["readinessProbe"],
        json!({"tcpSocket": {"port": 80}, "periodSeconds": 10, "timeoutSeconds": 1,
               "successThreshold": 1, "failureThreshold": 3})
    );
}

#[test]
fn pod_templates_get_the_spec_defaults_but_not_the_pod_only_ones() {
    let resources = json!({"limits": {"cpu": "1"}});
    let template = json!({"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "app", "image": "a:1", "resources": resources}]}});
    let deployment = defaulted(
        "Deployment",
        json!({"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}}),
    );
    let spec = &deployment["spec"]["template"]["spec"];
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert!(spec.get("enableServiceLinks").is_none(), "{spec}");
    assert_eq!(
        spec["containers"][0]["resources"],
        json!({"limits": {"cpu": "1"}})
    );
    let pod = defaulted(
        "Pod",
        json!({"spec": {"containers": [{"name": "app", "image": "a:1", "resources": resources}]}}),
    );
    assert_eq!(
        pod["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": "1"}, "requests": {"cpu": "1"}})
    );
}

#[test]
fn workload_specs_get_their_strategies_and_limits() {
    let cases = [
        (
            "Deployment",
            json!({}),
            json!({"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                   "strategy": {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}}),
        ),
        (
            "Deployment",
            json!({"replicas": 0, "strategy": {"type": "Recreate"}}),
            json!({"replicas": 0, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                   "strategy": {"type": "Recreate"}}),
        ),
        (
            "StatefulSet",
            json!({"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}),
            json!({"replicas": 1, "revisionHistoryLimit": 10, "podManagementPolicy": "OrderedReady",
                   "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                   "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                   "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                             "spec": {"volumeMode": "Filesystem"},
                                             "status": {"phase": "Pending"}}]}),
        ),
        (
            "DaemonSet",
            json!({}),
            json!({"revisionHistoryLimit": 10,
                   "updateStrategy": {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}}),
        ),
        ("ReplicaSet", json!({}), json!({"replicas": 1})),
        (
            "Job",
            json!({}),
            json!({"completions": 1, "parallelism": 1, "backoffLimit": 6,
                   "completionMode": "NonIndexed", "suspend": false,
                   "podReplacementPolicy": "TerminatingOrFailed"}),
        ),
        (
            "Job",
            json!({"parallelism": 3, "backoffLimitPerIndex": 1, "completionMode": "Indexed", "completions": 3}),
            json!({"completions": 3, "parallelism": 3, "backoffLimit": 2147483647,
                   "backoffLimitPerIndex": 1, "completionMode": "Indexed", "suspend": false,
                   "podReplacementPolicy": "TerminatingOrFailed"}),
        ),
        (
            "CronJob",
            json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {}}}),
            json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {}},
                   "concurrencyPolicy": "Allow", "suspend": false,
                   "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}),
        ),
    ];
    for (kind, spec, expected) in cases {
        let object = defaulted(kind, json!({"spec": spec}));
        assert_eq!(object["spec"], expected, "{kind}");
    }
}

#[test]
fn services_get_affinity_type_ports_and_traffic_policies() {
    let cases = [
        (
            json!({"ports": [{"port": 80}]}),
            json!({"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                   "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}),
        ),
        (
            json!({"type": "NodePort", "sessionAffinity": "ClientIP",
                   "ports": [{"port": 80, "targetPort": "http"}]}),
            json!({"type": "NodePort", "sessionAffinity": "ClientIP",
                   "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                   "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                   "ports": [{"port": 80, "protocol": "TCP", "targetPort": "http"}]}),
        ),
        (
            json!({"type": "LoadBalancer"}),
            json!({"type": "LoadBalancer", "sessionAffinity": "None",
                   "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                   "allocateLoadBalancerNodePorts": true}),
        ),
        (
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({"type": "ExternalName", "externalName": "db.example.com", "sessionAffinity": "None"}),
        ),
    ];
    for (spec, expected) in cases {
        let service = defaulted("Service", json!({"spec": spec}));
        assert_eq!(service["spec"], expected);
    }
}

#[test]
fn volumes_get_their_source_defaults() {
    let volumes = json!([
        {"name": "scratch"},
        {"name": "config", "configMap": {"name": "c"}},
        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
    ]);
    let pod = defaulted(
        "Pod",
        json!({"spec": {"containers": [container("a:1")], "volumes": volumes}}),
    );
    assert_eq!(
        pod["spec"]["volumes"],
        json!([
            {"name": "scratch", "emptyDir": {}},
            {"name": "config", "configMap": {"name": "c", "defaultMode": 420}},
            {"name": "token", "projected": {"defaultMode": 420,
                "sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}]}},
        ])
    );
}

#[test]
fn custom_resources_are_not_defaulted() {
    let mut custom = rt("Pod");
    custom.builtin = false;
    let mut object = json!({"spec": {"containers": [container("a")]}});
    apply(&custom, &mut object);
    assert_eq!(object, json!({"spec": {"containers": [container("a")]}}));
}
