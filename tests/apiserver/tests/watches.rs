//! Watches through the real kube client and `kube_runtime::watcher`: events and
//! bookmarks, selector transitions, 410 Gone for compacted versions (per resource), and watcher recovery
//! after compaction and after dropped connections.

mod common;

use std::time::Duration;

use common::{config_map, create_config_maps, eventually, quiet_server, rv_of, server};
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube_apiserver_test::{RequestMatch, ServerConfig};
use serde_json::json;
use tokio::sync::mpsc;

fn kind_of(event: &WatchEvent<ConfigMap>) -> String {
    match event {
        WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => {
            format!("MODIFIED {}", o.metadata.name.clone().unwrap_or_default())
        }
        WatchEvent::Deleted(o) => {
            format!("DELETED {}", o.metadata.name.clone().unwrap_or_default())
        }
        WatchEvent::Bookmark(_) => "BOOKMARK".into(),
        WatchEvent::Error(s) => format!("ERROR {} {}", s.code, s.reason),
    }
}

/// The next event within a generous time; `None` when the stream ends.
async fn next_event<S>(stream: &mut S) -> Option<WatchEvent<ConfigMap>>
where
    S: Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(30), stream.try_next())
        .await
        .expect("an event in time")
        .expect("a decodable event")
}

/// The next `count` events other than bookmarks, as short strings.
async fn next_changes<S>(stream: &mut S, count: usize) -> Vec<String>
where
    S: Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    let mut seen = Vec::new();
    while seen.len() < count {
        let event = next_event(stream).await.expect("the stream stays open");
        if !matches!(event, WatchEvent::Bookmark(_)) {
            seen.push(kind_of(&event));
        }
    }
    seen
}

#[tokio::test]
async fn a_watch_from_a_version_sees_later_changes_in_order() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = api
        .create(&PostParams::default(), &config_map("a", json!({})))
        .await
        .expect("create a");
    let stream = api
        .watch(&WatchParams::default(), &rv_of(&first).to_string())
        .await
        .expect("watch");
    let mut stream = stream.boxed();
    api.create(&PostParams::default(), &config_map("b", json!({})))
        .await
        .expect("create b");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .expect("patch a");
    api.delete("b", &Default::default())
        .await
        .expect("delete b");
    let seen = next_changes(&mut stream, 3).await;
    assert_eq!(seen, vec!["ADDED b", "MODIFIED a", "DELETED b"]);
}

#[tokio::test]
async fn a_label_selected_watch_sees_objects_enter_and_leave_the_selection() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm = api
        .create(
            &PostParams::default(),
            &config_map("x", json!({"app": "other"})),
        )
        .await
        .expect("create");
    let params = WatchParams::default().labels("app=web");
    let mut stream = api
        .watch(&params, &rv_of(&cm).to_string())
        .await
        .expect("watch")
        .boxed();
    for app in ["web", "other"] {
        let patch = Patch::Merge(json!({"metadata": {"labels": {"app": app}}}));
        api.patch("x", &PatchParams::default(), &patch)
            .await
            .expect("relabel");
    }
    let seen = next_changes(&mut stream, 2).await;
    assert_eq!(seen, vec!["ADDED x", "DELETED x"]);
}

#[tokio::test]
async fn watches_that_allow_bookmarks_receive_them() {
    // The kube client asks for bookmarks by default.
    let config = ServerConfig::new()
        .simulation(false)
        .bookmark_interval(Duration::from_millis(50));
    let (_server, client) = server(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = api
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch")
        .boxed();
    let bookmark = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(event)) = stream.try_next().await {
            if let WatchEvent::Bookmark(b) = event {
                return Some(b);
            }
        }
        None
    })
    .await
    .expect("a bookmark in time");
    assert!(bookmark.is_some_and(|b| !b.metadata.resource_version.is_empty()));
}

