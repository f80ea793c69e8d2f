//! Optional protection of the ops server's data endpoints (`/metrics` and everything under
//! `/api/`): a bearer token read from a file.
//!
//! In: the token file (a mounted Secret, re-read at most every [`RELOAD_INTERVAL`] so a
//! rotated Secret takes effect without a restart) and each request's path and
//! `Authorization` header. Out: the request passed on, or a 401. [`protect`] is the
//! middleware the ops server is wrapped in: without an [`OpsAccess`] in the app data every
//! path stays open, as before; with one, the data paths ([`is_protected`]) need the token,
//! and `/healthz`, `/readyz` (the kubelet probes them without credentials) and the
//! dashboard's page (static; its data come from `/api/`) stay open. The comparison takes
//! the same time wherever the first difference is.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};

/// How long a token read from its file is trusted before the file is read again.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// Why the token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read the ops token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file holds no token.
    #[error("the ops token file {0} is empty")]
    Empty(PathBuf),
}

/// The bearer token the data paths require.
#[derive(Debug)]
pub struct OpsAccess {
    path: PathBuf,
    current: Mutex<(Instant, Vec<u8>)>,
}

fn read_token(path: &Path) -> Result<Vec<u8>, TokenError> {
    let text = super::limits::read_small_file(path).map_err(|source| TokenError::Read {
        path: path.to_owned(),
        source,
    })?;
    let token = text.trim_ascii().to_vec();
    if token.is_empty() {
        return Err(TokenError::Empty(path.to_owned()));
    }
    Ok(token)
}

/// Equal bytes, compared in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl OpsAccess {
    /// Reads the token; fails when the file is unreadable or empty, so a typo in the path
    /// never leaves the endpoints open.
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let token = read_token(path)?;
        Ok(OpsAccess {
            path: path.to_owned(),
            current: Mutex::new((Instant::now(), token)),
        })
    }

    /// Whether `req` carries the token.
    pub fn allows(&self, req: &HttpRequest) -> bool {
        let Some(given) = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let Ok(mut current) = self.current.lock() else {
            return false;
        };
        if current.0.elapsed() >= RELOAD_INTERVAL {
            match read_token(&self.path) {
                Ok(token) => *current = (Instant::now(), token),
                // Keep the last good token; a half-updated Secret must not open the door.
                Err(error) => tracing::warn!(%error, "keeping the previous ops token"),
            }
        }
        same(given.trim().as_bytes(), &current.1)
    }
}

/// Whether a path serves data that an [`OpsAccess`] protects: `/metrics` and every path
/// with an `/api/` segment, at the root or under a `--dashboard-base-path` (whose segments
/// are plain names, so nothing else has one).
pub fn is_protected(path: &str) -> bool {
    path == "/metrics" || path.contains("/api/")
}

/// The ops server's access middleware (`App::wrap(from_fn(protect))`): a request for a
/// protected path without the token is answered 401 and goes no further.
pub async fn protect(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refused = is_protected(req.path())
        && req
            .app_data::<web::Data<OpsAccess>>()
            .is_some_and(|access| !access.allows(req.request()));
    if refused {
        let response = HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer realm=\"kube-devops\""))
            .content_type("text/plain")
            .body("a bearer token is required (see --ops-token-file)\n");
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::{is_protected, same};

    #[test]
    fn metrics_and_the_api_are_protected_probes_and_the_page_are_not() {
        for path in [
            "/metrics",
            "/api/v1/scores",
            "/api/v1/anything-added-later",
            "/kube-devops/api/v1/scores",
            "/a/b/api/v1/events",
        ] {
            assert!(is_protected(path), "{path}");
        }
        for path in [
            "/healthz",
            "/readyz",
            "/",
            "/apiary",
            "/kube-devops/",
            "/assets/dashboard.js",
        ] {
            assert!(!is_protected(path), "{path}");
        }
    }

    #[test]
    fn tokens_compare_equal_only_when_every_byte_is_equal() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3creT"));
        assert!(!same(b"s3cret", b"s3cre"));
        assert!(!same(b"", b"x"));
    }
}
