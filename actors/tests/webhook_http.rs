//! The webhook's routes through actix's test service (the same `configure` the server
//! uses): verdicts, metrics, failure modes, readiness, and hostile bodies that must get a
//! 4xx or a valid AdmissionReview, never a panic or a hang.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, test as service, web};
use arc_swap::ArcSwapOption;
use kube_devops::admission::PolicySnapshot;
use kube_devops::policy::{DevOpsPolicySpec, NamespaceExclusions};
use kube_devops_actors::http::{FailureMode, WebhookState, configure};
use kube_devops_actors::metrics::Metrics;
use kube_devops_actors::system::admission::Readiness;
use proptest::prelude::*;
use serde_json::{Value, json};

const UID: &str = "b7a1c3e2-0000-4000-8000-000000000001";

fn state(synced: bool, mode: FailureMode) -> WebhookState {
    let spec = DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        require_liveness_probe: Some(true),
        ..DevOpsPolicySpec::default()
    };
    let snapshot = PolicySnapshot::from_policies(
        [("shop", "baseline", &spec)],
        NamespaceExclusions::default(),
    );
    let readiness = Arc::new(Readiness::default());
    let cell = Arc::new(ArcSwapOption::empty());
    if synced {
        cell.store(Some(Arc::new(snapshot)));
        readiness.set_synced();
    }
    WebhookState::new(cell, readiness, Metrics::new().unwrap(), mode)
}

fn pod(image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"containers": [{
            "name": "app", "image": image,
            "livenessProbe": {"tcpSocket": {"port": 8080}}
        }]}
    })
}

fn review(op: &str, object: Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": UID,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "web", "namespace": "shop", "operation": op,
            "userInfo": {"username": "alice"},
            "object": object, "oldObject": null
        }
    })
}

/// Posts `body` with `content_type` and returns the status and body, failing on a hang.
async fn post(
    state: &WebhookState,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let data = web::Data::new(state.clone());
    let app = service::init_service(App::new().configure(move |cfg| configure(cfg, data))).await;
    let mut req = service::TestRequest::post().uri("/validate");
    if let Some(ct) = content_type {
        req = req.insert_header(("content-type", ct));
    }
    let call = async {
        let resp = service::call_service(&app, req.set_payload(body).to_request()).await;
        let status = resp.status();
        (status, service::read_body(resp).await.to_vec())
    };
    tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the webhook answered in time")
}

async fn post_json(state: &WebhookState, body: &Value) -> Value {
    let (status, bytes) = post(
        state,
        Some("application/json"),
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).expect("a JSON AdmissionReview")
}

fn assert_valid_review(bytes: &[u8], uid: &str) -> Value {
    let v: Value = serde_json::from_slice(bytes).expect("a JSON AdmissionReview");
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["uid"], uid);
    assert!(v["response"]["allowed"].is_boolean());
    v
}

#[actix_web::test]
async fn a_pod_on_latest_is_denied_and_counted() {
    let s = state(true, FailureMode::Open);
    let out = post_json(&s, &review("CREATE", pod("nginx:latest"))).await;
    assert_eq!(out["response"]["uid"], UID);
    assert_eq!(out["response"]["allowed"], false);
    let message = out["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("latestTag") && message.contains("\"app\""),
        "{message}"
    );
    let text = s.metrics.encode();
    assert!(
        text.contains("kube_devops_webhook_denials_total{check=\"latestTag\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "kube_devops_webhook_requests_total{allowed=\"false\",operation=\"CREATE\"} 1"
        )
    );
    assert!(text.contains("kube_devops_webhook_request_duration_seconds_count 1"));
}

#[actix_web::test]
async fn a_pinned_pod_is_allowed_and_a_delete_is_never_judged() {
    let s = state(true, FailureMode::Open);
    let out = post_json(&s, &review("CREATE", pod("nginx:1.27"))).await;
    assert_eq!(out["response"]["allowed"], true);
    let mut delete = review("DELETE", Value::Null);
    delete["request"]["oldObject"] = pod("nginx:latest");
    let out = post_json(&s, &delete).await;
    assert_eq!(out["response"]["allowed"], true);
    let text = s.metrics.encode();
    assert!(
        text.contains(
            "kube_devops_webhook_requests_total{allowed=\"true\",operation=\"DELETE\"} 1"
        )
    );
}

#[actix_web::test]
async fn before_the_policy_set_syncs_requests_fail_open_with_a_warning() {
    let s = state(false, FailureMode::Open);
    let out = post_json(&s, &review("CREATE", pod("nginx:latest"))).await;
    assert_eq!(out["response"]["allowed"], true);
    let warning = out["response"]["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("not synced") && warning.contains("fails open"),
        "{warning}"
    );
    assert!(
        s.metrics
            .encode()
            .contains("kube_devops_webhook_errors_total{mode=\"open\"} 1")
    );
}

