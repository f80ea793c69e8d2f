//! Typed messages between the actors.
//!
//! In and out: pod events (WatchActor -> NamespaceScoreActor), policy snapshots and
//! evaluation requests (PolicyReconcilerActor -> NamespaceScoreActor), pod-change notices
//! (NamespaceScoreActor -> PolicyReconcilerActor), related-object events and the kinds to
//! watch (RelatedWatchActor <-> NamespaceScoreActor), leadership (LeaseActor -> every
//! writer), score and dashboard queries (HTTP -> NamespaceScoreActor), policy queries (HTTP ->
//! PolicyReconcilerActor) and shutdown.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix::Message;
use kube_devops::admission::PolicySnapshot;
use kube_devops::cross::{ObjectId, ObjectKind, RelatedObject};
use kube_devops::facts::PodFacts;
use kube_devops::score::store::NamespaceEvaluation;

/// A change in the set of pods, from WatchActor to NamespaceScoreActor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum PodEvent {
    /// A pod was created or changed (or listed during a relist).
    Applied {
        /// Its facts; the full Pod was dropped on arrival.
        facts: Box<PodFacts>,
        /// Whether it arrived during a relist.
        relist: bool,
    },
    /// A pod was deleted.
    Deleted {
        /// Its uid.
        uid: String,
    },
    /// A relist began: pods not listed again before `RelistDone` have vanished.
    RelistStarted,
    /// The relist finished.
    RelistDone,
}

/// Leadership changed, from LeaseActor to every recipient registered with it (the
/// reconciler, and any later writer). Writers must still ask the
/// [`LeadershipGuard`](super::lease::LeadershipGuard) before each write: this message says
/// when to start or stop working, the guard says whether a write may go out now.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct LeadershipChanged {
    /// Whether this replica now leads.
    pub leader: bool,
}

/// The policy snapshot changed, from PolicyReconcilerActor to NamespaceScoreActor: judge
/// with it from now on, and re-judge these namespaces from the stored facts (every
/// namespace when `None`: the first snapshot, or a changed default).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct PoliciesChanged {
    /// The snapshot the webhook serves too.
    pub snapshot: Arc<PolicySnapshot>,
    /// Namespaces whose resolution changed.
    pub namespaces: Option<Vec<String>>,
}

/// Asks NamespaceScoreActor to evaluate namespaces from the stored facts (the operator's
/// reconcile: no LIST of pods). The answer holds one evaluation per namespace asked, in
/// order; scores are refreshed on the way.
#[derive(Debug, Message)]
#[rtype(result = "Vec<NamespaceEvaluation>")]
pub struct EvaluateNamespaces {
    /// The namespaces.
    pub namespaces: Vec<String>,
}

/// Asks NamespaceScoreActor to send [`PodsChanged`] to the reconciler (set once at
/// start-up: the two actors name each other).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct NotifyPodChanges {
    /// The reconciler.
    pub reconciler: actix::Recipient<PodsChanged>,
}

/// Pods changed in these namespaces (each holding a DevOpsPolicy), from
/// NamespaceScoreActor to PolicyReconcilerActor, batched: the reconciler debounces.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct PodsChanged {
    /// The namespaces.
    pub namespaces: Vec<String>,
}

/// Asks NamespaceScoreActor for the current scores.
#[derive(Debug, Message)]
#[rtype(result = "ScoresView")]
pub struct GetScores {
    /// How many of the most frequent findings to include.
    pub top: usize,
}

/// Scores as `/api/v1/scores` shows them.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoresView {
    /// Cluster score, pod-weighted; absent when no pod is scored.
    pub cluster: Option<kube_devops::score::Score>,
    /// Classification of the cluster score.
    pub cluster_status: Option<String>,
    /// Pods scored.
    pub pods: usize,
    /// Every namespace with scored pods.
    pub namespaces: Vec<NamespaceView>,
    /// The most frequent failing checks: check id and pods failing it.
    pub top_findings: Vec<TopFinding>,
}

/// One namespace in [`ScoresView`].
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceView {
    /// Namespace name.
    pub name: String,
    /// Score.
    pub score: kube_devops::score::Score,
    /// Classification.
    pub classification: String,
    /// Pods scored.
    pub pods: u64,
}

/// One entry of the top findings.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopFinding {
    /// Check id.
    pub check: String,
    /// Pods failing it.
    pub pods: u64,
}

/// Asks NamespaceScoreActor for the dashboard's data: namespaces changed since the last
/// answer are evaluated again from the stored facts (never a LIST), the others are shared.
#[derive(Debug, Message)]
#[rtype(result = "std::sync::Arc<super::dashboard::DashboardData>")]
pub struct GetDashboard;

/// Asks PolicyReconcilerActor for the DevOpsPolicies it holds.
#[derive(Debug, Message)]
#[rtype(result = "Vec<PolicyView>")]
pub struct GetPolicies;

/// One DevOpsPolicy as the dashboard shows it: what the controller holds, status included
/// (the last audit as the operator wrote it).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `audit`, `enforce` or `dryRun`.
    pub mode: kube_devops::policy::crd::EnforcementMode,
    /// Why the policy is ignored, when its spec is invalid.
    pub error: Option<String>,
    /// Whether it is being deleted.
    pub deleting: bool,
    /// Its status as last observed.
    pub status: Option<kube_devops::policy::DevOpsPolicyStatus>,
}

/// A change among the objects cross-resource checks read, from RelatedWatchActor to
/// NamespaceScoreActor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum RelatedEvent {
    /// An object was created or changed (or listed during a relist).
    Applied {
        /// Its compact facts; the object was dropped on arrival.
        object: Box<RelatedObject>,
        /// Whether it arrived during a relist.
        relist: bool,
    },
    /// An object was deleted.
    Deleted {
        /// Its id.
        id: ObjectId,
    },
    /// A relist of one kind began: its objects not listed again before `RelistDone`
    /// have vanished.
    RelistStarted {
        /// The kind.
        kind: ObjectKind,
    },
    /// The relist of one kind finished.
    RelistDone {
        /// The kind.
        kind: ObjectKind,
    },
    /// The watch of one kind stopped (no policy needs it): forget its objects.
    Stopped {
        /// The kind.
        kind: ObjectKind,
    },
}

/// The related kinds the policies in force need, from NamespaceScoreActor to
/// RelatedWatchActor: watch exactly these.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct WatchKinds {
    /// The kinds.
    pub kinds: BTreeSet<ObjectKind>,
}

/// Tells NamespaceScoreActor where to send [`WatchKinds`] (set once at start-up: the two
/// actors name each other).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct NotifyRelatedKinds {
    /// The related-object watches.
    pub watcher: actix::Recipient<WatchKinds>,
}

/// Asks an actor to stop its work and reply when done (shutdown).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;
