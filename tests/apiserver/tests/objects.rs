//! Object lifecycle through the real kube client: resourceVersion, Status errors,
//! generateName, namespaces, generation, status subresource isolation, finalizers and
//! dry runs.

mod common;

use common::{config_map, deployment, quiet_server, rv_of, status};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn every_write_gets_a_higher_resource_version() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let a = api
        .create(&PostParams::default(), &config_map("a", json!({})))
        .await
        .expect("create a");
    let b = api
        .create(&PostParams::default(), &config_map("b", json!({})))
        .await
        .expect("create b");
    let patch = Patch::Merge(json!({"data": {"key": "changed"}}));
    let a2 = api
        .patch("a", &PatchParams::default(), &patch)
        .await
        .expect("patch a");
    let list = api.list(&ListParams::default()).await.expect("list");
    let list_rv: u64 = list
        .metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("list rv");
    assert!(rv_of(&a) < rv_of(&b) && rv_of(&b) < rv_of(&a2) && rv_of(&a2) <= list_rv);
}

#[tokio::test]
async fn failures_answer_status_objects_with_reason_and_code() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &config_map("x", json!({})))
        .await
        .expect("create");
    let mut stale = created.clone();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .expect("patch");
    stale.data = Some([("k".to_string(), "3".to_string())].into());

    let missing_ns: Api<ConfigMap> = Api::namespaced(client, "nowhere");
    let cases = [
        (
            "a missing object is NotFound",
            status(api.get("nope").await),
            404,
            "NotFound",
        ),
        (
            "a duplicate name is AlreadyExists",
            status(
                api.create(&PostParams::default(), &config_map("x", json!({})))
                    .await,
            ),
            409,
            "AlreadyExists",
        ),
        (
            "a stale resourceVersion is a Conflict",
            status(api.replace("x", &PostParams::default(), &stale).await),
            409,
            "Conflict",
        ),
        (
            "a create in a missing namespace is NotFound",
            status(
                missing_ns
                    .create(&PostParams::default(), &config_map("y", json!({})))
                    .await,
            ),
            404,
            "NotFound",
        ),
        (
            "an invalid name is Invalid",
            status(
                api.create(&PostParams::default(), &config_map("Not_Valid", json!({})))
                    .await,
            ),
            422,
            "Invalid",
        ),
        (
            "a resourceVersion on create is a BadRequest",
            status(api.create(&PostParams::default(), &stale).await),
            400,
            "BadRequest",
        ),
    ];
    for (case, status, code, reason) in cases {
        assert_eq!(
            (status.code, status.reason.as_str()),
            (code, reason),
            "{case}: {}",
            status.message
        );
    }
}

#[tokio::test]
async fn generate_name_appends_a_random_suffix() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = config_map("", json!({}));
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("gen-".into());
    let created = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let name = created.metadata.name.unwrap_or_default();
    assert!(
        name.starts_with("gen-") && name.len() == "gen-".len() + 5,
        "{name}"
    );
}

#[tokio::test]
async fn the_system_namespaces_exist_at_start() {
    let (_server, client) = quiet_server().await;
    let api: Api<Namespace> = Api::all(client);
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list namespaces")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(
        names,
        vec!["default", "kube-node-lease", "kube-public", "kube-system"]
    );
}

#[tokio::test]
async fn generation_moves_only_when_the_spec_changes() {
    let (_server, client) = quiet_server().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .expect("create");
    let steps = [
        (
            "a label change keeps the generation",
            json!({"metadata": {"labels": {"a": "b"}}}),
            1,
        ),
        (
            "a spec change bumps it",
            json!({"spec": {"replicas": 3}}),
            2,
        ),
        (
            "a status change through the main resource is ignored",
            json!({"status": {"replicas": 9}}),
            2,
        ),
        (
            "another spec change bumps it again",
            json!({"spec": {"paused": true}}),
            3,
        ),
    ];
    for (step, patch, generation) in steps {
        let patched = api
            .patch("web", &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect(step);
        assert_eq!(patched.metadata.generation, Some(generation), "{step}");
    }
}

#[tokio::test]
async fn the_status_subresource_and_the_main_resource_ignore_each_other() {
    let (_server, client) = quiet_server().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .expect("create");
    let through_status = json!({"spec": {"replicas": 7}, "status": {"replicas": 5}});
    let after = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(through_status),
        )
        .await
        .expect("status patch");
    assert_eq!(
        after.spec.and_then(|s| s.replicas),
        Some(1),
        "spec is untouched by /status"
    );
    assert_eq!(
        after.status.and_then(|s| s.replicas),
        Some(5),
        "status is written by /status"
    );
    let through_main = json!({"status": {"replicas": 1}});
    let after = api
        .patch("web", &PatchParams::default(), &Patch::Merge(through_main))
        .await
        .expect("patch");
    assert_eq!(
        after.status.and_then(|s| s.replicas),
        Some(5),
        "status is untouched by the main resource"
    );
}

