//! HTTP tests of the web dashboard: the same route functions the controller uses, a real
//! NamespaceScoreActor fed with pod events, no cluster.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::Actor;
use actix_web::body::MessageBody;
use actix_web::{App, test, web};
use kube_devops::facts::PodFacts;
use kube_devops::policy::{EffectivePolicy, NamespaceExclusions};
use kube_devops::testing::pod;
use kube_devops_actors::http::dashboard::{self, DashboardState};
use kube_devops_actors::http::ops::{self, OpsState};
use kube_devops_actors::metrics::Metrics;
use kube_devops_actors::system::health::{Health, PODS, Readiness};
use kube_devops_actors::system::messages::{GetDashboard, PodEvent};
use kube_devops_actors::system::scores::NamespaceScoreActor;
use serde_json::Value;

fn facts(name: &str, ns: &str, image: &str, owner: Option<&str>) -> Box<PodFacts> {
    let mut b = pod(name).ns(ns).image(image).status("Running", 0);
    if let Some(owner) = owner {
        b = b.owned_by("ReplicaSet", owner);
    }
    let mut f = b.facts();
    f.uid = Some(format!("uid-{ns}-{name}"));
    Box::new(f)
}

struct Fixture {
    scores: actix::Addr<NamespaceScoreActor>,
    ops: web::Data<OpsState>,
    board: web::Data<DashboardState>,
}

fn fixture() -> Fixture {
    let health = Arc::new(Health::default());
    let metrics = Metrics::new().unwrap();
    let actor = NamespaceScoreActor::with_fixed_policy(
        EffectivePolicy::default(),
        NamespaceExclusions::default(),
        metrics.clone(),
        health.clone(),
    );
    let changes = actor.dashboard_changes();
    let scores = actor.start();
    let readiness = Readiness::new(health.clone(), &[PODS]);
    let ops = web::Data::new(OpsState {
        health,
        readiness: readiness.clone(),
        metrics,
        scores: Some(scores.clone().recipient()),
    });
    let board = web::Data::new(DashboardState {
        data: scores.clone().recipient(),
        policies: None,
        changes,
        readiness,
        leader: None,
        streams: Arc::default(),
    });
    Fixture { scores, ops, board }
}

async fn apply(f: &Fixture, facts: Box<PodFacts>) {
    f.scores
        .send(PodEvent::Applied {
            facts,
            relist: false,
        })
        .await
        .unwrap();
}

async fn seeded() -> Fixture {
    let f = fixture();
    apply(&f, facts("web-a", "shop", "nginx:latest", Some("web-1"))).await;
    apply(&f, facts("web-b", "shop", "nginx:latest", Some("web-1"))).await;
    apply(&f, facts("db-a", "shop", "postgres:16", Some("db-1"))).await;
    apply(&f, facts("ghost", "blog", "ghost:5", None)).await;
    f
}

macro_rules! app {
    ($f:expr, $base:expr) => {
        test::init_service(
            App::new()
                .app_data($f.ops.clone())
                .app_data($f.board.clone())
                .configure(ops::configure)
                .configure(dashboard::configure($base)),
        )
        .await
    };
}

macro_rules! get_json {
    ($app:expr, $uri:expr) => {{
        let res = test::call_service(&$app, test::TestRequest::get().uri($uri).to_request()).await;
        let status = res.status().as_u16();
        let body = test::read_body(res).await;
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        )
    }};
}

#[actix_web::test]
async fn the_overview_and_the_namespace_list_agree_with_the_scores_api() {
    let f = seeded().await;
    let app = app!(f, "");
    let (_, scores) = get_json!(app, "/api/v1/scores");
    let (status, overview) = get_json!(app, "/api/v1/overview");
    assert_eq!(status, 200);
    assert_eq!(overview["cluster"], scores["cluster"]);
    assert_eq!(overview["classification"], scores["clusterStatus"]);
    assert_eq!(overview["pods"], scores["pods"]);
    assert_eq!(overview["namespaces"], 2);
    assert_eq!(overview["workloads"], 3);
    assert_eq!(overview["trend"].as_array().unwrap().len(), 1);
    let (_, list) = get_json!(app, "/api/v1/namespaces");
    let pairs = |v: &Value, key: &str| -> Vec<(Value, Value)> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["name"].clone(), n["score"].clone()))
            .collect()
    };
    assert_eq!(pairs(&list, "namespaces"), pairs(&scores, "namespaces"));
}

