//! Patches through the real kube client: merge, JSON (with `test`) and strategic merge
//! patches, and server-side apply with managedFields, conflicts and force.

mod common;

use common::{deployment, quiet_server, status};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn containers(d: &Deployment) -> Vec<(String, Option<String>)> {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn merge_json_and_strategic_patches_change_what_they_name() {
    let (_server, client) = quiet_server().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .expect("create");
    let params = PatchParams::default();

    let side = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:1"}]}}}});
    let merged = api
        .patch("web", &params, &Patch::Strategic(side))
        .await
        .expect("strategic");
    let expected = vec![
        ("app".to_string(), Some("nginx:1".to_string())),
        ("side".to_string(), Some("busybox:1".to_string())),
    ];
    assert_eq!(
        containers(&merged),
        expected,
        "strategic merge adds a container by name"
    );

    let replace =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x:1"}]}}}});
    let replaced = api
        .patch("web", &params, &Patch::Merge(replace))
        .await
        .expect("merge");
    assert_eq!(
        containers(&replaced),
        vec![("only".to_string(), Some("x:1".to_string()))],
        "merge patch replaces lists"
    );

    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]))
    .expect("valid ops");
    let patched = api
        .patch("web", &params, &Patch::<Value>::Json(ops))
        .await
        .expect("json patch");
    assert_eq!(
        patched.spec.and_then(|s| s.replicas),
        Some(4),
        "json patch applies after a passing test"
    );

    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 1}]))
            .expect("valid ops");
    let refused = status(
        api.patch("web", &params, &Patch::<Value>::Json(failing))
            .await,
    );
    assert_eq!(
        refused.code, 422,
        "a failing test op refuses the patch: {}",
        refused.message
    );
}

#[tokio::test]
async fn server_side_apply_tracks_managers_and_reports_conflicts() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let config = |value: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"owned": value}});
    let created = api
        .patch(
            "shared",
            &PatchParams::apply("alice"),
            &Patch::Apply(config("a")),
        )
        .await
        .expect("apply creates");
    let managers: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            format!(
                "{}:{}",
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(managers, vec!["alice:Apply"]);

    let same = api
        .patch(
            "shared",
            &PatchParams::apply("bob"),
            &Patch::Apply(config("a")),
        )
        .await
        .expect("the same value is shared, not contested");
    assert_eq!(same.metadata.managed_fields.map(|m| m.len()), Some(2));

    let conflict = status(
        api.patch(
            "shared",
            &PatchParams::apply("carol"),
            &Patch::Apply(config("c")),
        )
        .await,
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.contains("alice") && conflict.message.contains(".data.owned"),
        "the conflict names the manager and field: {}",
        conflict.message
    );

    let forced = api
        .patch(
            "shared",
            &PatchParams::apply("carol").force(),
            &Patch::Apply(config("c")),
        )
        .await
        .expect("force takes the field");
    assert_eq!(
        forced.data.and_then(|d| d.get("owned").cloned()).as_deref(),
        Some("c")
    );
    let owners: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:data/f:owned").is_some())
        })
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(owners, vec!["carol"], "the other managers lost the field");
}

#[tokio::test]
async fn applying_less_removes_what_the_manager_no_longer_applies() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let both = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}});
    let only_a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}});
    api.patch("cm", &PatchParams::apply("tool"), &Patch::Apply(both))
        .await
        .expect("apply both");
    let after = api
        .patch("cm", &PatchParams::apply("tool"), &Patch::Apply(only_a))
        .await
        .expect("apply one");
    let keys: Vec<String> = after.data.unwrap_or_default().into_keys().collect();
    assert_eq!(keys, vec!["a"]);
}

#[tokio::test]
async fn apply_without_a_field_manager_is_a_bad_request() {
    let (server, _client) = quiet_server().await;
    let (code, body) = common::raw(
        server.url(),
        &server.admin_token(),
        "PATCH",
        "/api/v1/namespaces/default/configmaps/cm",
        "application/apply-patch+yaml",
        "{}",
    )
    .await;
    assert_eq!(code, 400, "{body}");
}

#[tokio::test]
async fn a_json_patch_testing_a_missing_field_for_null_passes_as_finalizer_helpers_expect() {
    let (_server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cm"}})).expect("cm");
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/cleanup"]},
    ]))
    .expect("valid ops");
    let patched = api
        .patch("cm", &PatchParams::default(), &Patch::<Value>::Json(ops))
        .await
        .expect("json patch");
    assert_eq!(
        patched.metadata.finalizers,
        Some(vec!["example.com/cleanup".to_string()])
    );
}

#[tokio::test]
async fn a_strategic_patch_merges_webhooks_by_name() {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    let (_server, client) = quiet_server().await;
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client);
    let hook = |name: &str, url: &str| {
        json!({"name": name, "sideEffects": "None", "admissionReviewVersions": ["v1"],
               "clientConfig": {"url": url, "caBundle": "b2xk"},
               "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]})
    };
    let configuration: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": "policy"},
        "webhooks": [hook("a.policy.example", "https://127.0.0.1:1/a"), hook("b.policy.example", "https://127.0.0.1:1/b")],
    }))
    .expect("configuration");
    api.create(&PostParams::default(), &configuration)
        .await
        .expect("create");
    let patched = api
        .patch(
            "policy",
            &PatchParams::default(),
            &Patch::Strategic(json!({"webhooks": [{"name": "b.policy.example", "clientConfig": {"caBundle": "bmV3"}}]})),
        )
        .await
        .expect("a caBundle patch");
    let webhooks = patched.webhooks.unwrap_or_default();
    let bundles: Vec<(String, Option<String>, Option<String>)> = webhooks
        .into_iter()
        .map(|w| {
            (
                w.name,
                w.client_config.url,
                w.client_config
                    .ca_bundle
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned()),
            )
        })
        .collect();
    assert_eq!(
        bundles,
        vec![
            (
                "a.policy.example".into(),
                Some("https://127.0.0.1:1/a".into()),
                Some("old".into())
            ),
            (
                "b.policy.example".into(),
                Some("https://127.0.0.1:1/b".into()),
                Some("new".into())
            ),
        ]
    );
}
