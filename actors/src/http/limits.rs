//! What one client may hold of the webhook: time for each step of a request, connections,
//! and the open-file budget they come out of.
//!
//! In: the process's open-file limit (raised to its hard limit at start by
//! [`raise_open_file_limit`]) and the worker count. Out: [`ConnectionLimits`], the
//! deadlines and caps the HTTPS server is built with. A client that never starts TLS is
//! closed after the handshake deadline, one that sends its request head slowly after the
//! head deadline, one that sends its body slowly after the body deadline (the handler reads
//! the body, see `body.rs`); so hostile connections cost a slot for seconds, not forever.
//! TLS handshakes in progress are not capped below the connection cap: they cost memory,
//! not CPU, while they wait, and a low cap made honest handshakes queue behind thousands of
//! silent ones. Connections are capped so that they never take the file descriptors the
//! rest of the process needs (the API client, certificate reads, the ops server). A third
//! of the budget is set aside for evicting: over that many established connections, a new
//! one makes the server shut down the connection idle the longest (`connections.rs`, which
//! keeps one duplicate descriptor per evictable connection), so connections left idle on
//! keep-alive cannot fill the rest; at the hard cap the server stops accepting until
//! deadlines or evictions free slots.

use std::time::Duration;

/// Time a client gets to finish its TLS handshake. The API server's own webhook timeout
/// is 3 s for the whole call, so an honest handshake never comes near it.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Time a client gets to send its request head.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a client gets to send its request body, from the end of the head.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a closing connection gets to shut down cleanly.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// File descriptors kept for everything but webhook connections.
pub const RESERVED_FILES: u64 = 256;
/// Connections when the open-file limit cannot be read.
pub const FALLBACK_CONNECTIONS: usize = 768;
/// Pending connections the kernel queues while every worker is at its cap.
pub const BACKLOG: u32 = 4096;

/// Deadlines and caps of the HTTPS server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// TLS handshake deadline.
    pub handshake_timeout: Duration,
    /// Request head deadline.
    pub head_timeout: Duration,
    /// Open connections per worker; at the cap a worker stops accepting.
    pub connections_per_worker: usize,
    /// TLS handshakes in progress per worker.
    pub handshakes_per_worker: usize,
    /// Established connections (all workers) above which the oldest idle one is evicted.
    pub established: usize,
}

impl ConnectionLimits {
    /// Limits for `workers` workers under an open-file limit of `open_files`: of every
    /// descriptor but [`RESERVED_FILES`], a third is kept for the duplicates that evict
    /// established connections over that count, the rest may hold connections, and
    /// handshakes in progress may use all of those.
    pub fn for_open_files(open_files: Option<u64>, workers: usize) -> Self {
        let workers = workers.max(1);
        let budget = open_files
            .map(|n| usize::try_from(n.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX))
            .unwrap_or(FALLBACK_CONNECTIONS)
            .clamp(2 * workers, 1 << 20);
        let established = (budget / 3).max(1);
        let per_worker = ((budget - established) / workers).max(1);
        ConnectionLimits {
            handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            head_timeout: REQUEST_HEAD_TIMEOUT,
            connections_per_worker: per_worker,
            handshakes_per_worker: per_worker,
            established,
        }
    }

    /// Limits from this process's current open-file limit.
    pub fn current(workers: usize) -> Self {
        Self::for_open_files(open_file_limit(), workers)
    }
}

/// Largest certificate, key or token file read.
pub const MAX_SMALL_FILE_BYTES: u64 = 1024 * 1024;

/// Reads a small configuration file (a PEM certificate or key, a token): only a regular
/// file (a link to one is followed), at most [`MAX_SMALL_FILE_BYTES`], counted by the
/// bytes read, so a path pointing at a device or a FIFO can neither block nor fill memory.
pub fn read_small_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SMALL_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SMALL_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_SMALL_FILE_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// The soft open-file limit, when the platform has one.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Raises the soft open-file limit to the hard limit (containers often start at a soft
/// 1,024 under a far higher hard limit) and logs both. Returns the soft limit in force.
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let (soft, hard) = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
            Ok(limits) => limits,
            Err(error) => {
                tracing::warn!(%error, "cannot read the open-file limit");
                return None;
            }
        };
        match rlimit::increase_nofile_limit(hard) {
            Ok(raised) => {
                tracing::info!(
                    before = soft,
                    after = raised,
                    hard,
                    "open-file limit raised to the hard limit"
                );
                Some(raised)
            }
            Err(error) => {
                tracing::warn!(%error, soft, hard, "cannot raise the open-file limit");
                Some(soft)
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_and_eviction_descriptors_share_all_but_the_reserved_ones() {
        let limits = ConnectionLimits::for_open_files(Some(1024), 2);
        assert_eq!(limits.established, 256);
        assert_eq!(limits.connections_per_worker, 256);
        assert_eq!(limits.handshakes_per_worker, limits.connections_per_worker);
        let descriptors = 2 * limits.connections_per_worker + limits.established;
        assert!(descriptors as u64 <= 1024 - RESERVED_FILES, "{descriptors}");
    }

    #[test]
    fn a_tiny_or_unknown_limit_still_leaves_each_worker_a_connection() {
        let tiny = ConnectionLimits::for_open_files(Some(10), 4);
        assert_eq!((tiny.connections_per_worker, tiny.established), (1, 2));
        let unknown = ConnectionLimits::for_open_files(None, 2);
        assert_eq!(unknown.established, FALLBACK_CONNECTIONS / 3);
        assert_eq!(
            unknown.connections_per_worker,
            (FALLBACK_CONNECTIONS - FALLBACK_CONNECTIONS / 3) / 2
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_small_file_is_read_but_a_device_is_refused_unread() {
        let dir = std::env::temp_dir().join(format!("kd-small-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "abc").unwrap();
        assert_eq!(read_small_file(&file).unwrap(), b"abc");
        let zero = read_small_file(std::path::Path::new("/dev/zero")).unwrap_err();
        assert_eq!(zero.kind(), std::io::ErrorKind::InvalidInput);
        std::fs::write(&file, vec![b'a'; MAX_SMALL_FILE_BYTES as usize + 1]).unwrap();
        assert!(read_small_file(&file).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn raising_the_limit_leaves_the_soft_limit_at_the_hard_limit() {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("limits");
        // Start below the hard limit, as containers do, but high enough for other tests.
        rlimit::setrlimit(rlimit::Resource::NOFILE, hard.min(4096), hard).expect("lowered");
        let raised = raise_open_file_limit().expect("a limit");
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("limits");
        assert_eq!(raised, soft);
        // macOS caps the soft limit below an unlimited hard limit.
        assert!(soft == hard || cfg!(target_os = "macos"), "{soft} {hard}");
    }
}