#[tokio::test]
async fn a_watch_from_a_compacted_version_gets_a_410_error_event() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let old = api
        .create(&PostParams::default(), &config_map("a", json!({})))
        .await
        .expect("create");
    api.create(&PostParams::default(), &config_map("b", json!({})))
        .await
        .expect("create");
    server.compact();
    let mut stream = api
        .watch(&WatchParams::default(), &rv_of(&old).to_string())
        .await
        .expect("watch")
        .boxed();
    let event = next_event(&mut stream).await;
    assert_eq!(
        event.as_ref().map(kind_of),
        Some("ERROR 410 Expired".to_string())
    );
}

#[tokio::test]
async fn expired_watches_get_a_410_even_when_a_bookmark_told_them_the_newest_version() {
    let config = ServerConfig::new()
        .simulation(false)
        .bookmark_interval(Duration::from_millis(10));
    let (server, client) = server(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api
        .create(&PostParams::default(), &config_map("a", json!({})))
        .await
        .expect("create");
    let newest = rv_of(&created);
    let mut stream = api
        .watch(&WatchParams::default(), &newest.to_string())
        .await
        .expect("watch")
        .boxed();
    // Bookmarks carry the newest version written, so the client may hold exactly that one.
    let mut held = 0;
    while held < newest {
        match next_event(&mut stream).await {
            Some(WatchEvent::Bookmark(b)) => {
                held = b.metadata.resource_version.parse().unwrap_or(0)
            }
            other => panic!("a bookmark, not {:?}", other.as_ref().map(kind_of)),
        }
    }
    server
        .expire_watches(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "marker", "namespace": "default"}}))
        .expect("expire");
    // The stream ends; whatever it still sent is the version the client resumes from.
    while let Some(event) = next_event(&mut stream).await {
        if let WatchEvent::Bookmark(b) = &event {
            held = b.metadata.resource_version.parse().unwrap_or(held);
        }
    }
    let mut resumed = api
        .watch(&WatchParams::default(), &held.to_string())
        .await
        .expect("watch")
        .boxed();
    let event = next_event(&mut resumed).await;
    assert_eq!(
        event.as_ref().map(kind_of),
        Some("ERROR 410 Expired".to_string())
    );
}

/// Runs a watcher on ConfigMaps and forwards its events as short strings.
fn run_watcher(api: Api<ConfigMap>) -> mpsc::UnboundedReceiver<String> {
    run_watcher_with(api, watcher::Config::default())
}

/// Runs a watcher with a configuration and forwards its events as short strings.
fn run_watcher_with(
    api: Api<ConfigMap>,
    config: watcher::Config,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        while let Some(event) = stream.next().await {
            let text = match event {
                Ok(Event::Init) => "Init".to_string(),
                Ok(Event::InitApply(o)) => {
                    format!("InitApply {}", o.metadata.name.unwrap_or_default())
                }
                Ok(Event::InitDone) => "InitDone".to_string(),
                Ok(Event::Apply(o)) => format!("Apply {}", o.metadata.name.unwrap_or_default()),
                Ok(Event::Delete(o)) => format!("Delete {}", o.metadata.name.unwrap_or_default()),
                Err(e) => format!("Error {e}"),
            };
            if tx.send(text).is_err() {
                return;
            }
        }
    });
    rx
}

async fn wait_for(rx: &mut mpsc::UnboundedReceiver<String>, wanted: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = rx.recv().await {
            let done = event == wanted;
            seen.push(event);
            if done {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "waiting for {wanted:?}, saw {seen:?}");
    seen
}

#[tokio::test]
async fn the_watcher_relists_after_its_version_is_compacted_away() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("before", json!({})))
        .await
        .expect("create");
    let mut events = run_watcher(api.clone());
    wait_for(&mut events, "InitDone").await;

    server.fail_next(
        RequestMatch::any().verb("watch").resource("configmaps"),
        u32::MAX,
        503,
    );
    server.close_watches();
    server
        .create(serde_json::to_value(config_map("during", json!({}))).expect("json"))
        .expect("create");
    server.compact();
    server.clear_faults();

    let seen = wait_for(&mut events, "InitApply during").await;
    assert!(
        seen.iter().any(|e| e.contains("410") || e == "Init"),
        "the watcher restarted: {seen:?}"
    );
    wait_for(&mut events, "InitDone").await;
    api.create(&PostParams::default(), &config_map("after", json!({})))
        .await
        .expect("create");
    wait_for(&mut events, "Apply after").await;
}

