//! Liveness and readiness, shared between the actors and the HTTP handlers.
//!
//! In: actors report sync, watch health, heartbeats and shutdown. Out: `/healthz` (every
//! actor has beaten recently) and `/readyz` (first full sync done, every watch healthy,
//! not shutting down). Plain atomics: handlers on other threads read them without a
//! mailbox round-trip.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long an actor may stay silent before `/healthz` fails.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often actors beat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// Process health.
#[derive(Debug, Default)]
pub struct Health {
    synced: AtomicBool,
    watch_healthy: AtomicBool,
    shutting_down: AtomicBool,
    heartbeats: Mutex<BTreeMap<&'static str, Instant>>,
}

/// Why the process is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// The first full list has not completed.
    NotSynced,
    /// The watch is failing.
    WatchFailing,
    /// The process is shutting down.
    ShuttingDown,
}

impl NotReady {
    /// Text for the `/readyz` body.
    pub fn as_str(self) -> &'static str {
        match self {
            NotReady::NotSynced => "waiting for the first full sync",
            NotReady::WatchFailing => "watch is failing",
            NotReady::ShuttingDown => "shutting down",
        }
    }
}

impl Health {
    /// The first full list completed and the watch is healthy.
    pub fn set_synced(&self) {
        self.synced.store(true, Ordering::Release);
        self.watch_healthy.store(true, Ordering::Release);
    }

    /// The watch delivered an event (healthy) or an error (unhealthy).
    pub fn set_watch_healthy(&self, healthy: bool) {
        self.watch_healthy.store(healthy, Ordering::Release);
    }

    /// Shutdown began: readiness turns false at once and stays false.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Whether shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Readiness.
    pub fn ready(&self) -> Result<(), NotReady> {
        if self.shutting_down.load(Ordering::Acquire) {
            Err(NotReady::ShuttingDown)
        } else if !self.synced.load(Ordering::Acquire) {
            Err(NotReady::NotSynced)
        } else if !self.watch_healthy.load(Ordering::Acquire) {
            Err(NotReady::WatchFailing)
        } else {
            Ok(())
        }
    }

    /// An actor is alive.
    pub fn beat(&self, actor: &'static str) {
        if let Ok(mut beats) = self.heartbeats.lock() {
            beats.insert(actor, Instant::now());
        }
    }

    /// Actors that have not beaten within [`HEARTBEAT_TIMEOUT`]; empty when all are alive.
    pub fn stale(&self) -> Vec<&'static str> {
        let now = Instant::now();
        match self.heartbeats.lock() {
            Ok(beats) => beats
                .iter()
                .filter(|(_, at)| now.duration_since(**at) > HEARTBEAT_TIMEOUT)
                .map(|(name, _)| *name)
                .collect(),
            Err(_) => vec!["health-state"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_a_sync_a_healthy_watch_and_no_shutdown() {
        let h = Health::default();
        assert_eq!(h.ready(), Err(NotReady::NotSynced));
        h.set_synced();
        assert_eq!(h.ready(), Ok(()));
        h.set_watch_healthy(false);
        assert_eq!(h.ready(), Err(NotReady::WatchFailing));
        h.set_watch_healthy(true);
        h.set_shutting_down();
        assert_eq!(h.ready(), Err(NotReady::ShuttingDown));
    }

    #[test]
    fn fresh_heartbeats_are_not_stale() {
        let h = Health::default();
        h.beat("a");
        assert!(h.stale().is_empty());
    }
}
