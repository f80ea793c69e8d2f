//! Fault injection, access reviews and discovery through the real kube client and raw
//! HTTP: failing and delaying the next N requests, SelfSubjectAccessReview answers, and
//! discovery documents including the plain answer to aggregated discovery requests.

mod common;

use std::time::Duration;

use common::{config_map, quiet_server, raw_accepting, status};
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use kube::discovery::Discovery;
use kube_apiserver_test::RequestMatch;
use serde_json::{Value, json};

#[tokio::test]
async fn injected_failures_hit_exactly_the_matching_requests() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("cm", json!({})))
        .await
        .expect("create");
    server.fail_next(
        RequestMatch::any().verb("get").resource("configmaps"),
        2,
        500,
    );
    let listed = api.list(&ListParams::default()).await;
    assert!(listed.is_ok(), "a list is not a get");
    let first = status(api.get("cm").await);
    let second = status(api.get("cm").await);
    assert_eq!((first.code, first.reason.as_str()), (500, "InternalError"));
    assert_eq!(second.code, 500);
    assert!(api.get("cm").await.is_ok(), "the third get is served");
}

#[tokio::test]
async fn an_injected_delay_holds_the_request_at_least_that_long() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let delay = Duration::from_millis(300);
    server.delay_next(RequestMatch::any().verb("list"), 1, delay);
    let started = tokio::time::Instant::now();
    api.list(&ListParams::default()).await.expect("list");
    assert!(started.elapsed() >= delay);
}

fn review(verb: &str, resource: &str) -> SelfSubjectAccessReview {
    serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": "default"}},
    }))
    .expect("a valid review")
}

#[tokio::test]
async fn access_reviews_allow_unless_the_pair_is_denied() {
    let (server, client) = quiet_server().await;
    let api: Api<SelfSubjectAccessReview> = Api::all(client);
    server.deny_access("patch", "deployments");
    let cases = [
        ("patch", "deployments", false),
        ("get", "deployments", true),
        ("patch", "pods", true),
    ];
    for (verb, resource, allowed) in cases {
        let answer = api
            .create(&PostParams::default(), &review(verb, resource))
            .await
            .expect("review");
        assert_eq!(
            answer.status.map(|s| s.allowed),
            Some(allowed),
            "{verb} {resource}"
        );
    }
    server.forbid_access_reviews(true);
    let refused = status(
        api.create(&PostParams::default(), &review("get", "pods"))
            .await,
    );
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
}

#[tokio::test]
async fn discovery_lists_built_in_resources_and_their_status_subresources() {
    let (server, client) = quiet_server().await;
    let discovery = Discovery::new(client).run().await.expect("discovery");
    let kinds: Vec<String> = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .map(|(r, _)| r.kind)
        .collect();
    for kind in [
        "Pod",
        "Deployment",
        "Job",
        "Lease",
        "CustomResourceDefinition",
        "SelfSubjectAccessReview",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let (_, core) = raw_accepting(
        server.url(),
        &server.admin_token(),
        "GET",
        "/api/v1",
        "",
        "application/json",
        "",
    )
    .await;
    let body: Value =
        serde_json::from_str(core.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap_or_default();
    let names: Vec<&str> = body["resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"pods/status"), "{names:?}");
}

#[tokio::test]
async fn aggregated_discovery_requests_get_the_plain_documents() {
    let (server, _client) = quiet_server().await;
    let accept =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let (code, response) = raw_accepting(
        server.url(),
        &server.admin_token(),
        "GET",
        "/apis",
        "",
        accept,
        "",
    )
    .await;
    assert_eq!(code, 200);
    let lowered = response.to_ascii_lowercase();
    assert!(
        lowered.contains("content-type: application/json\r\n"),
        "{response}"
    );
    assert!(response.contains("\"kind\":\"APIGroupList\""), "{response}");
}

#[tokio::test]
async fn protobuf_request_bodies_are_refused_as_unsupported_media() {
    let (server, _client) = quiet_server().await;
    let (code, response) = common::raw(
        server.url(),
        &server.admin_token(),
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/vnd.kubernetes.protobuf",
        "k8s\u{0}",
    )
    .await;
    assert_eq!(code, 415, "{response}");
}
