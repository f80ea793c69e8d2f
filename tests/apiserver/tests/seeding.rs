//! Seeding from manifests and the `kube-apiserver-test` program: multi-document YAML,
//! `List` kinds, nodes, missing namespaces, skipped unknown kinds, the URL on the first
//! stdout line, the kubeconfig file, and a clean exit on SIGTERM.

mod common;

use std::process::Stdio;
use std::time::Duration;

use kube_apiserver_test::{ServerConfig, start};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const MANIFESTS: &str = "apiVersion: v1
kind: Node
metadata:
  name: node-a
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: settings
    namespace: seeded
- apiVersion: example.com/v1
  kind: Unknown
  metadata:
    name: nope
";

fn manifest_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let nested = dir.path().join("nested");
    std::fs::create_dir(&nested).expect("a nested dir");
    std::fs::write(nested.join("objects.yaml"), MANIFESTS).expect("write manifests");
    std::fs::write(dir.path().join("README.txt"), "not a manifest").expect("write other file");
    dir
}

#[tokio::test]
async fn seeding_loads_nested_multi_document_manifests_and_reports_skips() {
    let dir = manifest_dir();
    let server = start(ServerConfig::new().simulation(false))
        .await
        .expect("start");
    let report = server.seed_dir(dir.path()).expect("seed");
    assert_eq!(report.created, 2);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(server.get("v1", "Node", "", "node-a").is_some());
    assert!(
        server.get("v1", "Namespace", "", "seeded").is_some(),
        "missing namespaces are created"
    );
    assert!(
        server
            .get("v1", "ConfigMap", "seeded", "settings")
            .is_some()
    );
}

#[tokio::test]
async fn the_program_prints_its_url_serves_seeds_and_stops_on_sigterm() {
    let dir = manifest_dir();
    let kubeconfig = dir.path().join("kc.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-apiserver-test"))
        .arg("--port")
        .arg("0")
        .arg("--seed")
        .arg(dir.path())
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .arg("--no-simulation")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the program starts");
    let stdout = child.stdout.take().expect("stdout");
    let url = tokio::time::timeout(
        Duration::from_secs(60),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("a first line in time")
    .expect("readable stdout")
    .expect("a first line");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let written = std::fs::read_to_string(&kubeconfig).expect("the kubeconfig is written");
    assert!(
        written.contains(&url) && written.contains("current-context: test"),
        "{written}"
    );
    let token = written
        .lines()
        .find_map(|line| line.trim().strip_prefix("token: "))
        .expect("the kubeconfig carries a token");
    let (code, body) = common::raw(
        &url,
        token,
        "GET",
        "/api/v1/namespaces/seeded/configmaps/settings",
        "",
        "",
    )
    .await;
    assert_eq!(code, 200, "{body}");

    let pid = child.id().expect("a pid").to_string();
    let signalled = Command::new("kill")
        .arg("-TERM")
        .arg(&pid)
        .status()
        .await
        .expect("kill runs");
    assert!(signalled.success());
    let exit = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the program exits in time")
        .expect("an exit status");
    assert!(exit.success(), "{exit:?}");
}
