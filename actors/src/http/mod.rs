//! The HTTP servers: the ops server (health, metrics, the JSON API and the dashboard) and
//! the admission webhook's HTTPS server with its TLS material.
//!
//! In: requests, and state the actors publish (health, the scores actor, the policy
//! snapshot). Out: responses. Routes live in `configure` functions shared by the servers
//! and the tests.

pub mod body;
pub mod certs;
pub mod connections;
pub mod dashboard;
pub mod issued;
pub mod limits;
pub mod ops;
pub mod ops_access;
pub mod tls;
pub mod webhook;
pub mod webhook_server;

pub use webhook::{FailureMode, MAX_BODY_BYTES, WebhookState, configure};
pub use webhook_server::{RunningServer, WebhookError, WebhookOptions, serve, serve_with_limits};
