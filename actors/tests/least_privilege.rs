//! Least privilege, proven against the authorizing test API server: the installation's
//! RBAC (`deploy::rbac_objects`, the same rules the chart renders) is applied, and
//! `kube-devops check` and `kube-devops run` act as the chart's ServiceAccount with a token
//! of its own. Every end-to-end flow of the controller (leader election, its own webhook
//! certificates and their renewal, the caBundle, scores, the watches of the cross-resource
//! checks, policy status and finalizer,
//! audit results and their retention, events, reports, admission, cleanup on deletion,
//! the lease released at shutdown) runs without one 403; and with
//! any one verb of any one rule removed, something the controller does is refused.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Controller, kube_devops, ready, root, server_from};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_apiserver_test::{ApiServerHandle, ForbiddenRequest, ServerConfig};
use kube_devops::deploy::{InstallSettings, rbac_objects};
use serde_json::{Value, json};

/// The chart's ServiceAccount (release and namespace `kube-devops`).
const SA: (&str, &str) = ("kube-devops", "kube-devops");
const SA_USER: &str = "system:serviceaccount:kube-devops:kube-devops";

/// Which verb to leave out of the installation: (role kind, role name, rule index, verb).
type Removal = (String, String, usize, String);

/// A test server with the installation's RBAC applied (less `removal`), the workload
/// simulation on, and a kubeconfig acting as the chart's ServiceAccount. The server does
/// not stream lists, so every watch lists in pages: the RBAC must serve such API servers
/// too (where lists stream, a metadata watch needs no `list`).
async fn installed(removal: Option<&Removal>) -> (ApiServerHandle, PathBuf) {
    let h = server_from(ServerConfig::new().watch_list(false)).await;
    for mut object in rbac_objects(&InstallSettings::default()) {
        if let Some((kind, name, index, verb)) = removal
            && object["kind"] == kind.as_str()
            && object["metadata"]["name"] == name.as_str()
        {
            let rules = object["rules"].as_array_mut().unwrap();
            let verbs = rules[*index]["verbs"].as_array_mut().unwrap();
            verbs.retain(|v| v != verb.as_str());
            if verbs.is_empty() {
                rules.remove(*index);
            }
        }
        h.create(object).unwrap();
    }
    let kubeconfig = h.kubeconfig_for_service_account(SA.0, SA.1).unwrap();
    (h, kubeconfig)
}

/// Every verb of every rule of the installation, as a [`Removal`], with the rule's
/// resources.
fn every_verb() -> Vec<(Removal, Vec<String>)> {
    let mut out = Vec::new();
    for object in rbac_objects(&InstallSettings::default()) {
        let Some(rules) = object["rules"].as_array() else {
            continue;
        };
        for (i, rule) in rules.iter().enumerate() {
            let resources: Vec<String> = rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            let kind = object["kind"].as_str().unwrap();
            let name = object["metadata"]["name"].as_str().unwrap();
            for verb in rule["verbs"].as_array().unwrap() {
                let verb = verb.as_str().unwrap().to_owned();
                out.push((
                    (kind.to_owned(), name.to_owned(), i, verb),
                    resources.clone(),
                ));
            }
        }
    }
    out
}

/// Requests of the ServiceAccount refused so far.
fn refused(h: &ApiServerHandle) -> Vec<ForbiddenRequest> {
    h.forbidden_requests()
        .into_iter()
        .filter(|f| f.user == SA_USER)
        .collect()
}

/// Polls `f` until it answers `Some`; stops early with the refused requests as soon as
/// the ServiceAccount is refused anything; panics after 60 s.
async fn until<T>(
    h: &ApiServerHandle,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T, Vec<ForbiddenRequest>> {
    let start = Instant::now();
    loop {
        let denied = refused(h);
        if !denied.is_empty() {
            return Err(denied);
        }
        if let Some(v) = f() {
            return Ok(v);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn deployment(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": image}]}}
        }
    })
}

fn fixture_crd(file: &str) -> Value {
    let path = root().join("actors/tests/fixtures/crds").join(file);
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn policy_status(h: &ApiServerHandle) -> Option<Value> {
    h.get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")
        .and_then(|p| p.get("status").cloned())
}

/// Whether a policy status has the condition Degraded=True.
fn degraded(status: &Value) -> bool {
    status["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Degraded" && c["status"] == "True")
    })
}

fn audit_results(h: &ApiServerHandle) -> usize {
    h.list("devops.stochastic.io/v1", "PolicyAuditResult", Some("shop"))
        .len()
}

fn reports(h: &ApiServerHandle) -> (usize, usize) {
    (
        h.list("wgpolicyk8s.io/v1alpha2", "PolicyReport", Some("shop"))
            .len(),
        h.list("openreports.io/v1alpha1", "Report", Some("shop"))
            .len(),
    )
}

