//! RelatedWatchActor: the watches of the objects cross-resource checks read.
//!
//! In: [`WatchKinds`] from the score state (the related kinds the policies in force need:
//! `kube_devops::cross::kinds_needed` over the default policy and every namespace's),
//! and one `kube_runtime::watcher` stream per kind in it, each decoded slim
//! ([`SlimRelated`]: metadata and the few spec fields the facts read; managed fields,
//! status and the rest skipped unread). Out: [`RelatedEvent`]s to the score state, each
//! carrying only the object's compact facts. A watch starts when a policy first needs its
//! kind and stops (its objects forgotten) when none does any more. Each watch keeps
//! kube's exponential backoff and resumes by itself; an expired resourceVersion (410 Gone)
//! makes it relist, and a relist (`Init`..`InitDone`) is passed on as such so the objects
//! it did not list again are pruned. Errors are counted per resource in
//! `watch_errors_total`. Hand-off is bounded as for pods: a full mailbox makes the stream
//! wait, never drops an event.

pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use actix::prelude::*;
use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use kube_devops::cross::{ObjectKind, SlimKind, SlimRelated};

use super::health::{HEARTBEAT_INTERVAL, Health};
use super::messages::{RelatedEvent, Shutdown, WatchKinds};
use super::watch::hand_off;
use crate::metrics::Metrics;

/// One item of one related watch.
struct Item {
    kind: ObjectKind,
    event: Result<RelatedEvent, String>,
}

/// The resource label of a kind's watch in metrics (`poddisruptionbudgets`, ...).
pub fn resource(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::PodDisruptionBudget => "poddisruptionbudgets",
        ObjectKind::HorizontalPodAutoscaler => "horizontalpodautoscalers",
        ObjectKind::NetworkPolicy => "networkpolicies",
        ObjectKind::Service => "services",
        ObjectKind::Ingress => "ingresses",
        ObjectKind::ServiceAccount => "serviceaccounts",
        ObjectKind::Role => "roles",
        ObjectKind::ClusterRole => "clusterroles",
        ObjectKind::RoleBinding => "rolebindings",
        ObjectKind::ClusterRoleBinding => "clusterrolebindings",
        ObjectKind::Workload(_) => "pods",
    }
}

fn events<K>(client: Client, kind: ObjectKind) -> BoxStream<'static, Item>
where
    K: SlimKind + Clone + Debug + Send + Sync + 'static,
    SlimRelated<K>: Resource<DynamicType = ()>,
    <SlimRelated<K> as Resource>::Scope: Send,
{
    let api: Api<SlimRelated<K>> = Api::all(client);
    watcher::watcher(api, super::liveness::watch_config().any_semantic())
        .default_backoff()
        .map(move |e| Item {
            kind,
            event: match e {
                Ok(Event::Apply(o)) => Ok(RelatedEvent::Applied {
                    object: Box::new(o.related),
                    relist: false,
                }),
                Ok(Event::InitApply(o)) => Ok(RelatedEvent::Applied {
                    object: Box::new(o.related),
                    relist: true,
                }),
                Ok(Event::Delete(o)) => Ok(RelatedEvent::Deleted {
                    id: o.related.id().clone(),
                }),
                Ok(Event::Init) => Ok(RelatedEvent::RelistStarted { kind }),
                Ok(Event::InitDone) => Ok(RelatedEvent::RelistDone { kind }),
                Err(e) => Err(e.to_string()),
            },
        })
        .boxed()
}

/// The stream of one kind's watch.
fn stream(client: Client, kind: ObjectKind) -> Option<BoxStream<'static, Item>> {
    Some(match kind {
        ObjectKind::PodDisruptionBudget => events::<PodDisruptionBudget>(client, kind),
        ObjectKind::HorizontalPodAutoscaler => events::<HorizontalPodAutoscaler>(client, kind),
        ObjectKind::NetworkPolicy => events::<NetworkPolicy>(client, kind),
        ObjectKind::Service => events::<Service>(client, kind),
        ObjectKind::Ingress => events::<Ingress>(client, kind),
        ObjectKind::ServiceAccount => events::<ServiceAccount>(client, kind),
        ObjectKind::Role => events::<Role>(client, kind),
        ObjectKind::ClusterRole => events::<ClusterRole>(client, kind),
        ObjectKind::RoleBinding => events::<RoleBinding>(client, kind),
        ObjectKind::ClusterRoleBinding => events::<ClusterRoleBinding>(client, kind),
        ObjectKind::Workload(_) => return None,
    })
}

/// The related-object watches.
pub struct RelatedWatchActor {
    client: Client,
    scores: Recipient<RelatedEvent>,
    health: Arc<Health>,
    metrics: Metrics,
    watches: BTreeMap<ObjectKind, SpawnHandle>,
    kinds: BTreeSet<ObjectKind>,
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

    fn stop(&mut self, kind: ObjectKind, ctx: &mut Context<Self>) {
        if let Some(handle) = self.watches.remove(&kind) {
            ctx.cancel_future(handle);
            tracing::info!(
                resource = resource(kind),
                "no policy needs it any more; watch stopped"
            );
            self.forward(kind, RelatedEvent::Stopped { kind }, ctx);
        }
    }
}

impl Actor for RelatedWatchActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.health.beat("related");
        ctx.run_interval(HEARTBEAT_INTERVAL, |act, _| act.health.beat("related"));
        // After a restart: the kinds asked for last, watched again (each relists).
        self.reconcile(ctx);
    }
}

impl Supervised for RelatedWatchActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!("RelatedWatchActor restarting; its watches start again and relist");
        self.watches.clear();
    }
}

impl Handler<WatchKinds> for RelatedWatchActor {
    type Result = ();

    fn handle(&mut self, msg: WatchKinds, ctx: &mut Context<Self>) {
        self.kinds = msg.kinds;
        self.reconcile(ctx);
    }
}

impl RelatedWatchActor {
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
            if self.watches.contains_key(&kind) {
                continue;
            }
            let Some(s) = stream(self.client.clone(), kind) else {
                continue;
            };
            for counter in [
                &self.metrics.watch_errors_total,
                &self.metrics.watch_backpressure_total,
            ] {
                counter.with_label_values(&[resource(kind)]).inc_by(0);
            }
            tracing::info!(
                resource = resource(kind),
                "a policy needs it; watch started"
            );
            self.watches.insert(kind, ctx.add_stream(s));
        }
    }
}

impl StreamHandler<Item> for RelatedWatchActor {
    fn handle(&mut self, item: Item, ctx: &mut Context<Self>) {
        match item.event {
            Ok(event) => self.forward(item.kind, event, ctx),
            Err(e) => {
                let resource = resource(item.kind);
                self.metrics
                    .watch_errors_total
                    .with_label_values(&[resource])
                    .inc();
                tracing::warn!(error = %e, resource, "watch error; retrying with backoff");
            }
        }
    }

    /// A watch ends only when cancelled (kube's backoff retries forever): never stop the
    /// actor.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<Shutdown> for RelatedWatchActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.stopped = true;
        for (_, handle) in std::mem::take(&mut self.watches) {
            ctx.cancel_future(handle);
        }
    }
}
