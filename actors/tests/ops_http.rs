//! Actor and HTTP tests of the ops server: the same `configure` function the controller
//! uses, a real NamespaceScoreActor fed with pod events, no cluster.

use std::sync::Arc;

use actix::Actor;
use actix_web::middleware::from_fn;
use actix_web::{App, test, web};
use kube_devops::facts::PodFacts;
use kube_devops::policy::{EffectivePolicy, NamespaceExclusions};
use kube_devops::testing::pod;
use kube_devops_actors::http::ops::{OpsState, configure};
use kube_devops_actors::http::ops_access::{OpsAccess, protect};
use kube_devops_actors::metrics::Metrics;
use kube_devops_actors::system::health::{Health, PODS, Readiness};
use kube_devops_actors::system::messages::{GetScores, PodEvent};
use kube_devops_actors::system::scores::NamespaceScoreActor;
use serde_json::Value;

fn facts(name: &str, ns: &str, image: &str, probes: bool) -> Box<PodFacts> {
    let mut b = pod(name).ns(ns).image(image).status("Running", 0);
    if !probes {
        b = b.without_probes();
    }
    let mut f = b.facts();
    f.uid = Some(format!("uid-{ns}-{name}"));
    Box::new(f)
}

struct Fixture {
    health: Arc<Health>,
    metrics: Metrics,
    scores: actix::Addr<NamespaceScoreActor>,
}

fn fixture() -> Fixture {
    let health = Arc::new(Health::default());
    let metrics = Metrics::new().unwrap();
    let scores = NamespaceScoreActor::with_fixed_policy(
        EffectivePolicy::default(),
        NamespaceExclusions::default(),
        metrics.clone(),
        health.clone(),
    )
    .start();
    Fixture {
        health,
        metrics,
        scores,
    }
}

fn state(f: &Fixture) -> web::Data<OpsState> {
    web::Data::new(OpsState {
        health: f.health.clone(),
        readiness: Readiness::new(f.health.clone(), &[PODS]),
        metrics: f.metrics.clone(),
        scores: Some(f.scores.clone().recipient()),
    })
}

#[actix_web::test]
async fn readyz_is_503_until_the_first_sync_and_again_during_shutdown() {
    let f = fixture();
    let app = test::init_service(App::new().app_data(state(&f)).configure(configure)).await;
    let get = |path: &'static str| test::TestRequest::get().uri(path).to_request();
    assert_eq!(test::call_service(&app, get("/readyz")).await.status(), 503);
    f.health.set_synced();
    assert_eq!(test::call_service(&app, get("/readyz")).await.status(), 200);
    f.health.set_shutting_down();
    let res = test::call_service(&app, get("/readyz")).await;
    assert_eq!(res.status(), 503);
    let body = test::read_body(res).await;
    assert!(String::from_utf8_lossy(&body).contains("shutting down"));
}

