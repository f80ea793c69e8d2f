//! End-to-end tests of the offline command line: the real binary on the bundled examples
//! and on hostile input. Reports are compared with committed snapshots.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-06-01T00:00:00Z";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("actors/ has a parent")
        .to_path_buf()
}

fn kube_devops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kube-devops"))
        .args(args)
        .current_dir(root())
        .env_remove("KUBECONFIG")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn analyze_examples(format: &str) -> Output {
    kube_devops(&[
        "analyze",
        "--path",
        "deploy/examples",
        "--now",
        NOW,
        "-o",
        format,
    ])
}

#[test]
fn version_prints_the_crate_version() {
    let o = kube_devops(&["version"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        format!("kube-devops version {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn table_report_of_the_examples_matches_the_snapshot() {
    let o = analyze_examples("table");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("===== DevOps Governance Summary =====\n"));
    insta::assert_snapshot!("analyze_examples_table", out);
}

#[test]
fn json_report_of_the_examples_matches_the_snapshot() {
    let o = analyze_examples("json");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["generatedAt"], NOW);
    insta::assert_snapshot!("analyze_examples_json", stdout(&o));
}

#[test]
fn yaml_report_of_the_examples_matches_the_snapshot() {
    let o = analyze_examples("yaml");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let _: serde_json::Value = serde_yaml_ng::from_slice(&o.stdout).expect("valid YAML");
    insta::assert_snapshot!("analyze_examples_yaml", stdout(&o));
}

#[test]
fn sarif_report_is_sarif_2_1_0_with_rules_and_located_results() {
    let o = analyze_examples("sarif");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for r in results {
        let id = r["ruleId"].as_str().expect("ruleId");
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], id);
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().expect("uri");
        assert!(root().join(uri).is_file(), "{uri} exists");
        assert!(loc["region"]["startLine"].as_u64().expect("line") >= 1);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().expect("level")));
    }
    let suppressed = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .count();
    assert_eq!(
        suppressed, 1,
        "the exempt finding is suppressed, not dropped"
    );
    insta::assert_snapshot!("analyze_examples_sarif", stdout(&o));
}

#[test]
fn junit_report_is_well_formed_with_one_case_per_workload() {
    let o = analyze_examples("junit");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let xml = stdout(&o);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(root.attribute("tests"), Some(cases.to_string().as_str()));
    let failures = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(
        root.attribute("failures"),
        Some(failures.to_string().as_str())
    );
    insta::assert_snapshot!("analyze_examples_junit", xml);
}

#[test]
fn fail_on_exits_3_when_a_finding_reaches_the_threshold() {
    let args = [
        "analyze",
        "--path",
        "deploy/examples",
        "--now",
        NOW,
        "--fail-on",
    ];
    let high = kube_devops(&[&args[..], &["high"]].concat());
    assert_eq!(high.status.code(), Some(3));
    let critical = kube_devops(&[&args[..], &["critical"]].concat());
    assert_eq!(
        critical.status.code(),
        Some(0),
        "no critical finding in the examples"
    );
}

#[test]
fn fail_below_exits_4_when_the_cluster_score_is_lower() {
    let args = [
        "analyze",
        "--path",
        "deploy/examples",
        "--now",
        NOW,
        "--fail-below",
    ];
    assert_eq!(
        kube_devops(&[&args[..], &["99"]].concat()).status.code(),
        Some(4)
    );
    assert_eq!(
        kube_devops(&[&args[..], &["50"]].concat()).status.code(),
        Some(0)
    );
}

