//! Authentication and RBAC authorization with the kube client: tokens from TokenRequest,
//! what Roles, ClusterRoles and their bindings grant (names, subresources, scopes,
//! non-resource URLs), expiry and deleted ServiceAccounts, the 403 wording, access reviews
//! answered from the same rules, and the handle's identity helpers.

mod common;

use std::time::Duration;

use common::{quiet_server, status};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube_apiserver_test::ApiServerHandle;
use serde_json::{Value, json};

const NS: &str = "team";
const SA_USER: &str = "system:serviceaccount:team:bot";

/// A server with namespace `team`, ServiceAccount `team/bot`, and the admin client.
async fn cluster() -> (ApiServerHandle, kube::Client) {
    let (server, admin) = quiet_server().await;
    server
        .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
        .expect("namespace");
    server
        .create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": "bot", "namespace": NS}}))
        .expect("service account");
    (server, admin)
}

fn grant(server: &ApiServerHandle, objects: Value) {
    for object in objects.as_array().expect("a list") {
        server.create(object.clone()).expect("an RBAC object");
    }
}

/// A Role (or ClusterRole when `namespace` is empty) with `rules`, bound to `team/bot`.
fn bind(server: &ApiServerHandle, namespace: &str, name: &str, rules: Value) {
    let (role, binding) = if namespace.is_empty() {
        ("ClusterRole", "ClusterRoleBinding")
    } else {
        ("Role", "RoleBinding")
    };
    grant(
        server,
        json!([
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role,
             "metadata": {"name": name, "namespace": namespace}, "rules": rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding,
             "metadata": {"name": name, "namespace": namespace},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role, "name": name},
             "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": NS}]}
        ]),
    );
}

async fn client_with_token(server: &ApiServerHandle, token: &str) -> kube::Client {
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n\
         users:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n\
         current-context: c\n",
        server.url()
    );
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

async fn request_token(
    admin: &kube::Client,
    seconds: Option<i64>,
) -> Result<TokenRequest, kube::Error> {
    let request = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: seconds,
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(admin.clone(), NS)
        .create_token_request("bot", &PostParams::default(), &request)
        .await
}

async fn can(client: &kube::Client, attributes: Value) -> (bool, Option<String>) {
    let review: SelfSubjectAccessReview =
        serde_json::from_value(json!({"spec": attributes})).expect("review");
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("the review is answered");
    let status = answer.status.expect("a status");
    (status.allowed, status.reason)
}

#[tokio::test]
async fn a_token_request_yields_a_token_that_acts_as_the_service_account() {
    let (server, admin) = cluster().await;
    let issued = request_token(&admin, Some(1200)).await.expect("a token");
    assert_eq!(issued.spec.expiration_seconds, Some(1200));
    let token = issued.status.expect("a status").token;
    let bot = client_with_token(&server, &token).await;
    let pods: Api<Pod> = Api::namespaced(bot.clone(), NS);
    let refused = status(pods.list(&ListParams::default()).await);
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        refused.message,
        format!(
            "pods is forbidden: User \"{SA_USER}\" cannot list resource \"pods\" in API group \"\" in the namespace \"team\""
        )
    );
    let details = refused.details.expect("details");
    assert_eq!(
        (
            details.kind.as_str(),
            details.group.as_str(),
            details.name.as_str()
        ),
        ("pods", "", "")
    );

    bind(
        &server,
        NS,
        "pod-reader",
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]),
    );
    assert!(pods.list(&ListParams::default()).await.is_ok());
    let write = status(
        pods.create(&PostParams::default(), &common::pod("p", "nginx:1"))
            .await,
    );
    assert!(
        write.message.contains("cannot create resource \"pods\""),
        "{}",
        write.message
    );
    let elsewhere = status(
        Api::<Pod>::namespaced(bot.clone(), "default")
            .list(&ListParams::default())
            .await,
    );
    assert!(
        elsewhere.message.ends_with("in the namespace \"default\""),
        "{}",
        elsewhere.message
    );
    let all = status(Api::<Pod>::all(bot).list(&ListParams::default()).await);
    assert!(
        all.message.ends_with("at the cluster scope"),
        "{}",
        all.message
    );

    let records = server.forbidden_requests();
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|r| r.user == SA_USER));
    assert_eq!(
        (records[0].verb.as_str(), records[0].resource.as_str()),
        ("list", "pods")
    );
}

