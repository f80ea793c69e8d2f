//! Benchmarks of the live controller path: pod watch events to updated scores.
//!
//! In: 1,000 distinct running pods as the API server serves them (owner reference,
//! managed fields, service account volume, tolerations, full status), over 20 namespaces.
//! Out: events per second through the chain the NamespaceScoreActor runs for each watch
//! event, `facts_from_pod` -> `PodStore::apply` (the policy's resolution, `evaluate`,
//! `pod_score`, the pod's facts taken apart into its slot and a shared template), starting
//! from a typed `Pod` (`typed_pod`) and from the bytes of a `MODIFIED` watch event decoded
//! as the pod watcher decodes them, into a [`SlimPod`] (`watch_json`), or into the typed
//! `Pod` (`watch_json_typed`, for comparison). Every pod is already on the board,
//! as after the first relist, so each event replaces a known pod. Memory per tracked pod
//! is measured by `examples/board_memory.rs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::core::WatchEvent;
use kube_devops::facts::{PodFacts, SlimPod, facts_from_pod};
use kube_devops::policy::PolicySet;
use kube_devops::score::store::PodStore;
use serde_json::{Value, json};

/// Distinct pods the events cycle over.
const PODS: usize = 1_000;

/// Namespaces the pods are spread over.
const NAMESPACES: usize = 20;

/// The instant every evaluation is judged at, so runs are comparable.
const NOW: &str = "2026-06-01T00:00:00Z";

/// A container as the API server returns it, defaults filled in.
fn container(name: &str, image: &str, port: i32, probes: bool) -> Value {
    let mut c = json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["--log-level=info", format!("--config=/etc/{name}/config.yaml")],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [
            {"name": "LOG_FORMAT", "value": "json"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"}
        },
        "securityContext": {
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]}
        },
        "volumeMounts": [
            {"name": "config", "mountPath": format!("/etc/{name}"), "readOnly": true},
            {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"
    });
    if probes {
        c["livenessProbe"] = json!({"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
            "initialDelaySeconds": 15, "periodSeconds": 10, "timeoutSeconds": 1,
            "successThreshold": 1, "failureThreshold": 3});
        c["readinessProbe"] = json!({"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"},
            "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3});
    }
    c
}

fn container_status(name: &str, image: &str, restarts: i32, i: usize) -> Value {
    json!({
        "name": name,
        "image": image,
        "imageID": format!("{image}@sha256:{:064x}", i),
        "containerID": format!("containerd://{:064x}", i * 7 + 1),
        "ready": true,
        "started": true,
        "restartCount": restarts,
        "state": {"running": {"startedAt": "2026-05-31T08:00:00Z"}},
        "lastState": {}
    })
}

/// A running pod of a Deployment, as a watch event carries it.
fn live_pod(i: usize) -> Value {
    let ns = format!("team-{:02}", i % NAMESPACES);
    let app = format!("app-{:03}", i % 97);
    let name = format!("{app}-7d9c6b5f4-{i:05x}");
    let image = if i.is_multiple_of(5) {
        format!("registry.example.com/{ns}/{app}:latest")
    } else {
        format!("registry.example.com/{ns}/{app}:1.{}.{}", i % 7, i % 13)
    };
    let sidecar = "ghcr.io/envoyproxy/envoy:v1.31.2";
    let uid = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        i,
        i % 0xffff,
        i % 0xfff,
        (i * 3) % 0xfff,
        i * 31
    );
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": format!("{app}-7d9c6b5f4-"),
            "namespace": ns,
            "uid": uid,
            "resourceVersion": format!("{}", 1_000_000 + i),
            "creationTimestamp": "2026-05-31T07:59:58Z",
            "labels": {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/part-of": ns,
                "app.kubernetes.io/version": "1.4.2",
                "pod-template-hash": "7d9c6b5f4"
            },
            "annotations": {
                "kubectl.kubernetes.io/restartedAt": "2026-05-30T12:00:00Z",
                "prometheus.io/scrape": "true"
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d9c6b5f4"),
                "uid": format!("{:08x}-0000-4000-8000-000000000000", i % 97),
                "controller": true, "blockOwnerDeletion": true
            }],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                 "time": "2026-05-31T07:59:58Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {},
                    "f:app.kubernetes.io/name": {}, "f:pod-template-hash": {}},
                    "f:ownerReferences": {".": {}, "k:{\"uid\":\"0\"}": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {},
                    "f:imagePullPolicy": {}, "f:name": {}, "f:ports": {}, "f:resources": {}}},
                    "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                 "time": "2026-05-31T08:00:03Z", "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {},
                    "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}}}
            ]
        },
        "spec": {
            "containers": [container("app", &image, 8080, !i.is_multiple_of(4)), container("proxy", sidecar, 9901, true)],
            "volumes": [
                {"name": "config", "configMap": {"name": format!("{app}-config"), "defaultMode": 420}},
                {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]}}
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": app,
            "serviceAccount": app,
            "nodeName": format!("node-{:02}", i % 12),
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "fsGroup": 10001},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": "2026-05-31T08:00:01Z"},
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-05-31T07:59:58Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-05-31T08:00:03Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-05-31T08:00:03Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-05-31T07:59:58Z"}
            ],
            "hostIP": "10.0.1.12",
            "hostIPs": [{"ip": "10.0.1.12"}],
            "podIP": format!("10.244.{}.{}", i / 250 % 250, i % 250),
            "podIPs": [{"ip": format!("10.244.{}.{}", i / 250 % 250, i % 250)}],
            "startTime": "2026-05-31T07:59:58Z",
            "containerStatuses": [
                container_status("app", &image, (i % 11) as i32, i),
                container_status("proxy", sidecar, 0, i + 1)
            ],
            "qosClass": "Burstable"
        }
    })
}

