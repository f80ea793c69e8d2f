//! Server-sent events: `GET api/v1/events` tells an open page when to fetch its view again.
//!
//! In: the score actor's change counter and the process's shutdown state. Out: a
//! `text/event-stream` that sends `event: change` with the counter whenever scores
//! changed (at most every half second, as the actor announces), a comment every
//! [`KEEPALIVE`] so proxies keep the connection, and ends when the process shuts down
//! (so draining does not wait for open pages). At most [`MAX_STREAMS`] streams are open
//! at once; beyond that the answer is `503` and the page falls back to polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures::StreamExt;
use tokio::sync::watch;

use super::DashboardState;

/// Open event streams allowed at once.
pub const MAX_STREAMS: usize = 64;
/// Time between keep-alive comments.
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// How often an idle stream checks for shutdown.
const SHUTDOWN_POLL: Duration = Duration::from_millis(500);

/// A held stream slot, given back when the stream is dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(count: &Arc<AtomicUsize>) -> Option<Slot> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_STREAMS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(count.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Stream {
    changes: watch::Receiver<u64>,
    state: DashboardState,
    idle: Duration,
    hello: bool,
    _slot: Slot,
}

fn event(name: &str, data: u64) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

impl Stream {
    async fn next(mut self) -> Option<(Bytes, Stream)> {
        if self.hello {
            self.hello = false;
            let now = *self.changes.borrow_and_update();
            // `retry`: how long the browser waits before reconnecting.
            let first = format!("retry: 2000\nevent: hello\ndata: {now}\n\n");
            return Some((Bytes::from(first), self));
        }
        loop {
            if self.state.readiness.is_stopping() {
                return None;
            }
            tokio::select! {
                changed = self.changes.changed() => {
                    changed.ok()?;
                    let now = *self.changes.borrow_and_update();
                    self.idle = Duration::ZERO;
                    return Some((event("change", now), self));
                }
                _ = tokio::time::sleep(SHUTDOWN_POLL) => {
                    self.idle += SHUTDOWN_POLL;
                    if self.idle >= KEEPALIVE {
                        self.idle = Duration::ZERO;
                        return Some((Bytes::from_static(b": keep-alive\n\n"), self));
                    }
                }
            }
        }
    }
}

/// `GET api/v1/events`.
pub(super) async fn stream(state: web::Data<DashboardState>) -> HttpResponse {
    let Some(slot) = Slot::take(&state.streams) else {
        return HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "error": "too many open event streams" }));
    };
    let first = Stream {
        changes: state.changes.clone(),
        state: state.get_ref().clone(),
        idle: Duration::ZERO,
        hello: true,
        _slot: slot,
    };
    let body = futures::stream::unfold(first, Stream::next).map(Ok::<_, std::convert::Infallible>);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}
