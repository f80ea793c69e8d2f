//! TLS for the webhook: a rustls server configuration (ring, TLS 1.2 and 1.3 only) whose
//! certificate is reloaded when its files change.
//!
//! In: the paths of a PEM certificate chain and a PEM private key. Out: a rustls
//! `ServerConfig` whose resolver hands every new handshake the pair currently held in an
//! `ArcSwap`, and a polling task that replaces that pair when the files change. The files
//! are polled (every second by default) and compared by content rather than watched with
//! inotify: Kubernetes updates a mounted Secret by swapping a `..data` symlink, which a
//! watch on the file paths misses, and mtimes can repeat within their granularity. Reading
//! two small files a second costs nothing. A pair that does not parse, or whose key does
//! not match its certificate (a half-written or half-replaced pair), is refused and the
//! previous pair keeps serving; the next poll tries again.
//!
//! When the controller keeps its own certificates, the pair comes from its Secret instead:
//! [`CertReloader::waiting`] starts with nothing to serve (handshakes fail until a pair
//! arrives) and [`CertReloader::install_pem`] is the hook the Secret's watch calls.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate pair cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{0}: no PEM certificate found")]
    NoCertificate(PathBuf),
    /// The key file holds no readable PEM private key.
    #[error("{path}: no PEM private key found: {reason}")]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// rustls refused the pair (unsupported key, key not matching the certificate).
    #[error("certificate {cert} and key {key} do not form a usable pair: {source}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The rustls error.
        source: rustls::Error,
    },
}

/// The ring provider: the one crypto provider of the process.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks a PEM certificate chain and private key.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    pair_from_pem(&cert_pem, &key_pem, cert, key)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    super::limits::read_small_file(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pair_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert: &Path,
    key: &Path,
) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let private = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::NoKey {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    let pair_error = |source| TlsError::Pair {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    };
    let signing = provider()
        .key_provider
        .load_private_key(private)
        .map_err(pair_error)?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        // ring can always compare its keys; an unknown answer means "cannot tell".
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(e) => Err(pair_error(e)),
    }
}

/// Hands every handshake the current certificate pair; [`CertReloader::poll`] replaces it.
#[derive(Debug)]
pub struct CertReloader {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwapOption<CertifiedKey>,
    /// The file contents last tried, so a refused pair is logged once, not every poll.
    last_seen: std::sync::Mutex<(Vec<u8>, Vec<u8>)>,
    reloads: AtomicU64,
    refusals: AtomicU64,
}

impl CertReloader {
    /// Loads the pair; fails when it is not usable now, since there is nothing to serve.
    pub fn new(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let cert_pem = read(cert)?;
        let key_pem = read(key)?;
        let pair = pair_from_pem(&cert_pem, &key_pem, cert, key)?;
        Ok(CertReloader {
            cert_path: cert.to_owned(),
            key_path: key.to_owned(),
            current: ArcSwapOption::from_pointee(pair),
            last_seen: std::sync::Mutex::new((cert_pem, key_pem)),
            reloads: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
        })
    }

    /// Re-reads the files; swaps in the new pair when they changed and form a usable pair.
    /// Returns true when a new pair was installed.
    pub fn poll(&self) -> bool {
        if self.cert_path.as_os_str().is_empty() {
            return false;
        }
        let (cert_pem, key_pem) = match (read(&self.cert_path), read(&self.key_path)) {
            (Ok(c), Ok(k)) => (c, k),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "certificate files not readable; keeping the current pair");
                return false;
            }
        };
        let Ok(mut last) = self.last_seen.lock() else {
            return false;
        };
        if last.0 == cert_pem && last.1 == key_pem {
            return false;
        }
        *last = (cert_pem, key_pem);
        self.swap(pair_from_pem(
            &last.0,
            &last.1,
            &self.cert_path,
            &self.key_path,
        ))
    }

    /// A reloader with nothing to serve yet (every handshake fails) until
    /// [`CertReloader::install_pem`] or a poll of the files brings a pair.
    pub fn waiting(cert: &Path, key: &Path) -> Self {
        CertReloader {
            cert_path: cert.to_owned(),
            key_path: key.to_owned(),
            current: ArcSwapOption::empty(),
            last_seen: std::sync::Mutex::new((Vec::new(), Vec::new())),
            reloads: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
        }
    }

    /// Serves this pair from now on when it differs from the pair last seen and is usable
    /// (the hook for certificates read from a Secret). Returns true when it was installed.
    pub fn install_pem(&self, cert_pem: &[u8], key_pem: &[u8]) -> bool {
        let Ok(mut last) = self.last_seen.lock() else {
            return false;
        };
        if last.0 == cert_pem && last.1 == key_pem {
            return false;
        }
        *last = (cert_pem.to_vec(), key_pem.to_vec());
        let from = Path::new("<secret>");
        self.swap(pair_from_pem(cert_pem, key_pem, from, from))
    }

    fn swap(&self, pair: Result<CertifiedKey, TlsError>) -> bool {
        match pair {
            Ok(pair) => {
                self.current.store(Some(Arc::new(pair)));
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(cert = %self.cert_path.display(), "serving certificate reloaded");
                true
            }
            Err(error) => {
                self.refusals.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "new certificate refused; the previous pair keeps serving");
                false
            }
        }
    }

    /// Pairs installed by [`CertReloader::poll`] so far.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Changed file contents refused so far.
    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }

    /// The certificate chain currently served (empty while waiting for one).
    pub fn current_chain(&self) -> Vec<CertificateDer<'static>> {
        self.current
            .load()
            .as_ref()
            .map(|pair| pair.cert.clone())
            .unwrap_or_default()
    }

    /// Polls every `interval` until the returned handle is aborted or dropped with the
    /// runtime.
    pub fn spawn_polling(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let reloader = Arc::clone(&me);
                // File reads are blocking; keep them off the runtime's threads.
                if tokio::task::spawn_blocking(move || reloader.poll())
                    .await
                    .is_err()
                {
                    tracing::warn!("certificate poll task failed");
                }
            }
        })
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }
}

/// A rustls server configuration: ring, TLS 1.3 and 1.2 only, HTTP/1.1, certificates from
/// `resolver`.
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
