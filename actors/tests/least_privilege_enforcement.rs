//! Enforcement as the chart's ServiceAccount, against the authorizing test API server:
//! with the installation's RBAC for enforcement applied, `kube-devops reconcile` repairs a
//! Deployment with no request refused; with the default installation (enforcement off)
//! the same policy's repair is refused, so enforcement's rules are what grants it.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::enforce::{bare, deployment, enforcing, live, operator_via, patched};
use common::{eventually, policy, server_with};
use kube_apiserver_test::ApiServerHandle;
use kube_devops::deploy::{InstallSettings, rbac_objects};
use serde_json::json;

/// A test server with the installation's RBAC applied and a kubeconfig acting as the
/// chart's ServiceAccount.
async fn installed(enforcement: bool) -> (ApiServerHandle, PathBuf) {
    let h = server_with(true).await;
    let settings = InstallSettings {
        enforcement,
        ..InstallSettings::default()
    };
    for object in rbac_objects(&settings) {
        h.create(object).unwrap();
    }
    let kubeconfig = h
        .kubeconfig_for_service_account("kube-devops", "kube-devops")
        .unwrap();
    (h, kubeconfig)
}

/// A Deployment whose container lacks resources and probes, and an enforcing policy.
fn workload_and_policy(h: &ApiServerHandle) {
    h.create(deployment("shop", "web", 1, json!([bare("app", 8080)])))
        .unwrap();
    h.create(policy("shop", "staging", enforcing("enforce")))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_enforcement_installed_the_service_account_repairs_without_a_403() {
    let (h, sa) = installed(true).await;
    let c = operator_via(&sa, "sa", "200", &[]);
    workload_and_policy(&h);
    eventually(Duration::from_secs(60), "the deployment repaired", || {
        Some(live(&h, "shop", "web")).filter(patched)
    })
    .await;
    let refused = h.forbidden_requests();
    assert!(
        refused.is_empty(),
        "refused: {refused:#?}\n{}",
        c.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_enforcement_installed_the_repair_is_refused_and_nothing_is_patched() {
    let (h, sa) = installed(false).await;
    let c = operator_via(&sa, "sa", "200", &[]);
    workload_and_policy(&h);
    let refused = eventually(Duration::from_secs(60), "enforcement refused", || {
        let refused = h.forbidden_requests();
        refused.iter().any(|r| r.group == "apps").then_some(refused)
    })
    .await;
    assert!(
        refused.iter().all(|r| r.group == "apps"),
        "only enforcement's requests are refused: {refused:#?}\n{}",
        c.log_text()
    );
    assert!(!patched(&live(&h, "shop", "web")));
}
