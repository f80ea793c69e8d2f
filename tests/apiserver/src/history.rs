//! Watch history, one window per resource, as kube-apiserver's watch cache keeps it: a
//! write to one resource never evicts another's events. In: each event with the time it
//! was recorded; the window keeps the event itself, whose objects (after and before the
//! change) are the store's compact JSON bytes, shared with the store and the live fan-out,
//! so the history costs at most what its objects serialize to. Out: the events after a resourceVersion for one
//! resource, or the oldest version still answerable when that one has been evicted (a
//! `410 Gone` for the caller). A window starts at 100 events and doubles while its oldest
//! event is younger than the freshness period (75 s: a minute of bookmarks plus slack),
//! up to an upper bound; it halves when its newest quarter is older than that period;
//! and it never holds more than a byte budget, whatever its capacity.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::resources::TypeKey;
use crate::store::StoredEvent;

/// The smallest capacity a window shrinks to (kube-apiserver's lower bound).
pub const LOWER_BOUND: usize = 100;

/// The default largest capacity of one window, in events (kube-apiserver's upper bound).
pub const UPPER_BOUND: usize = 100 * 1024;

/// The default byte budget of one window: its events' objects as JSON.
pub const DEFAULT_BYTES: usize = 64 << 20;

/// How long a window tries to keep events (kube-apiserver's `eventFreshDuration`).
pub const FRESH: Duration = Duration::from_secs(75);

/// The bounds every window keeps to.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// The most events a window may grow to.
    pub events: usize,
    /// The most bytes (serialized objects) a window holds.
    pub bytes: usize,
    /// How long a window grows to keep events.
    pub fresh: Duration,
}

#[derive(Debug)]
struct Entry {
    rv: u64,
    event: Arc<StoredEvent>,
    recorded: Instant,
}

impl Entry {
    fn new(event: &Arc<StoredEvent>, recorded: Instant) -> Self {
        Entry {
            rv: event.rv,
            event: event.clone(),
            recorded,
        }
    }

    /// The JSON bytes of the event's objects.
    fn size(&self) -> usize {
        self.event.object.json().len() + self.event.previous.as_ref().map_or(0, |p| p.json().len())
    }
}

/// The history of one resource.
#[derive(Debug)]
struct Window {
    entries: VecDeque<Entry>,
    capacity: usize,
    bytes: usize,
    /// The newest evicted resourceVersion: versions below it are no longer answerable.
    evicted: u64,
}

impl Window {
    fn new(bounds: &Bounds) -> Self {
        Window {
            entries: VecDeque::new(),
            capacity: LOWER_BOUND.min(bounds.events),
            bytes: 0,
            evicted: 0,
        }
    }

    /// Grows or shrinks a full window by the age of its events, as the watch cache does
    /// before each insertion.
    fn resize(&mut self, now: Instant, bounds: &Bounds) {
        if self.entries.len() < self.capacity {
            return;
        }
        let lower = LOWER_BOUND.min(bounds.events);
        let oldest_fresh = self
            .entries
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.recorded) < bounds.fresh);
        if oldest_fresh {
            self.capacity = (self.capacity * 2).min(bounds.events);
            return;
        }
        let quarter = self.entries.len() - self.capacity / 4;
        let newest_stale = self
            .entries
            .get(quarter.min(self.entries.len().saturating_sub(1)))
            .is_some_and(|e| now.saturating_duration_since(e.recorded) > bounds.fresh);
        if newest_stale {
            self.capacity = (self.capacity / 2).max(lower);
        }
    }

    fn evict_front(&mut self) {
        if let Some(old) = self.entries.pop_front() {
            self.bytes -= old.size();
            self.evicted = self.evicted.max(old.rv);
        }
    }

    fn push(&mut self, entry: Entry, bounds: &Bounds) {
        self.resize(entry.recorded, bounds);
        while self.entries.len() >= self.capacity {
            self.evict_front();
        }
        self.bytes += entry.size();
        self.entries.push_back(entry);
        while self.bytes > bounds.bytes && self.entries.len() > 1 {
            self.evict_front();
        }
    }
}

