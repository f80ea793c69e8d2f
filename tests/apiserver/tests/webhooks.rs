//! Validating admission webhooks: the server sends AdmissionReviews over HTTPS to a
//! webhook started inside the test, and answers its denials, warnings and failures as
//! kube-apiserver does.

mod common;

use std::time::Duration;

use common::webhook::{
    Behaviour, TestWebhook, WEBHOOK_NAME, configuration, dead_url, start_webhook, url_client,
};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube_apiserver_test::ApiServerHandle;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DENIAL: &str = "admission webhook \"images.policy.example\" denied the request: image nginx:latest uses the :latest tag";

async fn register(client: &kube::Client, configuration: Value) {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let configuration: ValidatingWebhookConfiguration =
        serde_json::from_value(configuration).expect("a configuration");
    api.create(&PostParams::default(), &configuration)
        .await
        .expect("the configuration is accepted");
}

/// A quiet server with the image policy webhook registered by URL.
async fn guarded_server() -> (ApiServerHandle, kube::Client, TestWebhook) {
    let (server, client) = common::quiet_server().await;
    let webhook = start_webhook(Behaviour::ImagePolicy).await;
    register(
        &client,
        configuration("image-policy", url_client(&webhook), json!({})),
    )
    .await;
    (server, client, webhook)
}

fn pods(client: &kube::Client, namespace: &str) -> Api<Pod> {
    Api::namespaced(client.clone(), namespace)
}

/// How many pods in `namespace` match the label selector (empty: all).
async fn count_pods(client: &kube::Client, namespace: &str, labels: String) -> usize {
    let params = ListParams::default().labels(&labels);
    pods(client, namespace)
        .list(&params)
        .await
        .map(|l| l.items.len())
        .unwrap_or(0)
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("a namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("the namespace is created");
}

/// Sends a raw HTTP/1.1 request and answers the response head and body as text.
async fn raw_request(server: &ApiServerHandle, method: &str, path: &str, body: &str) -> String {
    let address = server.url().trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.admin_token(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("the response arrives")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_pod_with_a_latest_image_is_denied_with_the_webhook_message_and_not_stored() {
    let (server, client, webhook) = guarded_server().await;
    let result = pods(&client, "default")
        .create(&PostParams::default(), &common::pod("bad", "nginx:latest"))
        .await;
    let status = common::status(result);
    assert_eq!(status.code, 403);
    assert_eq!(status.message, DENIAL);
    assert!(server.get("v1", "Pod", "default", "bad").is_none());
    let reviews = webhook.reviews();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let request = &reviews[0];
    assert_eq!(request["operation"], "CREATE");
    assert_eq!(
        request["kind"],
        json!({"group": "", "version": "v1", "kind": "Pod"})
    );
    assert_eq!(
        request["resource"],
        json!({"group": "", "version": "v1", "resource": "pods"})
    );
    assert_eq!(request["namespace"], "default");
    assert_eq!(request["name"], "bad");
    assert_eq!(request["object"]["metadata"]["name"], "bad");
    assert_eq!(request["dryRun"], false);
    assert_eq!(request["options"]["kind"], "CreateOptions");
    assert!(request["uid"].as_str().is_some_and(|u| !u.is_empty()));
}

#[tokio::test]
async fn a_pod_with_a_pinned_image_is_admitted_and_stored() {
    let (server, client, webhook) = guarded_server().await;
    pods(&client, "default")
        .create(&PostParams::default(), &common::pod("good", "nginx:1.27"))
        .await
        .expect("the pod is admitted");
    let stored = server.get("v1", "Pod", "default", "good").expect("stored");
    let reviewed = &webhook.reviews()[0];
    assert_eq!(
        reviewed["object"]["metadata"]["uid"],
        stored["metadata"]["uid"]
    );
}

#[tokio::test]
async fn webhooks_see_who_sent_the_request() {
    let (server, admin, webhook) = guarded_server().await;
    for object in [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot", "namespace": "default"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "pods", "namespace": "default"},
               "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "pods", "namespace": "default"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
               "subjects": [{"kind": "ServiceAccount", "name": "bot"}]}),
    ] {
        server.create(object).expect("created");
    }
    let bot = server
        .client_for_service_account("default", "bot")
        .await
        .expect("a client");
    for (client, name) in [(&admin, "by-admin"), (&bot, "by-bot")] {
        pods(client, "default")
            .create(&PostParams::default(), &common::pod(name, "nginx:1.27"))
            .await
            .expect("the pod is admitted");
    }
    let uid = server
        .get("v1", "ServiceAccount", "default", "bot")
        .expect("stored")["metadata"]["uid"]
        .clone();
    let users: Vec<Value> = webhook
        .reviews()
        .iter()
        .map(|r| r["userInfo"].clone())
        .collect();
    assert_eq!(
        users,
        [
            json!({"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]}),
            json!({"username": "system:serviceaccount:default:bot", "uid": uid,
                   "groups": ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]}),
        ]
    );
}

#[tokio::test]
async fn warnings_reach_the_client_as_warning_headers() {
    let (server, client, _webhook) = guarded_server().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "untagged"},
                     "spec": {"containers": [{"name": "app", "image": "nginx"}]}});
    let response = raw_request(
        &server,
        "POST",
        "/api/v1/namespaces/default/pods",
        &pod.to_string(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let warning = response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("warning:"))
        .map(|l| l.split_once(':').map_or("", |(_, v)| v).trim().to_string());
    assert_eq!(
        warning.as_deref(),
        Some("299 - \"image nginx has no tag; pin a version\"")
    );
    pods(&client, "default")
        .create(
            &PostParams::default(),
            &common::pod("untagged-too", "nginx"),
        )
        .await
        .expect("a warned pod is still created through kube::Client");
}

