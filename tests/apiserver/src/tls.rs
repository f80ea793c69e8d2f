//! The serving certificate: a fresh cluster CA (`CN=kubernetes`, the certificate every
//! namespace's `kube-root-ca.crt` publishes) and a server certificate it signs for
//! `127.0.0.1` and `localhost`. Out: the CA as PEM and a TLS acceptor for the HTTPS side
//! of the listener, which clients that only send credentials over TLS (kubectl) use.

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{Error, Result};

/// The CA and the acceptor of one server.
pub struct Serving {
    /// The cluster CA certificate, PEM.
    pub ca_pem: String,
    /// Accepts TLS connections with the server certificate.
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// Makes a fresh CA and serving certificate.
pub fn serving() -> Result<Serving> {
    let failed = |e: rcgen::Error| Error::Certificate(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kubernetes");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(failed)?;
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .map_err(failed)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kube-apiserver");
    let certificate = params.signed_by(&key, &ca).map_err(failed)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_failed = |e: rustls::Error| Error::Certificate(e.to_string());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_failed)?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(certificate.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(tls_failed)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Serving {
        ca_pem: ca.pem(),
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    })
}
