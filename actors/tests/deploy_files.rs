//! The committed generated files (raw manifests, the Helm chart's CRDs and RBAC rules)
//! are exactly what `kube-devops deploy write-files` writes.

use std::path::PathBuf;

use kube_devops_actors::cli::deploy::generated_files;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_deploy_files_equal_the_generators() {
    let mut stale = Vec::new();
    for (path, content) in generated_files().unwrap() {
        let committed = std::fs::read_to_string(root().join(&path)).unwrap_or_default();
        if committed != content {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run `cargo run -- deploy write-files`"
    );
}

#[test]
fn chart_app_version_is_the_binary_version() {
    let chart = std::fs::read_to_string(root().join("deploy/helm/kube-devops/Chart.yaml")).unwrap();
    let app_version = chart
        .lines()
        .find_map(|l| l.strip_prefix("appVersion:"))
        .map(|v| v.trim().trim_matches('"'))
        .unwrap();
    assert_eq!(app_version, kube_devops::VERSION);
}

#[test]
fn the_operations_guide_lists_exactly_the_controllers_permissions() {
    use kube_devops::rbac::{Mode, markdown_table};
    let guide = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();
    let table = markdown_table(Mode::Controller {
        enforcement: true,
        certificates: true,
    });
    assert!(
        guide.contains(&table),
        "docs/operations.md must carry this table:\n{table}"
    );
}
