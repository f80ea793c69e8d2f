//! kubectl conformance of the cluster behaviour: the real `kubectl` (from `$KUBECTL` or
//! `PATH`) against the test server, for typed `create` commands and `auth can-i` (which
//! send protobuf), defaulted objects, `describe` with events, `get events`, nodes and
//! field selectors, table columns, rollout history and undo, deletion with finalizers, and
//! client-side `apply` of an edited webhook configuration. Ignored by default because it
//! needs the binary; run with `cargo test -p kube-apiserver-test --test kubectl_cluster --
//! --ignored`.

mod common;

use common::eventually;
use common::kubectl::Kubectl;
use kube_apiserver_test::{ApiServerHandle, ServerConfig, start};

async fn server() -> ApiServerHandle {
    start(ServerConfig::new()).await.expect("the server starts")
}

/// The header line of a `kubectl get` table, as words.
fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_typed_create_commands_and_auth_can_i_work() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    assert_eq!(
        kubectl
            .ok(&["auth", "can-i", "create", "pods"])
            .await
            .trim(),
        "yes"
    );
    server.deny_access("delete", "pods");
    let (allowed, stdout, _) = kubectl.run(&["auth", "can-i", "delete", "pods"]).await;
    assert!(!allowed && stdout.starts_with("no"), "{stdout}");
    for args in [
        vec!["create", "namespace", "team"],
        vec![
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cr3t",
            "-n",
            "team",
        ],
        vec![
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
            "-n",
            "team",
        ],
        vec![
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "-n",
            "team",
        ],
        vec!["create", "job", "once", "--image=busybox:1", "-n", "team"],
        vec!["create", "serviceaccount", "robot", "-n", "team"],
        vec!["run", "shell", "--image=busybox:1", "-n", "team"],
    ] {
        kubectl.ok(&args).await;
    }
    let password = kubectl
        .ok(&[
            "get",
            "secret",
            "creds",
            "-n",
            "team",
            "-o",
            "jsonpath={.data.password}",
        ])
        .await;
    assert_eq!(password, "czNjcjN0");
    let replicas = kubectl
        .ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "team",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
    assert_eq!(replicas, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_sees_defaulted_objects_and_their_owners() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    let pod = kubectl.manifest(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - {name: app, image: nginx}\n",
    );
    kubectl.ok(&["create", "-f", &pod]).await;
    let defaults = kubectl
        .ok(&[
            "get", "pod", "web", "-o",
            "jsonpath={.spec.containers[0].imagePullPolicy} {.spec.dnsPolicy} {.spec.schedulerName} {.spec.terminationGracePeriodSeconds}",
        ])
        .await;
    assert_eq!(defaults, "Always ClusterFirst default-scheduler 30");
    let owned = kubectl
        .ok(&[
            "get",
            "pod",
            "web",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[0].fieldsV1}",
        ])
        .await;
    assert!(owned.contains("\"f:imagePullPolicy\""), "{owned}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_describe_and_get_events_show_what_the_components_recorded() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    kubectl
        .ok(&["create", "deployment", "web", "--image=nginx:1.27"])
        .await;
    let pod = eventually("a running pod", || async {
        let out = kubectl
            .ok(&[
                "get",
                "pods",
                "-l",
                "app=web",
                "--field-selector",
                "status.phase=Running",
                "-o",
                "name",
            ])
            .await;
        out.lines().next().map(str::to_string)
    })
    .await;
    let described = eventually("the pod's events in describe", || async {
        let out = kubectl.ok(&["describe", &pod]).await;
        out.contains("Started").then_some(out)
    })
    .await;
    for expected in [
        "Scheduled",
        "default-scheduler",
        "Pulled",
        "Created",
        "kubelet",
    ] {
        assert!(described.contains(expected), "{expected} in\n{described}");
    }
    let events = kubectl.ok(&["get", "events"]).await;
    assert_eq!(
        header(&events),
        vec!["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert!(events.contains("ScalingReplicaSet"), "{events}");
    let scaled = kubectl.ok(&["events", "--for", "deployment/web"]).await;
    assert!(scaled.contains("Scaled up replica set"), "{scaled}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_lists_nodes_and_selects_pods_by_node() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    let nodes = kubectl.ok(&["get", "nodes"]).await;
    assert_eq!(
        header(&nodes),
        vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    assert_eq!(
        nodes.lines().filter(|l| l.contains(" Ready ")).count(),
        3,
        "{nodes}"
    );
    kubectl
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=3",
        ])
        .await;
    let on_first = eventually("a pod on node-1", || async {
        let out = kubectl
            .ok(&[
                "get",
                "pods",
                "--field-selector",
                "spec.nodeName=node-1",
                "-o",
                "name",
            ])
            .await;
        (out.lines().count() == 1).then_some(out)
    })
    .await;
    assert!(on_first.starts_with("pod/web-"), "{on_first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_get_prints_the_columns_of_each_kind() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    kubectl
        .ok(&["create", "deployment", "web", "--image=nginx:1.27"])
        .await;
    kubectl
        .ok(&["expose", "deployment", "web", "--port=80"])
        .await;
    kubectl
        .ok(&[
            "create",
            "cronjob",
            "tick",
            "--image=busybox:1",
            "--schedule=*/5 * * * *",
        ])
        .await;
    kubectl
        .ok(&["create", "secret", "generic", "creds", "--from-literal=a=b"])
        .await;
    let cases: [(&str, &[&str]); 6] = [
        (
            "services",
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
        ),
        (
            "jobs",
            &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        ),
        (
            "cronjobs",
            &[
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
            ],
        ),
        (
            "daemonsets",
            &[
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
            ],
        ),
        ("secrets", &["NAME", "TYPE", "DATA", "AGE"]),
        ("configmaps", &["NAME", "DATA", "AGE"]),
    ];
    kubectl
        .ok(&["create", "job", "once", "--image=busybox:1"])
        .await;
    let ds = kubectl.manifest(
        "ds.yaml",
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec: {containers: [{name: agent, image: agent:1}]}\n",
    );
    kubectl.ok(&["create", "-f", &ds]).await;
    for (kind, expected) in cases {
        let table = kubectl.ok(&["get", kind]).await;
        assert_eq!(header(&table), expected.to_vec(), "{kind}:\n{table}");
    }
    let service = kubectl.ok(&["get", "service", "web", "--no-headers"]).await;
    assert!(service.contains("80/TCP"), "{service}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_rollout_undo_to_revision_one_brings_back_the_first_replica_set() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    kubectl
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.26",
            "--replicas=2",
        ])
        .await;
    kubectl
        .ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    let first = kubectl
        .ok(&["get", "rs", "-l", "app=web", "-o", "name"])
        .await;
    kubectl
        .ok(&["set", "image", "deployment/web", "nginx=nginx:1.27"])
        .await;
    kubectl
        .ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    let history = kubectl.ok(&["rollout", "history", "deployment/web"]).await;
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, vec!["1", "2"], "{history}");
    kubectl
        .ok(&["rollout", "undo", "deployment/web", "--to-revision=1"])
        .await;
    kubectl
        .ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    let image = kubectl
        .ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(image, "nginx:1.26");
    let back = kubectl
        .ok(&["get", first.trim(), "-o", "jsonpath={.spec.replicas} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}"])
        .await;
    assert_eq!(
        back, "2 3",
        "the first ReplicaSet serves again, at revision 3"
    );
    let sets = kubectl
        .ok(&["get", "rs", "-l", "app=web", "-o", "name"])
        .await;
    assert_eq!(sets.lines().count(), 2, "no third ReplicaSet: {sets}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_delete_of_an_object_with_finalizers_bumps_its_generation() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    let held = kubectl.manifest(
        "held.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n",
    );
    kubectl.ok(&["create", "-f", &held]).await;
    kubectl
        .ok(&["delete", "configmap", "held", "--wait=false"])
        .await;
    let marked = kubectl
        .ok(&[
            "get",
            "configmap",
            "held",
            "-o",
            "jsonpath={.metadata.generation} {.metadata.deletionTimestamp}",
        ])
        .await;
    let (generation, timestamp) = marked.split_once(' ').unwrap_or(("", ""));
    assert_eq!(generation, "2");
    assert!(!timestamp.is_empty(), "{marked}");
}

const WEBHOOKS: &str = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: policy
webhooks:
- name: a.policy.example
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: Ignore
  clientConfig: {url: \"https://127.0.0.1:1/a\", caBundle: b2xk}
  rules: [{apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
- name: b.policy.example
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: Ignore
  clientConfig: {url: \"https://127.0.0.1:1/b\", caBundle: b2xk}
  rules: [{apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_apply_of_an_edited_webhook_configuration_and_a_ca_bundle_patch_merge_by_name() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    let file = kubectl.manifest("hooks.yaml", WEBHOOKS);
    kubectl.ok(&["apply", "-f", &file]).await;
    let edited = WEBHOOKS.replace(
        "operations: [CREATE], resources: [pods]}]\n- name: b",
        "operations: [CREATE, UPDATE], resources: [pods]}]\n- name: b",
    );
    let file = kubectl.manifest("hooks.yaml", &edited);
    kubectl.ok(&["apply", "-f", &file]).await;
    kubectl
        .ok(&[
            "patch",
            "validatingwebhookconfiguration",
            "policy",
            "--type",
            "strategic",
            "-p",
            r#"{"webhooks":[{"name":"b.policy.example","clientConfig":{"caBundle":"bmV3"}}]}"#,
        ])
        .await;
    let shown = kubectl
        .ok(&[
            "get", "validatingwebhookconfiguration", "policy", "-o",
            "jsonpath={range .webhooks[*]}{.name} {.rules[0].operations} {.clientConfig.caBundle} {.clientConfig.url}{\"\\n\"}{end}",
        ])
        .await;
    assert_eq!(
        shown.lines().collect::<Vec<_>>(),
        vec![
            r#"a.policy.example ["CREATE","UPDATE"] b2xk https://127.0.0.1:1/a"#,
            r#"b.policy.example ["CREATE"] bmV3 https://127.0.0.1:1/b"#,
        ]
    );
}
