//! CustomResourceDefinitions through the real kube client: registration and discovery,
//! schema validation with field paths, pruning, the status subresource, cluster scope,
//! schema updates, strategic merge refusal, and removal with the CRD.

mod common;

use common::{eventually, quiet_server, status};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::Discovery;
use serde_json::{Value, json};

fn crd(scope: &str, spec_schema: Value) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": scope,
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": spec_schema,
                        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
                    },
                }},
            }],
        },
    }))
    .expect("a valid CRD")
}

fn widget_schema() -> Value {
    json!({
        "type": "object",
        "required": ["size"],
        "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": 10},
            "color": {"type": "string", "enum": ["red", "blue"]},
            "note": {"type": "string", "nullable": true},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
    })
}

fn widgets(client: kube::Client, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    match namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    }
}

fn widget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec,
    }))
    .expect("a valid widget")
}

async fn install(client: &kube::Client, scope: &str, schema: Value) -> CustomResourceDefinition {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd(scope, schema))
        .await
        .expect("create CRD")
}

#[tokio::test]
async fn a_created_crd_is_established_and_discoverable() {
    let (_server, client) = quiet_server().await;
    let created = install(&client, "Namespaced", widget_schema()).await;
    let conditions: Vec<(String, String)> = created
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    assert_eq!(
        conditions,
        vec![
            ("NamesAccepted".into(), "True".into()),
            ("Established".into(), "True".into())
        ]
    );
    let discovery = Discovery::new(client).run().await.expect("discovery");
    let found = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .any(|(r, caps)| {
            r.kind == "Widget"
                && r.plural == "widgets"
                && caps.scope == kube::discovery::Scope::Namespaced
        });
    assert!(found, "widgets are discovered");
}

#[tokio::test]
async fn invalid_custom_objects_are_refused_naming_each_field() {
    let (_server, client) = quiet_server().await;
    install(&client, "Namespaced", widget_schema()).await;
    let api = widgets(client, Some("default"));
    let cases = [
        ("too big", json!({"size": 11}), "spec.size"),
        ("wrong type", json!({"size": "3"}), "spec.size"),
        (
            "not in the enum",
            json!({"size": 3, "color": "green"}),
            "spec.color",
        ),
        ("missing required", json!({"color": "red"}), "spec.size"),
    ];
    for (case, spec, field) in cases {
        let refused = status(api.create(&PostParams::default(), &widget("w", spec)).await);
        assert_eq!(
            (refused.code, refused.reason.as_str()),
            (422, "Invalid"),
            "{case}"
        );
        let causes: Vec<String> = refused
            .details
            .map(|d| d.causes.into_iter().map(|c| c.field).collect())
            .unwrap_or_default();
        assert_eq!(
            causes,
            vec![field.to_string()],
            "{case}: {}",
            refused.message
        );
    }
}

#[tokio::test]
async fn unknown_fields_are_pruned_unless_the_schema_preserves_them() {
    let (_server, client) = quiet_server().await;
    install(&client, "Namespaced", widget_schema()).await;
    let api = widgets(client, Some("default"));
    let spec = json!({"size": 2, "bogus": true, "note": null, "extra": {"anything": [1, 2]}});
    let created = api
        .create(&PostParams::default(), &widget("w", spec))
        .await
        .expect("create");
    assert_eq!(
        created.data.get("spec"),
        Some(&json!({"size": 2, "note": null, "extra": {"anything": [1, 2]}}))
    );
}

#[tokio::test]
async fn the_status_subresource_of_a_crd_is_separate_from_its_spec() {
    let (_server, client) = quiet_server().await;
    install(&client, "Namespaced", widget_schema()).await;
    let api = widgets(client, Some("default"));
    let mut w = widget("w", json!({"size": 2}));
    w.data["status"] = json!({"ready": true});
    let created = api
        .create(&PostParams::default(), &w)
        .await
        .expect("create");
    assert_eq!(
        created.data.get("status"),
        None,
        "status is dropped on create"
    );
    let patched = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}, "spec": {"size": 9}})),
        )
        .await
        .expect("status patch");
    assert_eq!(patched.data.pointer("/status/ready"), Some(&json!(true)));
    assert_eq!(patched.data.pointer("/spec/size"), Some(&json!(2)));
}

#[tokio::test]
async fn cluster_scoped_custom_resources_live_outside_namespaces() {
    let (_server, client) = quiet_server().await;
    install(&client, "Cluster", widget_schema()).await;
    let api = widgets(client, None);
    let created = api
        .create(
            &PostParams::default(),
            &widget("global", json!({"size": 1})),
        )
        .await
        .expect("create");
    assert_eq!(created.metadata.namespace, None);
    assert!(api.get("global").await.is_ok());
}

#[tokio::test]
async fn updating_the_crd_schema_changes_validation() {
    let (_server, client) = quiet_server().await;
    let installed = install(&client, "Namespaced", widget_schema()).await;
    let api = widgets(client.clone(), Some("default"));
    assert_eq!(
        status(
            api.create(&PostParams::default(), &widget("w", json!({"size": 50})))
                .await
        )
        .code,
        422
    );
    let mut relaxed = installed;
    relaxed.metadata.managed_fields = None;
    relaxed.spec.versions[0].schema = serde_json::from_value(json!({"openAPIV3Schema": {
        "type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}
    }}))
    .expect("schema");
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    crds.replace("widgets.example.com", &PostParams::default(), &relaxed)
        .await
        .expect("update CRD");
    assert!(
        api.create(&PostParams::default(), &widget("w", json!({"size": 50})))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn strategic_merge_on_a_custom_resource_is_unsupported_media_type() {
    let (_server, client) = quiet_server().await;
    install(&client, "Namespaced", widget_schema()).await;
    let api = widgets(client, Some("default"));
    api.create(&PostParams::default(), &widget("w", json!({"size": 1})))
        .await
        .expect("create");
    let refused = status(
        api.patch(
            "w",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 2}})),
        )
        .await,
    );
    assert_eq!(refused.code, 415);
}

#[tokio::test]
async fn deleting_a_crd_removes_its_objects_and_its_endpoint() {
    let (server, client) = quiet_server().await;
    install(&client, "Namespaced", widget_schema()).await;
    let api = widgets(client.clone(), Some("default"));
    api.create(&PostParams::default(), &widget("w", json!({"size": 1})))
        .await
        .expect("create");
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .expect("delete CRD");
    assert_eq!(status(api.get("w").await).code, 404);
    let left = eventually("no widgets stored", || async {
        server
            .list("example.com/v1", "Widget", None)
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(left, ());
}
