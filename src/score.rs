//! Health scores: exact penalties, namespace and cluster scores, classification, and the
//! incremental aggregate a watcher keeps.
//!
//! In: findings (as penalties) per pod, keyed by pod uid. Out: [`Score`]s, and in
//! [`store`] the live pod state the controller judges again when policies change.
//! Penalties are kept in twelfths of a point, in integers: every ratio of severity
//! multipliers (3, 2, 1, 0.5) is a whole number of twelfths, so sums never drift and a
//! score is never floored to an integer. A namespace with no scored pods has no score.

pub mod store;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::checks::{CheckId, Severity};

/// Penalty points, in twelfths of a point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Penalty(pub u64);

impl Penalty {
    /// Penalty of one finding of `check` at effective `severity`, counted `times` times
    /// (restarts for `highRestarts`, else 1): weight x (multiplier of the effective
    /// severity / multiplier of the default severity) x times.
    pub fn of(check: CheckId, severity: Severity, times: u32) -> Penalty {
        let spec = check.spec();
        let per_default = 12 / spec.severity.multiplier_halves();
        Penalty(
            u64::from(spec.weight) * per_default * severity.multiplier_halves() * u64::from(times),
        )
    }

    /// The penalty in points.
    pub fn points(self) -> f64 {
        self.0 as f64 / 12.0
    }
}

impl std::ops::Add for Penalty {
    type Output = Penalty;
    fn add(self, rhs: Penalty) -> Penalty {
        Penalty(self.0.saturating_add(rhs.0))
    }
}

impl std::iter::Sum for Penalty {
    fn sum<I: Iterator<Item = Penalty>>(iter: I) -> Penalty {
        iter.fold(Penalty(0), |a, b| a + b)
    }
}

impl Serialize for Penalty {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.points())
    }
}

/// Health class of a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Classification {
    /// Score >= 80.
    Healthy,
    /// Score >= 60.
    Stable,
    /// Score >= 40.
    Degraded,
    /// Below 40.
    Critical,
}

impl Classification {
    /// The name shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Healthy => "Healthy",
            Classification::Stable => "Stable",
            Classification::Degraded => "Degraded",
            Classification::Critical => "Critical",
        }
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A score: 100 - min(total penalty / pods, 100), kept as the exact fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    penalty: Penalty,
    pods: u64,
}

impl Score {
    /// The score of `pods` pods carrying `penalty` in all; `None` when there are no pods.
    pub fn new(penalty: Penalty, pods: u64) -> Option<Score> {
        (pods > 0).then_some(Score { penalty, pods })
    }

    /// Pods scored.
    pub fn pods(&self) -> u64 {
        self.pods
    }

    /// Total penalty.
    pub fn penalty(&self) -> Penalty {
        self.penalty
    }

    /// The score as a float (for gauges).
    pub fn value(&self) -> f64 {
        let deduction = (self.penalty.0 as f64 / 12.0 / self.pods as f64).min(100.0);
        100.0 - deduction
    }

    /// The score in tenths, rounded to nearest, except that a score below 100 never shows
    /// as 100.0 and one above 0 never shows as 0.0.
    pub fn tenths(&self) -> u64 {
        let cap = 1200 * u128::from(self.pods);
        let p = u128::from(self.penalty.0).min(cap);
        // score * 10 = 1000 - p * 10 / (12 * pods) = (12000 * pods - 10 p) / (12 pods)
        let denom = 12 * u128::from(self.pods);
        let num = 12000 * u128::from(self.pods) - 10 * p;
        let rounded = (2 * num + denom) / (2 * denom);
        let rounded = if p > 0 { rounded.min(999) } else { rounded };
        let rounded = if p < cap { rounded.max(1) } else { rounded };
        rounded as u64
    }

    /// The score rounded to one decimal, for JSON and status fields.
    pub fn rounded(&self) -> f64 {
        self.tenths() as f64 / 10.0
    }

    /// Classification on the exact value: >= 80 Healthy, >= 60 Stable, >= 40 Degraded.
    pub fn classification(&self) -> Classification {
        // score >= t  <=>  penalty <= (100 - t) * 12 * pods
        let p = u128::from(self.penalty.0);
        let limit = |t: u128| (100 - t) * 12 * u128::from(self.pods);
        if p <= limit(80) {
            Classification::Healthy
        } else if p <= limit(60) {
            Classification::Stable
        } else if p <= limit(40) {
            Classification::Degraded
        } else {
            Classification::Critical
        }
    }
}

impl std::fmt::Display for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.tenths();
        write!(f, "{}.{}", t / 10, t % 10)
    }
}

