//! What one slice of a simulation pass looks at. In: the namespaces written in since the
//! last pass (every namespace when a cluster-scoped object such as a Node changed) and the
//! resourceVersion the last pass ended at. Out: slices of a few namespaces each, run one
//! at a time under the store lock, so a pass over a large cluster never holds the lock
//! for long and requests are served between slices. Within a slice the scheduler and the
//! kubelet look only at pods written since the last pass (all pods when a cluster-scoped
//! object changed), as an informer's handlers only see changed objects, and the workload
//! controllers sync only the owners those handlers would enqueue: owners written since
//! the last pass and owners of objects written since (a write to a policy, an event or a
//! report in a namespace makes no controller look at its Deployments); every owner of a
//! namespace where a controlled object was removed (its owner is no longer readable from
//! it), and every owner when a cluster-scoped object changed or owners' pauses may have
//! ended.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::resources::TypeKey;
use crate::store::State;
use crate::stored::StoredMeta;

/// Namespaces per slice.
const SLICE: usize = 4;

/// One slice of a pass.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    namespaces: Vec<String>,
    since: u64,
    /// Namespaces whose owners all sync (every one when `since` is 0).
    every_owner: BTreeSet<String>,
}

impl Scope {
    /// The slice's namespaces, "" for cluster-scoped objects.
    pub(crate) fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// The owners of type `owner` in the slice a controller syncs in this pass: written
    /// since the last pass, or controlling an object of a `dependents` type written since,
    /// or all of them in a namespace marked for every owner.
    pub(crate) fn owners(
        &self,
        state: &State,
        owner: &TypeKey,
        dependents: &[TypeKey],
    ) -> Vec<Arc<Value>> {
        let mut out = Vec::new();
        for namespace in self.namespaces.iter().filter(|n| !n.is_empty()) {
            let owners = state.list_stored(owner, Some(namespace));
            if owners.is_empty() {
                continue;
            }
            if self.since == 0 || self.every_owner.contains(namespace) {
                out.extend(owners.iter().map(|o| Arc::new(o.value())));
                continue;
            }
            let changed: Vec<Arc<crate::stored::Stored>> = dependents
                .iter()
                .flat_map(|d| state.list_stored(d, Some(namespace)))
                .filter(|o| o.meta().rv > self.since)
                .collect();
            let controllers: HashSet<&str> = changed
                .iter()
                .filter_map(|o| o.meta().controller_uid())
                .collect();
            out.extend(
                owners
                    .iter()
                    .filter(|o| o.meta().rv > self.since || controllers.contains(&*o.meta().uid))
                    .map(|o| Arc::new(o.value())),
            );
        }
        out
    }

    /// The objects of `type_key` in the slice written since the last pass whose stored
    /// metadata passes `wanted` (only those are parsed from their stored bytes).
    pub(crate) fn changed_where(
        &self,
        state: &State,
        type_key: &TypeKey,
        wanted: impl Fn(&StoredMeta) -> bool,
    ) -> Vec<Arc<Value>> {
        self.namespaces
            .iter()
            .filter(|n| !n.is_empty())
            .flat_map(|n| state.list_stored(type_key, Some(n)))
            .filter(|o| (self.since == 0 || o.meta().rv > self.since) && wanted(o.meta()))
            .map(|o| Arc::new(o.value()))
            .collect()
    }
}