#[tokio::test]
async fn a_namespace_selector_excluding_the_namespace_skips_the_call() {
    let (server, client) = common::quiet_server().await;
    let webhook = start_webhook(Behaviour::ImagePolicy).await;
    create_namespace(&client, "checked").await;
    create_namespace(&client, "unchecked").await;
    let selector =
        json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "checked"}}});
    register(
        &client,
        configuration("image-policy", url_client(&webhook), selector),
    )
    .await;
    pods(&client, "unchecked")
        .create(&PostParams::default(), &common::pod("free", "nginx:latest"))
        .await
        .expect("the excluded namespace is not checked");
    assert!(webhook.reviews().is_empty());
    let denied = pods(&client, "checked")
        .create(&PostParams::default(), &common::pod("bad", "nginx:latest"))
        .await;
    assert_eq!(common::status(denied).message, DENIAL);
    assert!(server.get("v1", "Pod", "checked", "bad").is_none());
}

#[tokio::test]
async fn an_unreachable_webhook_with_failure_policy_ignore_admits_the_request() {
    let (server, client) = common::quiet_server().await;
    let client_config = json!({"url": dead_url().await, "caBundle": ""});
    register(
        &client,
        configuration("down", client_config, json!({"failurePolicy": "Ignore"})),
    )
    .await;
    pods(&client, "default")
        .create(&PostParams::default(), &common::pod("p", "nginx:latest"))
        .await
        .expect("Ignore admits");
    assert!(server.get("v1", "Pod", "default", "p").is_some());
}

#[tokio::test]
async fn an_unreachable_webhook_with_failure_policy_fail_refuses_with_500() {
    let (server, client) = common::quiet_server().await;
    let webhook = start_webhook(Behaviour::ImagePolicy).await;
    let client_config = json!({"url": dead_url().await, "caBundle": webhook.ca_bundle});
    register(&client, configuration("down", client_config, json!({}))).await;
    let status = common::status(
        pods(&client, "default")
            .create(&PostParams::default(), &common::pod("p", "nginx:1"))
            .await,
    );
    assert_eq!(status.code, 500);
    let prefix = format!("Internal error occurred: failed calling webhook \"{WEBHOOK_NAME}\": ");
    assert!(status.message.starts_with(&prefix), "{}", status.message);
    assert!(server.get("v1", "Pod", "default", "p").is_none());
}

#[tokio::test]
async fn a_webhook_slower_than_its_timeout_fails_the_call() {
    let (server, client) = common::quiet_server().await;
    let slow = start_webhook(Behaviour::Sleep(Duration::from_secs(20))).await;
    register(
        &client,
        configuration("slow", url_client(&slow), json!({"timeoutSeconds": 1})),
    )
    .await;
    let status = common::status(
        pods(&client, "default")
            .create(&PostParams::default(), &common::pod("p", "nginx:1"))
            .await,
    );
    assert_eq!(status.code, 500);
    assert!(
        status.message.contains("context deadline exceeded"),
        "{}",
        status.message
    );
    assert!(status.message.contains("?timeout=1s"), "{}", status.message);
    assert!(server.get("v1", "Pod", "default", "p").is_none());
}