/// Every resource's window, plus the version below which everything was compacted.
#[derive(Debug)]
pub struct History {
    windows: HashMap<TypeKey, Window>,
    bounds: Bounds,
    compacted: u64,
}

/// How much history is held, for capacity measurements.
#[derive(Clone, Copy, Debug, Default)]
pub struct HistorySize {
    /// Events over all windows.
    pub events: usize,
    /// Their objects' serialized bytes.
    pub bytes: usize,
}

impl History {
    /// No history yet, kept within `bounds` (at least one event per window).
    pub fn new(bounds: Bounds) -> Self {
        let bounds = Bounds {
            events: bounds.events.max(1),
            ..bounds
        };
        History {
            windows: HashMap::new(),
            bounds,
            compacted: 0,
        }
    }

    /// Records an event at `now` in its resource's window.
    pub fn record(&mut self, event: &Arc<StoredEvent>, now: Instant) {
        let bounds = self.bounds;
        let entry = Entry::new(event, now);
        let window = match self.windows.get_mut(&event.type_key) {
            Some(window) => window,
            None => self
                .windows
                .entry(event.type_key.clone())
                .or_insert_with(|| Window::new(&bounds)),
        };
        window.push(entry, &bounds);
    }

    /// The oldest version a watch of `type_key` may start from.
    pub fn floor(&self, type_key: &TypeKey) -> u64 {
        let evicted = self.windows.get(type_key).map_or(0, |w| w.evicted);
        evicted.max(self.compacted)
    }

    /// The events of `type_key` newer than `rv`, or `Err(floor)` when some of them were
    /// evicted or compacted away.
    pub fn since(&self, type_key: &TypeKey, rv: u64) -> Result<Vec<Arc<StoredEvent>>, u64> {
        let floor = self.floor(type_key);
        if rv < floor {
            return Err(floor);
        }
        Ok(self.windows.get(type_key).map_or_else(Vec::new, |w| {
            let start = w.entries.partition_point(|e| e.rv <= rv);
            w.entries.range(start..).map(|e| e.event.clone()).collect()
        }))
    }

    /// Forgets every event: versions before `rv` answer 410 Gone.
    pub fn compact(&mut self, rv: u64) {
        self.windows.clear();
        self.compacted = rv;
    }

