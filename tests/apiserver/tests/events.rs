//! Events through the real kube client: one store behind core/v1 and events.k8s.io/v1
//! (an Event written through either API reads back through the other, converted), the
//! field selectors clients use on events, kube-runtime's Recorder, and the events the
//! simulated controllers, scheduler and kubelets record.

mod common;

use common::{deployment, eventually, quiet_server, server};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::events::{Event as Occurrence, EventType, Recorder, Reporter};
use kube_apiserver_test::ServerConfig;
use serde_json::json;

fn pod_reference(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(name.into()),
        namespace: Some("default".into()),
        uid: Some(format!("uid-{name}")),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_event_written_through_one_api_reads_back_through_the_other() {
    let (_server, client) = quiet_server().await;
    let new_api: Api<Event> = Api::namespaced(client.clone(), "default");
    let core_api: Api<CoreEvent> = Api::namespaced(client, "default");
    let written: Event = serde_json::from_value(json!({
        "metadata": {"name": "started"},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "reportingController": "example.com/operator", "reportingInstance": "operator-0",
        "action": "Reconcile", "reason": "Started", "type": "Normal", "note": "reconciled",
        "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "default"},
    }))
    .expect("event");
    new_api
        .create(&PostParams::default(), &written)
        .await
        .expect("create through events.k8s.io");
    let core = core_api.get("started").await.expect("read through core/v1");
    assert_eq!(core.message.as_deref(), Some("reconciled"));
    assert_eq!(core.involved_object.name.as_deref(), Some("web"));
    assert_eq!(
        core.reporting_component.as_deref(),
        Some("example.com/operator")
    );
    assert_eq!(core.action.as_deref(), Some("Reconcile"));

    let legacy: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "pulled"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Pulled", "message": "image present", "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"}, "count": 3,
        "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:01:00Z",
    }))
    .expect("event");
    core_api
        .create(&PostParams::default(), &legacy)
        .await
        .expect("create through core/v1");
    let converted = new_api
        .get("pulled")
        .await
        .expect("read through events.k8s.io");
    assert_eq!(converted.note.as_deref(), Some("image present"));
    assert_eq!(converted.deprecated_count, Some(3));
    assert_eq!(
        converted
            .deprecated_source
            .and_then(|s| s.component)
            .as_deref(),
        Some("kubelet")
    );
    assert_eq!(
        converted.regarding.and_then(|r| r.name).as_deref(),
        Some("web")
    );
    let both = new_api.list(&ListParams::default()).await.expect("list");
    assert_eq!(both.items.len(), 2);
}

#[tokio::test]
async fn event_field_selectors_pick_by_object_reason_and_type() {
    let (_server, client) = quiet_server().await;
    let core_api: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let new_api: Api<Event> = Api::namespaced(client, "default");
    for (name, pod, kind) in [
        ("a", "web", "Normal"),
        ("b", "web", "Warning"),
        ("c", "db", "Warning"),
    ] {
        let event: CoreEvent = serde_json::from_value(json!({
            "metadata": {"name": name}, "reason": "Checked", "message": name, "type": kind,
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": "default"},
        }))
        .expect("event");
        core_api
            .create(&PostParams::default(), &event)
            .await
            .expect("create");
    }
    let core_names = |selector: &'static str| {
        let api = core_api.clone();
        async move {
            let mut names: Vec<String> = api
                .list(&ListParams::default().fields(selector))
                .await
                .expect(selector)
                .items
                .into_iter()
                .filter_map(|e| e.metadata.name)
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(core_names("involvedObject.name=web").await, vec!["a", "b"]);
    assert_eq!(
        core_names("involvedObject.kind=Pod,type=Warning").await,
        vec!["b", "c"]
    );
    assert_eq!(
        core_names("reason=Checked,involvedObject.name!=web").await,
        vec!["c"]
    );
    let regarding: Vec<String> = new_api
        .list(&ListParams::default().fields("regarding.name=db"))
        .await
        .expect("regarding selector")
        .items
        .into_iter()
        .filter_map(|e| e.metadata.name)
        .collect();
    assert_eq!(regarding, vec!["c"]);
    let refused = common::status(
        new_api
            .list(&ListParams::default().fields("involvedObject.name=db"))
            .await,
    );
    assert_eq!(refused.code, 400, "events.k8s.io spells it regarding.name");
}

#[tokio::test]
async fn the_kube_runtime_recorder_publishes_and_counts_a_series() {
    let (_server, client) = quiet_server().await;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "example-operator".into(),
            instance: Some("example-operator-0".into()),
        },
    );
    let occurrence = Occurrence {
        type_: EventType::Warning,
        reason: "Drift".into(),
        note: Some("a field drifted".into()),
        action: "Check".into(),
        secondary: None,
    };
    let reference = pod_reference("web");
    for _ in 0..2 {
        recorder
            .publish(&occurrence, &reference)
            .await
            .expect("publish");
    }
    let core_api: Api<CoreEvent> = Api::namespaced(client, "default");
    let listed = core_api
        .list(&ListParams::default().fields("involvedObject.name=web,reason=Drift"))
        .await
        .expect("list");
    assert_eq!(
        listed.items.len(),
        1,
        "the second publish patches the series"
    );
    let event = &listed.items[0];
    assert_eq!(event.series.as_ref().and_then(|s| s.count), Some(2));
    assert_eq!(event.message.as_deref(), Some("a field drifted"));
    assert_eq!(
        event.reporting_component.as_deref(),
        Some("example-operator")
    );
}

/// (reason, reporting component) of the events about an object.
async fn reasons(api: &Api<CoreEvent>, kind: &str, name: &str) -> Vec<(String, String)> {
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    api.list(&ListParams::default().fields(&selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            (
                e.reason.unwrap_or_default(),
                e.reporting_component.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_simulated_components_record_their_usual_events() {
    let (_server, client) = server(ServerConfig::new()).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events: Api<CoreEvent> = Api::namespaced(client, "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .expect("create");
    let pod = eventually("a running pod", || async {
        pods.list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items
            .into_iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    })
    .await;
    let pod_name = pod.metadata.name.clone().expect("name");
    let set_name = pod.metadata.owner_references.clone().unwrap_or_default()[0]
        .name
        .clone();
    let about_pod = eventually("the pod's events", || async {
        let found = reasons(&events, "Pod", &pod_name).await;
        (found.len() >= 4).then_some(found)
    })
    .await;
    let owned = |reason: &str, component: &str| (reason.to_string(), component.to_string());
    for expected in [
        owned("Scheduled", "default-scheduler"),
        owned("Pulled", "kubelet"),
        owned("Created", "kubelet"),
        owned("Started", "kubelet"),
    ] {
        assert!(
            about_pod.contains(&expected),
            "{expected:?} in {about_pod:?}"
        );
    }
    assert!(
        reasons(&events, "ReplicaSet", &set_name)
            .await
            .contains(&owned("SuccessfulCreate", "replicaset-controller"))
    );
    assert!(
        reasons(&events, "Deployment", "web")
            .await
            .contains(&owned("ScalingReplicaSet", "deployment-controller"))
    );
    pods.delete(&pod_name, &DeleteParams::default())
        .await
        .expect("delete the pod");
    eventually("the kubelet stops the containers", || async {
        reasons(&events, "Pod", &pod_name)
            .await
            .contains(&owned("Killing", "kubelet"))
            .then_some(())
    })
    .await;
}
