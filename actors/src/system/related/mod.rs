//! RelatedWatchActor: the watches of the objects cross-resource checks read.
//!
//! In: [`WatchKinds`] from the score state (the related kinds the policies in force need:
//! `kube_devops::cross::kinds_needed` over the default policy and every namespace's), and
//! one watch per kind in it ([`streams`]: decoded slim, initial lists streamed where the
//! API server can and paginated where not). Out: [`RelatedEvent`]s to the score state,
//! each carrying only the object's compact facts, and each watch's state in the shared
//! [`Health`] (group [`RELATED`]): the controller is ready only once every related watch
//! that runs has listed and is live. A watch starts when a policy first needs its kind
//! and stops (its objects forgotten, its readiness entry removed) when none does any more.
//! The watches follow the pod watch's rules (`liveness.rs`): a relist (`Init`..`InitDone`)
//! is passed on as such so the objects it did not list again are pruned; after a 410 Gone
//! kube's watcher lists again by itself at once; any other error, or the end of the
//! stream, turns the watch failing and starts it again (it relists) after an exponential
//! backoff; a watch silent for a few seconds is probed with a one-object list, and one the
//! API server does not answer is started again the same way. Errors are counted per
//! resource in `watch_errors_total`. Hand-off is bounded as for pods: a full mailbox makes
//! the stream wait, never drops an event.

pub mod state;
pub mod streams;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use kube::Client;
use kube::runtime::watcher;
use kube_devops::cross::ObjectKind;

use super::health::{HEARTBEAT_INTERVAL, Health, RELATED};
use super::lists::ListMode;
use super::liveness::{Liveness, PROBE_TICK};
use super::messages::{RelatedEvent, Shutdown, WatchKinds};
use super::watch::{gone, hand_off};
use crate::metrics::Metrics;
pub use streams::resource;
use streams::{Event, Item};

/// One running related watch.
struct Watch {
    /// The stream, `None` while a restart waits for its backoff.
    handle: Option<SpawnHandle>,
    liveness: Liveness,
    /// Counts the starts of this kind's watch; items and probe answers of an older one
    /// are ignored.
    generation: u64,
}

/// The related-object watches.
pub struct RelatedWatchActor {
    client: Client,
    scores: Recipient<RelatedEvent>,
    health: Arc<Health>,
    metrics: Metrics,
    watches: BTreeMap<ObjectKind, Watch>,
    kinds: BTreeSet<ObjectKind>,
    /// Streaming or paginated lists, shared by every related watch and kept across
    /// restarts.
    lists: ListMode,
    generations: u64,
    stopped: bool,
}

impl RelatedWatchActor {
    /// Watches that report to `scores`; none runs until [`WatchKinds`] names kinds.
    pub fn new(
        client: Client,
        scores: Recipient<RelatedEvent>,
        health: Arc<Health>,
        metrics: Metrics,
    ) -> Self {
        RelatedWatchActor {
            client,
            scores,
            health,
            metrics,
            watches: BTreeMap::new(),
            kinds: BTreeSet::new(),
            lists: ListMode::default(),
            generations: 0,
            stopped: false,
        }
    }

    fn forward(&mut self, kind: ObjectKind, event: RelatedEvent, ctx: &mut Context<Self>) {
        let metrics = &self.metrics;
        hand_off(self, ctx, &self.scores, event, "related object", || {
            metrics
                .watch_backpressure_total
                .with_label_values(&[resource(kind)])
                .inc();
        });
    }

    fn count_error(&self, kind: ObjectKind) {
        self.metrics
            .watch_errors_total
            .with_label_values(&[resource(kind)])
            .inc();
    }

    /// Starts (or starts again) the stream of `kind`'s watch.
    fn start_stream(&mut self, kind: ObjectKind, ctx: &mut Context<Self>) {
        if self.stopped || self.health.is_shutting_down() {
            return;
        }
        self.generations += 1;
        let generation = self.generations;
        let Some(stream) =
            streams::stream(self.client.clone(), kind, generation, self.lists.clone())
        else {
            return;
        };
        let handle = ctx.add_stream(stream);
        if let Some(watch) = self.watches.get_mut(&kind) {
            watch.liveness.restarted();
            watch.generation = generation;
            watch.handle = Some(handle);
        }
    }

    /// Drops `kind`'s stream and starts a fresh one (which relists) after `delay`.
    fn restart_later(
        &mut self,
        kind: ObjectKind,
        delay: Option<Duration>,
        ctx: &mut Context<Self>,
    ) {
        let Some(watch) = self.watches.get_mut(&kind) else {
            return;
        };
        if let Some(handle) = watch.handle.take() {
            ctx.cancel_future(handle);
        }
        // Whatever the old stream still had in flight is of an older generation now.
        self.generations += 1;
        watch.generation = self.generations;
        let Some(delay) = delay.filter(|_| !self.health.is_shutting_down()) else {
            return;
        };
        let generation = watch.generation;
        tracing::debug!(
            resource = resource(kind),
            ?delay,
            "restarting a related watch after backoff"
        );
        ctx.run_later(delay, move |act, ctx| {
            if act
                .watches
                .get(&kind)
                .is_some_and(|w| w.generation == generation)
            {
                act.start_stream(kind, ctx);
            }
        });
    }

    /// A watch failed: counted, logged, marked failing, started again after its backoff.
    fn failed(&mut self, kind: ObjectKind, why: String, ctx: &mut Context<Self>) {
        self.count_error(kind);
        tracing::warn!(resource = resource(kind), %why, "related watch failing; restarting it after backoff");
        let Some(watch) = self.watches.get_mut(&kind) else {
            return;
        };
        let delay = watch.liveness.failed(why);
        if delay.is_some() {
            self.restart_later(kind, delay, ctx);
        }
    }

