//! The cluster audit: listed workloads and pods to one report.
//!
//! In: facts of every listed workload (Deployments, StatefulSets, DaemonSets, ReplicaSets,
//! ReplicationControllers, Jobs, CronJobs) and every listed pod. Out: the same report
//! shape as the offline audit. Top-level workloads (those with no controller among the
//! listed objects) are judged from their templates, so a cluster made from a set of
//! manifests reports the same findings per workload as those manifests. Scores are
//! pod-weighted over live pods, as the watch controller computes them, and each pod's
//! runtime findings are attached to the workload that owns it, found by following
//! controller ownerReferences by uid (Pod -> ReplicaSet -> Deployment). Related objects
//! (PodDisruptionBudgets, Services, RBAC, ...) feed the cross-resource checks; a
//! workload's findings about itself and its related objects count once per live pod.

use std::collections::HashMap;

use super::Auditor;
use crate::cross::RelatedObject;
use crate::facts::{ObjectRef, PodFacts};

/// Most ownerReference hops followed; real chains are two long.
const MAX_OWNER_HOPS: usize = 8;

/// Judges listed workloads, pods and related objects.
pub fn audit_cluster(
    auditor: &mut Auditor,
    workloads: &[PodFacts],
    pods: &[PodFacts],
    related: Vec<RelatedObject>,
) {
    // uid -> (object, controller uid)
    let index: HashMap<&str, (&ObjectRef, Option<&str>)> = workloads
        .iter()
        .filter_map(|w| {
            let uid = w.uid.as_deref()?;
            Some((uid, (&w.object, w.controller().map(|o| o.uid.as_str()))))
        })
        .collect();
    let top_level = |controller: Option<&str>| -> Option<&ObjectRef> {
        let mut current = controller?;
        let mut found = None;
        for _ in 0..MAX_OWNER_HOPS {
            let Some((object, next)) = index.get(current) else {
                break;
            };
            found = Some(*object);
            match next {
                Some(n) => current = n,
                None => break,
            }
        }
        found
    };
    for w in workloads {
        let owned = w
            .controller()
            .is_some_and(|o| index.contains_key(o.uid.as_str()));
        if !owned {
            auditor.add_workload(w);
        }
    }
    for p in pods {
        let owner = top_level(p.controller().map(|o| o.uid.as_str()));
        auditor.add_pod(p, owner);
    }
    for object in related {
        auditor.add_related(object, None);
    }
}