    /// Events and bytes held over all windows.
    pub fn size(&self) -> HistorySize {
        self.windows
            .values()
            .fold(HistorySize::default(), |s, w| HistorySize {
                events: s.events + w.entries.len(),
                bytes: s.bytes + w.bytes,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventType;
    use crate::stored::Stored;
    use serde_json::json;

    /// An event whose object serializes to `size` bytes (at least 8).
    fn sized(plural: &str, rv: u64, size: usize) -> Arc<StoredEvent> {
        Arc::new(StoredEvent {
            rv,
            kind: EventType::Added,
            type_key: TypeKey::new("", plural),
            object: Arc::new(Stored::new(
                &json!({"a": "x".repeat(size.saturating_sub(8))}),
            )),
            previous: None,
        })
    }

    fn event(plural: &str, rv: u64) -> Arc<StoredEvent> {
        sized(plural, rv, 8)
    }

    fn bounds(events: usize, bytes: usize) -> Bounds {
        Bounds {
            events,
            bytes,
            fresh: FRESH,
        }
    }

    fn rvs(history: &History, plural: &str, since: u64) -> Result<Vec<u64>, u64> {
        history
            .since(&TypeKey::new("", plural), since)
            .map(|events| events.iter().map(|e| e.rv).collect())
    }

    #[test]
    fn writes_to_one_resource_never_evict_another() {
        let mut history = History::new(bounds(3, usize::MAX));
        let now = Instant::now();
        history.record(&event("pods", 1), now);
        for rv in 2..50 {
            history.record(&event("events", rv), now);
        }
        assert_eq!(rvs(&history, "pods", 0), Ok(vec![1]));
        assert_eq!(rvs(&history, "events", 0), Err(46));
        assert_eq!(rvs(&history, "events", 46), Ok(vec![47, 48, 49]));
    }

    #[test]
    fn a_window_grows_to_keep_fresh_events_up_to_its_bound() {
        let mut history = History::new(bounds(300, usize::MAX));
        let now = Instant::now();
        for rv in 1..=250 {
            history.record(&event("pods", rv), now);
        }
        // Fresh: 100, then 200, then 300 events kept.
        assert_eq!(rvs(&history, "pods", 0).map(|v| v.len()), Ok(250));
        for rv in 251..=400 {
            history.record(&event("pods", rv), now);
        }
        assert_eq!(rvs(&history, "pods", 0), Err(100));
        assert_eq!(rvs(&history, "pods", 100).map(|v| v.len()), Ok(300));
    }

    #[test]
    fn a_window_of_stale_events_stays_small() {
        let mut history = History::new(bounds(UPPER_BOUND, usize::MAX));
        let start = Instant::now();
        for rv in 1..=300 {
            // One event every second: the oldest of a full window of 100 is 99 s old.
            history.record(&event("pods", rv), start + Duration::from_secs(rv));
        }
        assert_eq!(history.size().events, 100);
        assert_eq!(rvs(&history, "pods", 0), Err(200));
    }

    #[test]
    fn a_full_window_shrinks_once_its_newest_quarter_is_stale() {
        let mut history = History::new(bounds(UPPER_BOUND, usize::MAX));
        let start = Instant::now();
        for rv in 1..=400 {
            history.record(&event("pods", rv), start);
        }
        assert_eq!(history.size().events, 400);
        let later = start + FRESH * 2;
        history.record(&event("pods", 401), later);
        assert_eq!(history.size().events, 200);
        assert_eq!(rvs(&history, "pods", 201).map(|v| v.len()), Ok(200));
    }

    #[test]
    fn the_byte_budget_evicts_however_fresh() {
        let mut history = History::new(bounds(UPPER_BOUND, 1000));
        let now = Instant::now();
        for rv in 1..=10 {
            history.record(&sized("pods", rv, 300), now);
        }
        assert_eq!(history.size().bytes, 900);
        assert_eq!(rvs(&history, "pods", 7), Ok(vec![8, 9, 10]));
        assert_eq!(rvs(&history, "pods", 6), Err(7));
    }

    #[test]
    fn a_replayed_event_carries_its_objects_before_and_after() {
        let mut history = History::new(bounds(UPPER_BOUND, usize::MAX));
        let event = Arc::new(StoredEvent {
            rv: 7,
            kind: EventType::Modified,
            type_key: TypeKey::new("apps", "deployments"),
            object: Arc::new(Stored::new(
                &json!({"metadata": {"name": "a"}, "spec": {"replicas": 2}}),
            )),
            previous: Some(Arc::new(Stored::new(
                &json!({"metadata": {"name": "a"}, "spec": {"replicas": 1}}),
            ))),
        });
        history.record(&event, Instant::now());
        let replayed = history
            .since(&TypeKey::new("apps", "deployments"), 6)
            .unwrap_or_default();
        let [again] = replayed.as_slice() else {
            panic!("one event: {replayed:?}");
        };
        assert_eq!((again.rv, again.kind), (7, EventType::Modified));
        assert_eq!(again.object.value(), event.object.value());
        assert_eq!(
            again.previous.as_ref().map(|p| p.value()),
            event.previous.as_ref().map(|p| p.value())
        );
        assert_eq!(history.size().bytes, 2 * event.object.json().len());
    }

    #[test]
    fn compaction_expires_every_resource() {
        let mut history = History::new(bounds(UPPER_BOUND, usize::MAX));
        let now = Instant::now();
        history.record(&event("pods", 1), now);
        history.compact(5);
        assert_eq!(rvs(&history, "pods", 4), Err(5));
        assert_eq!(rvs(&history, "configmaps", 4), Err(5));
        assert_eq!(rvs(&history, "configmaps", 5), Ok(vec![]));
    }
}
