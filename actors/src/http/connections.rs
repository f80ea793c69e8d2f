//! Oldest-idle eviction of the webhook's established connections.
//!
//! In: each connection once its TLS handshake is done (actix-web's `on_connect` hook hands
//! over the stream), and the start and end of each request on it. Out: when more
//! connections are established than the cap allows, the one idle the longest is shut
//! down, so a client that opens connections and leaves them idle on keep-alive cannot
//! take the slots honest clients (the API server) need. A connection with a request in
//! progress is never evicted (slow requests are ended by their own deadlines, see
//! `limits.rs`). actix-web cannot close a connection from outside, so the table keeps a
//! duplicate of each evictable socket's descriptor and shuts the socket down through it:
//! the server then reads end-of-stream and drops the connection itself. Duplicates are
//! kept for at most `cap` connections, so the table never takes more descriptors than the
//! budget `ConnectionLimits` sets aside for it.

use std::any::Any;
use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use actix_web::dev::Extensions;

/// The established connections of one server, with the descriptors to evict them.
#[derive(Debug)]
pub struct ConnectionTable {
    cap: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    entries: HashMap<u64, Entry>,
    evicted: u64,
}

#[derive(Debug)]
struct Entry {
    /// A duplicate of the connection's socket, when it may be evicted.
    socket: Option<TcpStream>,
    /// Requests in progress on the connection.
    requests: usize,
    /// Since when the connection has been idle (it starts idle after its handshake).
    idle_since: Instant,
    /// Already shut down, waiting for the server to drop it.
    evicted: bool,
}

/// What the table needs to know of an entry to pick one to evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The entry's id.
    pub id: u64,
    /// Whether it can be shut down (a descriptor is kept, not already evicted).
    pub evictable: bool,
    /// Requests in progress.
    pub requests: usize,
    /// Since when it has been idle.
    pub idle_since: Instant,
}

/// The connection to evict among `candidates`, other than `newcomer`: the one idle the
/// longest among those with no request in progress; none when every other is busy.
pub fn oldest_idle(candidates: impl IntoIterator<Item = Candidate>, newcomer: u64) -> Option<u64> {
    candidates
        .into_iter()
        .filter(|c| c.id != newcomer && c.evictable && c.requests == 0)
        .min_by_key(|c| (c.idle_since, c.id))
        .map(|c| c.id)
}

