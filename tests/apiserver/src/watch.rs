//! Watches: newline-delimited `{"type", "object"}` events on a list URL. A watch from a
//! resourceVersion replays its resource's window of history after it (or sends an `ERROR` event with
//! a 410 `Status` when that version has been compacted away, as the real server does once
//! the stream is open); from `0` or no version it first sends the current state as ADDED.
//! Selectors turn modifications into ADDED/DELETED when an object enters or leaves the
//! selection. Each event line is written around the object's stored JSON bytes, without
//! building a tree of it (tables and converted versions excepted). Streams end on `timeoutSeconds`, on lag, when the handle drops watches, or
//! at shutdown; BOOKMARKs are sent periodically when `allowWatchBookmarks` is set.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use crate::app::{App, Context, present};
use crate::http::{ApiRequest, Reply};
use crate::read::Filter;
use crate::resources::ResourceType;
use crate::status::{ApiError, ApiResult, FieldCause};
use crate::store::{EventType, StoredEvent};
use crate::stored::Stored;
use crate::table::{self, Include};

/// Longest a watch stays open without `timeoutSeconds`, as the real server's default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct WatchPlan {
    filter: Filter,
    name: Option<String>,
    rt: Arc<ResourceType>,
    bookmarks: bool,
    initial_end_bookmark: bool,
    timeout: Duration,
    table: Option<Include>,
}

impl WatchPlan {
    fn selects(&self, object: &Stored) -> bool {
        self.filter.selects(object)
            && self
                .name
                .as_deref()
                .is_none_or(|n| *object.meta().name == *n)
    }

    /// The event a client of this watch sees for a stored event, if any.
    fn translate(&self, event: &StoredEvent) -> Option<(&'static str, Arc<Stored>)> {
        if event.type_key != self.rt.type_key() {
            return None;
        }
        let now = self.selects(&event.object);
        let before = event.previous.as_deref().is_some_and(|p| self.selects(p));
        let kind = match event.kind {
            EventType::Added if now => "ADDED",
            EventType::Deleted if now || before => "DELETED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            _ => return None,
        };
        Some((kind, event.object.clone()))
    }

    fn line(&self, kind: &str, object: &Stored) -> Bytes {
        let Some(include) = self.table else {
            return event_line_json(kind, &object.served_json(&self.rt));
        };
        let shown = present(&object.value(), &self.rt);
        let metadata = json!({"resourceVersion": crate::meta::meta_str(&shown, "resourceVersion")});
        let table = table::render(&self.rt, std::slice::from_ref(&shown), metadata, include);
        event_line(kind, &table)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end && let Some(map) = metadata.as_object_mut() {
            map.insert(
                "annotations".into(),
                json!({"k8s.io/initial-events-end": "true"}),
            );
        }
        let object = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata});
        event_line("BOOKMARK", &object)
    }
}

/// One watch event, `type` first as kube-apiserver writes it (a map would put `object`
/// first, which makes clients buffer the whole object before they know what it is).
fn event_line(kind: &str, object: &Value) -> Bytes {
    event_line_json(kind, &serde_json::to_vec(object).unwrap_or_default())
}

/// One watch event around an object's JSON as it is written out.
fn event_line_json(kind: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + kind.len() + 24);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

enum Start {
    Gone(String),
    Replay(Vec<Arc<StoredEvent>>),
    Current(Vec<Arc<Stored>>),
}

/// Opens a watch stream.
pub fn start(app: Arc<App>, request: &ApiRequest, ctx: &Context) -> ApiResult<Reply> {
    let rv = match request.param("resourceVersion").filter(|v| !v.is_empty()) {
        None => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {text:?}")))?,
        ),
    };
    let timeout = match request.param("timeoutSeconds").filter(|v| !v.is_empty()) {
        None => DEFAULT_TIMEOUT,
        Some(text) => Duration::from_secs(
            text.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {text:?}")))?,
        ),
    };
    let send_initial = request.flag("sendInitialEvents");
    if send_initial && !app.watch_list {
        // What kube-apiserver answers without its WatchList feature.
        let cause = FieldCause::new(
            "FieldValueForbidden",
            "sendInitialEvents",
            "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
        );
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            &[cause],
        ));
    }
    let bookmarks = request.flag("allowWatchBookmarks");
    let plan = WatchPlan {
        filter: Filter::of(request, ctx)?,
        name: ctx.name.clone(),
        rt: ctx.rt.clone(),
        bookmarks,
        initial_end_bookmark: send_initial && bookmarks,
        timeout,
        table: table::wanted(&request.accept)
            .then(|| Include::parse(request.param("includeObject"))),
    };
    let (start, receiver, seen, closing) = {
        let state = app.store.lock();
        let receiver = app.store.subscribe();
        // Subscribed with the start, under the store's lock: a close after this request
        // ends it even while it is still sending its initial events.
        let closing = (app.watch_epoch.subscribe(), app.shutdown.subscribe());
        let start = match rv {
            Some(n) if n > 0 && !send_initial => match state.events_since(&ctx.rt.type_key(), n) {
                Ok(events) => Start::Replay(events),
                Err(floor) => Start::Gone(format!("too old resource version: {n} ({floor})")),
            },
            _ => Start::Current(
                state.list_stored(&ctx.rt.type_key(), plan.filter.namespace.as_deref()),
            ),
        };
        (start, receiver, state.current_rv(), closing)
    };
    let (sender, stream) = mpsc::channel(256);
    tokio::spawn(run(app, plan, start, receiver, seen, closing, sender));
    Ok(Reply::Stream(stream))
}

async fn run(
    app: Arc<App>,
    plan: WatchPlan,
    start: Start,
    mut receiver: broadcast::Receiver<Arc<StoredEvent>>,
    mut seen: u64,
    (mut epoch, mut shutdown): (watch::Receiver<u64>, watch::Receiver<bool>),
    sender: mpsc::Sender<Bytes>,
) {
    match start {
        Start::Gone(message) => {
            let status = ApiError::expired(message).to_status();
            let _ = sender.send(event_line("ERROR", &status)).await;
            return;
        }
        Start::Replay(events) => {
            for event in events {
                if let Some((kind, object)) = plan.translate(&event)
                    && sender.send(plan.line(kind, &object)).await.is_err()
                {
                    return;
                }
            }
        }
        Start::Current(objects) => {
            for object in objects.iter().filter(|o| plan.selects(o)) {
                if sender.send(plan.line("ADDED", object)).await.is_err() {
                    return;
                }
            }
            if plan.initial_end_bookmark && sender.send(plan.bookmark(seen, true)).await.is_err() {
                return;
            }
        }
    }
    let deadline = tokio::time::sleep(plan.timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(app.bookmark_interval);
    ticker.tick().await;
    loop {
        // Closing first: a closed watch sends nothing more, not even a bookmark carrying
        // a version written after the close.
        tokio::select! {
            biased;
            _ = epoch.changed() => return,
            _ = shutdown.changed() => return,
            () = &mut deadline => return,
            () = sender.closed() => return,
            received = receiver.recv() => match received {
                Ok(event) => {
                    if event.rv <= seen {
                        continue;
                    }
                    seen = event.rv;
                    if let Some((kind, object)) = plan.translate(&event)
                        && sender.send(plan.line(kind, &object)).await.is_err()
                    {
                        return;
                    }
                }
                Err(_) => return,
            },
            _ = ticker.tick(), if plan.bookmarks => {
                if sender.send(plan.bookmark(seen, false)).await.is_err() {
                    return;
                }
            }
        }
    }
}