#[tokio::test]
async fn unknown_expired_and_orphaned_tokens_are_unauthorized() {
    let (server, admin) = cluster().await;
    let unknown = client_with_token(&server, "not-a-token").await;
    let answer = status(
        Api::<Pod>::namespaced(unknown, NS)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        (answer.code, answer.reason.as_str(), answer.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );

    let short = request_token(&admin, Some(600))
        .await
        .expect("a token")
        .status
        .expect("status")
        .token;
    let long = server
        .service_account_token(NS, "bot", Duration::from_secs(7200))
        .expect("a token");
    bind(
        &server,
        "",
        "node-reader",
        json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]),
    );
    for token in [&short, &long] {
        let nodes =
            Api::<k8s_openapi::api::core::v1::Node>::all(client_with_token(&server, token).await);
        assert!(nodes.list(&ListParams::default()).await.is_ok());
    }
    server.advance_token_clock(Duration::from_secs(601));
    let expired =
        Api::<k8s_openapi::api::core::v1::Node>::all(client_with_token(&server, &short).await);
    assert_eq!(status(expired.list(&ListParams::default()).await).code, 401);
    let live =
        Api::<k8s_openapi::api::core::v1::Node>::all(client_with_token(&server, &long).await);
    assert!(live.list(&ListParams::default()).await.is_ok());

    Api::<ServiceAccount>::namespaced(admin.clone(), NS)
        .delete("bot", &DeleteParams::default())
        .await
        .expect("deleted");
    assert_eq!(status(live.list(&ListParams::default()).await).code, 401);
    let refused = request_token(&admin, None).await;
    assert_eq!(status(refused).code, 404);
    let too_short = {
        server
            .create(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot", "namespace": NS}}))
            .expect("recreated");
        status(request_token(&admin, Some(60)).await)
    };
    assert_eq!(too_short.code, 422);
    assert!(
        too_short
            .message
            .contains("may not specify a duration less than 10 minutes"),
        "{}",
        too_short.message
    );
    assert_eq!(
        status(live.list(&ListParams::default()).await).code,
        401,
        "a token of the old ServiceAccount stays dead"
    );
}

#[tokio::test]
async fn resource_names_subresources_and_cluster_scope_grant_exactly_what_they_say() {
    let (server, admin) = cluster().await;
    for name in ["settings", "other"] {
        Api::<ConfigMap>::namespaced(admin.clone(), NS)
            .create(&PostParams::default(), &common::config_map(name, json!({})))
            .await
            .expect("config map");
    }
    bind(
        &server,
        NS,
        "one-map",
        json!([
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get", "list", "patch"]},
            {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"]},
            {"apiGroups": [""], "resources": ["*/status"], "verbs": ["patch"]}
        ]),
    );
    bind(
        &server,
        "",
        "namespaces",
        json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]),
    );
    let bot = server
        .client_for_service_account(NS, "bot")
        .await
        .expect("client");
    let maps: Api<ConfigMap> = Api::namespaced(bot.clone(), NS);
    assert!(maps.get("settings").await.is_ok());
    let patch = Patch::Merge(json!({"data": {"k": "v"}}));
    assert!(
        maps.patch("settings", &PatchParams::default(), &patch)
            .await
            .is_ok()
    );
    let other = status(maps.get("other").await);
    assert_eq!(
        other.message,
        format!(
            "configmaps \"other\" is forbidden: User \"{SA_USER}\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"team\""
        )
    );
    assert_eq!(
        status(maps.list(&ListParams::default()).await).code,
        403,
        "names never grant list"
    );
    assert!(
        maps.list(&ListParams::default().fields("metadata.name=settings"))
            .await
            .is_ok(),
        "a list selecting the named object by field is allowed"
    );
    assert_eq!(
        status(maps.delete("settings", &DeleteParams::default()).await).code,
        403
    );

    let (allowed, reason) = can(&bot, json!({"resourceAttributes": {"namespace": NS, "verb": "update", "group": "apps", "resource": "deployments", "subresource": "scale"}})).await;
    assert!(allowed);
    assert_eq!(
        reason.as_deref(),
        Some(
            "RBAC: allowed by RoleBinding \"one-map/team\" of Role \"one-map\" to ServiceAccount \"bot/team\""
        )
    );
    let cases = [
        (
            json!({"namespace": NS, "verb": "update", "group": "apps", "resource": "deployments"}),
            false,
        ),
        (
            json!({"namespace": NS, "verb": "patch", "resource": "pods", "subresource": "status", "name": "p"}),
            true,
        ),
        (
            json!({"namespace": NS, "verb": "patch", "resource": "pods", "name": "p"}),
            false,
        ),
        (
            json!({"namespace": "default", "verb": "get", "resource": "configmaps", "name": "settings"}),
            false,
        ),
        (
            json!({"verb": "get", "resource": "namespaces", "name": "kube-system"}),
            true,
        ),
        (json!({"verb": "list", "resource": "namespaces"}), false),
    ];
    for (attributes, expected) in cases {
        assert_eq!(
            can(&bot, json!({"resourceAttributes": attributes})).await.0,
            expected,
            "{attributes}"
        );
    }
    let pods = Api::<Pod>::namespaced(admin, NS);
    pods.create(&PostParams::default(), &common::pod("p", "nginx:1"))
        .await
        .expect("pod");
    let as_bot = Api::<Pod>::namespaced(bot, NS);
    let status_patch = Patch::Merge(json!({"status": {"phase": "Running"}}));
    assert!(
        as_bot
            .patch_status("p", &PatchParams::default(), &status_patch)
            .await
            .is_ok()
    );
    assert_eq!(
        status(
            as_bot
                .patch("p", &PatchParams::default(), &status_patch)
                .await
        )
        .code,
        403
    );
}

