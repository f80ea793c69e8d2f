//! Paginated listing and fact gathering for cluster audits.
//!
//! In: a client, an optional namespace and the related kinds the enabled checks read.
//! Out: facts of every workload and pod, and compact facts of the related objects
//! (PodDisruptionBudgets, HorizontalPodAutoscalers, NetworkPolicies, Services, Ingresses,
//! ServiceAccounts, Roles, ClusterRoles and their bindings), each list read page by page.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use kube_devops::cross::{ObjectKind, Related, RelatedObject};
use kube_devops::facts::{PodFacts, PodTemplateSource, facts_from_pod, facts_from_workload};
use serde::de::DeserializeOwned;

/// Objects per list page.
pub const PAGE_SIZE: u32 = 500;
/// Times a listing restarts when its continue token expires mid-way.
const MAX_RELISTS: usize = 3;

/// A listing that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list {resource}: {source}{hint}")]
pub struct GatherError {
    /// `deployments.apps`, `pods`, ...
    pub resource: String,
    /// The API error.
    pub source: kube::Error,
    /// What to try.
    pub hint: &'static str,
}

fn plural<K: Resource<DynamicType = ()>>() -> String {
    let group = K::group(&());
    let plural = K::plural(&());
    if group.is_empty() {
        plural.into_owned()
    } else {
        format!("{plural}.{group}")
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Lists every object page by page, handing each page to `each`. A continue token that
/// expires (410 Gone) restarts the listing from the start, as kubectl does.
pub async fn list_pages<K, F>(api: &Api<K>, mut each: F) -> Result<(), GatherError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    F: FnMut(Vec<K>, bool),
{
    let mut attempts = 0;
    'relist: loop {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        let mut first = true;
        loop {
            match api.list(&params).await {
                Ok(page) => {
                    each(page.items, first);
                    first = false;
                    match page.metadata.continue_ {
                        Some(token) if !token.is_empty() => params = params.continue_token(&token),
                        _ => return Ok(()),
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 410 && attempts < MAX_RELISTS => {
                    attempts += 1;
                    continue 'relist;
                }
                Err(source) => {
                    let hint = match &source {
                        kube::Error::Api(s) if s.code == 403 => {
                            " (run `kube-devops check` to see which permissions are missing)"
                        }
                        _ => "",
                    };
                    return Err(GatherError {
                        resource: plural::<K>(),
                        source,
                        hint,
                    });
                }
            }
        }
    }
}

/// Every object of a listing, read page by page (a restarted listing starts over).
pub async fn list_all<K>(api: &Api<K>) -> Result<Vec<K>, GatherError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let mut all = Vec::new();
    list_pages(api, |items, first| {
        if first {
            all.clear();
        }
        all.extend(items);
    })
    .await?;
    Ok(all)
}

/// Facts of everything a cluster audit judges.
#[derive(Debug, Default)]
pub struct ClusterFacts {
    /// Facts of workload templates.
    pub workloads: Vec<PodFacts>,
    /// Facts of live pods.
    pub pods: Vec<PodFacts>,
    /// Objects the cross-resource checks read.
    pub related: Vec<RelatedObject>,
    /// Objects that could not be judged, with why.
    pub skipped: Vec<(String, String)>,
}

async fn workloads<K>(
    client: &Client,
    namespace: Option<&str>,
    out: &mut ClusterFacts,
) -> Result<(), GatherError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + PodTemplateSource
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = api(client, namespace);
    let mut facts = Vec::new();
    let mut skipped = Vec::new();
    list_pages(&api, |items, first| {
        if first {
            facts.clear();
            skipped.clear();
        }
        for item in &items {
            match facts_from_workload(item) {
                Ok(f) => facts.push(f),
                Err(e) => {
                    let name = Resource::meta(item).name.clone().unwrap_or_default();
                    skipped.push((
                        format!("{} {name}", <K as PodTemplateSource>::KIND),
                        e.to_string(),
                    ));
                }
            }
        }
    })
    .await?;
    out.workloads.extend(facts);
    out.skipped.extend(skipped);
    Ok(())
}

/// Lists one related kind and keeps its compact facts.
async fn related<K>(api: Api<K>, out: &mut Vec<RelatedObject>) -> Result<(), GatherError>
where
    K: Resource<DynamicType = ()> + Related + Clone + DeserializeOwned + Debug,
{
    let mut facts = Vec::new();
    list_pages(&api, |items, first| {
        if first {
            facts.clear();
        }
        facts.extend(items.iter().map(Related::related));
    })
    .await?;
    out.extend(facts);
    Ok(())
}

/// Lists the related kinds in `kinds` (namespaced ones in `namespace` or all;
/// ClusterRoles and ClusterRoleBindings always cluster-wide, since a RoleBinding may refer
/// to a ClusterRole).
async fn gather_related(
    client: &Client,
    namespace: Option<&str>,
    kinds: &BTreeSet<ObjectKind>,
) -> Result<Vec<RelatedObject>, GatherError> {
    let mut out = Vec::new();
    for kind in kinds {
        match kind {
            ObjectKind::PodDisruptionBudget => {
                related(api::<PodDisruptionBudget>(client, namespace), &mut out).await?
            }
            ObjectKind::HorizontalPodAutoscaler => {
                related(api::<HorizontalPodAutoscaler>(client, namespace), &mut out).await?
            }
            ObjectKind::NetworkPolicy => {
                related(api::<NetworkPolicy>(client, namespace), &mut out).await?
            }
            ObjectKind::Service => related(api::<Service>(client, namespace), &mut out).await?,
            ObjectKind::Ingress => related(api::<Ingress>(client, namespace), &mut out).await?,
            ObjectKind::ServiceAccount => {
                related(api::<ServiceAccount>(client, namespace), &mut out).await?
            }
            ObjectKind::Role => related(api::<Role>(client, namespace), &mut out).await?,
            ObjectKind::RoleBinding => {
                related(api::<RoleBinding>(client, namespace), &mut out).await?
            }
            ObjectKind::ClusterRole => {
                related(Api::<ClusterRole>::all(client.clone()), &mut out).await?
            }
            ObjectKind::ClusterRoleBinding => {
                related(Api::<ClusterRoleBinding>::all(client.clone()), &mut out).await?
            }
            ObjectKind::Workload(_) => {}
        }
    }
    Ok(out)
}

/// Lists pods, every workload kind and the related kinds in `kinds` (in one namespace or
/// all) and extracts their facts.
pub async fn gather(
    client: &Client,
    namespace: Option<&str>,
    kinds: &BTreeSet<ObjectKind>,
) -> Result<ClusterFacts, GatherError> {
    let mut out = ClusterFacts::default();
    workloads::<Deployment>(client, namespace, &mut out).await?;
    workloads::<StatefulSet>(client, namespace, &mut out).await?;
    workloads::<DaemonSet>(client, namespace, &mut out).await?;
    workloads::<ReplicaSet>(client, namespace, &mut out).await?;
    workloads::<ReplicationController>(client, namespace, &mut out).await?;
    workloads::<Job>(client, namespace, &mut out).await?;
    workloads::<CronJob>(client, namespace, &mut out).await?;
    let pods: Api<Pod> = api(client, namespace);
    let mut facts = Vec::new();
    list_pages(&pods, |items, first| {
        if first {
            facts.clear();
        }
        // Pods become facts page by page; the full objects are not kept.
        facts.extend(items.iter().map(facts_from_pod));
    })
    .await?;
    out.pods = facts;
    out.related = gather_related(client, namespace, kinds).await?;
    Ok(out)
}
