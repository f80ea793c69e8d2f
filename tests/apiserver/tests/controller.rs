//! A real `kube_runtime::Controller` against the server: it reconciles ConfigMaps by
//! server-side applying an annotation and adding a finalizer with kube's finalizer
//! helper, which exercises watches, apply, JSON patches with `test` and deletion.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config_map, eventually, quiet_server};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use serde_json::json;

const FINALIZER: &str = "example.com/cleanup";

#[derive(Debug, thiserror::Error)]
#[error("reconcile failed: {0}")]
struct ReconcileError(String);

async fn reconcile(cm: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>) -> Result<Action, ReconcileError> {
    finalizer(&api, FINALIZER, cm, |event| async {
        match event {
            Finalizer::Apply(cm) => {
                let name = cm.metadata.name.clone().unwrap_or_default();
                let patch = json!({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"annotations": {"example.com/seen": "yes"}}});
                api.patch(
                    &name,
                    &PatchParams::apply("test-controller").force(),
                    &Patch::Apply(patch),
                )
                .await
                .map_err(|e| ReconcileError(e.to_string()))?;
                Ok(Action::await_change())
            }
            Finalizer::Cleanup(_) => Ok::<_, ReconcileError>(Action::await_change()),
        }
    })
    .await
    .map_err(|e| ReconcileError(e.to_string()))
}

fn error_policy(_: Arc<ConfigMap>, _: &ReconcileError, _: Arc<Api<ConfigMap>>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

#[tokio::test]
async fn a_controller_with_a_finalizer_reconciles_and_lets_go_on_delete() {
    let (server, client) = quiet_server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let controller = Controller::new(api.clone(), watcher::Config::default())
        .run(reconcile, error_policy, Arc::new(api.clone()))
        .for_each(|_| async {});
    let running = tokio::spawn(controller);

    api.create(&PostParams::default(), &config_map("watched", json!({})))
        .await
        .expect("create");
    let reconciled = eventually("the annotation and finalizer", || async {
        let cm = api.get("watched").await.ok()?;
        let seen = cm
            .metadata
            .annotations
            .as_ref()?
            .get("example.com/seen")
            .cloned();
        let finalizers = cm.metadata.finalizers.clone().unwrap_or_default();
        (seen.as_deref() == Some("yes") && finalizers == vec![FINALIZER.to_string()]).then_some(cm)
    })
    .await;
    assert!(reconciled.metadata.deletion_timestamp.is_none());

    api.delete("watched", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the object is gone", || async {
        server
            .get("v1", "ConfigMap", "default", "watched")
            .is_none()
            .then_some(())
    })
    .await;
    running.abort();
}