#[tokio::test]
async fn discovery_and_non_resource_urls_follow_the_default_and_granted_roles() {
    let (server, _admin) = cluster().await;
    let bot = server
        .client_for_service_account(NS, "bot")
        .await
        .expect("client");
    assert!(
        bot.apiserver_version().await.is_ok(),
        "system:public-info-viewer"
    );
    assert!(
        kube::Discovery::new(bot.clone()).run().await.is_ok(),
        "system:discovery"
    );
    let (allowed, _) = can(
        &bot,
        json!({"nonResourceAttributes": {"path": "/metrics", "verb": "get"}}),
    )
    .await;
    assert!(!allowed);
    let token = server
        .service_account_token(NS, "bot", Duration::from_secs(3600))
        .expect("token");
    let (code, body) = common::raw(server.url(), &token, "GET", "/metrics", "", "").await;
    assert_eq!(code, 403);
    assert!(
        body.contains(&format!(
            "forbidden: User \\\"{SA_USER}\\\" cannot get path \\\"/metrics\\\""
        )),
        "{body}"
    );
    bind(
        &server,
        "",
        "metrics",
        json!([{"nonResourceURLs": ["/metr*"], "verbs": ["get"]}]),
    );
    assert!(
        can(
            &bot,
            json!({"nonResourceAttributes": {"path": "/metrics", "verb": "get"}})
        )
        .await
        .0
    );
    let (unsecured, _) = common::raw(server.url(), "", "GET", "/api/v1/pods", "", "").await;
    assert_eq!(
        unsecured, 200,
        "plain HTTP without credentials is the insecure port"
    );
    let anonymous = secure_client(&server, None).await;
    assert!(
        anonymous.apiserver_version().await.is_ok(),
        "anonymous users see public info"
    );
    let refused = status(
        Api::<Pod>::all(anonymous)
            .list(&ListParams::default())
            .await,
    );
    assert!(
        refused
            .message
            .contains("User \"system:anonymous\" cannot list"),
        "{}",
        refused.message
    );
    let bot_over_tls = secure_client(&server, Some(&token)).await;
    assert!(bot_over_tls.apiserver_version().await.is_ok());
    assert_eq!(
        status(
            Api::<Pod>::all(bot_over_tls)
                .list(&ListParams::default())
                .await
        )
        .code,
        403
    );
}

/// A client of the HTTPS side, trusting the cluster CA, with or without a token.
async fn secure_client(server: &ApiServerHandle, token: Option<&str>) -> kube::Client {
    let mut config = kube::Config::new(server.secure_url().parse().expect("a URL"));
    let pem = server.ca_certificate_pem();
    let der = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    use base64::Engine;
    config.root_cert = Some(vec![
        base64::engine::general_purpose::STANDARD
            .decode(der)
            .expect("PEM body"),
    ]);
    if let Some(token) = token {
        config.auth_info.token = Some(token.to_string().into());
    }
    kube::Client::try_from(config).expect("client")
}

#[tokio::test]
async fn bindings_to_groups_and_aggregated_cluster_roles_grant_and_missing_roles_are_reported() {
    let (server, _admin) = cluster().await;
    grant(
        &server,
        json!([
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": "aggregate"},
             "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"aggregate-to": "mine"}}]}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": "part", "labels": {"aggregate-to": "mine"}},
             "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "all-accounts", "namespace": NS},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "aggregate"},
             "subjects": [{"kind": "Group", "name": "system:serviceaccounts:team"}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "dangling", "namespace": NS},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gone"},
             "subjects": [{"kind": "ServiceAccount", "name": "bot"}]}
        ]),
    );
    let bot = server
        .client_for_service_account(NS, "bot")
        .await
        .expect("client");
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(bot.clone(), NS);
    assert!(jobs.list(&ListParams::default()).await.is_ok());
    let refused = status(
        Api::<Pod>::namespaced(bot, NS)
            .list(&ListParams::default())
            .await,
    );
    assert!(
        refused.message.ends_with(
            "in the namespace \"team\": RBAC: role.rbac.authorization.k8s.io \"gone\" not found"
        ),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn the_admin_keeps_full_access_and_scripted_reviews() {
    let (server, admin) = cluster().await;
    bind(&server, NS, "nothing", json!([]));
    assert!(
        Api::<Pod>::all(admin.clone())
            .list(&ListParams::default())
            .await
            .is_ok()
    );
    server.deny_access("list", "pods");
    assert!(
        !can(
            &admin,
            json!({"resourceAttributes": {"verb": "list", "resource": "pods"}})
        )
        .await
        .0
    );
    let bot = server
        .client_for_service_account(NS, "bot")
        .await
        .expect("client");
    let (allowed, _) = can(
        &bot,
        json!({"resourceAttributes": {"verb": "list", "resource": "configmaps"}}),
    )
    .await;
    assert!(
        !allowed,
        "a ServiceAccount's review follows RBAC, not the scripted answers"
    );
    assert!(
        server.forbidden_requests().is_empty(),
        "reviews are answered, not refused"
    );
}
