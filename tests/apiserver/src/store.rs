//! The object store: every object as its compact JSON bytes with the metadata hot paths
//! read (see `stored`) behind one lock, one monotonic `resourceVersion` counter, a bounded
//! window of watch history per resource (see `history`) and the registry of servable
//! types (built-ins plus those the stored CRDs declare). Writes go in as JSON trees through
//! [`State::put`] and [`State::remove`], which stamp the next resourceVersion, store the
//! bytes, record the event and broadcast it to open watches; nothing else mutates objects.
//! Reads come out as stored (`*_stored`, for lists and watches) or parsed back into trees.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{Notify, broadcast};

use crate::history::{Bounds, History};
use crate::resources::{ResourceType, TypeKey, builtin_types, crd_types};
use crate::stored::Stored;

/// The largest watch history window accepted.
const MAX_HISTORY: usize = 1_000_000;

/// How many events the live fan-out keeps for a watch that falls behind; one further
/// behind is closed and resumes from its last version out of the history windows.
const FANOUT: usize = 4096;

/// How many continue snapshots are kept before the least recently used is dropped (a list
/// being paged through uses its snapshot at every page, so one-page lists such as
/// liveness probes do not push it out).
const SNAPSHOT_LIMIT: usize = 64;

/// How long a continue token stays valid: the real server serves later pages from etcd
/// at the list's revision until etcd compacts it, every 5 minutes by default
/// (`--etcd-compaction-interval`), however far the watch history has moved on.
pub const SNAPSHOT_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// The kind of change a watch event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object was changed.
    Modified,
    /// The object was removed.
    Deleted,
}

/// One recorded change, as watches replay and stream it.
#[derive(Debug)]
pub struct StoredEvent {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// Which resource the object belongs to.
    pub type_key: TypeKey,
    /// The object after the change (the last state for deletions).
    pub object: Arc<Stored>,
    /// The object before a modification, so selector watches can turn it into ADDED/DELETED.
    pub previous: Option<Arc<Stored>>,
}

