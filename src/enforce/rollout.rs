//! Rollout state of a workload, read from its live object.
//!
//! In: a Deployment, StatefulSet or DaemonSet as JSON (metadata and status). Out:
//! [`Rollout`]: whether the controller has seen the newest spec and every desired pod is
//! updated and available, following the rules `kubectl rollout status` applies. The
//! enforcer never patches a workload whose rollout is in progress, and judges a
//! remediation by whether its rollout completes before the deadline.

use serde_json::Value;

use crate::facts::WorkloadKind;

/// Where a workload's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Every desired pod runs the current template and is available.
    Complete,
    /// Still rolling; the text says what is awaited.
    InProgress(String),
}

fn int(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

/// The rollout state of `live`, a workload of `kind`.
pub fn rollout(kind: WorkloadKind, live: &Value) -> Rollout {
    let generation = int(live, "/metadata/generation");
    let observed = int(live, "/status/observedGeneration");
    if observed < generation {
        return Rollout::InProgress(format!(
            "the controller has not observed generation {generation} yet (observed {observed})"
        ));
    }
    let waiting = |what: &str, have: i64, want: i64| {
        (have < want).then(|| Rollout::InProgress(format!("{have} of {want} {what}")))
    };
    let checks: Vec<Option<Rollout>> = match kind {
        WorkloadKind::Deployment => {
            let want = live
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let updated = int(live, "/status/updatedReplicas");
            let total = int(live, "/status/replicas");
            vec![
                waiting("replicas updated", updated, want),
                (total > updated).then(|| {
                    Rollout::InProgress(format!(
                        "{} old replicas pending termination",
                        total - updated
                    ))
                }),
                waiting(
                    "updated replicas available",
                    int(live, "/status/availableReplicas"),
                    updated,
                ),
            ]
        }
        WorkloadKind::StatefulSet => {
            let want = live
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let current = live.pointer("/status/currentRevision");
            let update = live.pointer("/status/updateRevision");
            vec![
                waiting("pods ready", int(live, "/status/readyReplicas"), want),
                (update.is_some() && current != update).then(|| {
                    Rollout::InProgress("pods are being moved to the update revision".into())
                }),
            ]
        }
        WorkloadKind::DaemonSet => {
            let want = int(live, "/status/desiredNumberScheduled");
            vec![
                waiting(
                    "pods updated",
                    int(live, "/status/updatedNumberScheduled"),
                    want,
                ),
                waiting("pods available", int(live, "/status/numberAvailable"), want),
            ]
        }
        _ => Vec::new(),
    };
    checks
        .into_iter()
        .flatten()
        .next()
        .unwrap_or(Rollout::Complete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, status: Value) -> Value {
        json!({"metadata": {"generation": generation}, "spec": {"replicas": 2}, "status": status})
    }

    #[test]
    fn deployment_rollouts_follow_kubectl_rollout_status() {
        let done = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        let cases = [
            ("complete", deployment(2, done.clone()), true),
            ("not observed", deployment(3, done), false),
            (
                "updating",
                deployment(
                    2,
                    json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2}),
                ),
                false,
            ),
            (
                "old pods terminating",
                deployment(
                    2,
                    json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}),
                ),
                false,
            ),
            (
                "new pods not available",
                deployment(
                    2,
                    json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
                ),
                false,
            ),
        ];
        for (name, live, complete) in cases {
            let got = rollout(WorkloadKind::Deployment, &live);
            assert_eq!(got == Rollout::Complete, complete, "{name}: {got:?}");
        }
    }

    #[test]
    fn statefulset_and_daemonset_rollouts() {
        let sts = |ready: i64, current: &str| {
            json!({"metadata": {"generation": 1}, "spec": {"replicas": 2},
                   "status": {"observedGeneration": 1, "readyReplicas": ready, "currentRevision": current, "updateRevision": "b"}})
        };
        assert_eq!(
            rollout(WorkloadKind::StatefulSet, &sts(2, "b")),
            Rollout::Complete
        );
        assert_ne!(
            rollout(WorkloadKind::StatefulSet, &sts(1, "b")),
            Rollout::Complete
        );
        assert_ne!(
            rollout(WorkloadKind::StatefulSet, &sts(2, "a")),
            Rollout::Complete
        );
        let ds = |updated: i64, available: i64| {
            json!({"metadata": {"generation": 1},
                   "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": updated, "numberAvailable": available}})
        };
        assert_eq!(
            rollout(WorkloadKind::DaemonSet, &ds(3, 3)),
            Rollout::Complete
        );
        assert_ne!(
            rollout(WorkloadKind::DaemonSet, &ds(2, 3)),
            Rollout::Complete
        );
        assert_ne!(
            rollout(WorkloadKind::DaemonSet, &ds(3, 2)),
            Rollout::Complete
        );
    }
}
