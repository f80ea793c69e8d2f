//! The HTTPS call to a webhook: resolves `clientConfig` to a loopback endpoint (a `url`
//! on 127.0.0.1 / localhost, or a `service` the test mapped to one), trusts exactly the
//! certificates of `clientConfig.caBundle` (rustls with the ring provider), POSTs the
//! review over HTTP/1.1 and answers the response body. Errors are the causes
//! kube-apiserver reports after `failed to call webhook`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::rules::Destination;

/// Largest webhook response read.
const RESPONSE_LIMIT: usize = 3 * 1024 * 1024;

/// Test-registered service addresses: (namespace, name, port) to `https://127.0.0.1:P`.
pub type ServiceMap = HashMap<(String, String, u16), String>;

/// A resolved webhook address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as error messages quote it, `?timeout=` included.
    pub url: String,
    /// `host:port` to dial (always loopback).
    pub address: String,
    /// The name the certificate must be valid for.
    pub server_name: String,
    /// The `Host` header.
    pub authority: String,
    /// Path and query of the request.
    pub path_and_query: String,
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1")
}

fn with_timeout(path_and_query: &str, seconds: u64) -> String {
    let separator = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{path_and_query}{separator}timeout={seconds}s")
}

/// The base URL of a service mapping: `127.0.0.1:P` or `https://127.0.0.1:P`.
pub fn service_url(address: &str) -> String {
    let address = address.trim_end_matches('/');
    if address.contains("://") {
        address.to_string()
    } else {
        format!("https://{address}")
    }
}

/// The URL kube-apiserver quotes for a webhook destination, `?timeout=` included.
pub fn quoted_url(destination: &Destination, timeout_seconds: u64) -> String {
    match destination {
        Destination::Url(url) => url.clone(),
        Destination::Service {
            namespace,
            name,
            port,
            path,
        } => format!(
            "https://{name}.{namespace}.svc:{port}{}",
            with_timeout(path, timeout_seconds)
        ),
    }
}

/// Where a webhook is called; an error when it is not on loopback or not mapped.
pub fn endpoint(
    destination: Option<&Destination>,
    services: &ServiceMap,
    timeout_seconds: u64,
) -> Result<Endpoint, String> {
    match destination {
        None => Err("clientConfig names neither url nor service".into()),
        Some(Destination::Url(url)) => {
            let uri: hyper::Uri = url
                .parse()
                .map_err(|e| format!("invalid clientConfig.url {url:?}: {e}"))?;
            if uri.scheme_str() != Some("https") {
                return Err(format!("clientConfig.url {url:?} is not https"));
            }
            let host = uri.host().unwrap_or("");
            if !is_loopback(host) {
                return Err(format!(
                    "this test server calls webhooks on loopback only, not {host:?}"
                ));
            }
            let port = uri.port_u16().unwrap_or(443);
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let path_and_query = with_timeout(path, timeout_seconds);
            let authority = format!("{host}:{port}");
            Ok(Endpoint {
                url: format!("https://{authority}{path_and_query}"),
                address: format!("{}:{port}", host.trim_matches(['[', ']'])),
                server_name: host.trim_matches(['[', ']']).to_string(),
                authority,
                path_and_query,
            })
        }
        Some(
            service @ Destination::Service {
                namespace,
                name,
                port,
                path,
            },
        ) => {
            let host = format!("{name}.{namespace}.svc");
            let path_and_query = with_timeout(path, timeout_seconds);
            let url = quoted_url(service, timeout_seconds);
            let Some(base) = services.get(&(namespace.clone(), name.clone(), *port)) else {
                return Err(format!(
                    "Post {url:?}: service {namespace}/{name} port {port} is not mapped to a \
                     loopback address (ApiServerHandle::map_service)"
                ));
            };
            let address = base
                .parse::<hyper::Uri>()
                .ok()
                .filter(|u| u.host().is_some_and(is_loopback))
                .map(|u| {
                    format!(
                        "{}:{}",
                        u.host().unwrap_or("").trim_matches(['[', ']']),
                        u.port_u16().unwrap_or(443)
                    )
                })
                .ok_or_else(|| format!("service mapping {base:?} is not a loopback URL"))?;
            Ok(Endpoint {
                url,
                address,
                server_name: host.clone(),
                authority: format!("{host}:{port}"),
                path_and_query,
            })
        }
    }
}

