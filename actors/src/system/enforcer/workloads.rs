//! Workloads through the API: owner resolution, reads, and server-side applies under the
//! enforcer's field manager. Shared by the EnforcerActor and `kube-devops enforce`.
//!
//! In: a client, a namespace, [`Candidate`]s or workload names, applied configurations.
//! Out: the top-level workloads the candidates belong to (Pod -> ReplicaSet -> Deployment;
//! StatefulSet; DaemonSet) or why a candidate is not one, the live objects as JSON, and
//! the outcome of an apply: written, refused by another field manager (with its name), or
//! failed. Applies never force, and every call has a deadline.

use std::time::Duration;

use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube_devops::enforce::candidates::Candidate;
use kube_devops::enforce::{FIELD_MANAGER, Skip, SkipReason, is_patchable};
use kube_devops::facts::WorkloadKind;
use serde_json::Value;

/// Deadline of one API call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A workload enforcement may patch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadName {
    /// Deployment, StatefulSet or DaemonSet.
    pub kind: WorkloadKind,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for WorkloadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// Where a candidate led.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A workload to plan.
    Workload(WorkloadName),
    /// Not patchable: `Kind/name` and why.
    Skipped(String, Skip),
}

/// Why an API call did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The object does not exist.
    #[error("not found")]
    NotFound,
    /// Another field manager owns a field the apply would change.
    #[error("conflict with {managers:?}: {message}")]
    Conflict {
        /// The managers named by the server.
        managers: Vec<String>,
        /// The server's message.
        message: String,
    },
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// The managers a `409 Conflict` of server-side apply names (`conflict with "argocd"`).
pub fn conflicting_managers(message: &str) -> Vec<String> {
    let mut out: Vec<String> = message
        .split("conflict with \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

async fn call<T>(
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => Err(CallError::NotFound),
        Ok(Err(kube::Error::Api(s))) if s.code == 409 => Err(CallError::Conflict {
            managers: conflicting_managers(&s.message),
            message: s.message.clone(),
        }),
        Ok(Err(e)) => Err(CallError::Failed(e.to_string())),
        Err(_) => Err(CallError::Failed(format!(
            "no answer within {CALL_TIMEOUT:?}"
        ))),
    }
}

/// The API of an `apps/v1` kind in a namespace.
pub fn apps_api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", kind));
    Api::namespaced_with(client.clone(), ns, &resource)
}

/// One object as JSON.
pub async fn get(client: &Client, ns: &str, kind: &str, name: &str) -> Result<Value, CallError> {
    let object = call(apps_api(client, ns, kind).get(name)).await?;
    serde_json::to_value(object).map_err(|e| CallError::Failed(e.to_string()))
}

/// Every object of an `apps/v1` kind in a namespace (`None`: all), as JSON.
pub async fn list(client: &Client, ns: Option<&str>, kind: &str) -> Result<Vec<Value>, CallError> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", kind));
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let objects = call(api.list(&ListParams::default())).await?;
    objects
        .items
        .into_iter()
        .map(|o| serde_json::to_value(o).map_err(|e| CallError::Failed(e.to_string())))
        .collect()
}

/// The controller `ownerReferences` entry of an object: (kind, name).
fn controller_of(object: &Value) -> Option<(String, String)> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| o["controller"] == true)
        .and_then(|o| {
            Some((
                o["kind"].as_str()?.to_owned(),
                o["name"].as_str()?.to_owned(),
            ))
        })
}

fn skipped(what: String, reason: SkipReason, detail: String) -> Resolved {
    Resolved::Skipped(what, Skip { reason, detail })
}

/// Resolves a candidate through the API.
pub async fn resolve(
    client: &Client,
    ns: &str,
    candidate: &Candidate,
) -> Result<Resolved, CallError> {
    let (kind, name) = match candidate {
        Candidate::BarePod { name } => {
            return Ok(skipped(
                format!("Pod/{name}"),
                SkipReason::BarePod,
                format!("pod {name} has no controller; recreate it from a workload to be repaired"),
            ));
        }
        Candidate::Controller { kind, name } => (kind.as_str(), name.as_str()),
    };
    let what = format!("{kind}/{name}");
    match WorkloadKind::from_kind(kind) {
        Some(k) if is_patchable(k) => Ok(Resolved::Workload(WorkloadName {
            kind: k,
            name: name.to_owned(),
        })),
        Some(WorkloadKind::ReplicaSet) => {
            let rs = get(client, ns, "ReplicaSet", name).await?;
            match controller_of(&rs) {
                Some((owner, owner_name)) if owner == "Deployment" => {
                    Ok(Resolved::Workload(WorkloadName {
                        kind: WorkloadKind::Deployment,
                        name: owner_name,
                    }))
                }
                Some((owner, owner_name)) => Ok(skipped(
                    format!("{owner}/{owner_name}"),
                    SkipReason::UnsupportedOwner,
                    format!("{what} is controlled by {owner}/{owner_name}, which is not patched"),
                )),
                None => Ok(skipped(
                    what.clone(),
                    SkipReason::UnsupportedOwner,
                    format!("{what} has no Deployment; patch its pod template yourself"),
                )),
            }
        }
        Some(k) if k.is_batch() => Ok(skipped(
            what.clone(),
            SkipReason::Batch,
            format!("{what} runs to completion: reported, not patched"),
        )),
        _ => Ok(skipped(
            what.clone(),
            SkipReason::UnsupportedOwner,
            format!("{what} is not patched (Deployment, StatefulSet and DaemonSet are)"),
        )),
    }
}

/// Server-side apply of `body` to workload `w` under the enforcer's field manager, never
/// forced; with `dry_run`, the server validates and merges but stores nothing. Returns the
/// object as the server answered.
pub async fn apply(
    client: &Client,
    ns: &str,
    w: &WorkloadName,
    body: &Value,
    dry_run: bool,
) -> Result<Value, CallError> {
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.dry_run = dry_run;
    let object =
        call(apps_api(client, ns, w.kind.as_str()).patch(&w.name, &params, &Patch::Apply(body)))
            .await?;
    serde_json::to_value(object).map_err(|e| CallError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_managers_of_a_conflict_are_read_from_the_message() {
        let message = "Apply failed with 2 conflicts: conflict with \"argocd\" using apps/v1: .spec.a\n- conflict with \"kubectl\" using apps/v1: .spec.b";
        assert_eq!(conflicting_managers(message), vec!["argocd", "kubectl"]);
        assert!(conflicting_managers("something else").is_empty());
    }
}
