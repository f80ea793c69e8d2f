//! API defaulting through the real kube client: what a create, an update, a patch and a
//! server-side apply of built-in kinds store, and who owns the defaulted fields in
//! managedFields (an ordinary writer owns what its write defaulted, an applier only what
//! it applied).

mod common;

use common::{deployment, pod, quiet_server};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The `fieldsV1` of one manager's entry.
fn fields_of(object: &impl serde::Serialize, manager: &str) -> Value {
    let object = serde_json::to_value(object).expect("json");
    object["metadata"]["managedFields"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["manager"] == manager))
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or_else(|| panic!("no entry for {manager} in {object}"))
}

#[tokio::test]
async fn a_created_pod_is_stored_defaulted_and_its_creator_owns_the_defaults() {
    let (_server, client) = quiet_server().await;
    let api: Api<Pod> = Api::namespaced(client, "default");
    let mut new = pod("web", "nginx:1.27");
    if let Some(spec) = new.spec.as_mut() {
        spec.containers[0].ports = Some(vec![
            serde_json::from_value(json!({"containerPort": 80})).expect("port"),
        ]);
    }
    let created = api
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..Default::default()
            },
            &new,
        )
        .await
        .expect("create");
    let spec = created.spec.clone().expect("spec");
    let container = &spec.containers[0];
    assert_eq!(container.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        container.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.enable_service_links, Some(true));
    let fields = fields_of(&created, "creator");
    let owned = &fields["f:spec"]["f:containers"][r#"k:{"name":"app"}"#];
    assert!(owned.get("f:imagePullPolicy").is_some(), "{fields}");
    assert!(
        owned["f:ports"]
            .get(r#"k:{"containerPort":80,"protocol":"TCP"}"#)
            .is_some(),
        "ports are owned by number and protocol: {fields}"
    );
    for field in [
        "f:dnsPolicy",
        "f:securityContext",
        "f:terminationGracePeriodSeconds",
    ] {
        assert!(fields["f:spec"].get(field).is_some(), "{field} in {fields}");
    }
    assert!(
        fields["f:status"].is_null(),
        "the status the registry sets is nobody's: {fields}"
    );
}

#[tokio::test]
async fn an_applier_owns_what_it_applied_and_not_the_defaults() {
    let (_server, client) = quiet_server().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let applied = api
        .patch(
            "web",
            &PatchParams::apply("applier"),
            &Patch::Apply(serde_json::to_value(deployment("web", 2, "nginx:1")).expect("json")),
        )
        .await
        .expect("apply creates");
    let spec = applied.spec.clone().expect("spec");
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    assert_eq!(
        spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        Some("RollingUpdate")
    );
    let fields = fields_of(&applied, "applier");
    assert!(fields["f:spec"].get("f:replicas").is_some(), "{fields}");
    for field in [
        "f:strategy",
        "f:revisionHistoryLimit",
        "f:progressDeadlineSeconds",
    ] {
        assert!(fields["f:spec"].get(field).is_none(), "{field} in {fields}");
    }
    let container =
        &fields["f:spec"]["f:template"]["f:spec"]["f:containers"][r#"k:{"name":"app"}"#];
    assert!(container.get("f:imagePullPolicy").is_none(), "{fields}");
}

#[tokio::test]
async fn patches_and_updates_are_defaulted_too() {
    let (_server, client) = quiet_server().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .expect("create");
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": null},
                                          "template": {"spec": {"containers": [{"name": "app", "image": "nginx:latest"}]}}}})),
        )
        .await
        .expect("patch");
    let spec = patched.spec.clone().expect("spec");
    assert_eq!(
        spec.template
            .spec
            .as_ref()
            .map(|s| s.containers[0].image_pull_policy.clone()),
        Some(Some("Always".into())),
        "a merge patch replacing the containers gets them defaulted again"
    );
    let mut replaced = patched.clone();
    if let Some(spec) = replaced.spec.as_mut() {
        spec.revision_history_limit = None;
    }
    let updated = api
        .replace("web", &PostParams::default(), &replaced)
        .await
        .expect("update");
    assert_eq!(
        updated.spec.and_then(|s| s.revision_history_limit),
        Some(10)
    );
    assert_eq!(
        updated.metadata.generation, patched.metadata.generation,
        "an update the defaults undo changes nothing"
    );
}

#[tokio::test]
async fn a_service_gets_its_defaults_and_keeps_its_cluster_ip_across_updates() {
    let (_server, client) = quiet_server().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }))
    .expect("service");
    let created = api
        .create(&PostParams::default(), &service)
        .await
        .expect("create");
    let spec = created.spec.clone().expect("spec");
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    assert_eq!(spec.internal_traffic_policy.as_deref(), Some("Cluster"));
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));
    let port = &spec.ports.as_ref().expect("ports")[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );
    let cluster_ip = spec.cluster_ip.clone().expect("a cluster IP");
    let mut without = service.clone();
    without.metadata.resource_version = created.metadata.resource_version.clone();
    let updated = api
        .replace("web", &PostParams::default(), &without)
        .await
        .expect("replace");
    assert_eq!(updated.spec.and_then(|s| s.cluster_ip), Some(cluster_ip));
}

#[tokio::test]
async fn a_job_whose_pods_would_restart_in_place_is_invalid() {
    use k8s_openapi::api::batch::v1::Job;
    let (_server, client) = quiet_server().await;
    let api: Api<Job> = Api::namespaced(client, "default");
    let job = |policy: Option<&str>| -> Job {
        let mut spec = json!({"containers": [{"name": "c", "image": "busybox:1"}]});
        if let Some(policy) = policy {
            spec["restartPolicy"] = json!(policy);
        }
        serde_json::from_value(
            json!({"metadata": {"name": "once"}, "spec": {"template": {"spec": spec}}}),
        )
        .expect("job")
    };
    let refused = common::status(api.create(&PostParams::default(), &job(None)).await);
    assert_eq!(refused.code, 422);
    assert!(
        refused.message.contains(
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        ),
        "{}",
        refused.message
    );
    let created = api
        .create(&PostParams::default(), &job(Some("Never")))
        .await
        .expect("a job whose pods do not restart");
    let labels = created
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.labels)
        .unwrap_or_default();
    assert_eq!(labels.get("job-name").map(String::as_str), Some("once"));
}
