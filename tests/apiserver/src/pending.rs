//! A write between preparation and storage. The lifecycle pipeline prepares a
//! [`PendingWrite`] (the object as it will be stored and the stored object it was computed
//! from); [`commit`] stores it only while the store still holds that object, so a write
//! held back by admission webhooks cannot overwrite a change made in the meantime.

use std::sync::Arc;

use serde_json::Value;

use crate::meta;
use crate::store::{ObjectKey, State};

/// What committing a pending write does to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changes (a no-op update, or a delete already in progress).
    Unchanged,
    /// The new object is stored.
    Put,
    /// The object is removed; `new` is its last state.
    Remove,
}

/// A write that has passed every check but is not stored yet.
#[derive(Clone, Debug)]
pub struct PendingWrite {
    /// Where the object lives.
    pub key: ObjectKey,
    /// The stored object the write was computed from (`None` for a create).
    pub old: Option<Arc<Value>>,
    /// The object as it will be stored, or as it was last seen for a removal.
    pub new: Arc<Value>,
    /// What committing does.
    pub effect: Effect,
    /// The namespace that must still exist when a namespaced object is created.
    pub namespace: Option<ObjectKey>,
}

/// The store moved past a pending write; prepare it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stale;

/// Whether the store still holds what a pending write was computed from.
pub fn is_fresh(state: &State, pending: &PendingWrite) -> bool {
    // Read from the stored metadata: nothing is parsed on the write path's last step.
    let stored = state.get_stored(&pending.key);
    let same = match (&stored, &pending.old) {
        (None, None) => true,
        (Some(now), Some(then)) => {
            meta::meta_str(then, "resourceVersion") == now.meta().rv.to_string()
        }
        _ => false,
    };
    same && pending
        .namespace
        .as_ref()
        .is_none_or(|ns| state.get_stored(ns).is_some())
}

/// Stores a pending write (or, for a dry run, answers what would be stored).
pub fn commit(
    state: &mut State,
    pending: PendingWrite,
    dry_run: bool,
) -> Result<Arc<Value>, Stale> {
    if !is_fresh(state, &pending) {
        return Err(Stale);
    }
    if dry_run {
        return Ok(pending.new);
    }
    match pending.effect {
        Effect::Unchanged => Ok(pending.new),
        Effect::Put => Ok(state.put(pending.key, (*pending.new).clone())),
        Effect::Remove => state
            .remove(&pending.key, (*pending.new).clone())
            .ok_or(Stale),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lifecycle::{self, WriteOptions};
    use crate::store::Store;

    #[test]
    fn a_pending_write_the_store_moved_past_is_stale() {
        let store = Store::new(100, usize::MAX);
        let mut state = store.lock();
        let rt = state
            .resolve("", "v1", "configmaps")
            .expect("config maps are served");
        let opts = WriteOptions::by("test");
        let namespace = state
            .resolve("", "v1", "namespaces")
            .expect("namespaces are served");
        lifecycle::create(
            &mut state,
            &namespace,
            "",
            json!({"metadata": {"name": "default"}}),
            &opts,
        )
        .expect("namespace");
        let object = json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
        let first = lifecycle::prepare_create(&mut state, &rt, "default", object.clone(), &opts)
            .expect("prepared");
        lifecycle::create(&mut state, &rt, "default", object, &opts).expect("created");
        assert_eq!(commit(&mut state, first, false).err(), Some(Stale));

        let change = |value: &str| json!({"metadata": {"name": "c"}, "data": {"a": value}});
        let update = lifecycle::prepare_update(&mut state, &rt, "default", "c", change("2"), &opts)
            .expect("prepared");
        lifecycle::update(&mut state, &rt, "default", "c", change("3"), &opts).expect("updated");
        assert_eq!(commit(&mut state, update, false).err(), Some(Stale));
        let fresh = lifecycle::prepare_update(&mut state, &rt, "default", "c", change("4"), &opts)
            .expect("prepared");
        let stored = commit(&mut state, fresh, false).expect("committed");
        assert_eq!(stored["data"]["a"], "4");
    }
}