/// Where one object lives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Its resource.
    pub type_key: TypeKey,
    /// Its namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectKey {
    /// A key from borrowed parts.
    pub fn new(type_key: &TypeKey, namespace: &str, name: &str) -> Self {
        ObjectKey {
            type_key: type_key.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// A list frozen at one resourceVersion, served page by page through continue tokens.
#[derive(Debug)]
pub struct Snapshot {
    /// The resourceVersion the list is consistent at.
    pub rv: u64,
    /// Every matching object, in list order.
    pub items: Vec<Arc<Stored>>,
    /// When the first page was served.
    pub taken: std::time::Instant,
}

/// A summary of what the store holds, for capacity measurements.
#[derive(Clone, Debug, Default)]
pub struct StoreStats {
    /// Per resource plural: how many objects.
    pub by_resource: BTreeMap<String, usize>,
    /// Events in the watch history windows.
    pub history_events: usize,
    /// Those events' objects (after and before each change) as JSON bytes.
    pub history_bytes: usize,
    /// List snapshots kept for continue tokens.
    pub snapshots: usize,
    /// Object references those snapshots hold.
    pub snapshot_items: usize,
    /// Per resource plural: committed writes (creations, changes, removals) since start.
    pub writes: BTreeMap<String, u64>,
}

/// Everything guarded by the store lock.
#[derive(Debug)]
pub struct State {
    objects: BTreeMap<ObjectKey, Arc<Stored>>,
    rv: u64,
    history: History,
    builtin: Vec<Arc<ResourceType>>,
    custom: Vec<Arc<ResourceType>>,
    snapshots: HashMap<u64, Arc<Snapshot>>,
    writes: BTreeMap<String, u64>,
    /// Objects held per resource plural, kept with every insert and removal so the
    /// stats harnesses poll never walk the objects.
    counts: BTreeMap<String, usize>,
    /// The last resourceVersion written in each namespace ("" for cluster-scoped objects;
    /// a Namespace object counts in the namespace it names).
    touched: BTreeMap<String, u64>,
    /// The last resourceVersion at which a pod or another controlled object was removed
    /// in each namespace: its owner cannot be found from the object any more.
    dependents_removed: BTreeMap<String, u64>,
    snapshot_order: VecDeque<u64>,
    next_snapshot: u64,
    events: broadcast::Sender<Arc<StoredEvent>>,
    changed: Arc<Notify>,
}

/// The shared store.
#[derive(Debug)]
pub struct Store {
    state: Mutex<State>,
    events: broadcast::Sender<Arc<StoredEvent>>,
    changed: Arc<Notify>,
}

impl Store {
    /// An empty store keeping at most `history_limit` events and `history_bytes` bytes of
    /// watch history per resource.
    pub fn new(history_limit: usize, history_bytes: usize) -> Self {
        let history = History::new(Bounds {
            events: history_limit.clamp(1, MAX_HISTORY),
            bytes: history_bytes,
            fresh: crate::history::FRESH,
        });
        // The channel keeps every event it holds (with the object before and after) until
        // it is overwritten, so it stays short; the history windows are the long memory.
        let (events, _) = broadcast::channel(FANOUT);
        let changed = Arc::new(Notify::new());
        Store {
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                rv: 0,
                history,
                builtin: builtin_types(),
                custom: Vec::new(),
                snapshots: HashMap::new(),
                writes: BTreeMap::new(),
                counts: BTreeMap::new(),
                touched: BTreeMap::new(),
                dependents_removed: BTreeMap::new(),
                snapshot_order: VecDeque::new(),
                next_snapshot: 1,
                events: events.clone(),
                changed: changed.clone(),
            }),
            events,
            changed,
        }
    }

    /// Locks the state. A poisoned lock is recovered: every write leaves the state whole.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes to live events; call while holding the lock to avoid gaps.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    /// Woken after every committed write.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }
}

