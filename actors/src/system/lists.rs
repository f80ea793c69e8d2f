//! How a watch gets its initial list: streamed where the API server can, in pages where not.
//!
//! In: an `Api`, a `watcher::Config` and the watch's [`ListMode`]. Out: the stream of
//! `kube_runtime::watcher` events the caller would get from `watcher::watcher`, with the
//! same `Init`..`InitDone` framing. A watch first asks for a streaming list
//! (`sendInitialEvents=true`: the current objects as watch events on the watch connection,
//! closed by a bookmark annotated `k8s.io/initial-events-end`; kube-apiserver 1.27+ with
//! the WatchList feature): nothing is held server-side for continue tokens, no page can
//! expire half way, and the watch that follows runs on the same connection from the
//! list's own resourceVersion. It falls back to paginated lists, for the rest of the
//! process, when the API server refuses the request (400 or 422: a server without the
//! feature rejects `sendInitialEvents` or the `resourceVersionMatch` it needs on a watch)
//! or when a streamed list ends before its end bookmark (a server that ignores the
//! parameter, or a list longer than the watch's timeout); the consumer then sees a second
//! `Init` and a complete paginated list.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::Resource;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;

/// One watch's choice of initial list; clones share it, so it outlives restarts of the
/// stream.
#[derive(Debug, Clone, Default)]
pub struct ListMode {
    paginated: Arc<AtomicBool>,
}

impl ListMode {
    /// Whether this watch lists in pages (the server does not stream lists).
    pub fn paginated(&self) -> bool {
        self.paginated.load(Ordering::Relaxed)
    }

    fn fall_back(&self) {
        self.paginated.store(true, Ordering::Relaxed);
    }
}

/// Whether an error is the API server refusing a streaming list.
fn refused(e: &watcher::Error) -> bool {
    matches!(
        e,
        watcher::Error::WatchStartFailed(kube::Error::Api(s)) if s.code == 400 || s.code == 422
    )
}

type Events<K> = BoxStream<'static, Result<Event<K>, watcher::Error>>;

/// A watch streaming its lists (`listing`: between an `Init` and its `InitDone`), or one
/// that lists in pages.
enum State<K: Clone> {
    Streamed {
        events: Events<K>,
        listing: bool,
        /// What a paginated watch would be started with.
        paged: Box<(Api<K>, watcher::Config)>,
    },
    Paged(Events<K>),
}

/// The watch of `api` under `config` (its `resource` names it in logs), its initial lists
/// streamed while `mode` allows.
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    mode: ListMode,
    resource: &'static str,
) -> Events<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    if mode.paginated() {
        return watcher::watcher(api, config).boxed();
    }
    let events = watcher::watcher(api.clone(), config.clone().streaming_lists()).boxed();
    let start = State::Streamed {
        events,
        listing: false,
        paged: Box::new((api, config)),
    };
    futures::stream::unfold(start, move |mut state| {
        let mode = mode.clone();
        async move {
            loop {
                let (events, listing, paged) = match &mut state {
                    State::Paged(events) => {
                        let item = events.next().await?;
                        return Some((item, state));
                    }
                    State::Streamed {
                        events,
                        listing,
                        paged,
                    } => (events, listing, paged),
                };
                let item = events.next().await?;
                let why = match &item {
                    Err(e) if refused(e) => Some(format!("the API server refused it: {e}")),
                    Ok(Event::Init) if *listing => {
                        Some("a streamed list ended before its end bookmark".to_owned())
                    }
                    Ok(Event::Init) => {
                        *listing = true;
                        None
                    }
                    Ok(Event::InitDone) => {
                        *listing = false;
                        None
                    }
                    _ => None,
                };
                let Some(why) = why else {
                    return Some((item, state));
                };
                tracing::warn!(%resource, %why, "no streaming lists (sendInitialEvents) for this watch; listing in pages");
                mode.fall_back();
                let (api, config) = (paged.0.clone(), paged.1.clone());
                state = State::Paged(watcher::watcher(api, config).boxed());
            }
        }
    })
    .boxed()
}