#[tokio::test]
async fn a_timed_out_webhook_with_failure_policy_ignore_admits_the_request() {
    let (server, client) = common::quiet_server().await;
    let slow = start_webhook(Behaviour::Sleep(Duration::from_secs(20))).await;
    let overrides = json!({"timeoutSeconds": 1, "failurePolicy": "Ignore"});
    register(&client, configuration("slow", url_client(&slow), overrides)).await;
    pods(&client, "default")
        .create(&PostParams::default(), &common::pod("p", "nginx:1"))
        .await
        .expect("Ignore admits after the timeout");
    assert!(server.get("v1", "Pod", "default", "p").is_some());
    assert_eq!(slow.reviews().len(), 1);
}

#[tokio::test]
async fn a_ca_bundle_that_does_not_sign_the_certificate_fails_the_call() {
    let (server, client) = common::quiet_server().await;
    let webhook = start_webhook(Behaviour::ImagePolicy).await;
    let stranger = start_webhook(Behaviour::ImagePolicy).await;
    let client_config = json!({"url": webhook.url(), "caBundle": stranger.ca_bundle});
    register(
        &client,
        configuration("mistrusted", client_config, json!({})),
    )
    .await;
    let status = common::status(
        pods(&client, "default")
            .create(&PostParams::default(), &common::pod("p", "nginx:1"))
            .await,
    );
    assert_eq!(status.code, 500, "{}", status.message);
    assert!(webhook.reviews().is_empty());
    assert!(server.get("v1", "Pod", "default", "p").is_none());
}

#[tokio::test]
async fn updates_are_reviewed_with_the_old_object() {
    let (server, client, webhook) = guarded_server().await;
    let api = pods(&client, "default");
    api.create(&PostParams::default(), &common::pod("p", "nginx:1"))
        .await
        .expect("created");
    let patch = json!({"spec": {"containers": [{"name": "app", "image": "nginx:latest"}]}});
    let denied = api
        .patch("p", &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    assert_eq!(common::status(denied).message, DENIAL);
    let stored = server.get("v1", "Pod", "default", "p").expect("stored");
    assert_eq!(stored["spec"]["containers"][0]["image"], "nginx:1");
    let update = webhook
        .reviews()
        .into_iter()
        .find(|r| r["operation"] == "UPDATE")
        .expect("an UPDATE review");
    assert_eq!(
        update["oldObject"]["spec"]["containers"][0]["image"],
        "nginx:1"
    );
    assert_eq!(update["options"]["kind"], "UpdateOptions");
}

#[tokio::test]
async fn a_service_reference_reaches_the_webhook_the_test_mapped() {
    let (server, client) = common::quiet_server().await;
    let webhook = start_webhook(Behaviour::ImagePolicy).await;
    server.map_service("hooks", "policy", 443, &webhook.base_url);
    let client_config = json!({"service": {"namespace": "hooks", "name": "policy", "path": "/validate"},
                               "caBundle": webhook.ca_bundle});
    register(
        &client,
        configuration("by-service", client_config, json!({})),
    )
    .await;
    let unrouted = pods(&client, "default")
        .create(&PostParams::default(), &common::pod("bad", "nginx:latest"))
        .await;
    assert_eq!(
        common::status(unrouted).message,
        "Internal error occurred: failed calling webhook \"images.policy.example\": failed to call webhook: \
         Post \"https://policy.hooks.svc:443/validate?timeout=5s\": service \"policy\" not found"
    );
    create_namespace(&client, "hooks").await;
    let service: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "policy"},
        "spec": {"selector": {"app": "policy"}, "ports": [{"port": 443, "targetPort": 8443}]},
    }))
    .expect("service");
    kube::Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), "hooks")
        .create(&PostParams::default(), &service)
        .await
        .expect("the webhook's service");
    let denied = pods(&client, "default")
        .create(&PostParams::default(), &common::pod("bad", "nginx:latest"))
        .await;
    assert_eq!(common::status(denied).message, DENIAL);
    assert_eq!(webhook.reviews().len(), 1);
}