    /// Proves each silent watch live with a one-object list; restarts one the API server
    /// does not answer for.
    fn probe(&mut self, ctx: &mut Context<Self>) {
        let due: Vec<(ObjectKind, u64)> = self
            .watches
            .iter()
            .filter(|(_, w)| w.liveness.probe_due())
            .map(|(kind, w)| (*kind, w.generation))
            .collect();
        for (kind, generation) in due {
            let Some(probe) = streams::probe(self.client.clone(), kind) else {
                continue;
            };
            if let Some(watch) = self.watches.get_mut(&kind) {
                watch.liveness.probe_started();
            }
            ctx.spawn(probe.into_actor(self).map(move |result, act, ctx| {
                let Some(watch) = act.watches.get_mut(&kind).filter(|w| w.generation == generation)
                else {
                    return;
                };
                let failed = result.as_ref().err().cloned();
                let delay = watch.liveness.probe_finished(result);
                if let Some(why) = failed {
                    act.count_error(kind);
                    tracing::warn!(resource = resource(kind), %why, "related watch silent and the API server does not answer; restarting it");
                }
                if delay.is_some() {
                    act.restart_later(kind, delay, ctx);
                }
            }));
        }
    }

    /// Stops `kind`'s watch: no policy needs it; it no longer gates readiness.
    fn stop(&mut self, kind: ObjectKind, ctx: &mut Context<Self>) {
        if let Some(watch) = self.watches.remove(&kind) {
            if let Some(handle) = watch.handle {
                ctx.cancel_future(handle);
            }
            self.health.remove(resource(kind));
            tracing::info!(
                resource = resource(kind),
                "no policy needs it any more; watch stopped"
            );
            self.forward(kind, RelatedEvent::Stopped { kind }, ctx);
        }
    }

    /// Starts the watches of the kinds asked for that do not run, stops the others.
    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        if self.stopped || self.health.is_shutting_down() {
            return;
        }
        let unwanted: Vec<ObjectKind> = self
            .watches
            .keys()
            .filter(|k| !self.kinds.contains(k))
            .copied()
            .collect();
        for kind in unwanted {
            self.stop(kind, ctx);
        }
        for kind in self.kinds.clone() {
            if self.watches.contains_key(&kind) || !streams::watched(kind) {
                continue;
            }
            let name = resource(kind);
            for counter in [
                &self.metrics.watch_errors_total,
                &self.metrics.watch_backpressure_total,
            ] {
                counter.with_label_values(&[name]).inc_by(0);
            }
            tracing::info!(resource = name, "a policy needs it; watch started");
            let liveness = Liveness::in_group(RELATED, name, self.health.clone());
            self.watches.insert(
                kind,
                Watch {
                    handle: None,
                    liveness,
                    generation: 0,
                },
            );
            self.start_stream(kind, ctx);
        }
    }
}

impl Actor for RelatedWatchActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.health.beat("related");
        ctx.run_interval(HEARTBEAT_INTERVAL, |act, _| act.health.beat("related"));
        ctx.run_interval(PROBE_TICK, |act, ctx| act.probe(ctx));
        // After a restart: the kinds asked for last, watched again (each relists).
        self.reconcile(ctx);
    }
}

impl Supervised for RelatedWatchActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!("RelatedWatchActor restarting; its watches start again and relist");
        for kind in std::mem::take(&mut self.watches).into_keys() {
            self.health.remove(resource(kind));
        }
    }
}

impl Handler<WatchKinds> for RelatedWatchActor {
    type Result = ();

    fn handle(&mut self, msg: WatchKinds, ctx: &mut Context<Self>) {
        self.kinds = msg.kinds;
        self.reconcile(ctx);
    }
}

/// The event a watcher's framing event stands for in [`Liveness::seen`].
fn framing(event: &RelatedEvent) -> watcher::Event<()> {
    match event {
        RelatedEvent::RelistStarted { .. } => watcher::Event::Init,
        RelatedEvent::RelistDone { .. } => watcher::Event::InitDone,
        _ => watcher::Event::Apply(()),
    }
}

impl StreamHandler<Item> for RelatedWatchActor {
    fn handle(&mut self, item: Item, ctx: &mut Context<Self>) {
        let kind = item.kind;
        let Some(watch) = self
            .watches
            .get_mut(&kind)
            .filter(|w| w.generation == item.generation)
        else {
            return;
        };
        match item.event {
            Event::Related(event) => {
                if watch.liveness.seen(&framing(&event)) {
                    tracing::info!(resource = resource(kind), "related watch synced");
                }
                self.forward(kind, event, ctx);
            }
            Event::Failed(e) if gone(&e) => {
                // The watcher lists again by itself at once; its `Init` turns readiness
                // off until that list is done.
                self.count_error(kind);
                tracing::info!(error = %e, resource = resource(kind), "watch history expired; listing again");
            }
            Event::Failed(e) => self.failed(kind, format!("watch failing: {e}"), ctx),
            Event::Ended => self.failed(kind, "watch stream ended".into(), ctx),
        }
    }

    /// Each watch's end arrives as an item ([`Event::Ended`]): never stop the actor.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<Shutdown> for RelatedWatchActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.stopped = true;
        for watch in std::mem::take(&mut self.watches).into_values() {
            if let Some(handle) = watch.handle {
                ctx.cancel_future(handle);
            }
        }
    }
}
