//! Rule matching, request attributes and 403 wording, checked case by case against what
//! kube-apiserver's RBAC authorizer and request-info decide.

use serde_json::json;

use super::*;
use crate::routes::route;

fn request(method: &str, path_and_query: &str) -> ApiRequest {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    ApiRequest {
        method: method.parse().expect("a method"),
        path: path.to_string(),
        query: form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        content_type: String::new(),
        accept: String::new(),
        user_agent: String::new(),
        authorization: String::new(),
        secure: false,
        body: Default::default(),
    }
}

fn attributes(method: &str, path: &str) -> Attributes {
    let request = request(method, path);
    Attributes::of(&request, &route(&request.path))
}

#[test]
fn request_attributes_follow_kube_apiserver_request_info() {
    let cases = [
        (
            "GET",
            "/api/v1/namespaces/a/pods",
            "list",
            "a",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/pods?watch=true",
            "watch",
            "",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/watch/namespaces/a/pods",
            "watch",
            "a",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dp",
            "list",
            "a",
            "pods",
            "",
            "p",
        ),
        (
            "POST",
            "/api/v1/namespaces/a/serviceaccounts/sa/token",
            "create",
            "a",
            "serviceaccounts",
            "token",
            "sa",
        ),
        (
            "PUT",
            "/apis/apps/v1/namespaces/a/deployments/d/scale",
            "update",
            "a",
            "deployments",
            "scale",
            "d",
        ),
        (
            "DELETE",
            "/api/v1/namespaces/a/pods",
            "deletecollection",
            "a",
            "pods",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/a",
            "get",
            "a",
            "namespaces",
            "",
            "a",
        ),
        ("PATCH", "/api/v1/nodes/n", "patch", "", "nodes", "", "n"),
    ];
    for (method, path, verb, namespace, resource, subresource, name) in cases {
        let a = attributes(method, path);
        let r = a.resource.clone().expect("a resource request");
        assert_eq!(
            (
                a.verb.as_str(),
                r.namespace.as_str(),
                r.resource.as_str(),
                r.subresource.as_str(),
                r.name.as_str()
            ),
            (verb, namespace, resource, subresource, name),
            "{method} {path}"
        );
    }
    let version = attributes("GET", "/version");
    assert_eq!((version.verb.as_str(), version.resource), ("get", None));
}

#[test]
fn rules_match_verbs_groups_resources_subresources_and_names() {
    let pods_in_a = |verb: &str, sub: &str, name: &str| Attributes {
        verb: verb.into(),
        path: String::new(),
        resource: Some(ResourceAttributes {
            namespace: "a".into(),
            resource: "pods".into(),
            subresource: sub.into(),
            name: name.into(),
            ..Default::default()
        }),
    };
    let rule = |v: serde_json::Value| v;
    let cases = [
        (
            rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})),
            pods_in_a("get", "", "p"),
            true,
        ),
        (
            rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})),
            pods_in_a("list", "", ""),
            false,
        ),
        (
            rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})),
            pods_in_a("deletecollection", "", ""),
            true,
        ),
        (
            rule(json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]})),
            pods_in_a("get", "", "p"),
            false,
        ),
        (
            rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})),
            pods_in_a("get", "log", "p"),
            false,
        ),
        (
            rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]})),
            pods_in_a("get", "log", "p"),
            true,
        ),
        (
            rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]})),
            pods_in_a("get", "log", "p"),
            true,
        ),
        (
            rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]})),
            pods_in_a("get", "", "p"),
            false,
        ),
        (
            rule(
                json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"]}),
            ),
            pods_in_a("get", "", "p"),
            true,
        ),
        (
            rule(
                json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"]}),
            ),
            pods_in_a("get", "", "q"),
            false,
        ),
        (
            rule(
                json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"]}),
            ),
            pods_in_a("list", "", ""),
            false,
        ),
        (
            rule(json!({"verbs": ["get"], "nonResourceURLs": ["*"]})),
            pods_in_a("get", "", "p"),
            false,
        ),
    ];
    for (i, (rule, attributes, allowed)) in cases.iter().enumerate() {
        assert_eq!(rule_allows(rule, attributes), *allowed, "case {i}: {rule}");
    }
}

#[test]
fn non_resource_urls_match_exactly_or_by_a_trailing_star() {
    let get = |path: &str| Attributes {
        verb: "get".into(),
        path: path.into(),
        resource: None,
    };
    let rule = json!({"verbs": ["get"], "nonResourceURLs": ["/version", "/openapi/*"]});
    for (path, allowed) in [
        ("/version", true),
        ("/version/", false),
        ("/openapi/v3", true),
        ("/openapi", false),
        ("/healthz", false),
    ] {
        assert_eq!(rule_allows(&rule, &get(path)), allowed, "{path}");
    }
    let post = Attributes {
        verb: "post".into(),
        ..get("/version")
    };
    assert!(!rule_allows(&rule, &post));
}

#[test]
fn forbidden_messages_are_worded_as_kube_apiserver_words_them() {
    let user = User {
        name: "system:serviceaccount:ns:sa".into(),
        uid: String::new(),
        groups: vec![],
    };
    let cases = [
        (
            "GET",
            "/api/v1/pods",
            "pods is forbidden: User \"system:serviceaccount:ns:sa\" cannot list resource \"pods\" in API group \"\" at the cluster scope",
        ),
        (
            "GET",
            "/apis/apps/v1/namespaces/x/deployments/d",
            "deployments.apps \"d\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"x\"",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/x/pods/p/status",
            "pods \"p\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot patch resource \"pods/status\" in API group \"\" in the namespace \"x\"",
        ),
        (
            "GET",
            "/metrics",
            "forbidden: User \"system:serviceaccount:ns:sa\" cannot get path \"/metrics\"",
        ),
    ];
    for (method, path, message) in cases {
        let error = forbidden(&user, &attributes(method, path), "");
        assert_eq!((error.code, error.message.as_str()), (403, message));
    }
    let named = forbidden(
        &user,
        &attributes("GET", "/apis/apps/v1/namespaces/x/deployments/d"),
        "",
    );
    assert_eq!(
        named.details,
        Some(json!({"name": "d", "group": "apps", "kind": "deployments"}))
    );
    let with_reason = forbidden(
        &user,
        &attributes("GET", "/api/v1/pods"),
        "RBAC: role.rbac.authorization.k8s.io \"r\" not found",
    );
    assert!(
        with_reason.message.ends_with(
            "at the cluster scope: RBAC: role.rbac.authorization.k8s.io \"r\" not found"
        )
    );
}

#[test]
fn aggregation_selectors_pick_roles_by_labels_and_expressions() {
    let role = json!({"metadata": {"name": "r", "labels": {"agg": "view", "tier": "a"}}});
    let cases = [
        (json!({"matchLabels": {"agg": "view"}}), true),
        (json!({"matchLabels": {"agg": "edit"}}), false),
        (
            json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}),
            true,
        ),
        (json!({}), false),
    ];
    for (selector, picked) in cases {
        assert_eq!(selector_matches(&selector, &role), picked, "{selector}");
    }
}
