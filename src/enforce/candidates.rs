//! Which workloads an enforcement cycle looks at.
//!
//! In: the pods of a namespace (their facts and findings, from the live pod state or a
//! listing). Out: [`Candidate`]s, one per owner: the controller a pod names (to be
//! resolved through the API: a ReplicaSet to its Deployment), or the pod itself when it
//! has no controller. Only pods with a finding enforcement could fix (counted or exempt)
//! make their owner a candidate, so a compliant namespace costs no API call.

use std::collections::BTreeSet;

use crate::checks::Finding;
use crate::facts::PodFacts;

/// A workload to look at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Candidate {
    /// The controller a pod names (`ReplicaSet`, `StatefulSet`, `Job`, ...).
    Controller {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
    /// A pod with no controller.
    BarePod {
        /// The pod's name.
        name: String,
    },
}

/// Whether any finding is one enforcement could fix.
pub fn has_remediable(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.check.spec().remediable)
}

/// The candidates of `pods` (facts, pod name, findings), each owner once, sorted.
pub fn candidates<'a>(
    pods: impl IntoIterator<Item = (&'a PodFacts, &'a str, &'a [Finding])>,
) -> Vec<Candidate> {
    let mut out = BTreeSet::new();
    for (facts, name, findings) in pods {
        if !has_remediable(findings) {
            continue;
        }
        let candidate = match facts.controller() {
            Some(owner) => Candidate::Controller {
                kind: owner.kind.clone(),
                name: owner.name.clone(),
            },
            None => Candidate::BarePod {
                name: name.to_owned(),
            },
        };
        out.insert(candidate);
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{CheckId, evaluate};
    use crate::testing::{pod, policy_with, with_uid};

    #[test]
    fn owners_of_pods_with_remediable_findings_once_each() {
        let policy = policy_with(&[CheckId::MissingLivenessProbe, CheckId::LatestTag]);
        let now = jiff::Timestamp::UNIX_EPOCH;
        let pods = [
            with_uid(
                pod("a-1").without_liveness().facts(),
                "1",
                Some(("ReplicaSet", "a")),
            ),
            with_uid(
                pod("a-2").without_liveness().facts(),
                "2",
                Some(("ReplicaSet", "a")),
            ),
            with_uid(
                pod("b-1").image("nginx:latest").facts(),
                "3",
                Some(("ReplicaSet", "b")),
            ),
            with_uid(pod("bare").without_liveness().facts(), "4", None),
            with_uid(pod("fine").facts(), "5", Some(("StatefulSet", "db"))),
        ];
        let findings: Vec<Vec<Finding>> = pods.iter().map(|p| evaluate(p, &policy, now)).collect();
        let got = candidates(
            pods.iter()
                .zip(&findings)
                .map(|(p, f)| (p, p.object.name.as_str(), f.as_slice())),
        );
        assert_eq!(
            got,
            vec![
                Candidate::Controller {
                    kind: "ReplicaSet".into(),
                    name: "a".into()
                },
                Candidate::BarePod {
                    name: "bare".into()
                },
            ]
        );
    }
}