/// The trust roots of a `caBundle`: base64 of one or more PEM certificates.
fn roots(ca_bundle: &str) -> Result<rustls::RootCertStore, String> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(ca_bundle.trim())
        .map_err(|e| format!("clientConfig.caBundle is not base64: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate =
            certificate.map_err(|e| format!("clientConfig.caBundle holds a bad PEM block: {e}"))?;
        roots
            .add(certificate)
            .map_err(|e| format!("clientConfig.caBundle holds an unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(
            "tls: failed to verify certificate: x509: certificate signed by unknown authority \
             (clientConfig.caBundle holds no certificate, and this server trusts nothing else)"
                .into(),
        );
    }
    Ok(roots)
}

/// Aborts the connection task when the call ends or is abandoned at its deadline.
struct ConnectionTask(JoinHandle<()>);

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// POSTs `body` and answers the response body of a 200.
pub async fn post(endpoint: &Endpoint, ca_bundle: &str, body: Vec<u8>) -> Result<Bytes, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots(ca_bundle)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server_name = ServerName::try_from(endpoint.server_name.clone())
        .map_err(|e| format!("invalid server name {:?}: {e}", endpoint.server_name))?;
    let tcp = TcpStream::connect(&endpoint.address)
        .await
        .map_err(|e| format!("dial tcp {}: {e}", endpoint.address))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("tls: failed to verify certificate: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    let _task = ConnectionTask(tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(?error, "webhook connection ended with an error");
        }
    }));
    let request = hyper::Request::post(endpoint.path_and_query.as_str())
        .header(hyper::header::HOST, endpoint.authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = Limited::new(response.into_body(), RESPONSE_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("cannot read the response: {e}"))?
        .to_bytes();
    if status != hyper::StatusCode::OK {
        return Err(format!(
            "an error on the server ({:?}) has prevented the request from succeeding (status {})",
            String::from_utf8_lossy(&bytes[..bytes.len().min(256)]),
            status.as_u16()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_on_loopback_only_with_the_timeout_appended() {
        let services = ServiceMap::new();
        let url = |u: &str| endpoint(Some(&Destination::Url(u.into())), &services, 5);
        let local = url("https://127.0.0.1:8443/validate");
        assert_eq!(
            local.map(|e| (e.url, e.address, e.server_name)),
            Ok((
                "https://127.0.0.1:8443/validate?timeout=5s".to_string(),
                "127.0.0.1:8443".to_string(),
                "127.0.0.1".to_string()
            ))
        );
        assert!(url("https://example.com/validate").is_err());
        assert!(url("http://127.0.0.1:8443/validate").is_err());
    }

    #[test]
    fn services_resolve_through_the_test_mapping_and_keep_their_dns_name() {
        let service = Destination::Service {
            namespace: "hooks".into(),
            name: "policy".into(),
            port: 443,
            path: "/check".into(),
        };
        assert!(endpoint(Some(&service), &ServiceMap::new(), 10).is_err());
        let mut services = ServiceMap::new();
        services.insert(
            ("hooks".into(), "policy".into(), 443),
            "https://127.0.0.1:9443".into(),
        );
        let resolved = endpoint(Some(&service), &services, 10);
        assert_eq!(
            resolved.map(|e| (e.address, e.server_name, e.url)),
            Ok((
                "127.0.0.1:9443".to_string(),
                "policy.hooks.svc".to_string(),
                "https://policy.hooks.svc:443/check?timeout=10s".to_string()
            ))
        );
    }

    #[test]
    fn a_ca_bundle_without_certificates_trusts_nothing() {
        assert!(roots("").is_err());
        assert!(roots("not base64!").is_err());
    }
}
