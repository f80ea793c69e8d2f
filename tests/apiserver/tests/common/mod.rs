//! Shared helpers for the integration tests: start a server, build objects, wait for a
//! condition with a generous timeout, and read the `Status` out of a kube error.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use kube::core::Status;
use kube_apiserver_test::{ApiServerHandle, ServerConfig, start};
use serde_json::{Value, json};

pub mod kubectl;
pub mod webhook;

/// How long `eventually` waits before failing the test.
const PATIENCE: Duration = Duration::from_secs(30);

/// A server without workload simulation, and a client for it.
pub async fn quiet_server() -> (ApiServerHandle, kube::Client) {
    server(ServerConfig::new().simulation(false)).await
}

/// A server with the given configuration, and a client for it.
pub async fn server(config: ServerConfig) -> (ApiServerHandle, kube::Client) {
    let handle = start(config).await.expect("the server starts");
    let client = handle
        .client()
        .await
        .expect("a client can be built from the kubeconfig");
    (handle, client)
}

/// Polls `probe` until it answers `Some`, failing the test after a generous timeout.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The `Status` of a failed call; fails the test when the call succeeded or failed otherwise.
pub fn status<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Creates ConfigMaps `cm-0` .. `cm-<count - 1>` without labels.
pub async fn create_config_maps(
    api: &kube::Api<k8s_openapi::api::core::v1::ConfigMap>,
    count: usize,
) {
    for i in 0..count {
        api.create(
            &kube::api::PostParams::default(),
            &config_map(&format!("cm-{i}"), json!({})),
        )
        .await
        .expect("create");
    }
}

/// A ConfigMap with labels.
pub fn config_map(name: &str, labels: Value) -> k8s_openapi::api::core::v1::ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"key": "value"},
    }))
    .expect("a valid ConfigMap")
}

/// A Deployment of `replicas` pods running `image`.
pub fn deployment(
    name: &str,
    replicas: i32,
    image: &str,
) -> k8s_openapi::api::apps::v1::Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }))
    .expect("a valid Deployment")
}

/// A bare Pod running `image`.
pub fn pod(name: &str, image: &str) -> k8s_openapi::api::core::v1::Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }))
    .expect("a valid Pod")
}

/// The resourceVersion of an object as a number.
pub fn rv_of<K: kube::Resource>(object: &K) -> u64 {
    object
        .meta()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .expect("a numeric resourceVersion")
}

/// A raw HTTP/1.1 request, for requests the kube client will not make. Answers the status
/// code and the whole response text.
pub async fn raw(
    url: &str,
    token: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    raw_accepting(
        url,
        token,
        method,
        path,
        content_type,
        "application/json",
        body,
    )
    .await
}

/// A raw HTTP/1.1 request with an `Accept` header, sent with a bearer token (none when
/// `token` is empty).
pub async fn raw_accepting(
    url: &str,
    token: &str,
    method: &str,
    path: &str,
    content_type: &str,
    accept: &str,
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let authorization = if token.is_empty() {
        String::new()
    } else {
        format!("Authorization: Bearer {token}\r\n")
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\nAccept: {accept}\r\n\
         {authorization}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, response)
}
