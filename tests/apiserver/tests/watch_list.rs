//! Streaming lists (`sendInitialEvents`): served by default, closed by the bookmark that
//! marks the end of the initial events; refused with 422 when the server is started
//! without them, as kube-apiserver refuses them without its WatchList feature.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, WatchEvent, WatchParams};
use kube_apiserver_test::{ServerConfig, start};
use serde_json::json;

fn params() -> WatchParams {
    WatchParams {
        send_initial_events: true,
        bookmarks: true,
        timeout: Some(5),
        ..WatchParams::default()
    }
}

#[tokio::test]
async fn a_streaming_list_sends_every_object_then_its_end_bookmark() {
    let h = start(ServerConfig::new().simulation(false)).await.unwrap();
    h.create(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "default"}}))
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(h.client().await.unwrap(), "default");
    let mut events = api.watch(&params(), "0").await.unwrap().boxed();
    let mut names = Vec::new();
    loop {
        match events.next().await.unwrap().unwrap() {
            WatchEvent::Added(cm) => names.push(cm.metadata.name.unwrap_or_default()),
            WatchEvent::Bookmark(b) => {
                assert!(
                    b.metadata
                        .annotations
                        .contains_key("k8s.io/initial-events-end")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(names.contains(&"a".to_owned()), "{names:?}");
}

#[tokio::test]
async fn without_watch_list_a_streaming_list_is_refused_with_422() {
    let h = start(ServerConfig::new().simulation(false).watch_list(false))
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(h.client().await.unwrap(), "default");
    let Err(kube::Error::Api(status)) = api.watch(&params(), "0").await.map(|_| ()) else {
        panic!("a streaming list was not refused");
    };
    assert_eq!(status.code, 422);
    assert!(status.message.contains("sendInitialEvents"), "{status:?}");
    // A plain watch is still served.
    let plain = WatchParams {
        timeout: Some(1),
        ..WatchParams::default()
    };
    assert!(api.watch(&plain, "0").await.is_ok());
}

#[tokio::test]
async fn watch_events_name_their_type_before_their_object() {
    use futures::AsyncBufReadExt;
    let h = start(ServerConfig::new().simulation(false)).await.unwrap();
    let client = h.client().await.unwrap();
    let request =
        hyper::Request::get("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
            .body(Vec::new())
            .unwrap();
    h.create(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "default"}}))
        .unwrap();
    let mut lines = client.request_stream(request).await.unwrap().lines();
    let first = lines.next().await.unwrap().unwrap();
    // As kube-apiserver writes them: a client knows the event's type before its object.
    assert!(
        first.starts_with(r#"{"type":"ADDED","object":{"#),
        "{first}"
    );
}
