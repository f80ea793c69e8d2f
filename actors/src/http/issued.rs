//! The certificates the controller issues for its own webhook, in memory.
//!
//! In: the webhook Service's name and namespace, the CA to sign with (or none: make one),
//! the time now and the lifetimes. Out: a [`PemSet`] (CA, serving certificate and their
//! keys, PEM), and the reverse: what a held set is ([`inspect`]: validity windows, whether
//! the serving certificate names the Service and was issued by the CA beside it), for
//! `kube_devops::certificates::plan`.

use jiff::{SignedDuration, Timestamp};
use kube_devops::certificates::{Held, Lifetimes, Validity};
use rcgen::{CertificateParams, Issuer, KeyPair};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::certs::{CertError, ca_template, service_sans, serving_template};

/// A CA and a serving certificate with their keys, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemSet {
    /// The CA certificate (the webhook configuration's `caBundle`).
    pub ca_cert: String,
    /// The CA's key.
    pub ca_key: String,
    /// The serving certificate.
    pub tls_cert: String,
    /// The serving key.
    pub tls_key: String,
}

fn date(at: Timestamp) -> Result<time::OffsetDateTime, CertError> {
    time::OffsetDateTime::from_unix_timestamp(at.as_second())
        .map_err(|e| CertError::Date(e.to_string()))
}

/// `params` valid from a minute before `now` (clocks differ a little) for `lifetime`.
fn valid(
    params: &mut CertificateParams,
    now: Timestamp,
    lifetime: SignedDuration,
) -> Result<(), CertError> {
    let bad = |e: jiff::Error| CertError::Date(e.to_string());
    params.not_before = date(
        now.checked_sub(SignedDuration::from_secs(60))
            .map_err(bad)?,
    )?;
    params.not_after = date(now.checked_add(lifetime).map_err(bad)?)?;
    Ok(())
}

/// Issues a serving certificate for `service.namespace` at `now`, signed by `ca` (PEM
/// certificate and key) or, when `ca` is `None`, by a new CA.
pub fn issue(
    service: &str,
    namespace: &str,
    ca: Option<(&str, &str)>,
    now: Timestamp,
    lifetimes: &Lifetimes,
) -> Result<PemSet, CertError> {
    let (ca_cert, ca_key, issuer) = match ca {
        Some((cert, key)) => {
            let issuer = Issuer::from_ca_cert_pem(cert, KeyPair::from_pem(key)?)?;
            (cert.to_owned(), key.to_owned(), issuer)
        }
        None => {
            let key = KeyPair::generate()?;
            let mut params = ca_template()?;
            valid(&mut params, now, lifetimes.ca)?;
            let cert = params.self_signed(&key)?;
            (cert.pem(), key.serialize_pem(), Issuer::new(params, key))
        }
    };
    let (mut params, _) = serving_template(service, namespace, &[])?;
    valid(&mut params, now, lifetimes.serving)?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(PemSet {
        ca_cert,
        ca_key,
        tls_cert: cert.pem(),
        tls_key: key.serialize_pem(),
    })
}

/// The first certificate of a PEM text, as DER.
fn der(pem: &str) -> Option<Vec<u8>> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    (parsed.label == "CERTIFICATE").then_some(parsed.contents)
}

fn validity(cert: &X509Certificate<'_>) -> Option<Validity> {
    let v = cert.validity();
    Some(Validity {
        not_before: Timestamp::from_second(v.not_before.timestamp()).ok()?,
        not_after: Timestamp::from_second(v.not_after.timestamp()).ok()?,
    })
}

/// What a held set is; `None` when a certificate does not parse (then nothing held is
/// usable and a new CA is made).
pub fn inspect(set: &PemSet, service: &str, namespace: &str) -> Option<Held> {
    let (ca_der, tls_der) = (der(&set.ca_cert)?, der(&set.tls_cert)?);
    let (_, ca) = X509Certificate::from_der(&ca_der).ok()?;
    let (_, tls) = X509Certificate::from_der(&tls_der).ok()?;
    // The CA key must still load, or nothing can be signed with it.
    KeyPair::from_pem(&set.ca_key).ok()?;
    let names: Vec<String> = tls
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let wanted = service_sans(service, namespace);
    let signed_by_ca = tls.verify_signature(Some(ca.public_key())).is_ok();
    Some(Held {
        ca: validity(&ca)?,
        serving: validity(&tls)?,
        serving_matches: signed_by_ca && wanted.iter().all(|w| names.contains(w)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_set_reads_back_with_its_lifetimes_and_names() {
        let now = Timestamp::from_second(2_000_000_000).unwrap();
        let set = issue("hook", "ns", None, now, &Lifetimes::DEFAULT).unwrap();
        let held = inspect(&set, "hook", "ns").unwrap();
        assert!(held.serving_matches);
        assert_eq!(
            held.serving.not_after,
            now.checked_add(Lifetimes::DEFAULT.serving).unwrap()
        );
        assert_eq!(
            held.ca.not_after,
            now.checked_add(Lifetimes::DEFAULT.ca).unwrap()
        );
        assert!(!inspect(&set, "other", "ns").unwrap().serving_matches);
        // Renewal keeps the CA.
        let later = now
            .checked_add(SignedDuration::from_hours(24 * 70))
            .unwrap();
        let renewed = issue(
            "hook",
            "ns",
            Some((&set.ca_cert, &set.ca_key)),
            later,
            &Lifetimes::DEFAULT,
        )
        .unwrap();
        assert_eq!(renewed.ca_cert, set.ca_cert);
        assert_ne!(renewed.tls_cert, set.tls_cert);
        assert!(inspect(&renewed, "hook", "ns").unwrap().serving_matches);
        // A serving certificate from another CA does not match this one.
        let stranger = issue("hook", "ns", None, now, &Lifetimes::DEFAULT).unwrap();
        let mixed = PemSet {
            tls_cert: stranger.tls_cert,
            ..set.clone()
        };
        assert!(!inspect(&mixed, "hook", "ns").unwrap().serving_matches);
        let broken = PemSet {
            ca_cert: "not a certificate".into(),
            ..set
        };
        assert!(inspect(&broken, "hook", "ns").is_none());
    }
}
