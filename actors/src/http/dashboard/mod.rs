//! The web dashboard: the page, its embedded assets, the JSON API behind every view and
//! the server-sent events that keep an open page current.
//!
//! In: requests under the base path, and the controller's in-memory state — the score
//! actor's dashboard data ([`GetDashboard`]), the policy reconciler's policies
//! ([`GetPolicies`]), leadership and watch health. Out: the page and its assets (compiled
//! into the binary: nothing is fetched from elsewhere), JSON views under `api/v1/`, and an
//! event stream announcing changes. Nothing here lists anything from the API server.
//!
//! Routes live under `--dashboard-base-path` (default: the root), so the dashboard can be
//! served behind an ingress path; the page only uses relative URLs and keeps its view and
//! filters in the URL fragment (deep links).

mod api;
mod events;

pub use events::MAX_STREAMS as MAX_EVENT_STREAMS;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use actix::Recipient;
use actix_web::{HttpResponse, web};
use tokio::sync::watch;

use crate::system::health::Readiness;
use crate::system::lease::LeadershipGuard;
use crate::system::messages::{GetDashboard, GetPolicies};

/// How long a view waits for an actor.
const ACTOR_TIMEOUT: Duration = Duration::from_secs(2);

/// The page's content security policy: its own scripts, styles and data only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded asset.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Every file the page loads, compiled in. The stylesheet is the HTML report's, with the
/// dashboard's own rules after it.
const ASSETS: &[Asset] = &[
    Asset {
        name: "report.css",
        content_type: "text/css; charset=utf-8",
        body: kube_devops::report::STYLESHEET,
    },
    Asset {
        name: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/dashboard.css"),
    },
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/dashboard.js"),
    },
];

/// What the dashboard reads.
#[derive(Clone)]
pub struct DashboardState {
    /// The score actor.
    pub data: Recipient<GetDashboard>,
    /// The policy reconciler, when this process runs one.
    pub policies: Option<Recipient<GetPolicies>>,
    /// The score actor's change counter.
    pub changes: watch::Receiver<u64>,
    /// Readiness of this process (and, through it, watch states and shutdown).
    pub readiness: Readiness,
    /// Leadership, when this process takes part in an election.
    pub leader: Option<LeadershipGuard>,
    /// Open event streams.
    pub streams: Arc<AtomicUsize>,
}

/// Checks a `--dashboard-base-path`: `/` or a path of plain segments, without a trailing
/// slash; the result is the prefix routes are given (`""` for the root).
pub fn base_path(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim_end_matches('/');
    if !raw.starts_with('/') {
        return Err(format!("dashboard base path {raw:?} must start with /"));
    }
    let valid = trimmed.split('/').skip(1).all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
    });
    if !valid {
        return Err(format!(
            "dashboard base path {raw:?} must be / or /segment[/segment...] of letters, digits, - . _ ~"
        ));
    }
    Ok(trimmed.to_owned())
}

/// Registers the dashboard's routes under `base` (a result of [`base_path`]). The JSON
/// `api/v1/scores` of the ops server is repeated under a non-root base, so that every
/// URL the page uses lives under it.
pub fn configure(base: &str) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        let at = |path: &str| format!("{base}{path}");
        cfg.route(&at("/"), web::get().to(page))
            .route(&at("/assets/{name}"), web::get().to(asset))
            .route(&at("/api/v1/overview"), web::get().to(api::overview))
            .route(&at("/api/v1/namespaces"), web::get().to(api::namespaces))
            .route(
                &at("/api/v1/namespaces/{name}"),
                web::get().to(api::namespace),
            )
            .route(&at("/api/v1/checks"), web::get().to(api::checks))
            .route(&at("/api/v1/policies"), web::get().to(api::policies))
            .route(&at("/api/v1/events"), web::get().to(events::stream));
        if !base.is_empty() {
            let slash = at("/");
            cfg.route(
                base,
                web::get().to(move || {
                    let slash = slash.clone();
                    async move {
                        HttpResponse::PermanentRedirect()
                            .insert_header(("Location", slash))
                            .finish()
                    }
                }),
            )
            .route(&at("/api/v1/scores"), web::get().to(super::ops::scores));
        }
    }
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-cache"))
        .body(include_str!("assets/index.html"))
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.name == name.as_str()) {
        Some(a) => HttpResponse::Ok()
            .content_type(a.content_type)
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Cache-Control", "no-cache"))
            .body(a.body),
        None => HttpResponse::NotFound()
            .content_type("text/plain")
            .body("no such asset\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::base_path;

    #[test]
    fn base_paths_are_normalised_or_refused_with_the_reason() {
        assert_eq!(base_path("/").unwrap(), "");
        assert_eq!(base_path("/kube-devops/").unwrap(), "/kube-devops");
        assert_eq!(base_path("/a/b.c").unwrap(), "/a/b.c");
        for bad in ["kube-devops", "/a//b", "/a/../b", "/a b", "/<x>", ""] {
            let err = base_path(bad).unwrap_err();
            assert!(err.contains("base path"), "{bad}: {err}");
        }
    }
}
