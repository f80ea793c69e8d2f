//! The per-kind halves of a related-object watch: its event stream and its probe.
//!
//! In: the kube client, an [`ObjectKind`] and the watches' shared [`ListMode`]. Out: a
//! stream of [`Item`]s, each the kind's `kube_runtime::watcher` event decoded slim
//! ([`SlimRelated`]: metadata and the few spec fields the facts read; managed fields,
//! status and the rest skipped unread) and turned into a [`RelatedEvent`] carrying the
//! object's compact facts, its initial lists streamed where the API server can
//! (`lists.rs`), and closed by [`Event::Ended`] if the stream ever ends; and the silent
//! watch's probe, a one-object list of the same resource (`liveness.rs`). Kinds that are
//! not watched here (workloads come from the pod watch) have neither.

use std::fmt::Debug;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Client, Resource};
use kube_devops::cross::{ObjectKind, SlimKind, SlimRelated};

use crate::system::lists::{self, ListMode};
use crate::system::liveness;
use crate::system::messages::RelatedEvent;

/// What one related watch delivers.
pub enum Event {
    /// An event for the score state.
    Related(RelatedEvent),
    /// The watcher failed (a 410 Gone among them).
    Failed(watcher::Error),
    /// The stream ended.
    Ended,
}

/// One item of one related watch: `generation` tells a restarted watch's items from those
/// of the stream it replaced.
pub struct Item {
    /// The kind watched.
    pub kind: ObjectKind,
    /// Which start of the kind's watch delivered it.
    pub generation: u64,
    /// What happened.
    pub event: Event,
}

/// The resource label of a kind's watch in metrics and readiness (`poddisruptionbudgets`,
/// ...).
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

/// Whether `kind` is watched here (workloads come from the pod watch).
pub fn watched(kind: ObjectKind) -> bool {
    !matches!(kind, ObjectKind::Workload(_))
}

/// Runs `$body` with `$k` the type of the objects of `$kind`; `None` for workloads. Each
/// kind's variant is named as its type.
macro_rules! with_kind {
    ($kind:expr, $k:ident => $body:expr) => {
        with_kind!(@arms $kind, $k => $body; PodDisruptionBudget, HorizontalPodAutoscaler,
            NetworkPolicy, Service, Ingress, ServiceAccount, Role, ClusterRole, RoleBinding,
            ClusterRoleBinding)
    };
    (@arms $kind:expr, $k:ident => $body:expr; $($variant:ident),+) => {
        match $kind {
            $(ObjectKind::$variant => {
                type $k = $variant;
                Some($body)
            })+
            ObjectKind::Workload(_) => None,
        }
    };
}

fn events<K>(
    client: Client,
    kind: ObjectKind,
    generation: u64,
    mode: ListMode,
) -> BoxStream<'static, Item>
where
    K: SlimKind + Clone + Debug + Send + Sync + 'static,
    SlimRelated<K>: Resource<DynamicType = ()>,
    <SlimRelated<K> as Resource>::Scope: Send,
{
    use watcher::Event as E;
    let api: Api<SlimRelated<K>> = Api::all(client);
    let config = liveness::watch_config().any_semantic();
    lists::watch(api, config, mode, resource(kind))
        .map(move |e| {
            let related = match e {
                Ok(E::Apply(o)) => RelatedEvent::Applied {
                    object: Box::new(o.related),
                    relist: false,
                },
                Ok(E::InitApply(o)) => RelatedEvent::Applied {
                    object: Box::new(o.related),
                    relist: true,
                },
                Ok(E::Delete(o)) => RelatedEvent::Deleted {
                    id: o.related.id().clone(),
                },
                Ok(E::Init) => RelatedEvent::RelistStarted { kind },
                Ok(E::InitDone) => RelatedEvent::RelistDone { kind },
                Err(e) => return Event::Failed(e),
            };
            Event::Related(related)
        })
        .chain(futures::stream::once(async { Event::Ended }))
        .map(move |event| Item {
            kind,
            generation,
            event,
        })
        .boxed()
}

/// The watch of `kind` (a fresh watcher: it lists first), its items tagged `generation`.
pub fn stream(
    client: Client,
    kind: ObjectKind,
    generation: u64,
    mode: ListMode,
) -> Option<BoxStream<'static, Item>> {
    with_kind!(kind, K => events::<K>(client, kind, generation, mode))
}

/// A probe of `kind`'s resource: the API server answers a one-object list in time.
pub fn probe(client: Client, kind: ObjectKind) -> Option<BoxFuture<'static, Result<(), String>>> {
    with_kind!(kind, K => liveness::probe(Api::<SlimRelated<K>>::all(client)).boxed())
}