#[tokio::test]
async fn the_watcher_resumes_after_its_connection_is_dropped() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut events = run_watcher(api.clone());
    wait_for(&mut events, "InitDone").await;
    for round in 0..3 {
        server.close_watches();
        let name = format!("round-{round}");
        api.create(&PostParams::default(), &config_map(&name, json!({})))
            .await
            .expect("create");
        wait_for(&mut events, &format!("Apply {name}")).await;
    }
    let stored = eventually("three objects", || async {
        let n = server.list("v1", "ConfigMap", Some("default")).len();
        (n == 3).then_some(n)
    })
    .await;
    assert_eq!(stored, 3);
}

#[tokio::test]
async fn a_streaming_list_watcher_gets_the_initial_state_then_live_events() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("existing", json!({})))
        .await
        .expect("create");
    let mut events = run_watcher_with(api.clone(), watcher::Config::default().streaming_lists());
    let initial = wait_for(&mut events, "InitDone").await;
    assert!(
        initial.contains(&"InitApply existing".to_string()),
        "{initial:?}"
    );
    api.create(&PostParams::default(), &config_map("later", json!({})))
        .await
        .expect("create");
    wait_for(&mut events, "Apply later").await;
}

#[tokio::test]
async fn a_version_that_fell_out_of_the_history_window_is_expired() {
    let config = ServerConfig::new().simulation(false).history_limit(3);
    let (_server, client) = server(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = api
        .create(&PostParams::default(), &config_map("first", json!({})))
        .await
        .expect("create");
    create_config_maps(&api, 5).await;
    let mut stream = api
        .watch(&WatchParams::default(), &rv_of(&first).to_string())
        .await
        .expect("watch")
        .boxed();
    let event = next_event(&mut stream).await;
    assert_eq!(
        event.as_ref().map(kind_of),
        Some("ERROR 410 Expired".to_string())
    );
}

#[tokio::test]
async fn writes_to_another_resource_never_expire_a_watch_version() {
    let config = ServerConfig::new().simulation(false).history_limit(3);
    let (_server, client) = server(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = api
        .create(&PostParams::default(), &config_map("first", json!({})))
        .await
        .expect("create");
    api.create(&PostParams::default(), &config_map("second", json!({})))
        .await
        .expect("create");
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    for i in 0..10 {
        let mut secret = Secret::default();
        secret.metadata.name = Some(format!("s-{i}"));
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }
    let mut stream = api
        .watch(&WatchParams::default(), &rv_of(&first).to_string())
        .await
        .expect("watch")
        .boxed();
    assert_eq!(next_changes(&mut stream, 1).await, vec!["ADDED second"]);
}

#[tokio::test]
async fn removing_the_last_finalizer_emits_the_deletion() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = config_map("held", json!({}));
    cm.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let created = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let mut stream = api
        .watch(&WatchParams::default(), &rv_of(&created).to_string())
        .await
        .expect("watch")
        .boxed();
    api.delete("held", &Default::default())
        .await
        .expect("delete");
    let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    api.patch("held", &PatchParams::default(), &release)
        .await
        .expect("release");
    let seen = next_changes(&mut stream, 2).await;
    assert_eq!(seen, vec!["MODIFIED held", "DELETED held"]);
}

#[tokio::test]
async fn a_watch_ends_after_its_timeout() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .expect("watch")
        .boxed();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(_)) = stream.try_next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ended");
}
