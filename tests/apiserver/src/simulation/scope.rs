//! What one slice of a simulation pass looks at. In: the namespaces written in since the
//! last pass (every namespace when a cluster-scoped object such as a Node changed) and the
//! resourceVersion the last pass ended at. Out: slices of a few namespaces each, run one
//! at a time under the store lock, so a pass over a large cluster never holds the lock
//! for long and requests are served between slices. Within a slice the controllers look
//! at every object of its namespaces, the scheduler and the kubelet only at pods written
//! since the last pass (all pods when a cluster-scoped object changed), as an informer's
//! handlers only see changed objects.

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
}

impl Scope {
    /// The slice's namespaces, "" for cluster-scoped objects.
    pub(crate) fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// The objects of one namespaced resource in the slice's namespaces.
    pub(crate) fn list(&self, state: &State, type_key: &TypeKey) -> Vec<Arc<Value>> {
        self.namespaces
            .iter()
            .filter(|n| !n.is_empty())
            .flat_map(|n| state.list(type_key, Some(n)))
            .collect()
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
/// when nothing was written since. `everywhere` makes the controllers look at every
/// namespace (an owner's pause after a refused pod may have ended).
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
    namespaces
        .chunks(SLICE)
        .map(|chunk| Scope {
            namespaces: chunk.to_vec(),
            since,
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
}