#[actix_web::test]
async fn healthz_is_200_while_actors_beat() {
    let f = fixture();
    f.health.beat("scores");
    let app = test::init_service(App::new().app_data(state(&f)).configure(configure)).await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn scores_follow_pod_events_with_exact_values() {
    let f = fixture();
    let send = |e: PodEvent| f.scores.send(e);
    send(PodEvent::Applied {
        facts: facts("web", "shop", "nginx:1.27", true),
        relist: false,
    })
    .await
    .unwrap();
    send(PodEvent::Applied {
        facts: facts("cart", "shop", "nginx:latest", false),
        relist: false,
    })
    .await
    .unwrap();
    send(PodEvent::Applied {
        facts: facts("ghost", "blog", "ghost:5", true),
        relist: false,
    })
    .await
    .unwrap();
    let app = test::init_service(App::new().app_data(state(&f)).configure(configure)).await;
    let v: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get().uri("/api/v1/scores").to_request(),
    )
    .await;
    // shop: 10 points over 2 pods = 95.0; cluster: 10 over 3 = 96.7.
    assert_eq!(v["cluster"], 96.7);
    assert_eq!(v["namespaces"][1]["name"], "shop");
    assert_eq!(v["namespaces"][1]["score"], 95.0);
    assert_eq!(v["topFindings"][0]["pods"], 1);

    let metrics =
        test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert!(
        metrics
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(test::read_body(metrics).await.to_vec()).unwrap();
    assert!(
        text.contains("kube_devops_namespace_health_score{namespace=\"shop\"} 95"),
        "{text}"
    );
    assert!(text.contains("kube_devops_pods_tracked 3"));
}

#[actix_web::test]
async fn a_relist_prunes_pods_that_vanished_and_their_namespace_series() {
    let f = fixture();
    let send = |e: PodEvent| f.scores.send(e);
    send(PodEvent::Applied {
        facts: facts("a", "shop", "nginx:1.27", true),
        relist: false,
    })
    .await
    .unwrap();
    send(PodEvent::Applied {
        facts: facts("b", "blog", "nginx:1.27", true),
        relist: false,
    })
    .await
    .unwrap();
    send(PodEvent::RelistStarted).await.unwrap();
    send(PodEvent::Applied {
        facts: facts("a", "shop", "nginx:1.27", true),
        relist: true,
    })
    .await
    .unwrap();
    send(PodEvent::RelistDone).await.unwrap();
    let view = f.scores.send(GetScores { top: 5 }).await.unwrap();
    assert_eq!(view.pods, 1);
    assert_eq!(view.namespaces.len(), 1);
    assert!(!f.metrics.encode().contains("namespace=\"blog\""));
}

#[actix_web::test]
async fn deleting_and_reapplying_never_double_counts() {
    let f = fixture();
    let send = |e: PodEvent| f.scores.send(e);
    for _ in 0..3 {
        send(PodEvent::Applied {
            facts: facts("a", "shop", "nginx:latest", true),
            relist: false,
        })
        .await
        .unwrap();
    }
    send(PodEvent::Deleted {
        uid: "uid-shop-missing".into(),
    })
    .await
    .unwrap();
    let view = f.scores.send(GetScores { top: 5 }).await.unwrap();
    assert_eq!(view.pods, 1);
    assert_eq!(view.cluster.unwrap().to_string(), "95.0");
    send(PodEvent::Deleted {
        uid: "uid-shop-a".into(),
    })
    .await
    .unwrap();
    let view = f.scores.send(GetScores { top: 5 }).await.unwrap();
    assert_eq!(view.cluster, None);
}

#[actix_web::test]
async fn excluded_namespaces_and_terminated_pods_are_not_scored() {
    let f = fixture();
    let send = |e: PodEvent| f.scores.send(e);
    send(PodEvent::Applied {
        facts: facts("dns", "kube-system", "coredns", false),
        relist: false,
    })
    .await
    .unwrap();
    let mut done = pod("job").ns("shop").status("Succeeded", 0).facts();
    done.uid = Some("uid-job".into());
    send(PodEvent::Applied {
        facts: Box::new(done),
        relist: false,
    })
    .await
    .unwrap();
    let view = f.scores.send(GetScores { top: 5 }).await.unwrap();
    assert_eq!(view.pods, 0);
    assert_eq!(view.cluster, None);
}

#[actix_web::test]
async fn with_a_token_file_metrics_and_scores_need_the_bearer_token_and_probes_do_not() {
    let f = fixture();
    f.health.set_synced();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let access = web::Data::new(OpsAccess::from_file(&token_file).unwrap());
    let app = test::init_service(
        App::new()
            .app_data(state(&f))
            .app_data(access)
            .wrap(from_fn(protect))
            .configure(configure)
            .configure(kube_devops_actors::http::dashboard::configure("")),
    )
    .await;
    let get = |path: &'static str, token: Option<&str>| {
        let mut r = test::TestRequest::get().uri(path);
        if let Some(t) = token {
            r = r.insert_header(("Authorization", format!("Bearer {t}")));
        }
        r.to_request()
    };
    for path in ["/metrics", "/api/v1/scores"] {
        let none = test::call_service(&app, get(path, None)).await;
        assert_eq!(none.status(), 401, "{path}");
        assert!(none.headers().contains_key("www-authenticate"));
        let wrong = test::call_service(&app, get(path, Some("s3cret-tokeN"))).await;
        assert_eq!(wrong.status(), 401, "{path}");
        let right = test::call_service(&app, get(path, Some("s3cret-token"))).await;
        assert_eq!(right.status(), 200, "{path}");
    }
    // The dashboard's page and assets hold no data: open, like the probes.
    for path in ["/healthz", "/readyz", "/", "/assets/dashboard.js"] {
        assert_eq!(
            test::call_service(&app, get(path, None)).await.status(),
            200,
            "{path}"
        );
    }
    // A data path added later is protected too: refused before it is looked up.
    let unknown = test::call_service(&app, get("/api/v1/later", None)).await;
    assert_eq!(unknown.status(), 401);
}

#[actix_web::test]
async fn an_empty_or_missing_token_file_is_refused_rather_than_leaving_the_endpoints_open() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    assert!(OpsAccess::from_file(&empty).is_err());
    assert!(OpsAccess::from_file(&dir.path().join("missing")).is_err());
}