#[tokio::test]
async fn dry_run_requests_are_reviewed_as_dry_runs_and_store_nothing() {
    let (server, client, webhook) = guarded_server().await;
    pods(&client, "default")
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &common::pod("p", "nginx:1"),
        )
        .await
        .expect("the dry run is admitted");
    assert!(server.get("v1", "Pod", "default", "p").is_none());
    let reviews = webhook.reviews();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["dryRun"], true);
    assert_eq!(reviews[0]["options"]["dryRun"], json!(["All"]));
}

#[tokio::test]
async fn rules_for_other_resources_or_operations_skip_the_call() {
    let (_server, client, webhook) = guarded_server().await;
    let api = pods(&client, "default");
    api.create(&PostParams::default(), &common::pod("p", "nginx:1"))
        .await
        .expect("created");
    api.delete("p", &Default::default()).await.expect("deleted");
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &common::config_map("c", json!({})))
        .await
        .expect("config map");
    let operations: Vec<Value> = webhook
        .reviews()
        .iter()
        .map(|r| r["operation"].clone())
        .collect();
    assert_eq!(operations, vec![json!("CREATE")]);
}

#[tokio::test]
async fn webhook_configurations_are_validated_like_the_real_server() {
    let (_server, client) = common::quiet_server().await;
    let url = json!({"url": "https://127.0.0.1:1/validate"});
    let cases = [
        (
            json!({"sideEffects": null}),
            "webhooks[0].sideEffects: Required value",
        ),
        (
            json!({"timeoutSeconds": 31}),
            "webhooks[0].timeoutSeconds: Invalid value: 31",
        ),
        (
            json!({"admissionReviewVersions": []}),
            "webhooks[0].admissionReviewVersions: Required value",
        ),
        (json!({"name": "short"}), "webhooks[0].name: Invalid value"),
        (
            json!({"clientConfig": {"url": "https://127.0.0.1:1/v",
                                 "service": {"namespace": "a", "name": "b"}}}),
            "webhooks[0].clientConfig: Required value: exactly one of url or service is required",
        ),
    ];
    let api: Api<kube::api::DynamicObject> = Api::all_with(
        client.clone(),
        &kube::api::ApiResource::erase::<ValidatingWebhookConfiguration>(&()),
    );
    for (overrides, expected) in cases {
        let mut object = configuration("invalid", url.clone(), overrides.clone());
        if let Some(webhook) = object["webhooks"][0].as_object_mut() {
            webhook.retain(|_, v| !v.is_null());
        }
        let object: kube::api::DynamicObject =
            serde_json::from_value(object).expect("a dynamic object");
        let status = common::status(api.create(&PostParams::default(), &object).await);
        assert_eq!(status.code, 422, "{overrides}");
        assert!(
            status.message.contains(expected),
            "{overrides}: {}",
            status.message
        );
    }
}