#[actix_web::test]
async fn a_namespace_shows_its_workloads_and_unknown_names_and_bad_filters_are_refused() {
    let f = seeded().await;
    let app = app!(f, "");
    let (status, shop) = get_json!(app, "/api/v1/namespaces/shop");
    assert_eq!(status, 200);
    assert_eq!(shop["summary"]["pods"], 3);
    let names: Vec<&str> = shop["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db-1", "web-1"]);
    let web = &shop["workloads"][1];
    let latest = web["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["check"] == "latestTag")
        .unwrap();
    assert_eq!(latest["pods"], 2);
    assert!(latest["fix"].as_str().unwrap().contains("pin the image"));
    let (status, body) = get_json!(app, "/api/v1/namespaces/nowhere");
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("nowhere"));
    let (status, body) = get_json!(app, "/api/v1/checks?severity=urgent");
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("urgent"));
}

#[actix_web::test]
async fn an_unchanged_state_is_served_from_the_cache_and_a_pod_event_renews_it() {
    let f = seeded().await;
    let first = f.scores.send(GetDashboard).await.unwrap();
    let again = f.scores.send(GetDashboard).await.unwrap();
    assert!(
        Arc::ptr_eq(&first, &again),
        "nothing changed: the same data"
    );
    apply(&f, facts("web-c", "shop", "nginx:latest", Some("web-1"))).await;
    let after = f.scores.send(GetDashboard).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &after));
    let blog_before = first.namespaces.iter().find(|n| n.row.name == "blog");
    let blog_after = after.namespaces.iter().find(|n| n.row.name == "blog");
    assert!(
        Arc::ptr_eq(blog_before.unwrap(), blog_after.unwrap()),
        "an untouched namespace is not evaluated again"
    );
    let shop = after.namespaces.iter().find(|n| n.row.name == "shop");
    assert_eq!(shop.unwrap().row.pods, 4);
}

async fn next_chunk(body: &mut actix_web::body::BoxBody) -> String {
    let chunk = tokio::time::timeout(
        Duration::from_secs(5),
        futures::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_next(cx)),
    )
    .await
    .expect("an event within 5 s")
    .expect("the stream is open")
    .unwrap();
    String::from_utf8_lossy(&chunk).into_owned()
}

#[actix_web::test]
async fn the_event_stream_announces_a_pod_change() {
    let f = seeded().await;
    let app = app!(f, "");
    let res = test::call_service(
        &app,
        test::TestRequest::get().uri("/api/v1/events").to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let mut body = res.into_body();
    assert!(next_chunk(&mut body).await.contains("event: hello"));
    // Let the announcement of the seeding pass, then change something.
    tokio::time::sleep(Duration::from_millis(700)).await;
    apply(&f, facts("fresh", "blog", "nginx:latest", None)).await;
    let mut seen = String::new();
    while !seen.contains("event: change") {
        seen = next_chunk(&mut body).await;
    }
    assert_eq!(f.board.streams.load(Ordering::Acquire), 1);
    drop(body);
    assert_eq!(
        f.board.streams.load(Ordering::Acquire),
        0,
        "the slot is given back"
    );
}

#[actix_web::test]
async fn event_streams_beyond_the_limit_are_refused() {
    let f = fixture();
    f.board
        .streams
        .store(dashboard::MAX_EVENT_STREAMS, Ordering::Release);
    let app = app!(f, "");
    let (status, body) = get_json!(app, "/api/v1/events");
    assert_eq!(status, 503);
    assert!(body["error"].as_str().unwrap().contains("too many"));
}

#[actix_web::test]
async fn under_a_base_path_the_dashboard_moves_and_the_probes_stay() {
    let f = seeded().await;
    let app = app!(f, "/kube-devops");
    let status = |uri: &'static str| {
        let app = &app;
        async move {
            test::call_service(app, test::TestRequest::get().uri(uri).to_request())
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("/kube-devops/").await, 200);
    assert_eq!(status("/kube-devops/assets/dashboard.js").await, 200);
    assert_eq!(status("/kube-devops/assets/report.css").await, 200);
    assert_eq!(status("/kube-devops/api/v1/overview").await, 200);
    assert_eq!(status("/kube-devops/api/v1/scores").await, 200);
    assert_eq!(status("/kube-devops").await, 308);
    assert_eq!(status("/").await, 404);
    assert_eq!(status("/api/v1/overview").await, 404);
    assert_eq!(status("/api/v1/scores").await, 200);
    assert_eq!(status("/metrics").await, 200);
    assert_eq!(status("/kube-devops/assets/../Cargo.toml").await, 404);
}

#[actix_web::test]
async fn the_page_loads_only_its_own_embedded_assets_under_a_strict_policy() {
    let f = fixture();
    let app = app!(f, "");
    let res = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    let csp = res
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    for asset in [
        "assets/report.css",
        "assets/dashboard.css",
        "assets/dashboard.js",
    ] {
        assert!(html.contains(asset), "{asset}");
    }
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<style"));
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/assets/report.css")
            .to_request(),
    )
    .await;
    let css = test::read_body(res).await;
    assert_eq!(&css[..], kube_devops::report::STYLESHEET.as_bytes());
}
