//! The dashboard's JSON API: one endpoint per view.
//!
//! In: a request's query string (the filters of `kube_devops::dashboard::Filter`) and the
//! score actor's [`DashboardData`]; for policies, the reconciler's policies. Out: JSON
//! views, `400` naming a bad filter, `404` for an unknown namespace, `503` when an actor
//! does not answer in time. Views are computed from the shared data on the handler's
//! thread: the actor only hands the data over.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use kube_devops::dashboard::{self, ControllerState, Filter, Overview};
use kube_devops::policy::crd::EnforcementMode;
use serde::Serialize;

use super::{ACTOR_TIMEOUT, DashboardState};
use crate::system::dashboard::DashboardData;
use crate::system::health::WatchState;
use crate::system::messages::{GetDashboard, GetPolicies, PolicyView};

/// Why a view is not shown; answered as JSON `{"error": ...}` with its status.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refusal {
    /// A bad query string.
    #[error("{0}")]
    BadRequest(String),
    /// No such namespace.
    #[error("{0}")]
    NotFound(String),
    /// An actor did not answer.
    #[error("{0}")]
    Unavailable(&'static str),
}

impl actix_web::ResponseError for Refusal {
    fn status_code(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::NotFound(_) => StatusCode::NOT_FOUND,
            Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "error": self.to_string() }))
    }
}

type Answer = Result<HttpResponse, Refusal>;

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    res
}

async fn data(state: &DashboardState) -> Result<Arc<DashboardData>, Refusal> {
    match tokio::time::timeout(ACTOR_TIMEOUT, state.data.send(GetDashboard)).await {
        Ok(Ok(data)) => Ok(data),
        Ok(Err(_)) => Err(Refusal::Unavailable("score state unavailable")),
        Err(_) => Err(Refusal::Unavailable("score state did not answer in time")),
    }
}

fn filter(req: &HttpRequest) -> Result<Filter, Refusal> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| Refusal::BadRequest(e.to_string()))?;
    Filter::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(Refusal::BadRequest)
}

fn controller(state: &DashboardState) -> ControllerState {
    let health = state.readiness.health();
    let watches = state
        .readiness
        .watches()
        .iter()
        .map(|w| {
            let text = match health.state(w) {
                None | Some(WatchState::Waiting) => "waiting".to_owned(),
                Some(WatchState::Live) => "live".to_owned(),
                Some(WatchState::Failing(why)) => format!("failing: {why}"),
            };
            ((*w).to_owned(), text)
        })
        .collect();
    ControllerState {
        leader: state.leader.as_ref().map(|g| g.is_leading()),
        watches,
        ready: state.readiness.is_ready(),
    }
}

/// `GET api/v1/overview`.
pub(super) async fn overview(state: web::Data<DashboardState>) -> Answer {
    let data = data(&state).await?;
    let view = Overview::new(
        data.cluster,
        &data.namespaces,
        &data.trend,
        controller(&state),
        data.generated_at,
    );
    Ok(no_store(HttpResponse::Ok().json(view)))
}

/// The namespace list.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NamespaceList {
    namespaces: Vec<dashboard::NamespaceRow>,
    total: usize,
    generated_at: jiff::Timestamp,
}

/// `GET api/v1/namespaces`.
pub(super) async fn namespaces(req: HttpRequest, state: web::Data<DashboardState>) -> Answer {
    let filter = filter(&req)?;
    let data = data(&state).await?;
    let view = NamespaceList {
        namespaces: filter.namespaces(data.namespaces.iter().map(|n| &**n)),
        total: data.namespaces.len(),
        generated_at: data.generated_at,
    };
    Ok(no_store(HttpResponse::Ok().json(view)))
}

/// `GET api/v1/namespaces/{name}`.
pub(super) async fn namespace(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<DashboardState>,
) -> Answer {
    let filter = filter(&req)?;
    let data = data(&state).await?;
    let found = data
        .namespaces
        .binary_search_by(|n| n.row.name.as_str().cmp(name.as_str()))
        .ok()
        .and_then(|i| data.namespaces.get(i));
    match found {
        Some(detail) => Ok(no_store(HttpResponse::Ok().json(filter.namespace(detail)))),
        None => Err(Refusal::NotFound(format!(
            "namespace {:?} has no scored pods",
            name.as_str()
        ))),
    }
}

/// `GET api/v1/checks`.
pub(super) async fn checks(req: HttpRequest, state: web::Data<DashboardState>) -> Answer {
    let filter = filter(&req)?;
    let data = data(&state).await?;
    let checks = dashboard::checks(&data.namespaces, &filter);
    Ok(no_store(HttpResponse::Ok().json(serde_json::json!({
        "checks": checks,
        "generatedAt": data.generated_at,
    }))))
}

/// One policy with the exempt findings of its namespace (the skips).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyRow {
    #[serde(flatten)]
    policy: PolicyView,
    exempt_findings: u64,
}

/// `GET api/v1/policies`.
pub(super) async fn policies(state: web::Data<DashboardState>) -> Answer {
    let data = data(&state).await?;
    let held = match &state.policies {
        None => Vec::new(),
        Some(recipient) => {
            match tokio::time::timeout(ACTOR_TIMEOUT, recipient.send(GetPolicies)).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(Refusal::Unavailable("policy state unavailable")),
                Err(_) => return Err(Refusal::Unavailable("policy state did not answer in time")),
            }
        }
    };
    let exempt: BTreeMap<&str, u64> = data
        .namespaces
        .iter()
        .map(|n| (n.row.name.as_str(), n.row.exempt))
        .collect();
    let mut modes: BTreeMap<&'static str, u64> = BTreeMap::new();
    for p in &held {
        let mode = match p.mode {
            EnforcementMode::Audit => "audit",
            EnforcementMode::Enforce => "enforce",
            EnforcementMode::DryRun => "dryRun",
        };
        *modes.entry(mode).or_insert(0) += 1;
    }
    let rows: Vec<PolicyRow> = held
        .into_iter()
        .map(|policy| PolicyRow {
            exempt_findings: exempt.get(policy.namespace.as_str()).copied().unwrap_or(0),
            policy,
        })
        .collect();
    Ok(no_store(HttpResponse::Ok().json(serde_json::json!({
        "policies": rows,
        "modes": modes,
        "generatedAt": data.generated_at,
    }))))
}