impl State {
    /// The newest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// One object, parsed from its stored bytes.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<Value>> {
        self.objects.get(key).map(|o| Arc::new(o.value()))
    }

    /// One object as stored.
    pub fn get_stored(&self, key: &ObjectKey) -> Option<Arc<Stored>> {
        self.objects.get(key).cloned()
    }

    /// Objects of one resource, optionally in one namespace, ordered by namespace then
    /// name, each parsed from its stored bytes.
    pub fn list(&self, type_key: &TypeKey, namespace: Option<&str>) -> Vec<Arc<Value>> {
        self.stored_range(type_key, namespace)
            .map(|(_, o)| Arc::new(o.value()))
            .collect()
    }

    /// Objects of one resource as stored, optionally in one namespace, ordered by
    /// namespace then name.
    pub fn list_stored(&self, type_key: &TypeKey, namespace: Option<&str>) -> Vec<Arc<Stored>> {
        self.stored_range(type_key, namespace)
            .map(|(_, o)| o.clone())
            .collect()
    }

    fn stored_range<'a>(
        &'a self,
        type_key: &'a TypeKey,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Stored>)> + 'a {
        let start = ObjectKey::new(type_key, namespace.unwrap_or(""), "");
        self.objects.range(start..).take_while(move |(k, _)| {
            &k.type_key == type_key && namespace.is_none_or(|ns| k.namespace == ns)
        })
    }

    /// Every stored object with its key, as stored.
    pub fn all(&self) -> Vec<(ObjectKey, Arc<Stored>)> {
        self.objects
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Stores an object at the next resourceVersion and broadcasts the change.
    pub fn put(&mut self, key: ObjectKey, mut object: Value) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let stored = Arc::new(Stored::new(&object));
        let previous = self.objects.insert(key.clone(), stored.clone());
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            self.count(&key.type_key.plural, true);
            EventType::Added
        };
        self.record(key.type_key.clone(), kind, stored, previous);
        Arc::new(object)
    }

    /// Removes an object, stamping its final state with the next resourceVersion.
    pub fn remove(&mut self, key: &ObjectKey, mut last: Value) -> Option<Arc<Value>> {
        let previous = self.objects.remove(key)?;
        self.count(&key.type_key.plural, false);
        self.rv += 1;
        if key.type_key.plural == "pods" || previous.meta().controller_uid().is_some() {
            self.dependents_removed
                .insert(previous.meta().namespace.to_string(), self.rv);
        }
        if let Some(meta) = last.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        }
        let stored = Arc::new(Stored::new(&last));
        self.record(
            key.type_key.clone(),
            EventType::Deleted,
            stored,
            Some(previous),
        );
        Some(Arc::new(last))
    }

    /// One more (or one fewer) object of a resource.
    fn count(&mut self, plural: &str, added: bool) {
        match self.counts.get_mut(plural) {
            Some(n) if added => *n += 1,
            Some(n) => *n = n.saturating_sub(1),
            None if added => {
                self.counts.insert(plural.to_string(), 1);
            }
            None => {}
        }
    }

    fn record(
        &mut self,
        type_key: TypeKey,
        kind: EventType,
        object: Arc<Stored>,
        previous: Option<Arc<Stored>>,
    ) {
        let is_crd = type_key.group == "apiextensions.k8s.io";
        let namespace = if type_key.group.is_empty() && type_key.plural == "namespaces" {
            &*object.meta().name
        } else {
            &*object.meta().namespace
        };
        match self.touched.get_mut(namespace) {
            Some(last) => *last = self.rv,
            None => {
                self.touched.insert(namespace.to_string(), self.rv);
            }
        }
        match self.writes.get_mut(&type_key.plural) {
            Some(count) => *count += 1,
            None => {
                self.writes.insert(type_key.plural.clone(), 1);
            }
        }
        let event = Arc::new(StoredEvent {
            rv: self.rv,
            kind,
            type_key,
            object,
            previous,
        });
        self.history.record(&event, std::time::Instant::now());
        // No receivers is fine: nobody watches.
        let _ = self.events.send(event);
        if is_crd {
            self.refresh_custom_types();
        }
        self.changed.notify_one();
    }

    /// Namespaces written in after `rv` ("" when a cluster-scoped object was), in order.
    pub fn touched_since(&self, rv: u64) -> Vec<String> {
        self.touched
            .iter()
            .filter(|(_, last)| **last > rv)
            .map(|(namespace, _)| namespace.clone())
            .collect()
    }

    /// Namespaces where a pod or another controlled object was removed after `rv`.
    pub fn dependents_removed_since(&self, rv: u64) -> impl Iterator<Item = &str> {
        self.dependents_removed
            .iter()
            .filter(move |(_, last)| **last > rv)
            .map(|(namespace, _)| namespace.as_str())
    }

    /// Every namespace ever written in, "" (cluster-scoped objects) among them, in order.
    pub fn namespaces_written(&self) -> Vec<String> {
        self.touched.keys().cloned().collect()
    }

    /// Events of `type_key` newer than `rv` still in its window, or `Err` with the oldest
    /// answerable version when some were evicted or compacted away.
    pub fn events_since(&self, type_key: &TypeKey, rv: u64) -> Result<Vec<Arc<StoredEvent>>, u64> {
        self.history.since(type_key, rv)
    }

    /// Forgets all history: every resourceVersion before now answers 410 Gone.
    pub fn compact(&mut self) {
        self.history.compact(self.rv);
        self.snapshots.clear();
        self.snapshot_order.clear();
    }

    /// Keeps a list snapshot for pagination and answers its id.
    pub fn keep_snapshot(&mut self, snapshot: Snapshot) -> u64 {
        let id = self.next_snapshot;
        self.next_snapshot += 1;
        self.snapshots.insert(id, Arc::new(snapshot));
        self.snapshot_order.push_back(id);
        while self.snapshot_order.len() > SNAPSHOT_LIMIT
            || self
                .snapshot_order
                .front()
                .and_then(|old| self.snapshots.get(old))
                .is_some_and(|s| s.taken.elapsed() >= SNAPSHOT_TTL)
        {
            if let Some(old) = self.snapshot_order.pop_front() {
                self.snapshots.remove(&old);
            }
        }
        id
    }

    /// A kept snapshot, unless it expired or was compacted away; it becomes the most
    /// recently used.
    pub fn snapshot(&mut self, id: u64) -> Option<Arc<Snapshot>> {
        let snapshot = self
            .snapshots
            .get(&id)
            .filter(|s| s.taken.elapsed() < SNAPSHOT_TTL)
            .cloned()?;
        if let Some(at) = self.snapshot_order.iter().position(|kept| *kept == id) {
            self.snapshot_order.remove(at);
            self.snapshot_order.push_back(id);
        }
        Some(snapshot)
    }

    /// What the store holds: objects by resource, the watch history window, the kept
    /// list snapshots and the writes so far (no object is read: cheap enough to poll).
    pub fn stats(&self) -> StoreStats {
        let history = self.history.size();
        StoreStats {
            history_events: history.events,
            history_bytes: history.bytes,
            snapshots: self.snapshots.len(),
            snapshot_items: self.snapshots.values().map(|s| s.items.len()).sum(),
            writes: self.writes.clone(),
            by_resource: self
                .counts
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(plural, n)| (plural.clone(), *n))
                .collect(),
        }
    }

    /// Per resource plural: the objects' compact JSON bytes in all (reads every object's
    /// length: for a measurement now and then, not for polling).
    pub fn json_bytes(&self) -> BTreeMap<String, usize> {
        let mut bytes = BTreeMap::new();
        for (key, object) in &self.objects {
            *bytes.entry(key.type_key.plural.clone()).or_default() += object.json().len();
        }
        bytes
    }

    /// Every servable type: built-ins first, then custom resources.
    pub fn types(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.builtin.iter().chain(self.custom.iter())
    }

    /// The type served at `group/version/plural`.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// The type for an `apiVersion` and `kind`, for seeding and simulation.
    pub fn resolve_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.types()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .cloned()
    }

    fn refresh_custom_types(&mut self) {
        let crds = self.list(
            &TypeKey::new("apiextensions.k8s.io", "customresourcedefinitions"),
            None,
        );
        self.custom = crds
            .iter()
            .filter_map(|crd| crd_types(crd))
            .flatten()
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stats_count_objects_per_resource_through_creations_changes_and_removals() {
        let store = Store::new(100, usize::MAX);
        let mut state = store.lock();
        let key = |plural: &str, name: &str| ObjectKey::new(&TypeKey::new("", plural), "ns", name);
        let object = |name: &str| json!({"metadata": {"name": name, "namespace": "ns"}});
        state.put(key("pods", "a"), object("a"));
        state.put(key("pods", "b"), object("b"));
        state.put(key("pods", "a"), object("a"));
        state.put(key("configmaps", "c"), object("c"));
        let counts = state.stats().by_resource;
        assert_eq!(counts.get("pods"), Some(&2), "a change is not a new object");
        assert_eq!(counts.get("configmaps"), Some(&1));
        assert!(state.remove(&key("pods", "a"), object("a")).is_some());
        assert!(state.remove(&key("pods", "a"), object("a")).is_none());
        state.remove(&key("configmaps", "c"), object("c"));
        let counts = state.stats().by_resource;
        assert_eq!(
            counts.get("pods"),
            Some(&1),
            "a removal of nothing counts nothing"
        );
        assert_eq!(
            counts.get("configmaps"),
            None,
            "a resource with no objects left is not listed"
        );
    }
}