impl ConnectionTable {
    /// A table that evicts once more than `cap` connections are established.
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(ConnectionTable {
            cap: cap.max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The table holds no invariant a panicking holder could break halfway.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// actix-web's `on_connect` hook: registers the connection (a rustls stream over TCP)
    /// and puts its [`Ticket`] in the connection's data; other stream types are ignored.
    pub fn on_connect(self: &Arc<Self>, io: &dyn Any, data: &mut Extensions) {
        type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
        let Some(stream) = io.downcast_ref::<Tls>() else {
            return;
        };
        let (tcp, _) = stream.get_ref();
        data.insert(self.register(|| duplicate(tcp)));
    }

    /// Registers a new established connection; `duplicate` gives a descriptor to evict it
    /// by, asked for only while fewer than the cap hold one. Evicts the oldest idle
    /// connection when the table is over its cap.
    pub fn register(self: &Arc<Self>, duplicate: impl FnOnce() -> Option<TcpStream>) -> Ticket {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let held = inner
            .entries
            .values()
            .filter(|e| e.socket.is_some())
            .count();
        let socket = if held < self.cap { duplicate() } else { None };
        inner.entries.insert(
            id,
            Entry {
                socket,
                requests: 0,
                idle_since: Instant::now(),
                evicted: false,
            },
        );
        let live = inner.entries.values().filter(|e| !e.evicted).count();
        if live > self.cap {
            let candidates = inner.entries.iter().map(|(&id, e)| Candidate {
                id,
                evictable: e.socket.is_some() && !e.evicted,
                requests: e.requests,
                idle_since: e.idle_since,
            });
            if let Some(victim) = oldest_idle(candidates, id) {
                if let Some(entry) = inner.entries.get_mut(&victim) {
                    entry.evicted = true;
                    if let Some(socket) = entry.socket.take() {
                        // The server sees end-of-stream and drops the connection.
                        if let Err(error) = socket.shutdown(Shutdown::Both) {
                            tracing::debug!(%error, "evicted connection was already closed");
                        }
                    }
                }
                inner.evicted += 1;
                tracing::debug!(live, cap = self.cap, "evicted the oldest idle connection");
            }
        }
        Ticket {
            id,
            table: self.clone(),
        }
    }

    /// Connections established and not yet dropped by the server.
    pub fn open(&self) -> usize {
        self.lock().entries.len()
    }

    /// Established connections with a request in progress.
    pub fn busy(&self) -> usize {
        self.lock()
            .entries
            .values()
            .filter(|e| e.requests > 0)
            .count()
    }

    /// Connections evicted since the start.
    pub fn evicted(&self) -> u64 {
        self.lock().evicted
    }
}

#[cfg(unix)]
fn duplicate(tcp: &actix_web::rt::net::TcpStream) -> Option<TcpStream> {
    use std::os::fd::AsFd;
    match tcp.as_fd().try_clone_to_owned() {
        Ok(fd) => Some(TcpStream::from(fd)),
        Err(error) => {
            tracing::debug!(%error, "connection kept without eviction");
            None
        }
    }
}

#[cfg(not(unix))]
fn duplicate(_: &actix_web::rt::net::TcpStream) -> Option<TcpStream> {
    None
}

/// A connection's place in the table, kept in its connection data; dropped with the
/// connection, it leaves the table.
#[derive(Debug)]
pub struct Ticket {
    id: u64,
    table: Arc<ConnectionTable>,
}

impl Ticket {
    /// Marks a request in progress until the returned guard is dropped.
    pub fn request(&self) -> RequestGuard {
        if let Some(entry) = self.table.lock().entries.get_mut(&self.id) {
            entry.requests += 1;
        }
        RequestGuard {
            id: self.id,
            table: self.table.clone(),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.table.lock().entries.remove(&self.id);
    }
}

/// A request in progress; dropped when its response is ready, the connection is idle again.
#[derive(Debug)]
pub struct RequestGuard {
    id: u64,
    table: Arc<ConnectionTable>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if let Some(entry) = self.table.lock().entries.get_mut(&self.id) {
            entry.requests = entry.requests.saturating_sub(1);
            entry.idle_since = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(base: Instant, seconds: u64) -> Instant {
        base + Duration::from_secs(seconds)
    }

    fn candidate(id: u64, requests: usize, idle_since: Instant) -> Candidate {
        Candidate {
            id,
            evictable: true,
            requests,
            idle_since,
        }
    }

    #[test]
    fn the_connection_idle_the_longest_is_evicted_never_a_busy_one_or_the_newcomer() {
        let t = Instant::now();
        let all = [
            candidate(1, 1, at(t, 0)),
            candidate(2, 0, at(t, 5)),
            candidate(3, 0, at(t, 2)),
            candidate(4, 0, at(t, 9)),
        ];
        assert_eq!(oldest_idle(all, 4), Some(3));
        assert_eq!(oldest_idle(all, 3), Some(2));
        let busy = [candidate(1, 1, at(t, 0)), candidate(2, 2, at(t, 1))];
        assert_eq!(oldest_idle(busy, 9), None);
        let newcomer_only = [candidate(7, 0, at(t, 0))];
        assert_eq!(oldest_idle(newcomer_only, 7), None);
    }

    #[test]
    fn a_connection_without_a_descriptor_is_not_picked() {
        let t = Instant::now();
        let mut kept = candidate(1, 0, at(t, 0));
        kept.evictable = false;
        assert_eq!(oldest_idle([kept, candidate(2, 0, at(t, 3))], 3), Some(2));
    }

    #[test]
    fn the_table_counts_tickets_and_a_request_keeps_its_connection() {
        let table = ConnectionTable::new(2);
        let first = table.register(|| None);
        let request = first.request();
        let second = table.register(|| None);
        assert_eq!(table.open(), 2);
        // Over the cap, but nothing holds a descriptor: nothing can be evicted.
        let third = table.register(|| None);
        assert_eq!((table.open(), table.evicted()), (3, 0));
        drop((request, second, third));
        assert_eq!(table.open(), 1);
        drop(first);
        assert_eq!(table.open(), 0);
    }
}
