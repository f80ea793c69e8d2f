//! The dashboard's state, kept by NamespaceScoreActor next to the pods it describes.
//!
//! In: the namespaces whose scores changed (marked as the score actor publishes them),
//! evaluations of those namespaces when the dashboard asks, and cluster score samples. Out:
//! an immutable [`DashboardData`] shared by every request until something changes, and a
//! change counter on a `tokio::sync::watch` channel that the server-sent events follow.
//!
//! Only namespaces marked since the last answer are evaluated again, so a page load costs
//! the changed namespaces, not the cluster; an unchanged cluster answers from the cached
//! data without evaluating anything. Changes are announced at most every
//! [`NOTIFY_INTERVAL`], however many pods change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube_devops::dashboard::{NamespaceDetail, Trend};
use kube_devops::score::Score;
use kube_devops::score::store::NamespaceEvaluation;
use tokio::sync::watch;

/// How often changes are announced to the page.
pub const NOTIFY_INTERVAL: Duration = Duration::from_millis(500);
/// How often the cluster score is sampled for the trend.
pub const TREND_INTERVAL: Duration = Duration::from_secs(60);

/// What every dashboard view is computed from: one instant of the live state.
#[derive(Debug, Clone)]
pub struct DashboardData {
    /// When it was computed.
    pub generated_at: Timestamp,
    /// The cluster score, as `/api/v1/scores` computes it.
    pub cluster: Option<Score>,
    /// Every namespace with stored pods, by name.
    pub namespaces: Vec<Arc<NamespaceDetail>>,
    /// The cluster score over time.
    pub trend: Trend,
}

/// The cached views and what changed since.
#[derive(Debug)]
pub struct DashboardCache {
    details: BTreeMap<String, Arc<NamespaceDetail>>,
    dirty: BTreeSet<String>,
    data: Option<Arc<DashboardData>>,
    trend: Trend,
    changed: bool,
    changes: watch::Sender<u64>,
}

impl Default for DashboardCache {
    fn default() -> Self {
        DashboardCache {
            details: BTreeMap::new(),
            dirty: BTreeSet::new(),
            data: None,
            trend: Trend::default(),
            changed: false,
            changes: watch::Sender::new(0),
        }
    }
}

impl DashboardCache {
    /// A receiver of the change counter (it grows by one per announcement).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Marks a namespace as changed.
    pub fn touch(&mut self, ns: &str) {
        if !self.dirty.contains(ns) {
            self.dirty.insert(ns.to_owned());
        }
        self.changed = true;
    }

    /// Forgets every view (a restarted score state): everything is evaluated again.
    pub fn reset(&mut self) {
        self.dirty.extend(self.details.keys().cloned());
        self.data = None;
        self.changed = true;
    }

    /// The namespaces to evaluate before answering (taken: they are clean after
    /// [`DashboardCache::put`]).
    pub fn take_dirty(&mut self) -> Vec<String> {
        std::mem::take(&mut self.dirty).into_iter().collect()
    }

    /// Stores a namespace's fresh evaluation; one without pods is dropped.
    pub fn put(&mut self, eval: &NamespaceEvaluation, now: Timestamp) {
        self.data = None;
        if eval.pods.is_empty() {
            self.details.remove(&eval.namespace);
        } else {
            let detail = NamespaceDetail::new(eval, now);
            self.details
                .insert(eval.namespace.clone(), Arc::new(detail));
        }
    }

    /// The data to answer with: the cached one while nothing changed.
    pub fn data(&mut self, cluster: Option<Score>, now: Timestamp) -> Arc<DashboardData> {
        if self.trend.is_empty() {
            self.sample(cluster, now);
        }
        if let Some(data) = &self.data {
            return data.clone();
        }
        let data = Arc::new(DashboardData {
            generated_at: now,
            cluster,
            namespaces: self.details.values().cloned().collect(),
            trend: self.trend.clone(),
        });
        self.data = Some(data.clone());
        data
    }

    /// Samples the cluster score for the trend.
    pub fn sample(&mut self, cluster: Option<Score>, now: Timestamp) {
        self.trend.push(now, cluster.map(|s| s.rounded()));
        self.data = None;
    }

    /// Announces the changes since the last announcement, if any.
    pub fn notify(&mut self) {
        if std::mem::take(&mut self.changed) {
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}
