//! Liveness and readiness: one model for the ops server and the webhook.
//!
//! In: each watch reports its state (waiting for its first list, live, failing and why),
//! actors beat, and the shutdown owner says when stopping begins. Out: `/healthz` (every
//! actor has beaten recently) and, through a [`Readiness`] naming the watches a server
//! depends on, `/readyz`: ready means not shutting down and, for every such watch, the
//! last list succeeded and the watch since then is live (events arrive, or the API server
//! answered a probe on the same resource). Watches that come and go (the related-object
//! watches) join a group while they run; a server depending on the group depends on each
//! watch in it at the time of asking. Plain atomics and short locks: handlers on
//! other threads read them without a mailbox round-trip.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an actor may stay silent before `/healthz` fails.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often actors beat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// Component name of the pod watch.
pub const PODS: &str = "pods";
/// Component name of the DevOpsPolicy watch (the policy source).
pub const POLICIES: &str = "devopspolicies";
/// Group of the related-object watches: each registers under its resource while it runs.
pub const RELATED: &str = "related";

/// The state of one watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchState {
    /// Registered; its first list has not completed.
    Waiting,
    /// Listed, and live since.
    Live,
    /// Not live; the text says why.
    Failing(String),
}

/// Why a server is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The process is shutting down.
    ShuttingDown,
    /// A watch the server depends on has not completed its first list.
    NotSynced(&'static str),
    /// A watch the server depends on is failing.
    Failing(&'static str, String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::ShuttingDown => f.write_str("shutting down"),
            NotReady::NotSynced(c) => write!(f, "{c}: waiting for the first full list"),
            NotReady::Failing(c, why) => write!(f, "{c}: {why}"),
        }
    }
}

/// Process health: watches, heartbeats, shutdown.
#[derive(Debug, Default)]
pub struct Health {
    shutting_down: AtomicBool,
    watches: Mutex<BTreeMap<&'static str, WatchState>>,
    /// The group of each watch that belongs to one (watches that come and go).
    groups: Mutex<BTreeMap<&'static str, &'static str>>,
    heartbeats: Mutex<BTreeMap<&'static str, Instant>>,
}

impl Health {
    /// Sets a watch's state (registering it on first use).
    pub fn set(&self, watch: &'static str, state: WatchState) {
        if let Ok(mut w) = self.watches.lock() {
            w.insert(watch, state);
        }
    }

    /// Registers a watch of `group`, waiting for its first list: a server depending on the
    /// group depends on it until it is [removed](Health::remove).
    pub fn join(&self, group: &'static str, watch: &'static str) {
        if let Ok(mut g) = self.groups.lock() {
            g.insert(watch, group);
        }
        self.set(watch, WatchState::Waiting);
    }

    /// Forgets a watch (it stopped on purpose): it no longer counts for readiness.
    pub fn remove(&self, watch: &'static str) {
        if let Ok(mut g) = self.groups.lock() {
            g.remove(watch);
        }
        if let Ok(mut w) = self.watches.lock() {
            w.remove(watch);
        }
    }

