//! The workload simulation seen through the real kube client: Deployments roll out to
//! Running, Ready pods and roll over on a template change; StatefulSets, DaemonSets and
//! Jobs create their pods; annotations and the handle script pod status; deleting an
//! owner collects its dependents.

mod common;

use common::{deployment, eventually, pod, server};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube_apiserver_test::{ApiServerHandle, ServerConfig};
use serde_json::{Value, json};

async fn simulated() -> (ApiServerHandle, kube::Client) {
    server(ServerConfig::new()).await
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn phase(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default()
}

async fn pods_matching(api: &Api<Pod>, selector: &str) -> Vec<Pod> {
    api.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_deployment_rolls_out_to_running_ready_pods() {
    let (_server, client) = simulated().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 2, "nginx:1"))
        .await
        .expect("create");
    let running = eventually("two running, ready pods", || async {
        let found = pods_matching(&pods, "app=web").await;
        (found.len() == 2 && found.iter().all(|p| phase(p) == "Running" && ready(p)))
            .then_some(found)
    })
    .await;
    for pod in &running {
        let owner = pod.metadata.owner_references.clone().unwrap_or_default();
        assert!(
            owner
                .iter()
                .any(|o| o.kind == "ReplicaSet" && o.controller == Some(true))
        );
        assert!(
            pod.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .is_some(),
            "scheduled"
        );
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        assert!(
            statuses
                .iter()
                .all(|c| c.ready && c.restart_count == 0 && c.started == Some(true))
        );
    }
    let status = eventually("deployment status", || async {
        let d = deployments.get("web").await.ok()?;
        let s = d.status?;
        (s.ready_replicas == Some(2)
            && s.updated_replicas == Some(2)
            && s.observed_generation == Some(1))
        .then_some(s)
    })
    .await;
    assert_eq!(status.replicas, Some(2));
}

#[tokio::test]
async fn a_template_change_rolls_the_pods_over_to_a_new_replica_set() {
    let (_server, client) = simulated().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .expect("create");
    eventually("the first pod", || async {
        (pods_matching(&pods, "app=web").await.len() == 1).then_some(())
    })
    .await;
    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Strategic(image))
        .await
        .expect("patch");
    eventually("only new pods remain", || async {
        let found = pods_matching(&pods, "app=web").await;
        let images: Vec<Option<String>> = found
            .iter()
            .map(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone())
            })
            .collect();
        (images == vec![Some("nginx:2".to_string())]).then_some(())
    })
    .await;
    let replicas: Vec<(String, i32)> = sets
        .list(&ListParams::default())
        .await
        .expect("list replica sets")
        .items
        .into_iter()
        .map(|rs| {
            (
                rs.metadata.name.unwrap_or_default(),
                rs.spec.and_then(|s| s.replicas).unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(replicas.len(), 2, "{replicas:?}");
    assert_eq!(
        replicas.iter().map(|r| r.1).sum::<i32>(),
        1,
        "the old replica set is scaled to zero: {replicas:?}"
    );
    assert!(replicas.iter().all(|(name, _)| name.starts_with("web-")));
}

#[tokio::test]
async fn other_workloads_create_their_pods() {
    let (server, client) = server(ServerConfig::new().nodes(0)).await;
    for node in ["node-a", "node-b"] {
        server
            .create(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}))
            .expect("node");
    }
    let template = |app: &str| json!({"metadata": {"labels": {"app": app}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}});
    let sts: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": template("db")}})).expect("sts");
    let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}})).expect("ds");
    let job: Job = serde_json::from_value(
        json!({"metadata": {"name": "once"}, "spec": {"template": template("once")}}),
    )
    .expect("job");
    Api::<StatefulSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &sts)
        .await
        .expect("sts");
    Api::<DaemonSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &ds)
        .await
        .expect("ds");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("job");
    let pods: Api<Pod> = Api::namespaced(client, "default");

    let names = eventually("statefulset pods", || async {
        let mut names: Vec<String> = pods_matching(&pods, "app=db")
            .await
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        names.sort();
        (names.len() == 2).then_some(names)
    })
    .await;
    assert_eq!(names, vec!["db-0", "db-1"]);
    let nodes = eventually("one daemon pod per node", || async {
        let mut nodes: Vec<String> = pods_matching(&pods, "app=agent")
            .await
            .into_iter()
            .filter_map(|p| p.spec.and_then(|s| s.node_name))
            .collect();
        nodes.sort();
        (nodes.len() == 2).then_some(nodes)
    })
    .await;
    assert_eq!(nodes, vec!["node-a", "node-b"]);
    let succeeded = eventually("the job completes", || async {
        jobs.get("once")
            .await
            .ok()?
            .status?
            .succeeded
            .filter(|n| *n == 1)
    })
    .await;
    assert_eq!(succeeded, 1);
}

#[tokio::test]
async fn annotations_script_what_the_kubelet_reports() {
    let (_server, client) = simulated().await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let cases: [(&str, Value, &str, i32, Option<&str>); 3] = [
        (
            "crashing",
            json!({"apiserver.test/waiting-reason": "CrashLoopBackOff", "apiserver.test/restart-count": "7"}),
            "Running",
            7,
            Some("CrashLoopBackOff"),
        ),
        (
            "pending",
            json!({"apiserver.test/phase": "Pending"}),
            "Pending",
            0,
            Some("ContainerCreating"),
        ),
        ("healthy", json!({}), "Running", 0, None),
    ];
    for (name, annotations, _, _, _) in &cases {
        let mut p = pod(name, "nginx");
        p.metadata.annotations = serde_json::from_value(annotations.clone()).ok();
        pods.create(&PostParams::default(), &p)
            .await
            .expect("create");
    }
    for (name, _, want_phase, restarts, waiting) in cases {
        let observed = eventually(name, || async {
            let p = pods.get(name).await.ok()?;
            let status = p.status.clone()?;
            let container = status.container_statuses.clone()?.into_iter().next()?;
            let reason = container
                .state
                .and_then(|s| s.waiting)
                .and_then(|w| w.reason);
            Some((status.phase?, container.restart_count, reason))
        })
        .await;
        assert_eq!(
            observed,
            (
                want_phase.to_string(),
                restarts,
                waiting.map(str::to_string)
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_scripted_pod_status_sticks() {
    let (server, client) = simulated().await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.create(&PostParams::default(), &pod("p", "nginx"))
        .await
        .expect("create");
    eventually("the kubelet runs the pod", || async {
        (phase(&pods.get("p").await.ok()?) == "Running").then_some(())
    })
    .await;
    server
        .set_pod_status(
            "default",
            "p",
            json!({"phase": "Failed", "reason": "Evicted"}),
        )
        .expect("script");
    pods.patch(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"touch": "1"}}})),
    )
    .await
    .expect("a later write");
    pods.create(&PostParams::default(), &pod("witness", "nginx"))
        .await
        .expect("create witness");
    eventually("the kubelet has run since", || async {
        (phase(&pods.get("witness").await.ok()?) == "Running").then_some(())
    })
    .await;
    let after = pods.get("p").await.expect("get");
    assert_eq!(phase(&after), "Failed");
}

#[tokio::test]
async fn deleting_a_deployment_collects_its_replica_sets_and_pods() {
    let (_server, client) = simulated().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 2, "nginx:1"))
        .await
        .expect("create");
    eventually("pods exist", || async {
        (pods_matching(&pods, "app=web").await.len() == 2).then_some(())
    })
    .await;
    deployments
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("pods are collected", || async {
        pods_matching(&pods, "app=web")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    let sets: Api<ReplicaSet> = Api::namespaced(client, "default");
    assert!(
        sets.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
}