fn now() -> Timestamp {
    match NOW.parse() {
        Ok(t) => t,
        Err(e) => panic!("{NOW} is a timestamp: {e}"),
    }
}

/// The score chain for one typed pod.
fn judge(pod: &Pod, policies: &PolicySet, now: Timestamp, store: &mut PodStore) {
    judge_facts(facts_from_pod(pod), policies, now, store);
}

/// The score chain from facts, as the score state runs it on each event.
fn judge_facts(facts: PodFacts, policies: &PolicySet, now: Timestamp, store: &mut PodStore) {
    black_box(store.apply(facts, policies, now));
}

fn benches(c: &mut Criterion) {
    let policy = PolicySet::default();
    let now = now();
    let values: Vec<Value> = (0..PODS).map(live_pod).collect();
    let pods: Vec<Pod> = values
        .iter()
        .map(|v| match serde_json::from_value(v.clone()) {
            Ok(p) => p,
            Err(e) => panic!("generated pods decode: {e}"),
        })
        .collect();
    let events: Vec<Vec<u8>> = values
        .into_iter()
        .map(|pod| {
            let event = json!({"type": "MODIFIED", "object": pod});
            match serde_json::to_vec(&event) {
                Ok(bytes) => bytes,
                Err(e) => panic!("events serialise: {e}"),
            }
        })
        .collect();
    let bytes: usize = events.iter().map(Vec::len).sum();
    eprintln!(
        "watch events: {PODS} pods, {} bytes per event on average",
        bytes / PODS
    );
    for (bytes, pod) in events.iter().zip(&pods) {
        match serde_json::from_slice::<WatchEvent<SlimPod>>(bytes) {
            Ok(WatchEvent::Modified(slim)) => assert_eq!(slim.facts(), facts_from_pod(pod)),
            other => panic!("a MODIFIED event decodes slim: {other:?}"),
        }
    }
    let mut board = PodStore::new();
    for pod in &pods {
        judge(pod, &policy, now, &mut board);
    }
    assert_eq!(board.len(), PODS, "every generated pod has its own uid");

    let mut group = c.benchmark_group("watch");
    group.throughput(Throughput::Elements(PODS as u64));
    group.bench_function("typed_pod", |b| {
        b.iter(|| {
            for pod in &pods {
                judge(pod, &policy, now, &mut board);
            }
        })
    });
    // What the pod watcher decodes: the slim Pod.
    group.bench_function("watch_json", |b| {
        b.iter(|| {
            for bytes in &events {
                match serde_json::from_slice::<WatchEvent<SlimPod>>(bytes) {
                    Ok(WatchEvent::Modified(pod)) => {
                        judge_facts(pod.facts(), &policy, now, &mut board)
                    }
                    other => panic!("a MODIFIED event decodes: {other:?}"),
                }
            }
        })
    });
    // The same events decoded into the typed k8s-openapi Pod, for comparison.
    group.bench_function("watch_json_typed", |b| {
        b.iter(|| {
            for bytes in &events {
                match serde_json::from_slice::<WatchEvent<Pod>>(bytes) {
                    Ok(WatchEvent::Modified(pod)) => judge(&pod, &policy, now, &mut board),
                    other => panic!("a MODIFIED event decodes: {other:?}"),
                }
            }
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .sample_size(20)
}

criterion_group! {
    name = watch_path;
    config = config();
    targets = benches
}
criterion_main!(watch_path);