/// `kube-devops run` as the ServiceAccount, the webhook included, keeping its own
/// certificates (30 s serving certificates renewed 20 s ahead); the webhook Service and
/// configuration are installed by the admin, as the chart would.
async fn start_run(h: &ApiServerHandle, kubeconfig: &Path) -> Controller {
    let hook = common::free_port();
    common::install_webhook_service(h, hook);
    let addr = format!("127.0.0.1:{hook}");
    let args = [
        "run",
        "--webhook-addr",
        &addr,
        "--manage-certificates",
        "--certificate-lifetime",
        "30",
        "--certificate-renew-before",
        "20",
        "--debounce-ms",
        "200",
        // One lease for the whole run, released at the end: the flows never wait on a
        // renewal (a late renewal on a loaded machine makes the replica step down).
        "--lease-duration",
        "120",
        "--renew-before",
        "60",
    ];
    Controller::command(kubeconfig, "sa", &args)
}

/// The serving certificate the controller keeps (PEM), once it has made one.
fn serving_certificate(h: &ApiServerHandle) -> Option<Value> {
    let secret = h.get("v1", "Secret", "kube-devops", "kube-devops-webhook-tls")?;
    Some(secret["data"]["tls.crt"].clone())
}

fn ca_bundle_set(h: &ApiServerHandle) -> bool {
    h.get(
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        "",
        "kube-devops",
    )
    .is_some_and(|c| c["webhooks"][0]["clientConfig"]["caBundle"].is_string())
}

/// Whether the webhook (as the API server calls it) denies a `:latest` pod in shop.
async fn latest_pod_denied(pods: &Api<Pod>) -> bool {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "latest", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "nginx:latest"}]}
    }))
    .unwrap();
    match pods.create(&PostParams::default(), &pod).await {
        Ok(_) => {
            let _ = pods.delete("latest", &DeleteParams::default()).await;
            false
        }
        Err(e) => e.to_string().contains("denied the request"),
    }
}

