//! Typed messages between the actors.

use actix::Message;
use kube_devops::facts::PodFacts;

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

/// Leadership changed, from LeaseActor to the writers.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct LeadershipChanged {
    /// Whether this replica now leads.
    pub leader: bool,
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

/// Asks an actor to stop its work and reply when done (shutdown).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;
