//! Deployment revisions through the real kube client, as the deployment controller keeps
//! them: the revision annotation on the Deployment and its ReplicaSets, a new revision per
//! template change, the old ReplicaSet brought back (with its revision history) when a
//! rollback restores its template, and `revisionHistoryLimit` honoured.

mod common;

use common::{deployment, eventually, server};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube_apiserver_test::ServerConfig;
use serde_json::json;

const REVISION: &str = "deployment.kubernetes.io/revision";

fn annotation(object: &impl kube::Resource, key: &str) -> Option<String> {
    object.meta().annotations.as_ref()?.get(key).cloned()
}

/// (name, revision, replicas) of the Deployment's ReplicaSets, by name.
async fn sets(api: &Api<ReplicaSet>) -> Vec<(String, String, i32)> {
    let mut out: Vec<(String, String, i32)> = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .map(|rs| {
            (
                rs.metadata.name.clone().unwrap_or_default(),
                annotation(&rs, REVISION).unwrap_or_default(),
                rs.spec.and_then(|s| s.replicas).unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

async fn set_image(api: &Api<Deployment>, image: &str) {
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})),
    )
    .await
    .expect("patch the image");
}

async fn revision_of(api: &Api<Deployment>, wanted: &str) {
    eventually(&format!("deployment revision {wanted}"), || async {
        let d = api.get("web").await.ok()?;
        (annotation(&d, REVISION).as_deref() == Some(wanted)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn template_changes_make_revisions_and_a_rollback_reuses_the_old_replica_set() {
    let (_server, client) = server(ServerConfig::new()).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client, "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 2, "nginx:1"))
        .await
        .expect("create");
    revision_of(&deployments, "1").await;
    let first = sets(&replica_sets).await;
    assert_eq!(first.len(), 1);
    let first_name = first[0].0.clone();

    set_image(&deployments, "nginx:2").await;
    revision_of(&deployments, "2").await;

    // What `kubectl rollout undo --to-revision=1` sends: the old ReplicaSet's template.
    let old = replica_sets
        .get(&first_name)
        .await
        .expect("the first replica set");
    let mut template = serde_json::to_value(old.spec.expect("spec").template).expect("json");
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(|l| l.as_object_mut())
    {
        labels.remove("pod-template-hash");
    }
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(
                    json!([{"op": "replace", "path": "/spec/template", "value": template}]),
                )
                .expect("json patch"),
            ),
        )
        .await
        .expect("roll back");
    revision_of(&deployments, "3").await;
    let after = eventually("the first replica set back at two replicas", || async {
        let found = sets(&replica_sets).await;
        found
            .iter()
            .any(|(name, revision, replicas)| {
                *name == first_name && revision == "3" && *replicas == 2
            })
            .then_some(found)
    })
    .await;
    assert_eq!(after.len(), 2, "no third replica set: {after:?}");
    let reused = replica_sets.get(&first_name).await.expect("reused");
    assert_eq!(
        annotation(&reused, "deployment.kubernetes.io/revision-history").as_deref(),
        Some("1")
    );
    assert!(
        after
            .iter()
            .any(|(name, _, replicas)| *name != first_name && *replicas == 0),
        "{after:?}"
    );
}

#[tokio::test]
async fn old_replica_sets_beyond_the_history_limit_are_deleted() {
    let (_server, client) = server(ServerConfig::new()).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client, "default");
    let mut limited = deployment("web", 1, "nginx:1");
    if let Some(spec) = limited.spec.as_mut() {
        spec.revision_history_limit = Some(1);
    }
    deployments
        .create(&PostParams::default(), &limited)
        .await
        .expect("create");
    for (previous, image) in [("1", "nginx:2"), ("2", "nginx:3")] {
        revision_of(&deployments, previous).await;
        set_image(&deployments, image).await;
    }
    revision_of(&deployments, "3").await;
    let kept = eventually("one old replica set kept", || async {
        let found = sets(&replica_sets).await;
        (found.len() == 2).then_some(found)
    })
    .await;
    let mut revisions: Vec<String> = kept.iter().map(|(_, r, _)| r.clone()).collect();
    revisions.sort();
    assert_eq!(revisions, vec!["2", "3"], "revision 1 went first: {kept:?}");
}
