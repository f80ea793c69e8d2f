//! What the simulated cluster holds besides the objects a test writes, through the real
//! kube client: its Nodes and where pods and DaemonSet pods land on them, and the
//! ServiceAccount and CA ConfigMap the controller-manager puts in every namespace.

mod common;

use common::{eventually, pod, server};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as CoreEvent, Namespace, Node, Pod, ServiceAccount,
};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube_apiserver_test::ServerConfig;
use serde_json::json;

fn node_names(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect()
}

#[tokio::test]
async fn the_cluster_registers_ready_nodes_with_capacity_and_labels() {
    let (_server, client) = server(ServerConfig::new().simulation(false).nodes(2)).await;
    let nodes = Api::<Node>::all(client)
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    assert_eq!(node_names(&nodes), vec!["node-1", "node-2"]);
    for node in &nodes {
        let labels = node.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("kubernetes.io/hostname"),
            node.metadata.name.as_ref()
        );
        assert_eq!(
            labels.get("kubernetes.io/os").map(String::as_str),
            Some("linux")
        );
        let status = node.status.clone().expect("status");
        let ready = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status);
        assert_eq!(ready.as_deref(), Some("True"));
        let allocatable = status.allocatable.unwrap_or_default();
        assert_eq!(allocatable.get("pods").map(|q| q.0.as_str()), Some("110"));
        assert!(status.capacity.unwrap_or_default().contains_key("cpu"));
    }
}

#[tokio::test]
async fn pods_spread_over_the_nodes_they_fit_and_the_rest_stay_pending() {
    let (_server, client) = server(ServerConfig::new().nodes(3)).await;
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch(
            "node-3",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"disk": "ssd"}}})),
        )
        .await
        .expect("label node-3");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["a", "b", "c"] {
        pods.create(&PostParams::default(), &pod(name, "nginx:1"))
            .await
            .expect("pod");
    }
    let mut ssd = pod("fast", "nginx:1");
    let mut nowhere = pod("nowhere", "nginx:1");
    if let (Some(fast), Some(lost)) = (ssd.spec.as_mut(), nowhere.spec.as_mut()) {
        fast.node_selector = Some([("disk".to_string(), "ssd".to_string())].into());
        lost.node_selector = Some([("disk".to_string(), "tape".to_string())].into());
    }
    pods.create(&PostParams::default(), &ssd)
        .await
        .expect("ssd pod");
    pods.create(&PostParams::default(), &nowhere)
        .await
        .expect("pod that fits nowhere");
    let placed = eventually("four pods bound", || async {
        let listed = pods.list(&ListParams::default()).await.ok()?.items;
        let bound: Vec<(String, String)> = listed
            .into_iter()
            .filter_map(|p| Some((p.metadata.name?, p.spec?.node_name?)))
            .collect();
        (bound.len() == 4).then_some(bound)
    })
    .await;
    let mut used: Vec<&str> = placed
        .iter()
        .filter(|(n, _)| n != "fast")
        .map(|(_, node)| node.as_str())
        .collect();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), 3, "the least loaded node first: {placed:?}");
    assert!(
        placed.contains(&("fast".to_string(), "node-3".to_string())),
        "{placed:?}"
    );
    let pending = eventually("the unschedulable condition", || async {
        let status = pods.get("nowhere").await.ok()?.status?;
        let condition = status
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (condition.status == "False").then_some((status.phase, condition))
    })
    .await;
    assert_eq!(pending.0.as_deref(), Some("Pending"));
    assert_eq!(pending.1.reason.as_deref(), Some("Unschedulable"));
    let message = pending.1.message.unwrap_or_default();
    assert!(
        message.starts_with(
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector"
        ),
        "{message}"
    );
    let events: Api<CoreEvent> = Api::namespaced(client, "default");
    let failed = events
        .list(&ListParams::default().fields("involvedObject.name=nowhere,reason=FailedScheduling"))
        .await
        .expect("events");
    assert_eq!(failed.items.len(), 1);
}

#[tokio::test]
async fn a_daemon_set_runs_one_pod_on_each_node_its_selector_matches() {
    let (_server, client) = server(ServerConfig::new().nodes(3)).await;
    let nodes: Api<Node> = Api::all(client.clone());
    for name in ["node-1", "node-3"] {
        nodes
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"role": "edge"}}})),
            )
            .await
            .expect("label");
    }
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"nodeSelector": {"role": "edge"},
                                       "containers": [{"name": "agent", "image": "agent:1"}]}}},
    }))
    .expect("daemon set");
    Api::<DaemonSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &ds)
        .await
        .expect("create");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let placed = eventually("two daemon pods", || async {
        let mut on: Vec<String> = pods
            .list(&ListParams::default().labels("app=agent"))
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|p| p.spec?.node_name)
            .collect();
        on.sort();
        (on.len() == 2).then_some(on)
    })
    .await;
    assert_eq!(placed, vec!["node-1", "node-3"]);
}

#[tokio::test]
async fn every_namespace_gets_its_default_service_account_and_ca_config_map() {
    let (_server, client) = server(ServerConfig::new()).await;
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("namespace"),
        )
        .await
        .expect("create namespace");
    for namespace in ["default", "kube-system", "team"] {
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
        eventually("the default service account", || async {
            accounts.get("default").await.ok()
        })
        .await;
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let ca = eventually("the CA config map", || async {
            maps.get("kube-root-ca.crt").await.ok()
        })
        .await;
        let pem = ca
            .data
            .unwrap_or_default()
            .remove("ca.crt")
            .unwrap_or_default();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        let managers: Vec<String> = ca
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.manager)
            .collect();
        assert_eq!(managers, vec!["kube-controller-manager"]);
    }
}
