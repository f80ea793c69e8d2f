//! `analyze -o html`: the real binary writes one self-contained page for the examples,
//! with the same numbers as `-o json`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("actors/ has a parent")
        .to_path_buf()
}

fn analyze(format: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_kube-devops"))
        .args([
            "analyze",
            "--path",
            "deploy/examples",
            "--now",
            "2026-06-01T00:00:00Z",
            "-o",
            format,
        ])
        .current_dir(root())
        .output()
        .expect("the binary runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn the_html_report_of_the_examples_carries_the_json_numbers() {
    let html = analyze("html");
    let json: serde_json::Value = serde_json::from_str(&analyze("json")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    let score = json["clusterScore"].as_f64().unwrap();
    assert!(
        html.contains(&format!("data-metric=\"cluster-score\">{score:.1}<")),
        "{html}"
    );
    assert!(html.contains(&format!(
        "data-metric=\"findings\">{}<",
        json["totalFindings"]
    )));
    for ns in json["namespaces"].as_array().unwrap() {
        let name = ns["name"].as_str().unwrap();
        assert!(
            html.contains(&format!("data-field=\"name\">{name}</a>")),
            "{name}"
        );
    }
    let workloads = json["workloads"].as_array().unwrap().len();
    assert_eq!(html.matches("<details class=\"workload").count(), workloads);
}