impl Serialize for Score {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.rounded())
    }
}

/// A set of checks, one bit each (the catalogue holds at most 64 checks, which the
/// checks module asserts at compile time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CheckMask(pub u64);

impl CheckMask {
    /// Adds a check.
    pub fn insert(&mut self, id: CheckId) {
        self.0 |= 1u64 << id.index();
    }

    /// Whether the set holds a check.
    pub fn contains(self, id: CheckId) -> bool {
        self.0 & (1u64 << id.index()) != 0
    }

    /// Checks in `self` but not in `other`.
    pub fn minus(self, other: CheckMask) -> impl Iterator<Item = CheckId> {
        let diff = self.0 & !other.0;
        CheckId::ALL
            .iter()
            .copied()
            .filter(move |id| diff & (1u64 << id.index()) != 0)
    }
}

/// What one pod contributes to its namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodScore {
    /// Sum of its counted findings' penalties.
    pub penalty: Penalty,
    /// Checks it fails.
    pub checks: CheckMask,
}

/// Pods and penalty of one namespace (or the cluster).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Aggregate {
    /// Pods scored.
    pub pods: u64,
    /// Their total penalty.
    pub penalty: Penalty,
}

impl Aggregate {
    fn add(&mut self, p: Penalty) {
        self.pods += 1;
        self.penalty = self.penalty + p;
    }

    fn remove(&mut self, p: Penalty) {
        self.pods = self.pods.saturating_sub(1);
        self.penalty = Penalty(self.penalty.0.saturating_sub(p.0));
    }

    /// The aggregate's score, `None` when it holds no pods.
    pub fn score(&self) -> Option<Score> {
        Score::new(self.penalty, self.pods)
    }
}

/// The incremental score state: O(1) per pod event, keyed by pod uid.
#[derive(Debug, Default)]
pub struct ScoreBoard {
    pods: HashMap<Box<str>, (Arc<str>, PodScore)>,
    namespaces: HashMap<Arc<str>, Aggregate>,
    cluster: Aggregate,
}

impl ScoreBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the current score of a pod, replacing what it had. Returns its previous
    /// score (`None` for a new pod).
    pub fn apply(&mut self, uid: &str, namespace: &str, score: PodScore) -> Option<PodScore> {
        let previous = self.delete(uid).map(|(_, s)| s);
        let ns: Arc<str> = match self.namespaces.get_key_value(namespace) {
            Some((k, _)) => k.clone(),
            None => Arc::from(namespace),
        };
        self.namespaces
            .entry(ns.clone())
            .or_default()
            .add(score.penalty);
        self.cluster.add(score.penalty);
        self.pods.insert(uid.into(), (ns, score));
        previous
    }

    /// Forgets a pod. Returns its namespace and last score, `None` if it was unknown.
    /// A namespace left with no pods is dropped.
    pub fn delete(&mut self, uid: &str) -> Option<(Arc<str>, PodScore)> {
        let (ns, score) = self.pods.remove(uid)?;
        if let Some(agg) = self.namespaces.get_mut(&ns) {
            agg.remove(score.penalty);
            if agg.pods == 0 {
                self.namespaces.remove(&ns);
            }
        }
        self.cluster.remove(score.penalty);
        Some((ns, score))
    }

    /// Forgets everything (before a relist).
    pub fn reset(&mut self) {
        self.pods.clear();
        self.namespaces.clear();
        self.cluster = Aggregate::default();
    }

    /// Uids currently tracked.
    pub fn uids(&self) -> impl Iterator<Item = &str> {
        self.pods.keys().map(|k| &**k)
    }

    /// Number of pods tracked.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// True when no pod is tracked.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// The namespace a tracked pod belongs to.
    pub fn namespace_of(&self, uid: &str) -> Option<&str> {
        self.pods.get(uid).map(|(ns, _)| &**ns)
    }

    /// A pod's current score.
    pub fn pod(&self, uid: &str) -> Option<PodScore> {
        self.pods.get(uid).map(|(_, s)| *s)
    }

    /// A namespace's score; `None` when it has no scored pods.
    pub fn namespace(&self, ns: &str) -> Option<Score> {
        self.namespaces.get(ns).and_then(Aggregate::score)
    }

    /// Every namespace with pods and its aggregate.
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &Aggregate)> {
        self.namespaces.iter().map(|(k, v)| (&**k, v))
    }

    /// The cluster score over all scored pods (pod-weighted).
    pub fn cluster(&self) -> Option<Score> {
        self.cluster.score()
    }
}

#[cfg(test)]
mod tests;