    /// The watches of `group` registered now.
    pub fn members(&self, group: &str) -> Vec<&'static str> {
        self.groups.lock().map_or_else(
            |_| Vec::new(),
            |g| {
                g.iter()
                    .filter(|(_, of)| **of == group)
                    .map(|(watch, _)| *watch)
                    .collect()
            },
        )
    }

    /// A watch's state; `None` when it never reported.
    pub fn state(&self, watch: &str) -> Option<WatchState> {
        self.watches.lock().ok()?.get(watch).cloned()
    }

    /// The first full list of the pod watch completed and the watch is live (shorthand
    /// for tests and embedders).
    pub fn set_synced(&self) {
        self.set(PODS, WatchState::Live);
    }

    /// Shutdown began: every readiness turns false at once and stays false.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Whether shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Readiness for a server depending on `watches` (a watch that never reported counts
    /// as not synced).
    pub fn ready_for(&self, watches: &[&'static str]) -> Result<(), NotReady> {
        self.ready_for_groups(watches, &[])
    }

    /// Readiness for a server depending on `watches` and on every watch registered in
    /// one of `groups` now.
    pub fn ready_for_groups(
        &self,
        watches: &[&'static str],
        groups: &[&'static str],
    ) -> Result<(), NotReady> {
        if self.is_shutting_down() {
            return Err(NotReady::ShuttingDown);
        }
        let members = groups.iter().flat_map(|g| self.members(g));
        for name in watches.iter().copied().chain(members) {
            match self.state(name) {
                Some(WatchState::Live) => {}
                Some(WatchState::Failing(why)) => return Err(NotReady::Failing(name, why)),
                Some(WatchState::Waiting) | None => return Err(NotReady::NotSynced(name)),
            }
        }
        Ok(())
    }

    /// Readiness of the pod watch alone (the ops server of a process that only scores).
    pub fn ready(&self) -> Result<(), NotReady> {
        self.ready_for(&[PODS])
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

/// One server's view of the health: the watches it depends on.
#[derive(Debug, Clone)]
pub struct Readiness {
    health: Arc<Health>,
    watches: Vec<&'static str>,
    groups: Vec<&'static str>,
}

impl Default for Readiness {
    /// A readiness of its own depending on the policy watch (a webhook served on its own,
    /// or a test).
    fn default() -> Self {
        Readiness::new(Arc::new(Health::default()), &[POLICIES])
    }
}

impl Readiness {
    /// A server of `health` depending on `watches`.
    pub fn new(health: Arc<Health>, watches: &[&'static str]) -> Self {
        Readiness {
            health,
            watches: watches.to_vec(),
            groups: Vec::new(),
        }
    }

    /// The same view, also depending on every watch of `group` that runs at the time of
    /// asking (see [`Health::join`]).
    pub fn with_group(mut self, group: &'static str) -> Self {
        self.groups.push(group);
        self
    }

    /// Ready, or why not.
    pub fn check(&self) -> Result<(), NotReady> {
        self.health.ready_for_groups(&self.watches, &self.groups)
    }

    /// Ready.
    pub fn is_ready(&self) -> bool {
        self.check().is_ok()
    }

    /// Marks every watch this server depends on live (tests, load runs).
    pub fn set_synced(&self) {
        for w in &self.watches {
            self.health.set(w, WatchState::Live);
        }
    }

    /// Marks the start of shutdown: not ready from now on (for every server of the
    /// process, which share one health).
    pub fn set_stopping(&self) {
        self.health.set_shutting_down();
    }

    /// True while shutting down.
    pub fn is_stopping(&self) -> bool {
        self.health.is_shutting_down()
    }

    /// The watches this server depends on.
    pub fn watches(&self) -> &[&'static str] {
        &self.watches
    }

    /// The shared health.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_every_watch_live_and_no_shutdown() {
        let h = Arc::new(Health::default());
        let ops = Readiness::new(h.clone(), &[PODS, POLICIES]);
        let webhook = Readiness::new(h.clone(), &[POLICIES]);
        assert_eq!(ops.check(), Err(NotReady::NotSynced(PODS)));
        h.set(POLICIES, WatchState::Live);
        assert!(webhook.is_ready());
        assert_eq!(ops.check(), Err(NotReady::NotSynced(PODS)));
        h.set(PODS, WatchState::Live);
        assert!(ops.is_ready());
        h.set(POLICIES, WatchState::Failing("CRD missing".into()));
        assert_eq!(
            webhook.check(),
            Err(NotReady::Failing(POLICIES, "CRD missing".into()))
        );
        assert!(
            webhook
                .check()
                .unwrap_err()
                .to_string()
                .contains("CRD missing")
        );
        h.set(POLICIES, WatchState::Live);
        webhook.set_stopping();
        assert_eq!(ops.check(), Err(NotReady::ShuttingDown));
    }

    #[test]
    fn a_group_gates_readiness_by_the_watches_it_holds_now() {
        let h = Arc::new(Health::default());
        h.set(PODS, WatchState::Live);
        let ops = Readiness::new(h.clone(), &[PODS]).with_group(RELATED);
        let plain = Readiness::new(h.clone(), &[PODS]);
        assert!(ops.is_ready(), "an empty group gates nothing");
        h.join(RELATED, "services");
        assert_eq!(ops.check(), Err(NotReady::NotSynced("services")));
        assert!(plain.is_ready(), "a view without the group ignores it");
        h.set("services", WatchState::Live);
        assert!(ops.is_ready());
        h.join(RELATED, "roles");
        h.set("roles", WatchState::Failing("no answer".into()));
        assert_eq!(
            ops.check(),
            Err(NotReady::Failing("roles", "no answer".into()))
        );
        h.remove("roles");
        assert!(ops.is_ready(), "a watch stopped on purpose no longer gates");
        assert_eq!(h.state("roles"), None);
    }

    #[test]
    fn fresh_heartbeats_are_not_stale() {
        let h = Health::default();
        h.beat("a");
        assert!(h.stale().is_empty());
    }
}
