//! WatchActor: the pod watch.
//!
//! In: a `kube_runtime::watcher` stream of Pods (its initial lists streamed where the API
//! server can, see [`lists`]), decoded slim ([`SlimPod`]: only the fields
//! the checks and the runtime checks read; managed fields, env, volumes and the rest are
//! skipped unread). Out: [`PodEvent`]s to the score state, each carrying only the pod's
//! facts: the decoded pod is dropped as soon as its facts are taken. A
//! relist (`Init`..`InitDone`) is passed on as such, so vanished pods are pruned. After a
//! 410 Gone kube's watcher lists again by itself, at once. On any other
//! error the stream is dropped and started again after an exponential backoff (1 s doubling
//! to 30 s, never a hot loop); a restarted watcher always relists, so the state converges on
//! the server's truth and readiness comes back with the relist's `InitDone`, not on a
//! guess (the event that starts a list does not count, see [`Liveness`]). Errors are
//! counted and turn readiness off until then; a watch silent for a few seconds is probed
//! with a one-pod list, and a probe the API server does not answer restarts it the same
//! way. Hand-off is bounded: when the receiver's mailbox is full the watcher waits
//! (backpressure, counted) instead of dropping an event, because a lost event would leave
//! a score wrong until the next relist.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use kube_devops::facts::SlimPod;

use super::health::{HEARTBEAT_INTERVAL, Health, PODS};
use super::lists::{self, ListMode};
use super::liveness::{self, Liveness, PROBE_TICK};
use super::messages::{PodEvent, Shutdown};
use crate::metrics::Metrics;

/// Resource label of the pod watch in metrics.
const RESOURCE: &str = PODS;

/// The pod watch.
pub struct WatchActor {
    client: Client,
    scores: Recipient<PodEvent>,
    health: Arc<Health>,
    metrics: Metrics,
    stream: Option<SpawnHandle>,
    liveness: Liveness,
    lists: ListMode,
}

impl WatchActor {
    /// A watcher that reports to `scores`.
    pub fn new(
        client: Client,
        scores: Recipient<PodEvent>,
        health: Arc<Health>,
        metrics: Metrics,
    ) -> Self {
        metrics
            .watch_errors_total
            .with_label_values(&[RESOURCE])
            .inc_by(0);
        metrics
            .watch_backpressure_total
            .with_label_values(&[RESOURCE])
            .inc_by(0);
        WatchActor {
            client,
            scores,
            liveness: Liveness::new(PODS, health.clone()),
            health,
            metrics,
            stream: None,
            lists: ListMode::default(),
        }
    }

    fn start_stream(&mut self, ctx: &mut Context<Self>) {
        self.liveness.restarted();
        if self.health.is_shutting_down() {
            return;
        }
        let api: Api<SlimPod> = Api::all(self.client.clone());
        let config = liveness::watch_config().any_semantic();
        let stream = lists::watch(api, config, self.lists.clone(), RESOURCE);
        self.stream = Some(ctx.add_stream(stream));
    }

    /// Drops the current stream and starts a fresh one (which relists) after `delay`.
    fn restart_later(&mut self, delay: Option<Duration>, ctx: &mut Context<Self>) {
        if let Some(handle) = self.stream.take() {
            ctx.cancel_future(handle);
        }
        let Some(delay) = delay.filter(|_| !self.health.is_shutting_down()) else {
            return;
        };
        tracing::debug!(?delay, "restarting the pod watch after backoff");
        ctx.run_later(delay, |act, ctx| act.start_stream(ctx));
    }

    /// Proves a silent watch live with a one-pod list; restarts it when the API server
    /// does not answer.
    fn probe(&mut self, ctx: &mut Context<Self>) {
        if !self.liveness.probe_due() {
            return;
        }
        self.liveness.probe_started();
        let api: Api<SlimPod> = Api::all(self.client.clone());
        ctx.spawn(liveness::probe(api).into_actor(self).map(|result, act, ctx| {
            if let Err(why) = &result {
                act.metrics
                    .watch_errors_total
                    .with_label_values(&[RESOURCE])
                    .inc();
                tracing::warn!(resource = RESOURCE, %why, "pod watch silent and the API server does not answer; restarting it");
            }
            let delay = act.liveness.probe_finished(result);
            if delay.is_some() {
                act.restart_later(delay, ctx);
            }
        }));
    }

    fn forward(&mut self, event: PodEvent, ctx: &mut Context<Self>) {
        let metrics = &self.metrics;
        hand_off(self, ctx, &self.scores, event, "pod", || {
            metrics
                .watch_backpressure_total
                .with_label_values(&[RESOURCE])
                .inc();
        });
    }
}

