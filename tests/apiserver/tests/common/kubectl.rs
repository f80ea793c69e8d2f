//! The real kubectl (from `$KUBECTL` or `PATH`) pointed at a test server, for the
//! conformance tests: runs commands with a private cache and writes manifests to a
//! temporary directory. A missing kubectl fails the test rather than skipping it.

use std::path::PathBuf;
use std::time::Duration;

use kube_apiserver_test::ApiServerHandle;
use tokio::process::Command;

/// Finds kubectl: `$KUBECTL`, else the first `kubectl` on `PATH`.
fn kubectl_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl not found: set KUBECTL or put kubectl on PATH (scripts/install-kubectl.sh)"
            )
        })
}

/// kubectl pointed at one server, with its own cache and manifest directories.
pub struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
    files: tempfile::TempDir,
}

impl Kubectl {
    /// kubectl for a server.
    pub fn new(server: &ApiServerHandle) -> Self {
        Self::with_kubeconfig(server.kubeconfig_path().to_path_buf())
    }

    /// kubectl with another kubeconfig (e.g. one that acts as a ServiceAccount).
    pub fn with_kubeconfig(kubeconfig: PathBuf) -> Self {
        Kubectl {
            binary: kubectl_binary(),
            kubeconfig,
            cache: tempfile::tempdir().expect("a cache dir"),
            files: tempfile::tempdir().expect("a manifest dir"),
        }
    }

    /// The command line for some arguments.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .kill_on_drop(true);
        command
    }

    /// Runs kubectl and answers (success, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = tokio::time::timeout(Duration::from_secs(120), self.command(args).output())
            .await
            .expect("kubectl finishes")
            .expect("kubectl runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs kubectl, failing the test unless it succeeds; answers stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (success, stdout, stderr) = self.run(args).await;
        assert!(success, "kubectl {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }

    /// Writes a manifest and answers its path.
    pub fn manifest(&self, name: &str, text: &str) -> String {
        let path = self.files.path().join(name);
        std::fs::write(&path, text).expect("write manifest");
        path.display().to_string()
    }
}
