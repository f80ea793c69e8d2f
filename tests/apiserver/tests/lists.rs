//! Lists through the real kube client: pagination with opaque continue tokens that stay
//! consistent at the first page's resourceVersion, label selectors, and field selectors
//! (supported fields filter, others are refused with 400).

mod common;

use common::{config_map, create_config_maps, pod, quiet_server, server, status};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube_apiserver_test::ServerConfig;
use serde_json::json;

#[tokio::test]
async fn pages_cover_the_list_once_and_stay_consistent_at_their_version() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    create_config_maps(&api, 5).await;
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("first page");
    let token = first.metadata.continue_.clone().expect("a continue token");
    api.create(&PostParams::default(), &config_map("cm-late", json!({})))
        .await
        .expect("create during paging");
    let mut names: Vec<String> = first
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let mut next = Some(token);
    while let Some(token) = next {
        let page = api
            .list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .expect("page");
        assert_eq!(
            page.metadata.resource_version, first.metadata.resource_version,
            "pages share a version"
        );
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        next = page.metadata.continue_.clone();
    }
    assert_eq!(names, vec!["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
}

#[tokio::test]
async fn a_continue_token_outlives_the_watch_history_window() {
    let config = ServerConfig::new().simulation(false).history_limit(3);
    let (_server, client) = server(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    create_config_maps(&api, 4).await;
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("first page");
    for i in 0..10 {
        let extra = config_map(&format!("later-{i}"), json!({}));
        api.create(&PostParams::default(), &extra)
            .await
            .expect("create");
    }
    let token = first.metadata.continue_.expect("a continue token");
    let rest = api
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .expect("the next page, as etcd still holds the list's revision");
    let names: Vec<_> = rest
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(names, vec!["cm-2", "cm-3"]);
    assert_eq!(
        rest.metadata.resource_version,
        first.metadata.resource_version
    );
}

#[tokio::test]
async fn a_list_paged_through_outlives_many_one_page_lists_in_between() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    create_config_maps(&api, 6).await;
    let mut page = api
        .list(&ListParams::default().limit(1))
        .await
        .expect("first page");
    let mut names = Vec::new();
    loop {
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        let Some(token) = page.metadata.continue_.clone() else {
            break;
        };
        for _ in 0..20 {
            api.list(&ListParams::default().limit(1))
                .await
                .expect("a one-page list, as a liveness probe makes");
        }
        page = api
            .list(&ListParams::default().limit(1).continue_token(&token))
            .await
            .expect("the next page, though over 64 other lists were made since the first");
    }
    assert_eq!(names.len(), 6);
}

#[tokio::test]
async fn a_compacted_continue_token_is_gone() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    create_config_maps(&api, 3).await;
    let first = api
        .list(&ListParams::default().limit(1))
        .await
        .expect("first page");
    let token = first.metadata.continue_.expect("a continue token");
    server.compact();
    let gone = status(
        api.list(&ListParams::default().limit(1).continue_token(&token))
            .await,
    );
    assert_eq!(
        (gone.code, gone.reason.as_str()),
        (410, "Expired"),
        "{}",
        gone.message
    );
}

#[tokio::test]
async fn label_selectors_filter_lists() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let objects = [
        ("web", json!({"app": "web", "tier": "front"})),
        ("api", json!({"app": "api", "tier": "back"})),
        ("db", json!({"app": "db"})),
    ];
    for (name, labels) in objects {
        api.create(&PostParams::default(), &config_map(name, labels))
            .await
            .expect("create");
    }
    let cases = [
        ("app=web", vec!["web"]),
        ("app==api", vec!["api"]),
        ("app!=web", vec!["api", "db"]),
        ("app in (web,db)", vec!["db", "web"]),
        ("app notin (web,db)", vec!["api"]),
        ("tier", vec!["api", "web"]),
        ("!tier", vec!["db"]),
        ("tier=front,app=api", vec![]),
    ];
    for (selector, expected) in cases {
        let listed = api
            .list(&ListParams::default().labels(selector))
            .await
            .expect(selector);
        let names: Vec<String> = listed
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        assert_eq!(names, expected, "{selector}");
    }
}

#[tokio::test]
async fn field_selectors_filter_on_supported_fields_and_refuse_the_rest() {
    let (server, client) = quiet_server().await;
    let api: Api<Pod> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &pod("a", "nginx"))
        .await
        .expect("create a");
    api.create(&PostParams::default(), &pod("b", "nginx"))
        .await
        .expect("create b");
    server
        .set_pod_status("default", "b", json!({"phase": "Running"}))
        .expect("script b");
    let cases = [
        ("metadata.name=a", vec!["a"]),
        ("metadata.namespace=default", vec!["a", "b"]),
        ("status.phase=Running", vec!["b"]),
        ("status.phase!=Running", vec!["a"]),
        ("spec.nodeName=", vec!["a", "b"]),
        ("spec.schedulerName=default-scheduler", vec!["a", "b"]),
        ("spec.restartPolicy!=Always", vec![]),
    ];
    for (selector, expected) in cases {
        let listed = api
            .list(&ListParams::default().fields(selector))
            .await
            .expect(selector);
        let names: Vec<String> = listed
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        assert_eq!(names, expected, "{selector}");
    }
    let refused = status(
        api.list(&ListParams::default().fields("spec.dnsPolicy=x"))
            .await,
    );
    assert_eq!(refused.code, 400);
    assert!(
        refused.message.contains("spec.dnsPolicy"),
        "{}",
        refused.message
    );
}