#[tokio::test]
async fn finalizers_hold_a_deleted_object_until_they_are_removed() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = config_map("held", json!({}));
    cm.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    api.delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let marked = api.get("held").await.expect("still there");
    assert!(
        marked.metadata.deletion_timestamp.is_some(),
        "deletionTimestamp is set"
    );
    assert_eq!(
        marked.metadata.generation,
        Some(2),
        "marking for deletion bumps the generation"
    );
    api.delete("held", &DeleteParams::default())
        .await
        .expect("a second delete");
    let again = api.get("held").await.expect("still there");
    assert_eq!(
        again.metadata.generation,
        Some(2),
        "only the first delete bumps it"
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove finalizers");
    assert_eq!(status(api.get("held").await).code, 404);
    assert!(server.get("v1", "ConfigMap", "default", "held").is_none());
}

#[tokio::test]
async fn dry_run_writes_answer_but_store_nothing() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &config_map("ghost", json!({})))
        .await
        .expect("dry create answers");
    assert!(
        server.get("v1", "ConfigMap", "default", "ghost").is_none(),
        "create stored nothing"
    );

    api.create(&PostParams::default(), &config_map("real", json!({})))
        .await
        .expect("create");
    let rv = server.resource_version();
    let dry_patch = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let answered = api
        .patch(
            "real",
            &dry_patch,
            &Patch::Merge(json!({"data": {"key": "new"}})),
        )
        .await
        .expect("dry patch answers");
    assert_eq!(
        answered.data.and_then(|d| d.get("key").cloned()).as_deref(),
        Some("new")
    );
    let dry_delete = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    api.delete("real", &dry_delete)
        .await
        .expect("dry delete answers");
    assert_eq!(server.resource_version(), rv, "no write happened");
    assert!(server.get("v1", "ConfigMap", "default", "real").is_some());
}

#[tokio::test]
async fn lists_span_all_namespaces_on_the_cluster_path() {
    let (server, client) = quiet_server().await;
    server
        .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}))
        .expect("namespace");
    for ns in ["default", "other"] {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        api.create(&PostParams::default(), &config_map("cm", json!({})))
            .await
            .expect("create");
    }
    let all: Api<ConfigMap> = Api::all(client);
    let namespaces: Vec<String> = all
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.namespace)
        .collect();
    assert_eq!(namespaces, vec!["default", "other"]);
}

#[tokio::test]
async fn delete_collection_removes_only_what_the_selector_matches() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        api.create(
            &PostParams::default(),
            &config_map(name, json!({"app": app})),
        )
        .await
        .expect("create");
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=x"),
    )
    .await
    .expect("delete collection");
    let left: Vec<String> = server
        .list("v1", "ConfigMap", Some("default"))
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(left, vec!["c"]);
}

#[tokio::test]
async fn deleting_a_namespace_removes_the_objects_in_it() {
    let (server, client) = quiet_server().await;
    server
        .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}))
        .expect("namespace");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    api.create(&PostParams::default(), &config_map("cm", json!({})))
        .await
        .expect("create");
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete namespace");
    assert!(server.list("v1", "ConfigMap", Some("doomed")).is_empty());
    assert_eq!(
        status(
            api.create(&PostParams::default(), &config_map("late", json!({})))
                .await
        )
        .code,
        404
    );
}

#[tokio::test]
async fn an_orphaning_delete_frees_the_dependents() {
    let (server, client) = quiet_server().await;
    let owner = server
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}))
        .expect("owner");
    let uid = owner["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    server
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dependent",
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}}))
        .expect("dependent");
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.delete("owner", &DeleteParams::orphan())
        .await
        .expect("delete");
    let dependent = api.get("dependent").await.expect("the dependent stays");
    assert_eq!(
        dependent
            .metadata
            .owner_references
            .unwrap_or_default()
            .len(),
        0
    );
}

#[tokio::test]
async fn a_dry_run_update_changes_nothing() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = api
        .create(&PostParams::default(), &config_map("cm", json!({})))
        .await
        .expect("create");
    cm.data = Some([("key".to_string(), "dry".to_string())].into());
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let answered = api.replace("cm", &dry, &cm).await.expect("dry replace");
    assert_eq!(
        answered.data.and_then(|d| d.get("key").cloned()).as_deref(),
        Some("dry")
    );
    let stored = server
        .get("v1", "ConfigMap", "default", "cm")
        .unwrap_or_default();
    assert_eq!(stored["data"]["key"], json!("value"));
}

#[tokio::test]
async fn the_scale_subresource_reads_and_writes_spec_replicas() {
    let (_server, client) = quiet_server().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", 2, "nginx:1"))
        .await
        .expect("create");
    let scale = api.get_scale("web").await.expect("get scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    let patch = Patch::Merge(json!({"spec": {"replicas": 5}}));
    let scaled = api
        .patch_scale("web", &PatchParams::default(), &patch)
        .await
        .expect("patch scale");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(5));
    let stored = api.get("web").await.expect("get");
    assert_eq!(stored.spec.and_then(|s| s.replicas), Some(5));
    assert_eq!(stored.metadata.generation, Some(2));
}

#[tokio::test]
async fn generation_of_a_kind_without_spec_moves_on_any_data_change() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &config_map("cm", json!({})))
        .await
        .expect("create");
    let steps = [
        (
            "a label change keeps it",
            json!({"metadata": {"labels": {"a": "b"}}}),
            1,
        ),
        (
            "a data change bumps it",
            json!({"data": {"key": "other"}}),
            2,
        ),
    ];
    for (step, patch, generation) in steps {
        let patched = api
            .patch("cm", &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect(step);
        assert_eq!(patched.metadata.generation, Some(generation), "{step}");
    }
}
