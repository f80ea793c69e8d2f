//! Whether a watch is live, for the watches readiness depends on (pods, DevOpsPolicies,
//! the related-object watches policies need).
//!
//! In: the events and errors of one `kube_runtime::watcher` stream, and the answers to
//! probes. Out: the watch's state in the shared [`Health`], the restart backoff, and when
//! to probe. The rules: a watch is live only after a list completed (`InitDone`), not at
//! the event that starts a list (`Init`); an error turns it failing until a fresh watcher
//! has listed again (the caller restarts the stream, so readiness returns with a real
//! list); and a watch that has delivered nothing for [`PROBE_IDLE`] is proved live by a
//! one-object list of the same resource with a [`PROBE_TIMEOUT`] deadline. A probe that
//! fails or hangs turns the watch failing at once and restarts it: during an outage the
//! stream can stay open and silent, and the scores it feeds would be stale.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use kube::runtime::watcher::Event;
use serde::de::DeserializeOwned;

use super::health::{Health, WatchState};

/// A watch silent this long is probed.
pub const PROBE_IDLE: Duration = Duration::from_secs(5);
/// How long a probe may take before the API server counts as not answering.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the owner checks whether a probe is due.
pub const PROBE_TICK: Duration = Duration::from_secs(1);

/// How long the API server keeps each watch request open before the watcher renews it
/// (from the last resourceVersion: no relist). Below the client's 30 s read timeout, so a
/// quiet watch (no event, a bookmark only about every minute from a real API server) is
/// renewed before the client would give up on it as an error, which would mean a relist.
pub const WATCH_TIMEOUT_SECS: u32 = 25;

/// A watcher configuration with [`WATCH_TIMEOUT_SECS`].
pub fn watch_config() -> kube::runtime::watcher::Config {
    kube::runtime::watcher::Config::default().timeout(WATCH_TIMEOUT_SECS)
}

/// First and largest wait before restarting a failed watch.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The liveness of one watch.
#[derive(Debug)]
pub struct Liveness {
    name: &'static str,
    health: Arc<Health>,
    listed: bool,
    last_contact: Instant,
    backoff: Duration,
    restart_pending: bool,
    probing: bool,
}

impl Liveness {
    /// A watch named `name` (its component in `health`), waiting for its first list.
    pub fn new(name: &'static str, health: Arc<Health>) -> Self {
        health.set(name, WatchState::Waiting);
        Self::registered(name, health)
    }

    /// A watch named `name` that belongs to `group` in `health` (see [`Health::join`]),
    /// waiting for its first list.
    pub fn in_group(group: &'static str, name: &'static str, health: Arc<Health>) -> Self {
        health.join(group, name);
        Self::registered(name, health)
    }

    fn registered(name: &'static str, health: Arc<Health>) -> Self {
        Liveness {
            name,
            health,
            listed: false,
            last_contact: Instant::now(),
            backoff: BACKOFF_MIN,
            restart_pending: false,
            probing: false,
        }
    }

    /// Records an event. Returns true at the end of a list.
    pub fn seen<K>(&mut self, event: &Event<K>) -> bool {
        self.last_contact = Instant::now();
        match event {
            Event::Init => {
                if self.listed {
                    self.health.set(
                        self.name,
                        WatchState::Failing("relisting after a broken watch".into()),
                    );
                }
                false
            }
            Event::InitDone => {
                self.listed = true;
                self.backoff = BACKOFF_MIN;
                self.health.set(self.name, WatchState::Live);
                true
            }
            _ => false,
        }
    }

    /// Records an error. Returns the delay before restarting the stream, or `None` when a
    /// restart is already pending.
    pub fn failed(&mut self, why: String) -> Option<Duration> {
        self.health.set(self.name, WatchState::Failing(why));
        if self.restart_pending {
            return None;
        }
        self.restart_pending = true;
        // A little jitter keeps replicas from retrying in lockstep.
        let jitter = Duration::from_millis(u64::from(std::process::id() % 250));
        let delay = self.backoff + jitter;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        Some(delay)
    }

    /// The stream was started again.
    pub fn restarted(&mut self) {
        self.restart_pending = false;
        self.probing = false;
        self.last_contact = Instant::now();
    }

    /// Whether a restart is pending.
    pub fn restart_pending(&self) -> bool {
        self.restart_pending
    }

    /// Whether a probe is due: the watch is live but has been silent for [`PROBE_IDLE`].
    pub fn probe_due(&self) -> bool {
        !self.probing
            && !self.restart_pending
            && self.health.state(self.name) == Some(WatchState::Live)
            && self.last_contact.elapsed() >= PROBE_IDLE
    }

    /// A probe was sent.
    pub fn probe_started(&mut self) {
        self.probing = true;
    }

    /// A probe answered: `Err` says why it failed. Returns the delay before restarting the
    /// stream when it failed (see [`Liveness::failed`]).
    pub fn probe_finished(&mut self, result: Result<(), String>) -> Option<Duration> {
        self.probing = false;
        match result {
            Ok(()) => {
                self.last_contact = Instant::now();
                None
            }
            Err(why) => self.failed(why),
        }
    }

    /// The component name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Lists one object of `api` within [`PROBE_TIMEOUT`]: the API server answers for this
/// resource, so a silent watch on it is quiet, not dead.
pub async fn probe<K>(api: Api<K>) -> Result<(), String>
where
    K: Clone + DeserializeOwned + Debug,
{
    match tokio::time::timeout(PROBE_TIMEOUT, api.list(&ListParams::default().limit(1))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("the API server refused a probe: {e}")),
        Err(_) => Err(format!(
            "the API server did not answer a probe within {}s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_is_live_after_its_list_completes_not_when_it_starts() {
        let h = Arc::new(Health::default());
        let mut l = Liveness::new("pods", h.clone());
        l.seen::<()>(&Event::Init);
        assert_eq!(h.state("pods"), Some(WatchState::Waiting));
        assert!(l.seen::<()>(&Event::InitDone));
        assert_eq!(h.state("pods"), Some(WatchState::Live));
        // An error, then the restarted watcher's Init: still failing until its InitDone.
        assert!(l.failed("watch error".into()).is_some());
        assert!(l.failed("again".into()).is_none(), "one restart at a time");
        l.restarted();
        l.seen::<()>(&Event::Init);
        assert!(matches!(h.state("pods"), Some(WatchState::Failing(_))));
        l.seen::<()>(&Event::InitDone);
        assert_eq!(h.state("pods"), Some(WatchState::Live));
    }

    #[test]
    fn a_failed_probe_turns_the_watch_failing_and_asks_for_a_restart() {
        let h = Arc::new(Health::default());
        let mut l = Liveness::new("pods", h.clone());
        l.seen::<()>(&Event::InitDone);
        assert!(!l.probe_due(), "not silent yet");
        l.probe_started();
        assert!(l.probe_finished(Ok(())).is_none());
        assert_eq!(h.state("pods"), Some(WatchState::Live));
        l.probe_started();
        assert!(l.probe_finished(Err("no answer".into())).is_some());
        assert_eq!(
            h.state("pods"),
            Some(WatchState::Failing("no answer".into()))
        );
    }
}