/// Every flow of the controller, in order; `Err` with the refused requests as soon as the
/// ServiceAccount is refused anything.
async fn flows(h: &ApiServerHandle, c: &Controller) -> Result<(), Vec<ForbiddenRequest>> {
    until(h, "leadership", || c.leader()?.then_some(())).await?;
    // The webhook's own certificates and the caBundle.
    let first = until(h, "the certificate Secret", || serving_certificate(h)).await?;
    until(h, "the caBundle", || ca_bundle_set(h).then_some(())).await?;
    // Workloads without probes (findings, admitted); a `:latest` image is denied.
    // The cross-resource checks it turns on make the controller watch every related kind.
    let p = json!({"forbidLatestTag": true, "requireLivenessProbe": true,
                   "auditRetention": 1, "admission": {"denySeverity": "high"},
                   "checks": {"missingPodDisruptionBudget": {}, "missingNetworkPolicy": {},
                              "serviceSelectorMatchesNothing": {}, "ingressTlsMissing": {},
                              "automountServiceAccountToken": {}, "roleWildcard": {},
                              "clusterAdminBinding": {}}});
    h.create(common::policy("shop", "p", p)).unwrap();
    h.create(deployment("web", "nginx:1.27")).unwrap();
    // Policy status and finalizer, an audit result, an event, scores.
    until(h, "the policy's status", || {
        (policy_status(h)?["podsScanned"] == 1).then_some(())
    })
    .await?;
    until(h, "the finalizer", || {
        let p = h.get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")?;
        (p["metadata"]["finalizers"] == json!(["devops.stochastic.io/cleanup"])).then_some(())
    })
    .await?;
    until(h, "an audit result", || {
        (audit_results(h) == 1).then_some(())
    })
    .await?;
    until(h, "an event", || {
        (!h.list("v1", "Event", Some("shop")).is_empty()).then_some(())
    })
    .await?;
    // An invalid spec twice: the same Degraded event, recorded, then counted again.
    let policies: Api<kube_devops::policy::DevOpsPolicy> =
        Api::namespaced(h.client().await.unwrap(), "shop");
    for (generation, bad) in [(2, true), (3, false), (4, true), (5, false)] {
        let checks = if bad {
            json!({"noSuchCheck": {}})
        } else {
            Value::Null
        };
        let patch = json!({"spec": {"checks": checks}});
        policies
            .patch("p", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        until(h, "the edit reconciled", || {
            let st = policy_status(h)?;
            (st["observedGeneration"] == generation && degraded(&st) == bad).then_some(())
        })
        .await?;
    }
    until(h, "a repeated event counted", || {
        h.list("v1", "Event", Some("shop"))
            .iter()
            .any(|e| e["reason"] == "Degraded" && e["series"]["count"].as_i64() >= Some(2))
            .then_some(())
    })
    .await?;
    until(h, "shop's score", || {
        c.scores()?.to_string().contains("\"shop\"").then_some(())
    })
    .await?;
    // A second workload: a newer result, the older one pruned (retention 1).
    h.create(deployment("api", "nginx:1.27")).unwrap();
    until(h, "the second pod", || {
        (policy_status(h)?["podsScanned"] == 2).then_some(())
    })
    .await?;
    until(h, "retention", || {
        let results = h.list("devops.stochastic.io/v1", "PolicyAuditResult", Some("shop"));
        (results.len() == 1 && results[0]["spec"]["totalPods"] == 2).then_some(())
    })
    .await?;
    // Reports, once their CRDs are installed.
    h.create(fixture_crd("wgpolicyk8s.io_policyreports.yaml"))
        .unwrap();
    h.create(fixture_crd("openreports.io_reports.yaml"))
        .unwrap();
    until(h, "reports", || (reports(h) == (2, 2)).then_some(())).await?;
    // Admission.
    let pods: Api<Pod> = Api::namespaced(h.client().await.unwrap(), "shop");
    let start = Instant::now();
    while !latest_pod_denied(&pods).await {
        assert!(start.elapsed() < Duration::from_secs(30), "never denied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The serving certificate renewed before it expires.
    until(h, "a renewed certificate", || {
        (serving_certificate(h)? != first).then_some(())
    })
    .await?;
    // Deleting the policy: the finalizer removes its results and reports, then lets go.
    policies
        .delete("p", &DeleteParams::default())
        .await
        .unwrap();
    until(h, "cleanup", || {
        let gone = h
            .get("devops.stochastic.io/v1", "DevOpsPolicy", "shop", "p")
            .is_none();
        (gone && audit_results(h) == 0 && reports(h) == (0, 0)).then_some(())
    })
    .await?;
    // Shutdown releases the lease.
    c.signal("-TERM");
    until(h, "the lease released", || {
        let lease = h.get(
            "coordination.k8s.io/v1",
            "Lease",
            "kube-devops",
            "kube-devops-leader",
        )?;
        let holder = lease["spec"]["holderIdentity"].as_str().unwrap_or_default();
        holder.is_empty().then_some(())
    })
    .await
}

/// `kube-devops check <args>`: exit code and stdout.
fn check(kubeconfig: &Path, args: &[&str]) -> (i32, String) {
    let mut args = args.to_vec();
    args.insert(0, "check");
    let out = kube_devops(kubeconfig, &args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_service_account_passes_check_and_runs_every_flow_without_a_403() {
    let (h, sa) = installed(None).await;
    let (code, out) = check(&sa, &["--namespace", "kube-devops"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("leases.coordination.k8s.io in kube-devops"),
        "{out}"
    );
    // What the installation does not grant is reported, not assumed.
    let (code, out) = check(&sa, &["--namespace", "kube-devops", "--enforcement"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DENIED (needed by enforcement"), "{out}");
    let (code, out) = check(&sa, &["--namespace", "elsewhere"]);
    assert_eq!(code, 1, "the lease is granted in kube-devops only: {out}");
    let (code, out) = check(
        &sa,
        &["--namespace", "kube-devops", "--external-certificates"],
    );
    assert_eq!(code, 0, "fewer verbs, all granted: {out}");
    let (code, out) = check(&sa, &["--analyze"]);
    assert_eq!(code, 1, "analyze's reads are not the controller's: {out}");
    assert!(refused(&h).is_empty(), "check itself is never refused");

    let c = start_run(&h, &sa).await;
    ready(&c).await;
    if let Err(denied) = flows(&h, &c).await {
        panic!("refused: {denied:#?}\n{}", c.log_text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_one_verb_something_the_controller_does_is_refused() {
    let verbs = every_verb();
    assert!(verbs.len() > 20, "{verbs:?}");
    for (removal, resources) in verbs {
        let (h, sa) = installed(Some(&removal)).await;
        eprintln!("without {removal:?}");
        let c = start_run(&h, &sa).await;
        let denied = match flows(&h, &c).await {
            Err(denied) => denied,
            Ok(()) => panic!("{removal:?} ({resources:?}) is not needed: every flow ran"),
        };
        assert!(
            denied
                .iter()
                .any(|d| resources.contains(&d.resource) && d.verb == removal.3),
            "{removal:?}: refused {denied:#?}"
        );
        drop(c);
        h.shutdown().await;
    }
}
