//! The webhook commands through the real binary: `cert-generate` (file modes, refusal to
//! overwrite, CA reuse), `install-config` (the configuration of SPEC section 6), and
//! `serve` against the test API server (readiness over HTTPS with the Service DNS names,
//! SIGTERM ends it with status 0).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kube_apiserver_test::{ServerConfig, start};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn kube_devops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kube-devops"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("POD_NAMESPACE")
        .output()
        .expect("the binary runs")
}

fn cert_generate(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "webhook",
        "cert-generate",
        "--out-dir",
        dir.to_str().unwrap(),
    ];
    args.extend(extra);
    kube_devops(&args)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn cert_generate_writes_private_keys_0600_and_never_overwrites_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let out = cert_generate(&dir, &["--ip-san", "127.0.0.1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&dir.join("tls.key")), 0o600);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    assert_eq!(mode(&dir.join("tls.crt")), 0o644);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("kube-devops-webhook.kube-devops.svc.cluster.local, 127.0.0.1"),
        "{stdout}"
    );
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let cert = std::fs::read(dir.join("tls.crt")).unwrap();

    let again = cert_generate(&dir, &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(dir.join("tls.crt")).unwrap(), cert);

    let renewed = cert_generate(&dir, &["--force"]);
    assert!(renewed.status.success());
    assert!(String::from_utf8_lossy(&renewed.stdout).contains("reused the existing CA"));
    assert_eq!(
        std::fs::read(dir.join("ca.crt")).unwrap(),
        ca,
        "the CA is kept"
    );
    assert_ne!(std::fs::read(dir.join("tls.crt")).unwrap(), cert);
    assert_eq!(mode(&dir.join("tls.key")), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

fn install_config(ca: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "webhook",
        "install-config",
        "--ca-bundle-path",
        ca.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = kube_devops(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_yaml_ng::from_slice(&out.stdout).expect("YAML")
}

#[test]
fn install_config_prints_the_webhook_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(cert_generate(tmp.path(), &[]).status.success());
    let ca_path = tmp.path().join("ca.crt");
    let config = install_config(
        &ca_path,
        &[
            "--failure-policy",
            "Fail",
            "--exclude-namespace",
            "team-*",
            "--exclude-namespace",
            "legacy",
        ],
    );
    assert_eq!(config["apiVersion"], "admissionregistration.k8s.io/v1");
    assert_eq!(config["kind"], "ValidatingWebhookConfiguration");
    let hook = &config["webhooks"][0];
    assert_eq!(hook["failurePolicy"], "Fail");
    assert_eq!(hook["timeoutSeconds"], 3);
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(hook["matchPolicy"], "Equivalent");
    assert_eq!(hook["admissionReviewVersions"], json!(["v1"]));
    assert_eq!(
        hook["clientConfig"]["service"],
        json!({"name": "kube-devops-webhook", "namespace": "kube-devops", "path": "/validate", "port": 443})
    );
    let ca_b64 = hook["clientConfig"]["caBundle"].as_str().unwrap();
    let ca: k8s_openapi::ByteString = serde_json::from_value(json!(ca_b64)).unwrap();
    assert_eq!(ca.0, std::fs::read(&ca_path).unwrap());
    let mut resources: Vec<String> = Vec::new();
    for rule in hook["rules"].as_array().unwrap() {
        assert_eq!(rule["operations"], json!(["CREATE", "UPDATE"]));
        for r in rule["resources"].as_array().unwrap() {
            resources.push(format!(
                "{}/{}",
                rule["apiGroups"][0].as_str().unwrap(),
                r.as_str().unwrap()
            ));
        }
    }
    resources.sort();
    assert_eq!(
        resources,
        [
            "/pods",
            "/pods/ephemeralcontainers",
            "/replicationcontrollers",
            "apps/daemonsets",
            "apps/deployments",
            "apps/replicasets",
            "apps/statefulsets",
            "batch/cronjobs",
            "batch/jobs"
        ]
    );
    let selector = &hook["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(selector["key"], "kubernetes.io/metadata.name");
    assert_eq!(selector["operator"], "NotIn");
    assert_eq!(
        selector["values"],
        json!([
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "kube-devops",
            "legacy"
        ])
    );

    let by_url = install_config(&ca_path, &["--url", "https://127.0.0.1:8443/validate"]);
    let hook = &by_url["webhooks"][0];
    assert_eq!(hook["failurePolicy"], "Ignore");
    assert_eq!(
        hook["clientConfig"]["url"],
        "https://127.0.0.1:8443/validate"
    );
    assert!(hook["clientConfig"]["service"].is_null());
}

#[test]
fn install_config_refuses_a_file_that_is_not_a_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = tmp.path().join("ca.crt");
    std::fs::write(&bogus, "hello").unwrap();
    let out = kube_devops(&[
        "webhook",
        "install-config",
        "--ca-bundle-path",
        bogus.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PEM certificate"));
}

#[cfg(unix)]
#[test]
fn install_config_refuses_a_device_without_reading_it() {
    // /dev/zero claims size 0 and never ends: read unbounded, it would fill memory.
    let out = kube_devops(&["webhook", "install-config", "--ca-bundle-path", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
}

/// GET `path` over HTTPS, verifying the certificate for `host`: the status code.
async fn https_get(ca: &Path, port: u16, host: &str, path: &str) -> std::io::Result<u16> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(std::io::Error::other)? {
        roots
            .add(cert.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from(host.to_owned()).map_err(std::io::Error::other)?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    Ok(text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_over_https_for_the_service_names_and_exits_0_on_sigterm() {
    let h = start(ServerConfig::new())
        .await
        .expect("test API server starts");
    h.create(
        serde_json::to_value(<kube_devops::policy::DevOpsPolicy as kube::CustomResourceExt>::crd())
            .unwrap(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    assert!(cert_generate(tmp.path(), &[]).status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-devops"))
        .arg("--kubeconfig")
        .arg(h.kubeconfig_path())
        .args(["webhook", "serve", "--addr", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(tmp.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(tmp.path().join("tls.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let ca = tmp.path().join("ca.crt");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if matches!(
            https_get(&ca, port, "kube-devops-webhook.kube-devops.svc", "/readyz").await,
            Ok(200)
        ) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the webhook never became ready"
        );
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for host in [
        "kube-devops-webhook.kube-devops",
        "kube-devops-webhook.kube-devops.svc.cluster.local",
    ] {
        assert_eq!(
            https_get(&ca, port, host, "/healthz").await.unwrap(),
            200,
            "{host}"
        );
    }
    assert!(
        https_get(&ca, port, "elsewhere.example.com", "/healthz")
            .await
            .is_err()
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "serve did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
    h.shutdown().await;
}