#[actix_web::test]
async fn with_failure_mode_closed_internal_errors_deny() {
    let s = state(false, FailureMode::Closed);
    let out = post_json(&s, &review("CREATE", pod("nginx:1.27"))).await;
    assert_eq!(out["response"]["allowed"], false);
    assert!(
        out["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("fails closed")
    );
    assert!(
        s.metrics
            .encode()
            .contains("kube_devops_webhook_errors_total{mode=\"closed\"} 1")
    );
}

#[actix_web::test]
async fn an_object_that_does_not_decode_is_an_internal_error_not_a_panic() {
    let s = state(true, FailureMode::Open);
    let mut object = pod("nginx:1.27");
    object["spec"]["containers"] = json!({"not": "a list"});
    let out = post_json(&s, &review("CREATE", object)).await;
    assert_eq!(out["response"]["allowed"], true);
    assert!(
        out["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("cannot read the object")
    );
}

#[actix_web::test]
async fn readiness_follows_the_sync_and_the_shutdown() {
    let s = state(false, FailureMode::Open);
    let data = web::Data::new(s.clone());
    let app = service::init_service(App::new().configure(move |cfg| configure(cfg, data))).await;
    let get = |path: &'static str| service::TestRequest::get().uri(path).to_request();
    assert_eq!(
        service::call_service(&app, get("/readyz")).await.status(),
        503
    );
    assert_eq!(
        service::call_service(&app, get("/healthz")).await.status(),
        200
    );
    s.readiness.set_synced();
    assert_eq!(
        service::call_service(&app, get("/readyz")).await.status(),
        200
    );
    s.readiness.set_stopping();
    assert_eq!(
        service::call_service(&app, get("/readyz")).await.status(),
        503
    );
    let metrics = service::call_service(&app, get("/metrics")).await;
    assert_eq!(metrics.status(), 200);
    let body = service::read_body(metrics).await;
    assert!(
        String::from_utf8_lossy(&body).contains("kube_devops_webhook_request_duration_seconds")
    );
    let wrong_method = service::call_service(&app, get("/validate")).await;
    assert_eq!(wrong_method.status(), 405);
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn valid() -> Value {
    review("CREATE", pod("nginx:latest"))
}

fn with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = valid();
    edit(&mut v);
    v.to_string().into_bytes()
}

/// (name, content type, body, expected status).
fn hostile_cases() -> Vec<(&'static str, Option<&'static str>, Vec<u8>, u16)> {
    let json = Some("application/json");
    let valid_text = valid().to_string();
    let many: Vec<Value> = (0..5000)
        .map(|i| json!({"name": format!("c{i}"), "image": "nginx:latest"}))
        .collect();
    vec![
        ("empty", json, vec![], 400),
        ("whitespace", json, b" \n\t ".to_vec(), 400),
        ("not json", json, b"hello, webhook".to_vec(), 400),
        ("truncated", json, valid_text.as_bytes()[..valid_text.len() / 2].to_vec(), 400),
        ("array", json, b"[]".to_vec(), 400),
        ("string", json, b"\"AdmissionReview\"".to_vec(), 400),
        ("null", json, b"null".to_vec(), 400),
        ("number", json, b"42".to_vec(), 400),
        ("invalid utf-8", json, vec![0xff, 0xfe, 0x7b, 0x7d], 400),
        ("byte order mark", json, [&[0xef, 0xbb, 0xbf][..], valid_text.as_bytes()].concat(), 400),
        ("wrong apiVersion", json, with(|v| v["apiVersion"] = json!("admission.k8s.io/v1beta1")), 400),
        ("wrong kind", json, with(|v| v["kind"] = json!("Pod")), 400),
        ("no request", json, with(|v| { v.as_object_mut().unwrap().remove("request"); }), 400),
        ("null request", json, with(|v| v["request"] = Value::Null), 400),
        ("missing uid", json, with(|v| { v["request"].as_object_mut().unwrap().remove("uid"); }), 400),
        ("empty uid", json, with(|v| v["request"]["uid"] = json!("")), 400),
        ("numeric uid", json, with(|v| v["request"]["uid"] = json!(12)), 400),
        ("unknown operation", json, with(|v| v["request"]["operation"] = json!("PATCH")), 400),
        ("missing operation", json, with(|v| { v["request"].as_object_mut().unwrap().remove("operation"); }), 400),
        ("null object on create", json, with(|v| v["request"]["object"] = Value::Null), 400),
        ("array object", json, with(|v| v["request"]["object"] = json!([1, 2])), 400),
        ("string object", json, with(|v| v["request"]["object"] = json!("pod")), 400),
        ("kind not an object", json, with(|v| v["request"]["kind"] = json!("Pod")), 400),
        ("duplicate field", json, br#"{"apiVersion":"admission.k8s.io/v1","apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), 400),
        ("deeply nested in the object", json, valid_text.replacen("\"metadata\":{", &format!("\"metadata\":{{\"deep\":{},", nested(100_000)), 1).into_bytes(), 200),
        ("deeply nested in managedFields", json, valid_text.replacen("\"metadata\":{", &format!("\"metadata\":{{\"managedFields\":[{{\"manager\":\"x\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{}}}],", nested(100_000)), 1).into_bytes(), 200),
        ("deeply nested in an ignored field", json, valid_text.replacen("\"oldObject\":null", &format!("\"oldObject\":null,\"deep\":{}", nested(100_000)), 1).into_bytes(), 200),
        ("deep but within the limit", json, with(|v| v["request"]["object"]["metadata"]["annotations"] = json!({"x": nested(50)})), 200),
        ("oversized", json, format!("{{\"pad\":\"{}\"}}", "x".repeat(4 * 1024 * 1024)).into_bytes(), 413),
        ("text/plain", Some("text/plain"), valid_text.clone().into_bytes(), 415),
        ("form encoded", Some("application/x-www-form-urlencoded"), valid_text.clone().into_bytes(), 415),
        ("no content type", None, valid_text.clone().into_bytes(), 415),
        ("content type with charset", Some("application/json; charset=utf-8"), valid_text.clone().into_bytes(), 200),
        ("huge image string", json, with(|v| v["request"]["object"]["spec"]["containers"][0]["image"] = json!(format!("{}:latest", "a".repeat(1024 * 1024)))), 200),
        ("control characters in names", json, with(|v| v["request"]["object"]["spec"]["containers"][0]["name"] = json!("a\nb\u{0007}c")), 200),
        ("5000 bad containers", json, with(|v| v["request"]["object"]["spec"]["containers"] = json!(many)), 200),
        ("number out of range", json, with(|v| v["request"]["object"]["spec"]["securityContext"] = json!({"runAsUser": 1e300})), 200),
        ("containers not a list", json, with(|v| v["request"]["object"]["spec"]["containers"] = json!(7)), 200),
        ("object claims another kind", json, with(|v| v["request"]["object"]["kind"] = json!("ConfigMap")), 200),
        ("unknown group", json, with(|v| v["request"]["kind"]["group"] = json!("evil.example.com")), 200),
        ("namespace missing", json, with(|v| { v["request"].as_object_mut().unwrap().remove("namespace"); }), 200),
    ]
}

#[actix_web::test]
async fn hostile_bodies_get_a_4xx_or_a_valid_review() {
    let cases = hostile_cases();
    assert!(cases.len() >= 25);
    for (name, content_type, body, expected) in cases {
        let s = state(true, FailureMode::Open);
        let (status, bytes) = post(&s, content_type, body).await;
        assert_eq!(
            status.as_u16(),
            expected,
            "{name}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
        if expected == 200 {
            let v = assert_valid_review(&bytes, UID);
            let message = v["response"]["status"]["message"].as_str().unwrap_or("");
            assert!(
                message.len() <= 4096,
                "{name}: message of {} bytes",
                message.len()
            );
            assert!(!message.contains('\n'), "{name}");
        } else if expected == 400 {
            assert!(!bytes.is_empty(), "{name}: a 400 says why");
        }
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("CREATE"),
            Just("UPDATE"),
            Just("Pod"),
            Just("Deployment"),
            Just("apps"),
            Just("latest")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("kind".to_owned()),
                    Just("spec".to_owned()),
                    Just("containers".to_owned()),
                    Just("image".to_owned()),
                    Just("template".to_owned()),
                    Just("metadata".to_owned()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A review whose every part may be random: top-level fields, request fields, object.
fn review_shaped() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        Just(json!("CREATE")),
        Just(json!("UPDATE")),
        Just(json!("DELETE")),
        any_json()
    ];
    let kind = prop_oneof![
        Just(json!({"group": "", "version": "v1", "kind": "Pod"})),
        Just(json!({"group": "apps", "version": "v1", "kind": "Deployment"})),
        Just(json!({"group": "batch", "version": "v1", "kind": "CronJob"})),
        any_json(),
    ];
    (op, kind, any_json(), any_json(), any::<bool>()).prop_map(|(op, kind, object, old, v1)| {
        json!({
            "apiVersion": if v1 { "admission.k8s.io/v1" } else { "admission.k8s.io/v2" },
            "kind": "AdmissionReview",
            "request": {"uid": UID, "kind": kind, "namespace": "shop", "operation": op,
                        "object": object, "oldObject": old}
        })
    })
}

fn check_never_fails(body: Vec<u8>) -> Result<(), TestCaseError> {
    let (status, bytes) = actix_web::rt::System::new().block_on(async move {
        post(
            &state(true, FailureMode::Open),
            Some("application/json"),
            body,
        )
        .await
    });
    prop_assert!(matches!(status.as_u16(), 200 | 400), "status {status}");
    if status == StatusCode::OK {
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&v["response"]["uid"], UID);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_json_never_breaks_the_webhook(value in any_json()) {
        check_never_fails(value.to_string().into_bytes())?;
    }

    #[test]
    fn random_reviews_never_break_the_webhook(value in review_shaped()) {
        check_never_fails(value.to_string().into_bytes())?;
    }

    #[test]
    fn random_bytes_never_break_the_webhook(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_never_fails(bytes)?;
    }
}
