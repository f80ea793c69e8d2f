//! `run --manage-certificates` end to end against the test API server, two replicas: the
//! leader alone creates the certificate Secret and sets the webhook configuration's
//! `caBundle` (the API server then reaches the webhook over verified TLS and gets a
//! denial); the serving certificate is renewed before it expires, with the same CA; and
//! both replicas serve the renewed certificate without a restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Controller, eventually, policy, ready, server};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube_apiserver_test::ApiServerHandle;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

/// A base64 field of a stored object, as text.
fn decoded(v: &Value) -> Option<String> {
    let bytes: k8s_openapi::ByteString = serde_json::from_value(v.clone()).ok()?;
    String::from_utf8(bytes.0).ok()
}
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const HOST: &str = "kube-devops-webhook.kube-devops.svc";

/// A replica of `run --manage-certificates` with 30 s serving certificates renewed 20 s
/// ahead, its webhook on `port`.
fn replica(h: &ApiServerHandle, identity: &str, port: u16) -> Controller {
    let addr = format!("127.0.0.1:{port}");
    let args = [
        "run",
        "--manage-certificates",
        "--webhook-addr",
        &addr,
        "--certificate-lifetime",
        "30",
        "--certificate-renew-before",
        "20",
        // One lease for the whole test: the leader never waits on a renewal.
        "--lease-duration",
        "120",
        "--renew-before",
        "60",
    ];
    Controller::command(h.kubeconfig_path(), identity, &args)
}

fn secret(h: &ApiServerHandle) -> Option<(String, String)> {
    let s = h.get("v1", "Secret", "kube-devops", "kube-devops-webhook-tls")?;
    Some((
        decoded(&s["data"]["ca.crt"])?,
        decoded(&s["data"]["tls.crt"])?,
    ))
}

fn ca_bundle(h: &ApiServerHandle) -> Option<String> {
    let config = h.get(
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        "",
        "kube-devops",
    )?;
    decoded(&config["webhooks"][0]["clientConfig"]["caBundle"])
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
}

/// The leaf a replica serves to a client that trusts `ca` and asks for the Service name.
async fn served(port: u16, ca: &str) -> Option<CertificateDer<'static>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(ca)).ok()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let name = ServerName::try_from(HOST).ok()?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .ok()?;
    tls.get_ref().1.peer_certificates()?.first().cloned()
}

/// Polls an async probe until it answers `Some`, for at most `limit`.
async fn until<T, F: Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_keeps_the_certificates_and_every_replica_serves_the_renewed_one() {
    let h = server().await;
    let (port_a, port_b) = (common::free_port(), common::free_port());
    // The webhook Service and configuration as installed, without a caBundle.
    common::install_webhook_service(&h, port_a);
    h.create(policy(
        "shop",
        "p",
        json!({"forbidLatestTag": true, "admission": {"denySeverity": "high"}}),
    ))
    .unwrap();

    let a = replica(&h, "a", port_a);
    ready(&a).await;
    eventually(Duration::from_secs(20), "a leads", || {
        a.leader()?.then_some(())
    })
    .await;
    let b = replica(&h, "b", port_b);
    ready(&b).await;
    let (ca, first) = eventually(Duration::from_secs(20), "the Secret", || secret(&h)).await;
    eventually(Duration::from_secs(20), "the caBundle", || {
        (ca_bundle(&h)? == ca).then_some(())
    })
    .await;

    // The API server verifies the webhook's certificate against the caBundle: a denial
    // proves the chain.
    let pods: Api<Pod> = Api::namespaced(h.client().await.unwrap(), "shop");
    let bad: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "latest", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "nginx:latest"}]}
    }))
    .unwrap();
    let denial = until(Duration::from_secs(20), "a denial", || {
        let (pods, bad) = (pods.clone(), bad.clone());
        async move {
            match pods.create(&PostParams::default(), &bad).await {
                Ok(_) => {
                    let _ = pods.delete("latest", &DeleteParams::default()).await;
                    None
                }
                Err(e) => Some(e.to_string()),
            }
        }
    })
    .await;
    assert!(denial.contains("denied the request"), "{denial}");

    // Renewal before expiry (30 s lifetime, renewed 20 s ahead), same CA, no restart: both
    // replicas serve the new certificate.
    let renewed = eventually(Duration::from_secs(30), "a renewal", || {
        let (c, tls) = secret(&h)?;
        (tls != first).then_some((c, tls))
    })
    .await;
    assert_eq!(renewed.0, ca, "the CA is kept, so the caBundle stays valid");
    assert_eq!(ca_bundle(&h).unwrap(), ca);
    for port in [port_a, port_b] {
        let want = der(&renewed.1);
        until(
            Duration::from_secs(20),
            "the renewed certificate served",
            || {
                let (ca, want) = (ca.clone(), want.clone());
                async move { (served(port, &ca).await? == want).then_some(()) }
            },
        )
        .await;
    }
    // Only the leader wrote.
    assert!(a.log_text().contains("webhook certificate issued"));
    assert!(
        !b.log_text().contains("webhook certificate issued"),
        "{}",
        b.log_text()
    );
}