/// The slices of the next pass, given the resourceVersion the last one started at (its
/// own writes are looked at again, so statuses catch up with what it changed), or none
/// when nothing was written since. `everywhere` makes the controllers sync every owner
/// of every namespace (an owner's pause after a refused pod may have ended).
pub(crate) fn plan(state: &State, since: u64, everywhere: bool) -> Vec<Scope> {
    let touched = state.touched_since(since);
    let cluster_changed = touched.first().is_some_and(String::is_empty);
    let (namespaces, since) = if cluster_changed {
        (state.namespaces_written(), 0)
    } else if everywhere {
        (state.namespaces_written(), since)
    } else {
        (touched, since)
    };
    let every_owner: BTreeSet<String> = if everywhere {
        namespaces.iter().cloned().collect()
    } else {
        state
            .dependents_removed_since(since)
            .map(str::to_string)
            .collect()
    };
    namespaces
        .chunks(SLICE)
        .map(|chunk| Scope {
            namespaces: chunk.to_vec(),
            since,
            every_owner: chunk
                .iter()
                .filter(|n| every_owner.contains(*n))
                .cloned()
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{ObjectKey, Store};

    fn write(state: &mut State, plural: &str, namespace: &str, name: &str) {
        let key = ObjectKey::new(&TypeKey::new("", plural), namespace, name);
        let object = json!({"metadata": {"name": name, "namespace": namespace}});
        state.put(key, object);
    }

    fn namespaces_of(slices: &[Scope]) -> Vec<String> {
        slices
            .iter()
            .flat_map(|s| s.namespaces().to_vec())
            .collect()
    }

    #[test]
    fn a_pass_looks_at_the_namespaces_written_since_the_last_one_in_slices() {
        let store = Store::new(100, usize::MAX);
        let mut state = store.lock();
        for n in 0..10 {
            write(&mut state, "configmaps", &format!("ns-{n}"), "a");
        }
        let first = plan(&state, 0, false);
        assert_eq!(namespaces_of(&first).len(), 10);
        assert!(first.iter().all(|s| s.namespaces().len() <= SLICE));
        let since = state.current_rv();
        assert!(plan(&state, since, false).is_empty());
        write(&mut state, "pods", "ns-3", "p");
        let next = plan(&state, since, false);
        assert_eq!(namespaces_of(&next), vec!["ns-3".to_string()]);
        assert_eq!(
            next[0]
                .changed_where(&state, &TypeKey::new("", "pods"), |_| true)
                .len(),
            1
        );
        assert_eq!(namespaces_of(&plan(&state, since, true)).len(), 10);
    }

    #[test]
    fn a_cluster_scoped_write_makes_the_next_pass_look_at_everything() {
        let store = Store::new(100, usize::MAX);
        let mut state = store.lock();
        write(&mut state, "pods", "ns-1", "p");
        write(&mut state, "pods", "ns-2", "q");
        let since = state.current_rv();
        write(&mut state, "nodes", "", "node-9");
        let slices = plan(&state, since, false);
        assert_eq!(namespaces_of(&slices), vec!["", "ns-1", "ns-2"]);
        let pods: usize = slices
            .iter()
            .map(|s| {
                s.changed_where(&state, &TypeKey::new("", "pods"), |_| true)
                    .len()
            })
            .sum();
        assert_eq!(pods, 2, "every pod, not only the changed ones");
    }

    /// A ReplicaSet `name` (uid `rs-<name>`) and its pod `pod` in `namespace`.
    fn owner_and_pod(state: &mut State, namespace: &str, name: &str, pod: &str) {
        let set = ObjectKey::new(&TypeKey::new("apps", "replicasets"), namespace, name);
        state.put(
            set,
            json!({"metadata": {"name": name, "namespace": namespace, "uid": format!("rs-{name}")}}),
        );
        write_pod(state, namespace, name, pod, "Pending");
    }

    fn write_pod(state: &mut State, namespace: &str, owner: &str, pod: &str, phase: &str) {
        let key = ObjectKey::new(&TypeKey::new("", "pods"), namespace, pod);
        state.put(
            key,
            json!({"metadata": {"name": pod, "namespace": namespace, "uid": format!("pod-{pod}"),
                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                       "name": owner, "uid": format!("rs-{owner}"), "controller": true}]},
                   "status": {"phase": phase}}),
        );
    }

    fn owners_synced(state: &State, slices: &[Scope]) -> Vec<String> {
        let (sets, pods) = (
            TypeKey::new("apps", "replicasets"),
            TypeKey::new("", "pods"),
        );
        slices
            .iter()
            .flat_map(|s| s.owners(state, &sets, std::slice::from_ref(&pods)))
            .map(|o| crate::meta::name(&o).to_string())
            .collect()
    }

    #[test]
    fn controllers_sync_the_owners_of_changed_objects_and_not_every_owner_of_a_written_namespace() {
        let store = Store::new(100, usize::MAX);
        let mut state = store.lock();
        for name in ["a", "b", "c"] {
            owner_and_pod(&mut state, "ns-1", name, &format!("{name}-1"));
        }
        owner_and_pod(&mut state, "ns-2", "d", "d-1");
        assert_eq!(owners_synced(&state, &plan(&state, 0, false)).len(), 4);

        let since = state.current_rv();
        write(&mut state, "configmaps", "ns-1", "unrelated");
        let slices = plan(&state, since, false);
        assert_eq!(namespaces_of(&slices), vec!["ns-1".to_string()]);
        assert!(
            owners_synced(&state, &slices).is_empty(),
            "a write no controller watches syncs no owner"
        );

        write_pod(&mut state, "ns-1", "b", "b-1", "Running");
        assert_eq!(owners_synced(&state, &plan(&state, since, false)), ["b"]);
        assert_eq!(
            owners_synced(&state, &plan(&state, since, true)).len(),
            4,
            "owners whose pause may have ended all sync"
        );

        let since = state.current_rv();
        let removed = ObjectKey::new(&TypeKey::new("", "pods"), "ns-1", "c-1");
        let last = state.get(&removed).map(|p| (*p).clone());
        assert!(state.remove(&removed, last.unwrap_or_default()).is_some());
        assert_eq!(
            owners_synced(&state, &plan(&state, since, false)),
            ["a", "b", "c"],
            "a removed pod no longer names its owner: every owner of its namespace syncs"
        );
    }
}
