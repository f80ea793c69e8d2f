//! The webhook's HTTP routes: `POST /validate`, `/healthz`, `/readyz`, `/metrics`.
//!
//! In: AdmissionReview bodies, and the snapshot the AdmissionActor publishes. Out:
//! AdmissionReview responses, counted in the shared metrics. Judging is the domain crate's
//! pure `review`, called on the request's own worker thread against the snapshot loaded
//! from an `ArcSwap`: no mailbox, no lock, no await. A body that is not an AdmissionReview
//! gets a 4xx with a message saying what is wrong. A request that cannot be judged (no
//! policy set yet, an object that does not decode, a bug) is an internal error, answered
//! per the [`FailureMode`]: allowed with a warning (open) or denied (closed), and counted.
//! The body is read by the handler within a deadline and a shared budget of bytes in
//! flight (`body.rs`): a client that sends it slowly is answered 408 and disconnected.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use jiff::Timestamp;
use kube_devops::admission::{AdmissionResponse, Operation, Verdict, parse_review, review};
use kube_devops::checks::CheckId;

use super::body::{BodyBudget, BodyError, read_body};
use crate::metrics::Metrics;
use crate::system::admission::SnapshotCell;
use crate::system::health::Readiness;

/// Largest AdmissionReview accepted: big enough for a large object and its old version.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// What to answer when a request cannot be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailureMode {
    /// Allow, with a warning (the default: admission never blocks on our errors).
    #[default]
    Open,
    /// Deny with the error.
    Closed,
}

impl FailureMode {
    /// The `mode` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::Open => "open",
            FailureMode::Closed => "closed",
        }
    }
}

/// What the routes share.
#[derive(Clone)]
pub struct WebhookState {
    /// The policy snapshot, `None` until synced.
    pub snapshot: SnapshotCell,
    /// Readiness for `/readyz`.
    pub readiness: Arc<Readiness>,
    /// The process's metrics.
    pub metrics: Metrics,
    /// Answer to internal errors.
    pub failure_mode: FailureMode,
    /// Body deadline and the bytes of bodies all requests may hold at once.
    pub body: BodyBudget,
}

impl WebhookState {
    /// State with the default body deadline and budget.
    pub fn new(
        snapshot: SnapshotCell,
        readiness: Arc<Readiness>,
        metrics: Metrics,
        failure_mode: FailureMode,
    ) -> Self {
        WebhookState {
            snapshot,
            readiness,
            metrics,
            failure_mode,
            body: BodyBudget::default(),
        }
    }

    /// The same state with another body deadline and budget.
    pub fn with_body_budget(mut self, body: BodyBudget) -> Self {
        self.body = body;
        self
    }
}

/// Registers the webhook routes; used by the server and by tests.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<WebhookState>) {
    cfg.app_data(state)
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .service(
            web::resource("/validate")
                .route(web::post().to(validate))
                .default_service(web::to(|| async {
                    HttpResponse::MethodNotAllowed()
                        .insert_header(("Allow", "POST"))
                        .body("POST an AdmissionReview (admission.k8s.io/v1) as JSON\n")
                })),
        )
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok\n")
}

async fn readyz(state: web::Data<WebhookState>) -> HttpResponse {
    match state.readiness.check() {
        Ok(()) => HttpResponse::Ok().body("ok\n"),
        Err(why) => HttpResponse::ServiceUnavailable().body(format!("not ready: {why}\n")),
    }
}

async fn metrics(state: web::Data<WebhookState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.encode())
}

