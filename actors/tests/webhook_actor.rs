//! The webhook runtime (`admission::start`) against the test Kubernetes API server: the
//! AdmissionActor syncs the DevOpsPolicy set, publishes snapshots as policies are created,
//! edited and deleted (an edit is judged within one second), survives dropped watches and
//! expired resource versions, and readiness follows the sync and the shutdown.

use std::time::Duration;

use kube::CustomResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_apiserver_test::{ApiServerHandle, ServerConfig, start};
use kube_devops::admission::PolicySnapshot;
use kube_devops::checks::{CheckId, Severity};
use kube_devops::policy::{DevOpsPolicy, DevOpsPolicySpec};
use kube_devops_actors::http::WebhookOptions;
use kube_devops_actors::http::certs::{self, CertRequest};
use kube_devops_actors::metrics::Metrics;
use kube_devops_actors::system::admission::{self, CountPolicies, WebhookRuntime};
use serde_json::json;

async fn api_server() -> ApiServerHandle {
    let h = start(ServerConfig::new())
        .await
        .expect("test API server starts");
    h.create(serde_json::to_value(DevOpsPolicy::crd()).unwrap())
        .expect("CRD created");
    for ns in ["shop", "kube-devops"] {
        h.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .expect("namespace created");
    }
    h
}

async fn webhook(h: &ApiServerHandle, dir: &std::path::Path) -> WebhookRuntime {
    certs::generate(&CertRequest {
        service: "kube-devops-webhook".into(),
        namespace: "kube-devops".into(),
        ip_sans: vec!["127.0.0.1".parse().unwrap()],
        out_dir: dir.to_owned(),
        force: false,
        new_ca: false,
    })
    .unwrap();
    let mut options = WebhookOptions::new(dir.join(certs::TLS_CERT), dir.join(certs::TLS_KEY));
    options.addr = "127.0.0.1:0".parse().unwrap();
    options.workers = 1;
    let client = h.client().await.unwrap();
    admission::start(options, client, Metrics::new().unwrap())
        .await
        .expect("webhook starts")
}

fn policy(name: &str, spec: DevOpsPolicySpec) -> DevOpsPolicy {
    let mut p = DevOpsPolicy::new(name, spec);
    p.metadata.namespace = Some("shop".into());
    p
}

/// Waits until the published snapshot satisfies `check`, failing after `within`.
async fn snapshot_until(
    rt: &WebhookRuntime,
    within: Duration,
    what: &str,
    check: impl Fn(&PolicySnapshot) -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if rt.snapshot.load().as_deref().is_some_and(&check) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not reach the snapshot within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn latest_severity(s: &PolicySnapshot) -> Option<Severity> {
    s.namespace("shop")
        .and_then(|n| n.policy.as_ref())
        .and_then(|p| p.severity(CheckId::LatestTag))
}

#[actix_web::test]
async fn policy_changes_reach_the_snapshot_and_an_edit_takes_under_a_second() {
    let h = api_server().await;
    let existing = policy(
        "baseline",
        DevOpsPolicySpec {
            require_readiness_probe: Some(true),
            ..DevOpsPolicySpec::default()
        },
    );
    let client = h.client().await.unwrap();
    let api: Api<DevOpsPolicy> = Api::namespaced(client, "shop");
    api.create(&PostParams::default(), &existing).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = webhook(&h, dir.path()).await;

    snapshot_until(&rt, Duration::from_secs(10), "the initial list", |s| {
        s.namespace("shop").is_some()
    })
    .await;
    assert!(rt.readiness.is_ready());
    assert_eq!(latest_severity(&rt.snapshot.load_full().unwrap()), None);

    let latest = policy(
        "latest",
        DevOpsPolicySpec {
            forbid_latest_tag: Some(true),
            ..DevOpsPolicySpec::default()
        },
    );
    api.create(&PostParams::default(), &latest).await.unwrap();
    snapshot_until(&rt, Duration::from_secs(1), "a new policy", |s| {
        latest_severity(s) == Some(Severity::High)
    })
    .await;

    let edit = json!({"spec": {"severityOverrides": {"latestTag": "critical"}}});
    api.patch("latest", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    snapshot_until(&rt, Duration::from_secs(1), "a policy edit", |s| {
        latest_severity(s) == Some(Severity::Critical)
    })
    .await;

    api.delete("latest", &DeleteParams::default())
        .await
        .unwrap();
    snapshot_until(&rt, Duration::from_secs(1), "a policy deletion", |s| {
        s.namespace("shop").is_some() && latest_severity(s).is_none()
    })
    .await;
    let count = rt
        .actor
        .send(CountPolicies {
            namespace: Some("shop".into()),
        })
        .await
        .unwrap();
    assert_eq!(count.policies, 1);

    rt.stop().await;
    h.shutdown().await;
}

#[actix_web::test]
async fn a_relist_after_expired_versions_prunes_policies_deleted_meanwhile() {
    let h = api_server().await;
    let client = h.client().await.unwrap();
    let api: Api<DevOpsPolicy> = Api::namespaced(client, "shop");
    for name in ["keep", "drop"] {
        let spec = DevOpsPolicySpec {
            forbid_latest_tag: Some(name == "drop"),
            require_liveness_probe: Some(true),
            ..DevOpsPolicySpec::default()
        };
        api.create(&PostParams::default(), &policy(name, spec))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = webhook(&h, dir.path()).await;
    snapshot_until(&rt, Duration::from_secs(10), "both policies", |s| {
        s.namespace("shop").is_some_and(|n| n.policies.len() == 2)
    })
    .await;

    // Drop the watch and expire every resourceVersion, then delete while it reconnects:
    // the watcher must relist, and the relist must prune the deleted policy.
    h.close_watches();
    h.compact();
    api.delete("drop", &DeleteParams::default()).await.unwrap();
    snapshot_until(&rt, Duration::from_secs(10), "the pruned set", |s| {
        s.namespace("shop")
            .is_some_and(|n| n.policies == ["keep"] && latest_severity(s).is_none())
    })
    .await;
    assert!(rt.readiness.is_ready());

    let (readiness, addr) = (rt.readiness.clone(), rt.local_addr());
    rt.stop().await;
    assert!(!readiness.is_ready());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the server still listens after stop"
    );
    h.shutdown().await;
}
