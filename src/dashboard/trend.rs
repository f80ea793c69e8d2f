//! The cluster score over time: a small ring of samples kept in memory.
//!
//! In: the cluster score at sampling instants. Out: the samples, oldest first. The ring
//! holds at most its capacity; the oldest sample makes room for a new one, so memory is
//! fixed however long the controller runs.

use std::collections::VecDeque;

use jiff::Timestamp;
use serde::Serialize;

/// Samples kept by default: six hours at one a minute.
pub const DEFAULT_CAPACITY: usize = 360;

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendPoint {
    /// When it was taken.
    pub at: Timestamp,
    /// The cluster score, one decimal; `None` when no pod was scored.
    pub score: Option<f64>,
}

/// A bounded ring of samples.
#[derive(Debug, Clone)]
pub struct Trend {
    points: VecDeque<TrendPoint>,
    capacity: usize,
}

impl Default for Trend {
    fn default() -> Self {
        Trend::with_capacity(DEFAULT_CAPACITY)
    }
}

impl Trend {
    /// An empty ring of at most `capacity` samples (at least one).
    pub fn with_capacity(capacity: usize) -> Trend {
        let capacity = capacity.max(1);
        Trend {
            points: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, at: Timestamp, score: Option<f64>) {
        if self.points.len() == self.capacity {
            self.points.pop_front();
        }
        self.points.push_back(TrendPoint { at, score });
    }

    /// The samples, oldest first.
    pub fn points(&self) -> Vec<TrendPoint> {
        self.points.iter().copied().collect()
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True before the first sample.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}
