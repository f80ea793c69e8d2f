//! kubectl conformance: the real `kubectl` (from `$KUBECTL` or `PATH`) against the test
//! server. Ignored by default because it needs the binary; run with
//! `cargo test -p kube-apiserver-test --test kubectl -- --ignored`. A missing kubectl
//! fails these tests rather than skipping them.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::kubectl::Kubectl;
use kube_apiserver_test::{ApiServerHandle, ServerConfig, start};
use tokio::io::{AsyncBufReadExt, BufReader};

async fn server() -> ApiServerHandle {
    start(ServerConfig::new()).await.expect("the server starts")
}

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  a: \"1\"\n";

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, maximum: 10}
";

const WIDGET: &str =
    "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_gets_seeded_and_simulated_objects() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    server
        .create(serde_json::to_value(common::deployment("web", 2, "nginx:1")).expect("json"))
        .expect("deployment");
    let namespaces = kubectl.ok(&["get", "namespaces", "-o", "name"]).await;
    assert!(namespaces.contains("namespace/kube-system"), "{namespaces}");
    let pods = common::eventually("kubectl sees two pods", || async {
        let out = kubectl.ok(&["get", "pods", "-A", "-o", "name"]).await;
        (out.lines().filter(|l| l.starts_with("pod/web-")).count() == 2).then_some(out)
    })
    .await;
    assert!(pods.contains("pod/web-"), "{pods}");
    let table = kubectl.ok(&["get", "deployments"]).await;
    assert!(table.contains("web"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_creates_applies_patches_and_deletes() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    let file = kubectl.manifest("cm.yaml", CONFIG_MAP);
    kubectl.ok(&["create", "-f", &file]).await;
    let (success, _, stderr) = kubectl.run(&["create", "-f", &file]).await;
    assert!(!success && stderr.contains("AlreadyExists"), "{stderr}");
    kubectl.ok(&["apply", "--server-side", "-f", &file]).await;
    for (patch_type, patch) in [
        ("merge", r#"{"data":{"b":"2"}}"#),
        ("json", r#"[{"op":"add","path":"/data/c","value":"3"}]"#),
        ("strategic", r#"{"data":{"d":"4"}}"#),
    ] {
        kubectl
            .ok(&[
                "patch",
                "configmap",
                "demo",
                "--type",
                patch_type,
                "-p",
                patch,
            ])
            .await;
    }
    let data = kubectl
        .ok(&["get", "configmap", "demo", "-o", "jsonpath={.data}"])
        .await;
    assert_eq!(data, r#"{"a":"1","b":"2","c":"3","d":"4"}"#);
    let managers = kubectl
        .ok(&[
            "get",
            "configmap",
            "demo",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .await;
    assert!(managers.contains("kubectl"), "{managers}");
    kubectl.ok(&["delete", "configmap", "demo"]).await;
    assert!(server.get("v1", "ConfigMap", "default", "demo").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_get_watch_receives_events() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    let mut child = kubectl
        .command(&["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let file = kubectl.manifest("cm.yaml", CONFIG_MAP);
    kubectl.ok(&["create", "-f", &file]).await;
    kubectl.ok(&["delete", "configmap", "demo"]).await;
    let mut seen = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
            if seen
                .iter()
                .any(|l| l.split_whitespace().take(2).eq(["DELETED", "demo"]))
            {
                return;
            }
        }
    })
    .await;
    let _ = child.kill().await;
    assert!(finished.is_ok(), "kubectl saw {seen:?}");
    assert!(
        seen.iter()
            .any(|l| l.split_whitespace().take(2).eq(["ADDED", "demo"])),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_api_resources_lists_built_ins_and_custom_resources() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    let before = kubectl.ok(&["api-resources", "-o", "name"]).await;
    for name in [
        "pods",
        "deployments.apps",
        "leases.coordination.k8s.io",
        "customresourcedefinitions.apiextensions.k8s.io",
    ] {
        assert!(before.lines().any(|l| l == name), "{name} in\n{before}");
    }
    let crd = kubectl.manifest("crd.yaml", CRD);
    kubectl.ok(&["apply", "--server-side", "-f", &crd]).await;
    let after = kubectl
        .ok(&["api-resources", "--api-group", "example.com", "-o", "name"])
        .await;
    assert_eq!(after.trim(), "widgets.example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_works_on_a_custom_resource_after_its_crd_is_created() {
    let server = server().await;
    let kubectl = Kubectl::new(&server);
    let crd = kubectl.manifest("crd.yaml", CRD);
    kubectl.ok(&["apply", "--server-side", "-f", &crd]).await;
    let widget = kubectl.manifest("widget.yaml", WIDGET);
    kubectl.ok(&["create", "-f", &widget]).await;
    kubectl.ok(&["apply", "--server-side", "-f", &widget]).await;
    kubectl
        .ok(&[
            "patch",
            "widget",
            "w1",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"size":4}}"#,
        ])
        .await;
    kubectl
        .ok(&[
            "patch",
            "wg",
            "w1",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/spec/size","value":5}]"#,
        ])
        .await;
    let (success, _, stderr) = kubectl
        .run(&[
            "patch",
            "wg",
            "w1",
            "--type",
            "strategic",
            "-p",
            r#"{"spec":{"size":6}}"#,
        ])
        .await;
    assert!(
        !success,
        "strategic merge on a custom resource is refused: {stderr}"
    );
    let (success, _, stderr) = kubectl
        .run(&[
            "patch",
            "wg",
            "w1",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"size":60}}"#,
        ])
        .await;
    assert!(
        !success && stderr.contains("spec.size"),
        "validation names the field: {stderr}"
    );
    let size = kubectl
        .ok(&["get", "wg", "w1", "-o", "jsonpath={.spec.size}"])
        .await;
    assert_eq!(size, "5");
    let table = kubectl.ok(&["get", "widgets"]).await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows, vec![vec!["NAME", "SIZE"], vec!["w1", "5"]], "{table}");
    kubectl.ok(&["delete", "-f", &widget]).await;
    assert!(server.list("example.com/v1", "Widget", None).is_empty());
}

const LATEST_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: bad-pod
spec:
  containers:
  - {name: app, image: \"nginx:latest\"}
";

const UNTAGGED_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: untagged-pod
spec:
  containers:
  - {name: app, image: nginx}
";

/// A server whose pods pass the test image policy webhook.
async fn guarded_server() -> (ApiServerHandle, common::webhook::TestWebhook) {
    let server = server().await;
    let webhook = common::webhook::start_webhook(common::webhook::Behaviour::ImagePolicy).await;
    server
        .create(common::webhook::configuration(
            "image-policy",
            common::webhook::url_client(&webhook),
            serde_json::json!({}),
        ))
        .expect("the webhook configuration");
    (server, webhook)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_create_of_a_pod_a_webhook_denies_prints_the_denial_and_fails() {
    let (server, _webhook) = guarded_server().await;
    let kubectl = Kubectl::new(&server);
    let file = kubectl.manifest("bad-pod.yaml", LATEST_POD);
    let (success, stdout, stderr) = kubectl.run(&["create", "-f", &file]).await;
    assert!(!success, "{stdout}");
    assert!(
        stderr.contains(
            "admission webhook \"images.policy.example\" denied the request: \
             image nginx:latest uses the :latest tag"
        ),
        "{stderr}"
    );
    assert!(server.get("v1", "Pod", "default", "bad-pod").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_create_of_a_pod_a_webhook_warns_about_prints_the_warning() {
    let (server, _webhook) = guarded_server().await;
    let kubectl = Kubectl::new(&server);
    let file = kubectl.manifest("untagged-pod.yaml", UNTAGGED_POD);
    let (success, stdout, stderr) = kubectl.run(&["create", "-f", &file]).await;
    assert!(success, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Warning: image nginx has no tag; pin a version"),
        "{stderr}"
    );
    assert!(stdout.contains("pod/untagged-pod created"), "{stdout}");
}
