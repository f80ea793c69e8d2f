//! Certificate generation for the webhook: a CA and a serving certificate signed by it.
//!
//! In: the Service name and namespace, extra IP SANs, an output directory. Out: `ca.crt`,
//! `ca.key`, `tls.crt`, `tls.key` (keys created with mode 0600, never readable by others
//! even for an instant; every file written to a temporary name and renamed into place, so
//! a reloading server never reads half a file). An existing CA is reused, so renewing the
//! serving certificate keeps the `caBundle` of the webhook configuration valid.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// File names in the output directory.
pub const CA_CERT: &str = "ca.crt";
/// The CA's private key, kept to renew the serving certificate.
pub const CA_KEY: &str = "ca.key";
/// The serving certificate.
pub const TLS_CERT: &str = "tls.crt";
/// The serving key.
pub const TLS_KEY: &str = "tls.key";
/// Validity of generated certificates, in days.
pub const VALIDITY_DAYS: i64 = 365;

/// Why certificates could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file exists and `--force` was not given.
    #[error("{0} already exists (use --force to overwrite)")]
    Exists(PathBuf),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// rcgen refused a parameter or key.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// The clock gave no usable date.
    #[error("cannot compute the validity period: {0}")]
    Date(String),
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct CertRequest {
    /// The webhook Service's name.
    pub service: String,
    /// Its namespace.
    pub namespace: String,
    /// Extra IP SANs (for a webhook reached by IP, e.g. 127.0.0.1).
    pub ip_sans: Vec<IpAddr>,
    /// Output directory (created if missing).
    pub out_dir: PathBuf,
    /// Overwrite existing files; with an existing CA, the CA is still reused.
    pub force: bool,
    /// Make a new CA even when one exists (needs `force` if it does).
    pub new_ca: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct GeneratedCerts {
    /// Paths written, in order.
    pub written: Vec<PathBuf>,
    /// True when an existing CA signed the new certificate.
    pub reused_ca: bool,
    /// The DNS names and IPs of the serving certificate.
    pub sans: Vec<String>,
}

/// The DNS SANs of a Service: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`.
pub fn service_sans(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

fn validity(params: &mut CertificateParams) -> Result<(), CertError> {
    let today = jiff::Zoned::now().date();
    let bad = |e: jiff::Error| CertError::Date(e.to_string());
    // A day of slack for clocks that run behind.
    let start = today.yesterday().map_err(bad)?;
    let end = today
        .checked_add(jiff::Span::new().days(VALIDITY_DAYS))
        .map_err(bad)?;
    let ymd = |d: jiff::civil::Date| {
        let month = u8::try_from(d.month()).unwrap_or(1);
        let day = u8::try_from(d.day()).unwrap_or(1);
        rcgen::date_time_ymd(i32::from(d.year()), month, day)
    };
    params.not_before = ymd(start);
    params.not_after = ymd(end);
    Ok(())
}

/// The webhook CA's parameters, without a validity period.
pub(crate) fn ca_template() -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kube-devops webhook CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn ca_params() -> Result<CertificateParams, CertError> {
    let mut params = ca_template()?;
    validity(&mut params)?;
    Ok(params)
}

/// A serving certificate's parameters for `service.namespace` (and `ip_sans`), without a
/// validity period, and its SANs.
pub(crate) fn serving_template(
    service: &str,
    namespace: &str,
    ip_sans: &[IpAddr],
) -> Result<(CertificateParams, Vec<String>), CertError> {
    let mut sans = service_sans(service, namespace);
    sans.extend(ip_sans.iter().map(IpAddr::to_string));
    let mut params = CertificateParams::new(sans.clone())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{service}.{namespace}.svc"));
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    Ok((params, sans))
}

fn serving_params(req: &CertRequest) -> Result<(CertificateParams, Vec<String>), CertError> {
    let (mut params, sans) = serving_template(&req.service, &req.namespace, &req.ip_sans)?;
    validity(&mut params)?;
    Ok((params, sans))
}

/// Generates (or renews) the certificates in `req.out_dir`.
pub fn generate(req: &CertRequest) -> Result<GeneratedCerts, CertError> {
    let dir = &req.out_dir;
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.clone(),
        source,
    })?;
    let path = |name: &str| dir.join(name);
    let existing_ca = !req.new_ca && path(CA_CERT).exists() && path(CA_KEY).exists();
    let mut targets = vec![TLS_CERT, TLS_KEY];
    if !existing_ca {
        targets.extend([CA_CERT, CA_KEY]);
    }
    if !req.force
        && let Some(taken) = targets.iter().map(|t| path(t)).find(|p| p.exists())
    {
        return Err(CertError::Exists(taken));
    }
    let (ca_key_pem, ca_pem, issuer) = if existing_ca {
        let key_pem = read_text(&path(CA_KEY))?;
        let cert_pem = read_text(&path(CA_CERT))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, KeyPair::from_pem(&key_pem)?)?;
        (key_pem, cert_pem, issuer)
    } else {
        let key = KeyPair::generate()?;
        let params = ca_params()?;
        let cert = params.self_signed(&key)?;
        (key.serialize_pem(), cert.pem(), Issuer::new(params, key))
    };
    let (params, sans) = serving_params(req)?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let mut written = Vec::new();
    if !existing_ca {
        write_atomic(&path(CA_KEY), ca_key_pem.as_bytes(), 0o600)?;
        write_atomic(&path(CA_CERT), ca_pem.as_bytes(), 0o644)?;
        written.extend([path(CA_KEY), path(CA_CERT)]);
    }
    write_atomic(&path(TLS_KEY), key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&path(TLS_CERT), cert.pem().as_bytes(), 0o644)?;
    written.extend([path(TLS_KEY), path(TLS_CERT)]);
    Ok(GeneratedCerts {
        written,
        reused_ca: existing_ca,
        sans,
    })
}

fn read_text(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes through a temporary file created with `mode` from the start, then renames it
/// over `path`: readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let _ = std::fs::remove_file(&tmp);
    let mut file = options.open(&tmp).map_err(io)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}