async fn validate(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<WebhookState>,
) -> HttpResponse {
    let started = Instant::now();
    if !is_json(&req) {
        return client_error(
            &state,
            HttpResponse::UnsupportedMediaType(),
            "Content-Type must be application/json".to_owned(),
        );
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let body = match read_body(payload, declared, MAX_BODY_BYTES, &state.body).await {
        Ok(body) => body,
        Err(e) => return body_error(&state, e),
    };
    let response = answer(&body.bytes, &state);
    // The body's share of the budget is held until the answer is built.
    drop(body);
    state
        .metrics
        .webhook_request_duration_seconds
        .observe(started.elapsed().as_secs_f64());
    response
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

fn client_error(
    state: &WebhookState,
    mut builder: actix_web::HttpResponseBuilder,
    message: String,
) -> HttpResponse {
    state
        .metrics
        .webhook_requests_total
        .with_label_values(&["invalid", "false"])
        .inc();
    tracing::debug!(%message, "rejected a body that is not an AdmissionReview");
    builder
        .content_type(ContentType::plaintext())
        .body(message + "\n")
}

/// A body that was not read: the connection is closed, so a slow client loses it.
fn body_error(state: &WebhookState, error: BodyError) -> HttpResponse {
    let mut builder = match error {
        BodyError::TooSlow(_) => HttpResponse::RequestTimeout(),
        BodyError::TooLarge(_) => HttpResponse::PayloadTooLarge(),
        BodyError::Busy => HttpResponse::ServiceUnavailable(),
        BodyError::Broken(_) => HttpResponse::BadRequest(),
    };
    if matches!(error, BodyError::Busy) {
        builder.insert_header(("Retry-After", "1"));
    }
    builder.force_close();
    client_error(state, builder, error.to_string())
}

fn answer(body: &[u8], state: &WebhookState) -> HttpResponse {
    let request = match parse_review(body) {
        Ok(r) => r,
        Err(e) => return client_error(state, HttpResponse::BadRequest(), e.to_string()),
    };
    let (uid, operation) = (request.uid.as_str(), request.operation);
    let Some(snapshot) = state.snapshot.load_full() else {
        return internal_error(state, uid, operation, "the policy set has not synced yet");
    };
    // `review` is pure and total, but a bug must cost one answer, not a worker thread.
    let judged = std::panic::catch_unwind(AssertUnwindSafe(|| {
        review(&request, &snapshot, Timestamp::now())
    }));
    let verdict = match judged {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(e)) => return internal_error(state, uid, operation, &e.to_string()),
        Err(_) => return internal_error(state, uid, operation, "internal error while judging"),
    };
    if !verdict.response.allowed {
        let checks: Vec<&str> = verdict.denied_by.iter().map(|c| c.as_str()).collect();
        tracing::info!(
            ns = request.namespace.as_deref().unwrap_or(""),
            kind = %request.kind.kind,
            name = %request.name,
            checks = %checks.join(","),
            "admission denied"
        );
    }
    let Verdict {
        response,
        operation,
        denied_by,
        ..
    } = verdict;
    respond(state, response, operation, &denied_by)
}

fn respond(
    state: &WebhookState,
    response: AdmissionResponse,
    operation: Operation,
    denied_by: &[CheckId],
) -> HttpResponse {
    let m = &state.metrics;
    let allowed = if response.allowed { "true" } else { "false" };
    m.webhook_requests_total
        .with_label_values(&[operation.as_str(), allowed])
        .inc();
    for check in denied_by {
        m.webhook_denials_total
            .with_label_values(&[check.as_str()])
            .inc();
    }
    match serde_json::to_vec(&response.into_review()) {
        Ok(bytes) => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(bytes),
        Err(error) => {
            tracing::error!(%error, "cannot encode an AdmissionReview response");
            HttpResponse::InternalServerError().body("cannot encode the response\n")
        }
    }
}

fn internal_error(
    state: &WebhookState,
    uid: &str,
    operation: Operation,
    error: &str,
) -> HttpResponse {
    let mode = state.failure_mode;
    state
        .metrics
        .webhook_errors_total
        .with_label_values(&[mode.as_str()])
        .inc();
    tracing::warn!(%error, mode = mode.as_str(), "admission request not judged");
    let response = match mode {
        FailureMode::Open => AdmissionResponse::allow(uid).with_warnings(vec![format!(
            "kube-devops could not judge this request ({error}); allowed because the webhook fails open"
        )]),
        FailureMode::Closed => AdmissionResponse::deny(
            uid,
            &format!("kube-devops could not judge this request ({error}); denied because the webhook fails closed"),
        ),
    };
    respond(state, response, operation, &[])
}
