//! Top-level owners of pods, resolved without asking the API server per pod.
//!
//! In: the controller owner of every ReplicaSet and Job (from metadata-only watches) and,
//! per pod, its own controller `ownerReferences` entry. Out: the [`WorkloadRef`] a pod
//! belongs to for reports: Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob, Pod ->
//! StatefulSet, DaemonSet or ReplicationController, or the pod itself when it has no
//! controller. Only ReplicaSets and Jobs that have a controller are held (one small entry
//! each); anything else resolves from the pod's own reference.

use std::collections::HashMap;

use crate::facts::OwnerRef;

/// A workload by API version, kind, namespace, name and uid: enough for an
/// `ownerReferences` entry and a report's `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadRef {
    /// `apps/v1`, `batch/v1`, `v1`, ...
    pub api_version: String,
    /// `Deployment`, `CronJob`, `Pod`, ...
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
}

/// The API version of the built-in kinds a pod's controller can be.
pub fn builtin_api_version(kind: &str) -> Option<&'static str> {
    match kind {
        "ReplicaSet" | "Deployment" | "StatefulSet" | "DaemonSet" => Some("apps/v1"),
        "Job" | "CronJob" => Some("batch/v1"),
        "ReplicationController" | "Pod" => Some("v1"),
        _ => None,
    }
}

/// The controller of a ReplicaSet or Job, as its `ownerReferences` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    /// API version of the owner.
    pub api_version: Box<str>,
    /// Kind of the owner.
    pub kind: Box<str>,
    /// Name of the owner (same namespace).
    pub name: Box<str>,
    /// Uid of the owner.
    pub uid: Box<str>,
}

/// ReplicaSet and Job uid -> their kind and controller.
#[derive(Debug, Default, Clone)]
pub struct OwnerIndex {
    parents: HashMap<Box<str>, (&'static str, ParentRef)>,
}

impl OwnerIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the controller of the `kind` (`ReplicaSet` or `Job`) `uid` (`None`: it has
    /// none).
    pub fn set(&mut self, kind: &'static str, uid: &str, controller: Option<ParentRef>) {
        match controller {
            Some(parent) => {
                self.parents.insert(uid.into(), (kind, parent));
            }
            None => {
                self.parents.remove(uid);
            }
        }
    }

    /// Forgets a ReplicaSet or Job.
    pub fn remove(&mut self, uid: &str) {
        self.parents.remove(uid);
    }

    /// Keeps only the entries of `kind` that `keep` accepts (after a relist of `kind`).
    pub fn retain(&mut self, kind: &str, keep: impl Fn(&str) -> bool) {
        self.parents.retain(|uid, (k, _)| *k != kind || keep(uid));
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.parents.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.parents.is_empty()
    }

    /// The top-level workload of a pod named `pod` (uid `pod_uid`) in `namespace` with
    /// this controller reference. A controller of a kind whose API version is unknown
    /// cannot be named in a report, so such a pod stands for itself.
    pub fn top_level(
        &self,
        namespace: &str,
        pod: &str,
        pod_uid: &str,
        controller: Option<&OwnerRef>,
    ) -> WorkloadRef {
        let workload = |api_version: &str, kind: &str, name: &str, uid: &str| WorkloadRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
        };
        let itself = || workload("v1", "Pod", pod, pod_uid);
        let Some(owner) = controller else {
            return itself();
        };
        if let Some((_, parent)) = self.parents.get(owner.uid.as_str()) {
            return workload(&parent.api_version, &parent.kind, &parent.name, &parent.uid);
        }
        match builtin_api_version(&owner.kind) {
            Some(api_version) => workload(api_version, &owner.kind, &owner.name, &owner.uid),
            None => itself(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(kind: &str, name: &str) -> OwnerRef {
        OwnerRef {
            kind: kind.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            controller: true,
        }
    }

    fn parent(api_version: &str, kind: &str, name: &str) -> ParentRef {
        ParentRef {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: format!("uid-{name}").into(),
        }
    }

    #[test]
    fn pods_resolve_to_their_top_level_workload() {
        let mut index = OwnerIndex::new();
        index.set(
            "ReplicaSet",
            "uid-web-5d9",
            Some(parent("apps/v1", "Deployment", "web")),
        );
        index.set(
            "Job",
            "uid-backup-123",
            Some(parent("batch/v1", "CronJob", "backup")),
        );
        let cases = [
            (Some(owner("ReplicaSet", "web-5d9")), "Deployment", "web"),
            (Some(owner("Job", "backup-123")), "CronJob", "backup"),
            (Some(owner("StatefulSet", "db")), "StatefulSet", "db"),
            (
                Some(owner("ReplicaSet", "bare-rs")),
                "ReplicaSet",
                "bare-rs",
            ),
            (Some(owner("Job", "once")), "Job", "once"),
            (None, "Pod", "p"),
            (Some(owner("Widget", "w")), "Pod", "p"),
        ];
        for (controller, kind, name) in cases {
            let w = index.top_level("shop", "p", "uid-p", controller.as_ref());
            assert_eq!(
                (w.kind.as_str(), w.name.as_str()),
                (kind, name),
                "{controller:?}"
            );
            assert_eq!(w.namespace, "shop");
            assert!(!w.api_version.is_empty());
        }
    }

    #[test]
    fn an_unknown_parent_kind_keeps_its_api_version() {
        let mut index = OwnerIndex::new();
        index.set(
            "ReplicaSet",
            "uid-r-1",
            Some(parent("argoproj.io/v1alpha1", "Rollout", "r")),
        );
        let w = index.top_level("shop", "p", "uid-p", Some(&owner("ReplicaSet", "r-1")));
        assert_eq!(
            (w.api_version.as_str(), w.kind.as_str(), w.uid.as_str()),
            ("argoproj.io/v1alpha1", "Rollout", "uid-r")
        );
        index.set("Job", "uid-j-1", Some(parent("batch/v1", "CronJob", "c")));
        index.retain("ReplicaSet", |_| false);
        assert_eq!(index.len(), 1, "a relist of one kind keeps the other");
        index.set("Job", "uid-j-1", None);
        assert!(index.is_empty());
    }
}
