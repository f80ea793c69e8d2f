//! The ops HTTP server: `/healthz`, `/readyz`, `/metrics` and `/api/v1/scores` (the
//! dashboard's routes are in [`super::dashboard`]).
//!
//! In: shared health (heartbeats for `/healthz`, and the readiness view of the watches this
//! process depends on for `/readyz`: the same model the webhook uses), the metrics registry
//! and the score actor's address. Out: HTTP responses. Routes live in [`configure`], which
//! the server and the tests both use.

use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use actix_web::{HttpResponse, web};

use crate::metrics::Metrics;
use crate::system::health::{Health, Readiness};
use crate::system::messages::GetScores;

/// How long `/api/v1/scores` waits for the score actor.
const SCORES_TIMEOUT: Duration = Duration::from_secs(2);
/// Findings listed in `/api/v1/scores`.
const TOP_FINDINGS: usize = 10;

/// What the handlers read.
#[derive(Clone)]
pub struct OpsState {
    /// Liveness (heartbeats).
    pub health: Arc<Health>,
    /// Readiness: the watches this process depends on, and shutdown.
    pub readiness: Readiness,
    /// The registry behind `/metrics`.
    pub metrics: Metrics,
    /// The score actor, when this process runs one.
    pub scores: Option<Recipient<GetScores>>,
}

/// Registers the ops routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/api/v1/scores", web::get().to(scores));
}

async fn healthz(state: web::Data<OpsState>) -> HttpResponse {
    let stale = state.health.stale();
    if stale.is_empty() {
        HttpResponse::Ok().content_type("text/plain").body("ok\n")
    } else {
        HttpResponse::InternalServerError()
            .content_type("text/plain")
            .body(format!("not responding: {}\n", stale.join(", ")))
    }
}

async fn readyz(state: web::Data<OpsState>) -> HttpResponse {
    match state.readiness.check() {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"),
        Err(why) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("not ready: {why}\n")),
    }
}

async fn metrics(state: web::Data<OpsState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.encode())
}

/// `GET /api/v1/scores`.
pub(crate) async fn scores(state: web::Data<OpsState>) -> HttpResponse {
    let Some(scores) = &state.scores else {
        return HttpResponse::NotFound()
            .json(serde_json::json!({"error": "this process does not score pods"}));
    };
    match tokio::time::timeout(SCORES_TIMEOUT, scores.send(GetScores { top: TOP_FINDINGS })).await {
        Ok(Ok(view)) => HttpResponse::Ok().json(view),
        Ok(Err(_)) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"error": "score state unavailable"})),
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"error": "score state did not answer in time"})),
    }
}
