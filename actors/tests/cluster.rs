//! End-to-end tests of the cluster commands: the real binary against the test Kubernetes
//! API server (`check`, `list pods`, `analyze`, `crd install`, `policy import/diff/export`,
//! `multi-cluster`).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use kube_apiserver_test::{ApiServerHandle, RequestMatch, ServerConfig, start};
use serde_json::{Value, json};

const NOW: &str = "2030-01-01T00:00:00Z";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("actors/ has a parent")
        .to_path_buf()
}

async fn kube_devops(kubeconfig: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kube-devops"));
    if let Some(kc) = kubeconfig {
        cmd.arg("--kubeconfig").arg(kc);
    }
    cmd.args(args).current_dir(root()).env_remove("KUBECONFIG");
    tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .expect("join")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn server(seed: bool, simulation: bool) -> ApiServerHandle {
    let mut config = ServerConfig::new().simulation(simulation);
    if seed {
        config = config.seed_dir(root().join("deploy/examples"));
    }
    start(config).await.expect("test API server starts")
}

/// Waits until the simulated controllers stop creating pods.
async fn settled(h: &ApiServerHandle) -> usize {
    let mut last = usize::MAX;
    for _ in 0..100 {
        let n = h.list("v1", "Pod", None).len();
        if n == last && n > 0 {
            return n;
        }
        last = n;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("pods never settled");
}

/// (namespace, kind, name) -> sorted (check, container, state) of a JSON report.
fn findings_by_workload(report: &Value) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = report["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .map(|w| {
            let key = format!("{}/{}/{}", w["namespace"], w["kind"], w["name"]);
            let mut f: Vec<String> = w["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .map(|f| format!("{} {} {}", f["check"], f["container"], f["state"]))
                .collect();
            f.sort();
            (key, f)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_seeded_from_the_examples_reports_the_same_findings_per_workload_as_the_files() {
    let h = server(true, true).await;
    settled(&h).await;
    let live = kube_devops(
        Some(h.kubeconfig_path()),
        &["analyze", "-o", "json", "--now", NOW],
    )
    .await;
    assert_eq!(live.status.code(), Some(0), "{}", text(&live.stderr));
    let offline = kube_devops(
        None,
        &[
            "analyze",
            "--path",
            "deploy/examples",
            "-o",
            "json",
            "--now",
            NOW,
        ],
    )
    .await;
    let live: Value = serde_json::from_slice(&live.stdout).expect("JSON");
    let offline: Value = serde_json::from_slice(&offline.stdout).expect("JSON");
    assert_eq!(findings_by_workload(&live), findings_by_workload(&offline));
    assert!(live["workloadsAnalyzed"].as_u64().unwrap() > 0);
    assert!(live["clusterScore"].as_f64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_pod_adds_a_restart_finding_to_its_deployment() {
    let h = server(true, true).await;
    settled(&h).await;
    let pods = h.list("v1", "Pod", Some("staging"));
    let worker = pods
        .iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .starts_with("queue-worker-")
        })
        .expect("a queue-worker pod");
    let name = worker["metadata"]["name"].as_str().unwrap().to_owned();
    let mut status = worker["status"].clone();
    status["containerStatuses"][0]["restartCount"] = json!(12);
    h.set_pod_status("staging", &name, status)
        .expect("status scripted");
    let o = kube_devops(
        Some(h.kubeconfig_path()),
        &["analyze", "-n", "staging", "-o", "json", "--now", NOW],
    )
    .await;
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let deploy = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "queue-worker")
        .expect("the deployment is listed");
    let restarts: Vec<&Value> = deploy["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "highRestarts")
        .collect();
    assert_eq!(restarts.len(), 1);
    assert!(restarts[0]["message"].as_str().unwrap().contains(&name));
    let critical = kube_devops(
        Some(h.kubeconfig_path()),
        &["analyze", "-n", "staging", "--fail-on", "critical"],
    )
    .await;
    assert_eq!(critical.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_when_every_permission_is_granted_and_fails_naming_a_denied_one() {
    let h = server(false, false).await;
    let ok = kube_devops(Some(h.kubeconfig_path()), &["check"]).await;
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    assert!(text(&ok.stdout).contains("Server version"));

    h.deny_access("deletecollection", "policyauditresults");
    let denied = kube_devops(Some(h.kubeconfig_path()), &["check"]).await;
    assert_eq!(denied.status.code(), Some(1));
    let out = text(&denied.stdout);
    let line = out
        .lines()
        .find(|l| l.contains("DENIED"))
        .expect("a denied line");
    assert!(
        line.starts_with("deletecollection")
            && line.contains("policyauditresults.devops.stochastic.io"),
        "{line}"
    );
    assert!(out.contains("1 of"), "{out}");

    // Enforcement's writes are reviewed only when asked for.
    h.allow_all_access();
    h.deny_access("patch", "deployments");
    let off = kube_devops(Some(h.kubeconfig_path()), &["check"]).await;
    assert_eq!(off.status.code(), Some(0), "{}", text(&off.stdout));
    let on = kube_devops(Some(h.kubeconfig_path()), &["check", "--enforcement"]).await;
    assert_eq!(on.status.code(), Some(1));
    let out = text(&on.stdout);
    let line = out.lines().find(|l| l.contains("DENIED")).expect("denied");
    assert!(
        line.starts_with("patch") && line.contains("deployments.apps"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_when_the_server_refuses_access_reviews() {
    let h = server(false, false).await;
    h.forbid_access_reviews(true);
    let o = kube_devops(Some(h.kubeconfig_path()), &["check"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("ERROR"), "{}", text(&o.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_a_dead_address_fails() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dead_kubeconfig(dir.path());
    let o = kube_devops(Some(&kc), &["check"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("FAILED"), "{}", text(&o.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pods_shows_every_pod_and_json_is_a_list() {
    let h = server(true, true).await;
    let n = settled(&h).await;
    let table = kube_devops(Some(h.kubeconfig_path()), &["list", "pods", "-A"]).await;
    let out = text(&table.stdout);
    assert!(out.starts_with("NAMESPACE"), "{out}");
    assert_eq!(out.lines().count(), n + 1);
    let json = kube_devops(
        Some(h.kubeconfig_path()),
        &["list", "pods", "-n", "production", "-o", "json"],
    )
    .await;
    let list: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        h.list("v1", "Pod", Some("production")).len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_reads_every_page_of_a_large_cluster() {
    let h = server(false, false).await;
    h.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}}))
        .unwrap();
    for i in 0..1203 {
        h.create(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("p{i}"), "namespace": "bulk"},
            "spec": {"containers": [{"name": "c", "image": if i % 3 == 0 { "nginx" } else { "nginx:1.27" }}]}
        }))
        .unwrap();
    }
    let o = kube_devops(
        Some(h.kubeconfig_path()),
        &["analyze", "-o", "json", "--now", NOW],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(report["workloadsAnalyzed"], 1203);
    assert_eq!(report["counts"]["latestTag"], 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_fails_clearly_when_the_server_errors() {
    let h = server(false, false).await;
    h.fail_next(RequestMatch::any().verb("list").resource("pods"), 100, 500);
    let o = kube_devops(Some(h.kubeconfig_path()), &["analyze"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot list pods"),
        "{}",
        text(&o.stderr)
    );
}

fn policies_file(dir: &Path) -> PathBuf {
    let mut text =
        std::fs::read_to_string(root().join("deploy/examples/policies/production-policy.yaml"))
            .unwrap();
    text.push_str("---\n");
    text.push_str(
        &std::fs::read_to_string(root().join("deploy/examples/policies/staging-policy.yaml"))
            .unwrap(),
    );
    let file = dir.join("policies.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_then_diff_reports_no_drift_and_an_edit_in_the_cluster_is_reported() {
    let h = server(true, false).await;
    let kc = h.kubeconfig_path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let file = policies_file(dir.path());
    let file = file.to_str().unwrap();

    let install = kube_devops(Some(&kc), &["crd", "install"]).await;
    assert_eq!(install.status.code(), Some(0), "{}", text(&install.stderr));

    let dry = kube_devops(Some(&kc), &["policy", "import", file, "--dry-run"]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(
        h.list("devops.stochastic.io/v1", "DevOpsPolicy", None)
            .is_empty(),
        "a dry run stores nothing"
    );
    let before = kube_devops(Some(&kc), &["policy", "diff", file]).await;
    assert_eq!(before.status.code(), Some(1));

    let import = kube_devops(Some(&kc), &["policy", "import", file]).await;
    assert_eq!(import.status.code(), Some(0), "{}", text(&import.stderr));
    let clean = kube_devops(Some(&kc), &["policy", "diff", file]).await;
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stdout));

    let client = h.client().await.expect("client");
    let api: kube::Api<kube_devops::policy::DevOpsPolicy> =
        kube::Api::namespaced(client, "staging");
    api.patch(
        "staging-governance",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"maxRestartCount": 9}})),
    )
    .await
    .expect("edit in the cluster");
    let drift = kube_devops(Some(&kc), &["policy", "diff", file]).await;
    assert_eq!(drift.status.code(), Some(1));
    let out = text(&drift.stdout);
    assert!(
        out.contains("staging/staging-governance")
            && out.contains("spec.maxRestartCount: 5 (file) != 9 (cluster)"),
        "{out}"
    );

    let export = kube_devops(Some(&kc), &["policy", "export", "-A"]).await;
    let exported = dir.path().join("exported.yaml");
    std::fs::write(&exported, &export.stdout).unwrap();
    let round_trip = kube_devops(Some(&kc), &["policy", "diff", exported.to_str().unwrap()]).await;
    assert_eq!(
        round_trip.status.code(),
        Some(0),
        "{}",
        text(&round_trip.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_a_file_with_one_bad_policy_and_writes_nothing() {
    let h = server(true, false).await;
    let kc = h.kubeconfig_path().to_path_buf();
    assert_eq!(
        kube_devops(Some(&kc), &["crd", "install"])
            .await
            .status
            .code(),
        Some(0)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: devops.stochastic.io/v1\nkind: DevOpsPolicy\nmetadata: {name: good, namespace: staging}\nspec: {forbidLatestTag: true}\n---\n\
         apiVersion: devops.stochastic.io/v1\nkind: DevOpsPolicy\nmetadata: {name: bad, namespace: staging}\nspec: {checks: {noSuchCheck: {}}}\n",
    )
    .unwrap();
    let o = kube_devops(Some(&kc), &["policy", "import", file.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("noSuchCheck"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        h.list("devops.stochastic.io/v1", "DevOpsPolicy", None)
            .is_empty()
    );
}

fn dead_kubeconfig(dir: &Path) -> PathBuf {
    let file = dir.join("dead.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster: {server: \"http://127.0.0.1:1\"}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: dead\n  context: {cluster: dead, user: u}\ncurrent-context: dead\n",
    )
    .unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_cluster_audits_two_servers_and_reports_a_dead_one() {
    let a = server(true, true).await;
    let b = server(false, false).await;
    b.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}))
        .unwrap();
    b.create(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "namespace": "team"},
        "spec": {"containers": [{"name": "c", "image": "nginx:latest"}]}
    }))
    .unwrap();
    settled(&a).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("multi.yaml");
    let cluster =
        |name: &str, url: &str| format!("- name: {name}\n  cluster: {{server: \"{url}\"}}\n");
    let context =
        |name: &str| format!("- name: {name}\n  context: {{cluster: {name}, user: {name}}}\n");
    let user = |name: &str, token: &str| format!("- name: {name}\n  user: {{token: {token}}}\n");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n{}{}{}users:\n{}{}{}contexts:\n{}{}{}current-context: alpha\n",
            cluster("alpha", a.url()),
            cluster("beta", b.url()),
            cluster("gamma", "http://127.0.0.1:1"),
            user("alpha", &a.admin_token()),
            user("beta", &b.admin_token()),
            user("gamma", "t"),
            context("alpha"),
            context("beta"),
            context("gamma"),
        ),
    )
    .unwrap();

    let contexts = kube_devops(Some(&kc), &["multi-cluster", "list-contexts"]).await;
    let out = text(&contexts.stdout);
    assert!(
        out.contains("alpha") && out.contains("beta") && out.contains("gamma"),
        "{out}"
    );

    let o = kube_devops(
        Some(&kc),
        &["multi-cluster", "analyze", "--timeout", "10", "-o", "json"],
    )
    .await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "the dead context makes the run fail"
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let clusters = v["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 3);
    let by = |name: &str| clusters.iter().find(|c| c["context"] == name).unwrap();
    assert!(by("alpha")["report"]["clusterScore"].as_f64().is_some());
    assert_eq!(by("beta")["report"]["clusterScore"], 90.0);
    assert!(
        by("gamma")["error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:1")
            || by("gamma")["error"].as_str().unwrap().contains("onnect")
    );
    // The overall score is pod-weighted across both reachable clusters.
    let pods = |c: &Value| c["report"]["workloadsAnalyzed"].as_f64().unwrap();
    let score = |c: &Value| c["report"]["clusterScore"].as_f64().unwrap();
    let weighted = (score(by("alpha")) * pods(by("alpha")) + score(by("beta")) * pods(by("beta")))
        / (pods(by("alpha")) + pods(by("beta")));
    assert!(
        (v["overallScore"].as_f64().unwrap() - weighted).abs() < 0.1,
        "{v}"
    );

    let only_b = kube_devops(
        Some(&kc),
        &["multi-cluster", "analyze", "--contexts", "beta"],
    )
    .await;
    assert_eq!(only_b.status.code(), Some(0), "{}", text(&only_b.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_resource_checks_judge_the_cluster_as_they_judge_the_files() {
    let h = server(true, true).await;
    settled(&h).await;
    let args = |path: bool| {
        let mut a = vec![
            "analyze",
            "--bundle",
            "restricted",
            "-o",
            "json",
            "--now",
            NOW,
        ];
        if path {
            a.extend(["--path", "deploy/examples"]);
        }
        a
    };
    let live = kube_devops(Some(h.kubeconfig_path()), &args(false)).await;
    assert!(
        matches!(live.status.code(), Some(0)),
        "{}",
        text(&live.stderr)
    );
    let offline = kube_devops(None, &args(true)).await;
    let live: Value = serde_json::from_slice(&live.stdout).expect("JSON");
    let offline: Value = serde_json::from_slice(&offline.stdout).expect("JSON");
    // The cluster also holds the RBAC objects every cluster starts with (cluster-admin and
    // the system: roles and bindings); they have no findings and no manifest.
    let built_in = |k: &str| k.contains("\"cluster-admin\"") || k.contains("\"system:");
    let live_findings: Vec<_> = findings_by_workload(&live)
        .into_iter()
        .filter(|(k, f)| !(built_in(k) && f.is_empty()))
        .collect();
    assert_eq!(live_findings, findings_by_workload(&offline));
    let has = |object: &str, check: &str| {
        live_findings
            .iter()
            .any(|(k, f)| k == object && f.iter().any(|f| f.starts_with(&format!("\"{check}\""))))
    };
    assert!(has(
        "\"staging\"/\"RoleBinding\"/\"queue-worker\"",
        "secretsReadableByServiceAccount"
    ));
    assert!(has(
        "null/\"ClusterRoleBinding\"/\"ci-deployer\"",
        "clusterAdminBinding"
    ));
    assert!(has(
        "\"staging\"/\"Service\"/\"queue-worker-metrics\"",
        "serviceSelectorMatchesNothing"
    ));
    assert!(has(
        "\"staging\"/\"Deployment\"/\"queue-worker\"",
        "hpaMinAvailability"
    ));
    assert!(!has(
        "\"production\"/\"Deployment\"/\"web-frontend\"",
        "missingPodDisruptionBudget"
    ));
    assert!(has(
        "\"production\"/\"Deployment\"/\"orders-api\"",
        "missingPodDisruptionBudget"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_disruption_budget_created_in_the_cluster_clears_the_finding() {
    let h = server(true, true).await;
    settled(&h).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: devops.stochastic.io/v1\nkind: DevOpsPolicy\nmetadata: {name: p, namespace: production}\nspec:\n  checks: {missingPodDisruptionBudget: {}, pdbDisruptionsIsZero: {}}\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap().to_owned();
    let findings = || async {
        let o = kube_devops(
            Some(h.kubeconfig_path()),
            &[
                "analyze",
                "-n",
                "production",
                "--policy",
                &policy,
                "-o",
                "json",
                "--now",
                NOW,
            ],
        )
        .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let orders = v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == "orders-api")
            .expect("orders-api is listed")
            .clone();
        let checks: Vec<String> = orders["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["check"].as_str().unwrap().to_owned())
            .collect();
        (checks, v["clusterScore"].as_f64().unwrap())
    };
    let (before, score_before) = findings().await;
    assert_eq!(before, ["missingPodDisruptionBudget"]);
    h.create(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "orders-api", "namespace": "production"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "orders-api"}}}
    }))
    .expect("PDB created");
    let (after, score_after) = findings().await;
    // The budget now exists, but it allows no disruption: a different, worse finding.
    assert_eq!(after, ["pdbDisruptionsIsZero"]);
    assert!(score_after < score_before, "{score_after} < {score_before}");
}