/// Hands a watch's `event` to the score state without ever dropping it: when the mailbox
/// is full, `backpressure` is called (to count it) and the actor waits (`ctx.wait` holds
/// its further stream items) until the event is delivered. `what` names the event in the
/// error logged when the score state has stopped.
pub(super) fn hand_off<A, M>(
    act: &A,
    ctx: &mut Context<A>,
    to: &Recipient<M>,
    event: M,
    what: &str,
    backpressure: impl FnOnce(),
) where
    A: Actor<Context = Context<A>>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    match to.try_send(event) {
        Ok(()) => {}
        Err(SendError::Full(event)) => {
            backpressure();
            ctx.wait(to.send(event).into_actor(act).map(|result, _, _| {
                if let Err(e) = result {
                    tracing::error!(error = %e, "score state unreachable");
                }
            }));
        }
        Err(SendError::Closed(_)) => {
            tracing::error!("score state has stopped; {what} event lost");
        }
    }
}

/// Whether a watch error is the API server's 410 Gone (the resourceVersion to resume from,
/// or a paginated list's continue token, is no longer in its history): kube's watcher then
/// lists again from the start by itself.
pub fn gone(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(s) => s.code == 410,
        watcher::Error::InitialListFailed(kube::Error::Api(s)) => s.code == 410,
        _ => false,
    }
}

impl Actor for WatchActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.health.beat("watch");
        ctx.run_interval(HEARTBEAT_INTERVAL, |act, _| act.health.beat("watch"));
        ctx.run_interval(PROBE_TICK, |act, ctx| act.probe(ctx));
        self.start_stream(ctx);
    }
}

impl Supervised for WatchActor {
    fn restarting(&mut self, ctx: &mut Context<Self>) {
        tracing::warn!("WatchActor restarting");
        self.stream = None;
        let _ = ctx;
    }
}

impl StreamHandler<Result<Event<SlimPod>, watcher::Error>> for WatchActor {
    fn handle(&mut self, item: Result<Event<SlimPod>, watcher::Error>, ctx: &mut Context<Self>) {
        let kind = match &item {
            Ok(Event::Apply(_)) => "applied",
            Ok(Event::Delete(_)) => "deleted",
            Ok(Event::Init) => "init",
            Ok(Event::InitApply(_)) => "init_applied",
            Ok(Event::InitDone) => "init_done",
            Err(_) => "error",
        };
        self.metrics
            .pod_events_total
            .with_label_values(&[kind])
            .inc();
        if let Ok(event) = &item
            && self.liveness.seen(event)
        {
            tracing::info!("pod watch synced");
        }
        let event = match item {
            Ok(Event::Apply(pod)) => PodEvent::Applied {
                facts: Box::new(pod.facts()),
                relist: false,
            },
            Ok(Event::InitApply(pod)) => PodEvent::Applied {
                facts: Box::new(pod.facts()),
                relist: true,
            },
            Ok(Event::Delete(pod)) => match pod.meta().uid.clone() {
                Some(uid) => PodEvent::Deleted { uid },
                None => return,
            },
            Ok(Event::Init) => PodEvent::RelistStarted,
            Ok(Event::InitDone) => PodEvent::RelistDone,
            Err(e) if gone(&e) => {
                // The watcher lists again by itself at once; its `Init` turns readiness off
                // until that list is done. A restart would only add the backoff.
                self.metrics
                    .watch_errors_total
                    .with_label_values(&[RESOURCE])
                    .inc();
                tracing::info!(error = %e, resource = RESOURCE, "watch history expired; listing again");
                return;
            }
            Err(e) => {
                self.metrics
                    .watch_errors_total
                    .with_label_values(&[RESOURCE])
                    .inc();
                tracing::warn!(error = %e, resource = RESOURCE, "watch error; retrying with backoff");
                let delay = self.liveness.failed(format!("watch failing: {e}"));
                self.restart_later(delay, ctx);
                return;
            }
        };
        self.forward(event, ctx);
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The watcher retries forever, so an end means something stopped it; unless we
        // are shutting down, start it again rather than going silent.
        if self.health.is_shutting_down() || self.liveness.restart_pending() {
            return;
        }
        tracing::warn!(resource = RESOURCE, "watch stream ended; restarting it");
        self.stream = None;
        let delay = self.liveness.failed("watch stream ended".into());
        self.restart_later(delay, ctx);
    }
}

impl Handler<Shutdown> for WatchActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        // Stop watching; the actor itself stays until the system stops, so its supervisor
        // does not restart it mid-shutdown.
        if let Some(handle) = self.stream.take() {
            ctx.cancel_future(handle);
        }
    }
}
