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
//! budget `ConnectionLimits` sets aside for it. Every event costs O(log n): the idle
//! evictable connections are kept ordered by the time they became idle.

use std::any::Any;
use std::collections::{BTreeSet, HashMap};
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
    /// Evictable connections with no request in progress, idle the longest first.
    idle: BTreeSet<(Instant, u64)>,
    /// Entries holding a duplicate descriptor.
    held: usize,
    /// Entries not evicted.
    live: usize,
    evicted: u64,
}

#[derive(Debug)]
struct Entry {
    /// A duplicate of the connection's socket, while it may be evicted.
    socket: Option<TcpStream>,
    /// Requests in progress on the connection.
    requests: usize,
    /// Since when the connection has been idle (it starts idle after its handshake).
    idle_since: Instant,
    /// Already shut down, waiting for the server to drop it.
    evicted: bool,
}

impl Inner {
    /// Shuts down the connection idle the longest, other than `newcomer`; false when
    /// every other connection is busy or cannot be evicted.
    fn evict_oldest_idle(&mut self, newcomer: u64) -> bool {
        let Some(&(since, victim)) = self.idle.iter().find(|(_, id)| *id != newcomer) else {
            return false;
        };
        self.idle.remove(&(since, victim));
        let Some(entry) = self.entries.get_mut(&victim) else {
            return false;
        };
        let Some(socket) = entry.socket.take() else {
            return false;
        };
        entry.evicted = true;
        // The server sees end-of-stream and drops the connection, and with it the ticket.
        if let Err(error) = socket.shutdown(Shutdown::Both) {
            tracing::debug!(%error, "evicted connection was already closed");
        }
        self.held -= 1;
        self.live -= 1;
        self.evicted += 1;
        true
    }
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
        // Every update is complete before the lock is released; a poisoned lock only
        // means a holder panicked in between two of them.
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
        let socket = if inner.held < self.cap {
            duplicate()
        } else {
            None
        };
        let now = Instant::now();
        if socket.is_some() {
            inner.held += 1;
            inner.idle.insert((now, id));
        }
        inner.live += 1;
        inner.entries.insert(
            id,
            Entry {
                socket,
                requests: 0,
                idle_since: now,
                evicted: false,
            },
        );
        if inner.live > self.cap && inner.evict_oldest_idle(id) {
            tracing::debug!(cap = self.cap, "evicted the oldest idle connection");
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
        let mut inner = self.table.lock();
        if let Some(entry) = inner.entries.get_mut(&self.id) {
            entry.requests += 1;
            let since = entry.idle_since;
            inner.idle.remove(&(since, self.id));
        }
        RequestGuard {
            id: self.id,
            table: self.table.clone(),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.table.lock();
        let Some(entry) = inner.entries.remove(&self.id) else {
            return;
        };
        if !entry.evicted {
            inner.live -= 1;
        }
        if entry.socket.is_some() {
            inner.held -= 1;
            inner.idle.remove(&(entry.idle_since, self.id));
        }
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
        let mut inner = self.table.lock();
        let Some(entry) = inner.entries.get_mut(&self.id) else {
            return;
        };
        entry.requests = entry.requests.saturating_sub(1);
        entry.idle_since = Instant::now();
        if entry.requests == 0 && entry.socket.is_some() {
            let since = entry.idle_since;
            inner.idle.insert((since, self.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;

    use super::*;

    /// Both ends of a loopback connection: (the server's, the client's).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    /// Registers a connection as the server does, giving the table a duplicate of its end;
    /// returns its ticket, the server's own end (held as the server holds it) and the
    /// client's end.
    fn connect(table: &Arc<ConnectionTable>) -> ((Ticket, TcpStream), TcpStream) {
        let (server, client) = pair();
        let ticket = table.register(|| server.try_clone().ok());
        ((ticket, server), client)
    }

    /// Whether the server shut the connection down (waits for its end-of-stream).
    fn closed(client: &mut TcpStream) -> bool {
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        matches!(client.read(&mut [0u8; 8]), Ok(0))
    }

    /// Whether the connection is still open: nothing to read, and no end-of-stream.
    fn open(client: &mut TcpStream) -> bool {
        client.set_nonblocking(true).unwrap();
        let read = client.read(&mut [0u8; 8]);
        client.set_nonblocking(false).unwrap();
        matches!(read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    #[test]
    fn over_the_cap_the_connection_idle_the_longest_goes_never_a_busy_one() {
        let table = ConnectionTable::new(3);
        let (first, mut first_client) = connect(&table);
        let (second, mut second_client) = connect(&table);
        let (third, mut third_client) = connect(&table);
        // The first is busy; the third finishes a request, so the second is idle longest.
        let busy = first.0.request();
        drop(third.0.request());
        let (_fourth, mut fourth_client) = connect(&table);
        assert_eq!(table.evicted(), 1);
        assert!(closed(&mut second_client));
        assert!(open(&mut first_client) && open(&mut third_client));
        assert!(open(&mut fourth_client));
        // The server drops the evicted connection; the table is at its cap again.
        drop(second);
        assert_eq!(table.open(), 3);
        // Idle again, the first is now the youngest idle one: the third goes next.
        drop(busy);
        let (_fifth, _) = connect(&table);
        assert_eq!(table.evicted(), 2);
        assert!(closed(&mut third_client));
        assert!(open(&mut first_client));
    }

    #[test]
    fn with_every_other_connection_busy_nothing_is_evicted() {
        let table = ConnectionTable::new(1);
        let (first, mut first_client) = connect(&table);
        let _busy = first.0.request();
        let (_second, _) = connect(&table);
        assert_eq!((table.open(), table.evicted()), (2, 0));
        assert!(open(&mut first_client));
    }

    #[test]
    fn duplicates_are_kept_for_at_most_the_cap_and_tickets_leave_the_table() {
        let table = ConnectionTable::new(2);
        let (a, _) = connect(&table);
        let (b, _) = connect(&table);
        let mut asked = false;
        let c = table.register(|| {
            asked = true;
            None
        });
        assert!(!asked, "no third duplicate under a cap of two");
        // Over the cap: the connection idle the longest is evicted.
        assert_eq!(table.evicted(), 1);
        assert_eq!(table.busy(), 0);
        let request = c.request();
        assert_eq!(table.busy(), 1);
        drop((a, b, request, c));
        assert_eq!(table.open(), 0);
        let (_d, _) = connect(&table);
        assert_eq!(table.inner.lock().unwrap().held, 1);
    }
}