#[tokio::test]
async fn namespaces_keep_their_name_label_through_updates() {
    let (server, client) = common::quiet_server().await;
    create_namespace(&client, "team").await;
    let api = Api::<Namespace>::all(client.clone());
    let mut namespace = api.get("team").await.expect("namespace");
    namespace.metadata.labels = None;
    api.replace("team", &PostParams::default(), &namespace)
        .await
        .expect("replaced");
    let stored = server.get("v1", "Namespace", "", "team").expect("stored");
    assert_eq!(
        stored["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team"
    );
}

fn deny_rule(operations: Value, resources: Value) -> Value {
    json!({"rules": [{"apiGroups": [""], "apiVersions": ["v1"],
                      "operations": operations, "resources": resources}]})
}

#[tokio::test]
async fn a_delete_rule_sees_the_old_object_and_can_keep_the_object() {
    let (server, client) = common::quiet_server().await;
    let webhook = start_webhook(Behaviour::Deny("pods stay")).await;
    let api = pods(&client, "default");
    api.create(&PostParams::default(), &common::pod("p", "nginx:1"))
        .await
        .expect("created before the webhook exists");
    register(
        &client,
        configuration(
            "no-deletes",
            url_client(&webhook),
            deny_rule(json!(["DELETE"]), json!(["pods"])),
        ),
    )
    .await;
    let denied = api.delete("p", &Default::default()).await;
    assert_eq!(
        common::status(denied).message,
        "admission webhook \"images.policy.example\" denied the request: pods stay"
    );
    let collection = api
        .delete_collection(&Default::default(), &Default::default())
        .await;
    assert_eq!(common::status(collection).code, 403);
    assert!(server.get("v1", "Pod", "default", "p").is_some());
    let reviews = webhook.reviews();
    assert_eq!(reviews.len(), 2, "{reviews:?}");
    assert_eq!(reviews[0]["operation"], "DELETE");
    assert_eq!(reviews[0]["object"], Value::Null);
    assert_eq!(reviews[0]["oldObject"]["metadata"]["name"], "p");
    assert_eq!(reviews[0]["options"]["kind"], "DeleteOptions");
}

#[tokio::test]
async fn a_status_rule_guards_the_status_subresource_only() {
    let (server, client) = common::quiet_server().await;
    let webhook = start_webhook(Behaviour::Deny("status is frozen")).await;
    let api = pods(&client, "default");
    api.create(&PostParams::default(), &common::pod("p", "nginx:1"))
        .await
        .expect("created");
    register(
        &client,
        configuration(
            "frozen-status",
            url_client(&webhook),
            deny_rule(json!(["UPDATE"]), json!(["pods/status"])),
        ),
    )
    .await;
    let labels = json!({"metadata": {"labels": {"a": "b"}}});
    api.patch("p", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .expect("the main resource is not guarded");
    let status = json!({"status": {"phase": "Failed"}});
    let denied = api
        .patch_status("p", &PatchParams::default(), &Patch::Merge(&status))
        .await;
    assert_eq!(common::status(denied).code, 403);
    let stored = server.get("v1", "Pod", "default", "p").expect("stored");
    assert_ne!(stored["status"]["phase"], "Failed");
    let reviews = webhook.reviews();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(reviews[0]["subResource"], "status");
}

#[tokio::test]
async fn webhook_configurations_themselves_are_never_sent_to_webhooks() {
    let (_server, client) = common::quiet_server().await;
    let webhook = start_webhook(Behaviour::Deny("nothing passes")).await;
    let everything = json!({"rules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                                       "operations": ["*"], "resources": ["*"]}]});
    register(
        &client,
        configuration("everything", url_client(&webhook), everything.clone()),
    )
    .await;
    register(
        &client,
        configuration("second", url_client(&webhook), everything),
    )
    .await;
    assert!(webhook.reviews().is_empty());
    let denied =
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), "default")
            .create(&PostParams::default(), &common::config_map("c", json!({})))
            .await;
    assert_eq!(common::status(denied).code, 403);
}

#[tokio::test]
async fn a_scale_rule_reviews_scale_objects() {
    let (server, client) = common::quiet_server().await;
    let webhook = start_webhook(Behaviour::Deny("no scaling")).await;
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), "default");
    deployments
        .create(
            &PostParams::default(),
            &common::deployment("web", 1, "nginx:1"),
        )
        .await
        .expect("created");
    let rules = json!({"rules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                  "operations": ["UPDATE"], "resources": ["deployments/scale"]}]});
    register(
        &client,
        configuration("no-scaling", url_client(&webhook), rules),
    )
    .await;
    let scale = json!({"spec": {"replicas": 3}});
    let denied = deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(&scale))
        .await;
    assert_eq!(common::status(denied).code, 403);
    let stored = server
        .get("apps/v1", "Deployment", "default", "web")
        .expect("stored");
    assert_eq!(stored["spec"]["replicas"], 1);
    let reviews = webhook.reviews();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(
        reviews[0]["kind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    assert_eq!(reviews[0]["object"]["spec"]["replicas"], 3);
    assert_eq!(reviews[0]["oldObject"]["spec"]["replicas"], 1);
}

#[tokio::test]
async fn pods_the_controllers_create_pass_admission_and_a_refusal_is_a_failed_create_event() {
    let (server, client) = common::server(kube_apiserver_test::ServerConfig::new()).await;
    let webhook = start_webhook(Behaviour::ImagePolicy).await;
    register(
        &client,
        configuration("image-policy", url_client(&webhook), json!({})),
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    // The Deployment itself is not guarded; its pods are.
    deployments
        .create(
            &PostParams::default(),
            &common::deployment("bad", 2, "nginx:latest"),
        )
        .await
        .expect("the deployment is created");
    deployments
        .create(
            &PostParams::default(),
            &common::deployment("good", 2, "nginx:1.27"),
        )
        .await
        .expect("the deployment is created");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let event = common::eventually("a FailedCreate event on the bad ReplicaSet", || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items.into_iter().find(|e| {
                e.reason.as_deref() == Some("FailedCreate")
                    && e.involved_object
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("bad-"))
            })
        }
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.involved_object.kind.as_deref(), Some("ReplicaSet"));
    assert_eq!(
        event.message.as_deref(),
        Some(format!("Error creating: {DENIAL}").as_str())
    );
    assert_eq!(
        event.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("replicaset-controller")
    );
    let failure_of = |deployment: Deployment| {
        deployment
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "ReplicaFailure")
    };
    let failure = common::eventually("ReplicaFailure on the bad deployment", || {
        let deployments = deployments.clone();
        async move { failure_of(deployments.get("bad").await.ok()?) }
    })
    .await;
    assert_eq!(failure.status, "True");
    assert_eq!(failure.reason.as_deref(), Some("FailedCreate"));
    assert_eq!(failure.message.as_deref(), Some(DENIAL));
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let bad_sets = sets
        .list(&ListParams::default().labels("app=bad"))
        .await
        .expect("replica sets");
    let set_failure = bad_sets.items[0]
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    assert_eq!(set_failure.len(), 1, "{set_failure:?}");
    assert_eq!(set_failure[0].type_, "ReplicaFailure");
    assert_eq!(set_failure[0].message.as_deref(), Some(DENIAL));
    let pods_of = |app: &str| count_pods(&client, "default", format!("app={app}"));
    common::eventually("the good deployment's two pods", || async {
        (pods_of("good").await == 2).then_some(())
    })
    .await;
    assert_eq!(pods_of("bad").await, 0, "a refused pod is never stored");
    let reviewed = webhook.reviews();
    assert!(
        reviewed.iter().any(|r| r["object"]["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("good-"))
            && r["options"]["fieldManager"] == "kube-controller-manager"),
        "the controller's creations are reviewed: {reviewed:?}"
    );
    // Backed off, not hammering: a handful of attempts, not one per pass.
    let refused = reviewed
        .iter()
        .filter(|r| {
            r["object"]["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("bad-"))
        })
        .count();
    assert!(refused <= 10, "{refused} reviews of refused pods");
    // Once the webhook is gone, the refused owner gets its pods after its backoff.
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .delete("image-policy", &Default::default())
        .await
        .expect("the configuration is deleted");
    common::eventually(
        "the bad deployment's pods once nothing refuses them",
        || async { (pods_of("bad").await == 2).then_some(()) },
    )
    .await;
    common::eventually("ReplicaFailure cleared once pods are created", || {
        let deployments = deployments.clone();
        async move {
            let deployment = deployments.get("bad").await.ok()?;
            failure_of(deployment).is_none().then_some(())
        }
    })
    .await;
    drop(server);
}

#[tokio::test]
async fn a_slow_webhook_holds_back_only_the_pods_it_reviews() {
    let (_server, client) = common::server(kube_apiserver_test::ServerConfig::new()).await;
    create_namespace(&client, "slow").await;
    let webhook = start_webhook(Behaviour::Sleep(Duration::from_secs(8))).await;
    let only_slow = json!({
        "timeoutSeconds": 10,
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "slow"}},
    });
    register(
        &client,
        configuration("sleepy", url_client(&webhook), only_slow),
    )
    .await;
    let create = |namespace: &'static str| {
        let deployments = Api::<Deployment>::namespaced(client.clone(), namespace);
        async move {
            deployments
                .create(
                    &PostParams::default(),
                    &common::deployment("web", 2, "nginx:1.27"),
                )
                .await
                .expect("the deployment is created");
        }
    };
    create("slow").await;
    common::eventually("the guarded pods under review", || async {
        (!webhook.reviews().is_empty()).then_some(())
    })
    .await;
    // While the webhook sleeps over those pods, another namespace's deployment is created.
    create("default").await;
    let count = |namespace: &'static str| count_pods(&client, namespace, String::new());
    common::eventually("the unguarded namespace's pods", || async {
        (count("default").await == 2).then_some(())
    })
    .await;
    // The guarded pods are still under review (the webhook sleeps 8 s) when the others exist.
    assert_eq!(count("slow").await, 0);
    common::eventually("the guarded pods once the webhook answers", || async {
        (count("slow").await == 2).then_some(())
    })
    .await;
    let reviews = webhook.reviews();
    assert!(
        reviews.len() <= 4,
        "each pod reviewed about once: {reviews:?}"
    );
}
