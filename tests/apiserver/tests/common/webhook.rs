//! A tiny HTTPS validating webhook for the admission tests: certificates from a fresh
//! test CA (valid for 127.0.0.1, localhost and `policy.hooks.svc`), TLS with rustls,
//! HTTP/1.1 with hyper. Its image policy denies pods whose image ends with `:latest`
//! and warns about images without a tag; it records every review it gets.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The name of the image policy webhook in configurations the tests register.
pub const WEBHOOK_NAME: &str = "images.policy.example";

/// How the webhook answers.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Deny `:latest` images, warn on untagged ones, allow the rest.
    ImagePolicy,
    /// Wait this long before answering (allowed), to outlast a timeout.
    Sleep(Duration),
    /// Deny every request with this message.
    Deny(&'static str),
}

/// A running webhook; stops when dropped.
pub struct TestWebhook {
    /// `https://127.0.0.1:<port>`.
    pub base_url: String,
    /// base64 of the CA certificate PEM, for `clientConfig.caBundle`.
    pub ca_bundle: String,
    reviews: Arc<Mutex<Vec<Value>>>,
    task: JoinHandle<()>,
}

impl Drop for TestWebhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestWebhook {
    /// The URL of its validating endpoint.
    pub fn url(&self) -> String {
        format!("{}/validate", self.base_url)
    }

    /// Every `request` of the reviews received so far.
    pub fn reviews(&self) -> Vec<Value> {
        self.reviews.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// The verdict of the image policy on an AdmissionReview request.
fn image_policy(request: &Value) -> Value {
    let containers = request
        .pointer("/object/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut warnings = Vec::new();
    for image in containers.iter().filter_map(|c| c["image"].as_str()) {
        if image.ends_with(":latest") {
            return json!({"allowed": false, "status": {"code": 403,
                "message": format!("image {image} uses the :latest tag")}});
        }
        let last = image.rsplit('/').next().unwrap_or(image);
        if !last.contains(':') && !last.contains('@') {
            warnings.push(format!("image {image} has no tag; pin a version"));
        }
    }
    json!({"allowed": true, "warnings": warnings})
}

async fn answer(
    request: Request<Incoming>,
    behaviour: Behaviour,
    reviews: Arc<Mutex<Vec<Value>>>,
) -> Response<Full<Bytes>> {
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let request = review.get("request").cloned().unwrap_or(Value::Null);
    if let Ok(mut seen) = reviews.lock() {
        seen.push(request.clone());
    }
    let mut response = match behaviour {
        Behaviour::ImagePolicy => image_policy(&request),
        Behaviour::Sleep(pause) => {
            tokio::time::sleep(pause).await;
            json!({"allowed": true})
        }
        Behaviour::Deny(message) => json!({"allowed": false, "status": {"message": message}}),
    };
    response["uid"] = request.get("uid").cloned().unwrap_or(Value::Null);
    let out = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                     "response": response});
    Response::new(Full::new(Bytes::from(out.to_string())))
}

/// Starts a webhook on a free loopback port.
pub async fn start_webhook(behaviour: Behaviour) -> TestWebhook {
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "webhook test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("a CA certificate");
    let key = rcgen::KeyPair::generate().expect("a server key");
    let params = rcgen::CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "policy.hooks.svc".to_string(),
    ])
    .expect("server params");
    let certificate = params.signed_by(&key, &ca).expect("a server certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(certificate.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("a TLS server configuration");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let port = listener.local_addr().expect("an address").port();
    let reviews = Arc::new(Mutex::new(Vec::new()));
    let recorded = reviews.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let reviews = recorded.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |request| {
                    let reviews = reviews.clone();
                    async move { Ok::<_, Infallible>(answer(request, behaviour, reviews).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TestWebhook {
        base_url: format!("https://127.0.0.1:{port}"),
        ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca.pem()),
        reviews,
        task,
    }
}

/// A ValidatingWebhookConfiguration with one webhook for pod creates and updates
/// (`overrides` replace fields of the webhook, `rules` included).
pub fn configuration(name: &str, client_config: Value, overrides: Value) -> Value {
    let mut webhook = json!({
        "name": WEBHOOK_NAME,
        "clientConfig": client_config,
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"],
                   "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 5,
    });
    if let (Some(map), Some(extra)) = (webhook.as_object_mut(), overrides.as_object()) {
        for (k, v) in extra {
            map.insert(k.clone(), v.clone());
        }
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [webhook],
    })
}

/// `clientConfig` pointing at a webhook's URL and trusting its CA.
pub fn url_client(webhook: &TestWebhook) -> Value {
    json!({"url": webhook.url(), "caBundle": webhook.ca_bundle})
}

/// A loopback HTTPS URL where nothing listens.
pub async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    format!("https://127.0.0.1:{port}/validate")
}