#[test]
fn a_bundle_changes_the_verdict() {
    let o = kube_devops(&[
        "analyze",
        "--path",
        "deploy/examples",
        "--now",
        NOW,
        "--bundle",
        "restricted",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["policySource"], "bundle restricted");
    assert!(v["counts"]["runAsPrivileged"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn a_policy_file_is_used_and_a_typo_in_it_is_refused() {
    let o = kube_devops(&[
        "analyze",
        "--path",
        "deploy/examples",
        "--now",
        NOW,
        "-o",
        "json",
        "--policy",
        "deploy/examples/policies/production-policy.yaml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    let latest = v["policy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "latestTag")
        .cloned();
    assert_eq!(latest.unwrap()["severity"], "critical");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("p.yaml");
    std::fs::write(&bad, "apiVersion: devops.stochastic.io/v1\nkind: DevOpsPolicy\nmetadata: {name: p}\nspec:\n  forbidLatestTags: true\n").unwrap();
    let o = kube_devops(&[
        "analyze",
        "--path",
        "deploy/examples",
        "--policy",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown field spec.forbidLatestTags"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn namespace_filter_limits_the_report() {
    let o = kube_devops(&[
        "analyze",
        "--path",
        "deploy/examples",
        "--now",
        NOW,
        "-n",
        "staging",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    let namespaces: Vec<_> = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].clone())
        .collect();
    assert_eq!(namespaces, ["staging"]);
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-devops"))
        .args(["analyze", "--path", "-", "-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: nginx}]}\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["workloads"][0]["name"], "p");
    assert_eq!(v["workloads"][0]["source"]["file"], "-");
}

/// Runs analyze on one hostile file and returns (exit code, stderr).
fn analyze_file(name: &str, contents: &[u8]) -> (Option<i32>, String, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    let o = kube_devops(&["analyze", "--path", path.to_str().unwrap()]);
    (o.status.code(), stderr(&o), path, dir)
}

#[test]
fn hostile_input_gives_a_clear_error_naming_the_file_and_never_a_panic() {
    let big = vec![b'a'; 50 * 1024 * 1024];
    let cases: [(&str, &[u8], &str); 6] = [
        (
            "broken.yaml",
            b"apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n",
            "invalid YAML",
        ),
        (
            "binary.yaml",
            &[0x7f, b'E', b'L', b'F', 0, 1, 2, 3, 0xff],
            "binary file",
        ),
        ("latin1.yaml", b"name: caf\xe9\n", "not UTF-8"),
        ("empty.yaml", b"", "no Kubernetes objects found"),
        ("huge.yaml", &big, "larger than the 32 MiB limit"),
        ("scalar.yaml", b"just a string\n", "not a Kubernetes object"),
    ];
    for (name, contents, message) in cases {
        let (code, err, path, _dir) = analyze_file(name, contents);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
        assert!(
            err.contains(path.to_str().unwrap()),
            "{name} names the file: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn one_broken_document_does_not_hide_the_others() {
    let text = b"apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec: {containers: [{name: c, image: nginx}]}\n---\nkind: [broken\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: also-good}\nspec: {containers: [{name: c, image: nginx:1}]}\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.yaml");
    std::fs::write(&path, text).unwrap();
    let o = kube_devops(&["analyze", "--path", path.to_str().unwrap(), "-o", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("report still printed");
    assert_eq!(v["workloads"].as_array().unwrap().len(), 2);
    assert_eq!(v["errors"][0]["document"], 2);
    assert!(
        stderr(&o).contains("mixed.yaml: document 2"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_path_is_an_error_and_bad_usage_exits_2() {
    let o = kube_devops(&["analyze", "--path", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no/such/dir"));
    assert_eq!(
        kube_devops(&["analyze", "--output", "pdf"]).status.code(),
        Some(2)
    );
    assert_eq!(
        kube_devops(&["analyze", "--fail-below", "120", "--path", "x"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(kube_devops(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn crd_generate_matches_the_committed_crds() {
    let o = kube_devops(&["crd", "generate"]);
    assert!(o.status.success());
    let committed = std::fs::read_to_string(root().join("deploy/crds/crds.yaml")).unwrap();
    assert!(
        stdout(&o) == committed,
        "deploy/crds/crds.yaml is stale: run `cargo run -- crd generate > deploy/crds/crds.yaml`"
    );
}

#[test]
fn bundle_list_names_the_three_bundles() {
    let out = stdout(&kube_devops(&["policy", "bundle-list"]));
    for name in ["baseline", "restricted", "permissive"] {
        assert!(out.contains(name), "{out}");
    }
}

#[test]
fn bundle_apply_prints_a_policy_that_analyze_accepts() {
    let o = kube_devops(&[
        "policy",
        "bundle-apply",
        "restricted",
        "--namespace",
        "prod",
        "--policy-name",
        "strict",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_yaml_ng::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "DevOpsPolicy");
    assert_eq!(v["metadata"]["namespace"], "prod");
    assert_eq!(v["spec"]["enforcementMode"], "enforce");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, &o.stdout).unwrap();
    let a = kube_devops(&[
        "analyze",
        "--path",
        "deploy/examples",
        "--policy",
        file.to_str().unwrap(),
    ]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
}

#[test]
fn unknown_bundles_and_bad_names_are_refused() {
    let o = kube_devops(&["policy", "bundle-show", "strict"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("baseline, restricted, permissive"));
    let o = kube_devops(&[
        "policy",
        "bundle-apply",
        "baseline",
        "--namespace",
        "Not_A_Namespace",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn yaml_that_is_not_a_kubernetes_object_is_not_judged_and_does_not_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: \"nginx:1.27\"}]}\n",
    )
    .unwrap();
    // A Helm values file next to the manifests: neither apiVersion nor kind.
    std::fs::write(
        dir.path().join("values.yaml"),
        "replicaCount: 2\nimage: {repository: nginx}\n",
    )
    .unwrap();
    let o = kube_devops(&["analyze", "--path", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Not judged: 1 (not a Kubernetes object (no apiVersion or kind))"),
        "{out}"
    );
    // An object that names its apiVersion but no kind is broken, not another tool's file.
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: apps/v1\nmetadata: {name: web}\n",
    )
    .unwrap();
    let o = kube_devops(&["analyze", "--path", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("broken.yaml: document 1 (line 1): object has no `kind`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn cross_resource_checks_see_every_file_of_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: \"nginx:1.27\"}]}\n";
    std::fs::write(dir.path().join("a-deployment.yaml"), deployment).unwrap();
    std::fs::write(
        dir.path().join("b-service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\nspec: {selector: {app: api}}\n",
    )
    .unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: devops.stochastic.io/v1\nkind: DevOpsPolicy\nmetadata: {name: p, namespace: shop}\nspec:\n  checks: {missingPodDisruptionBudget: {}, serviceSelectorMatchesNothing: {}}\n",
    )
    .unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    for f in ["a-deployment.yaml", "b-service.yaml"] {
        std::fs::rename(dir.path().join(f), manifests.join(f)).unwrap();
    }
    let run = |extra: Option<&str>| {
        if let Some(pdb) = extra {
            std::fs::write(manifests.join("c-pdb.yaml"), pdb).unwrap();
        }
        let o = kube_devops(&[
            "analyze",
            "--path",
            manifests.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "-o",
            "json",
            "--now",
            NOW,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut found: Vec<String> = v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| {
                let object = format!(
                    "{}/{}",
                    w["kind"].as_str().unwrap(),
                    w["name"].as_str().unwrap()
                );
                w["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |f| format!("{object} {}", f["check"].as_str().unwrap()))
                    .collect::<Vec<_>>()
            })
            .collect();
        found.sort();
        found
    };
    assert_eq!(
        run(None),
        [
            "Deployment/web missingPodDisruptionBudget",
            "Service/api serviceSelectorMatchesNothing"
        ]
    );
    let pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: shop}\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}\n";
    assert_eq!(
        run(Some(pdb)),
        ["Service/api serviceSelectorMatchesNothing"]
    );
}

#[cfg(unix)]
#[test]
fn a_walk_that_meets_a_fifo_or_a_device_fails_unless_told_to_skip_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: 'nginx:1.27'}]}\n",
    )
    .expect("write");
    let fifo = dir.path().join("pipe.yaml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.yaml")).expect("symlink");
    let path = dir.path().to_str().expect("utf-8 path");
    let strict = kube_devops(&["analyze", "--path", path, "--now", NOW]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
    let err = stderr(&strict);
    assert!(err.contains("pipe.yaml") && err.contains("a FIFO"), "{err}");
    assert!(
        err.contains("zero.yaml") && err.contains("a character device"),
        "{err}"
    );
    let lenient = kube_devops(&["analyze", "--path", path, "--now", NOW, "--skip-unreadable"]);
    assert_eq!(lenient.status.code(), Some(0), "{}", stderr(&lenient));
    let warned = stderr(&lenient);
    assert_eq!(warned.matches("warning: skipped").count(), 2, "{warned}");
    assert!(stdout(&lenient).contains("default/Pod/a"));
}

#[test]
fn names_reach_the_terminal_escaped() {
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"evil\\e]0;owned\\a\\e[2J\"\n  namespace: \"ns\\nFAKE LINE\"\nspec: {containers: [{name: c, image: 'nginx:latest'}]}\n";
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("evil.yaml");
    std::fs::write(&path, manifest).expect("write");
    let o = kube_devops(&[
        "analyze",
        "--path",
        path.to_str().expect("utf-8"),
        "--now",
        NOW,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("evil\\x1b]0;owned\\x07\\x1b[2J"), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("FAKE LINE")), "{out}");
}
