//! EnforcerActor: the only writer of workloads.
//!
//! In: [`Enforce`] requests from the PolicyReconcilerActor (one per reconciled namespace:
//! the owners of pods with remediable findings, the namespace's policies with their mode,
//! spec and held status), [`LeadershipChanged`], [`Shutdown`]. Out: the cycles of `cycle`:
//! server-side applies of workloads under `kube-devops-enforcer`, reverts, policy
//! enforcement status, Events and the enforcement counters. One cycle runs at a time; a
//! request for a namespace already waiting replaces the older one. A standby drops every
//! request (the guard is asked again before each write). A tick re-runs the namespaces
//! whose watched rollouts are past their deadline, so a stuck rollout is reverted even
//! when nothing else happens in its namespace.

mod cycle;
pub mod workloads;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use kube::Client;
use kube_devops::enforce::DEFAULT_MAX_WORKLOADS_PER_CYCLE;
use kube_devops::enforce::candidates::{Candidate, candidates};
use kube_devops::policy::crd::EnforcementMode;
use kube_devops::policy::{DevOpsPolicySpec, DevOpsPolicyStatus, EffectivePolicy, PolicySet};
use kube_devops::score::store::NamespaceEvaluation;

pub use self::cycle::Enforcer;
use super::lease::LeadershipGuard;
use super::messages::{LeadershipChanged, Shutdown};
use crate::metrics::Metrics;

/// Workload writes per second across every policy (token bucket, burst of one second).
pub const WRITES_PER_SECOND: f64 = 5.0;
/// Rollout deadline when a policy names none.
pub const DEFAULT_ROLLOUT_DEADLINE: Duration = Duration::from_secs(600);
/// How often overdue rollouts are looked for.
const TICK: Duration = Duration::from_secs(2);

/// One DevOpsPolicy as enforcement needs it.
#[derive(Debug, Clone)]
pub struct EnforcingPolicy {
    /// Its name.
    pub name: String,
    /// audit, enforce or dryRun.
    pub mode: EnforcementMode,
    /// Its spec (defaults).
    pub spec: DevOpsPolicySpec,
    /// Its own resolution (which checks are on).
    pub policy: EffectivePolicy,
    /// `enforcement.maxWorkloadsPerCycle`.
    pub max_per_cycle: u32,
    /// `enforcement.rolloutDeadlineSeconds`.
    pub rollout_deadline: Duration,
    /// Its status as the cluster holds it.
    pub held: Option<DevOpsPolicyStatus>,
}

impl EnforcingPolicy {
    /// A policy from its name, spec and held status; `None` when the spec does not resolve.
    pub fn new(
        name: &str,
        spec: &DevOpsPolicySpec,
        held: Option<&DevOpsPolicyStatus>,
    ) -> Option<Self> {
        let policy = EffectivePolicy::from_spec(spec).ok()?;
        let settings = spec.enforcement.as_ref();
        Some(EnforcingPolicy {
            name: name.to_owned(),
            mode: spec.enforcement_mode.unwrap_or_default(),
            policy,
            max_per_cycle: settings
                .and_then(|e| e.max_workloads_per_cycle)
                .unwrap_or(DEFAULT_MAX_WORKLOADS_PER_CYCLE),
            rollout_deadline: settings
                .and_then(|e| e.rollout_deadline_seconds)
                .map_or(DEFAULT_ROLLOUT_DEADLINE, |s| {
                    Duration::from_secs(u64::from(s))
                }),
            spec: spec.clone(),
            held: held.cloned(),
        })
    }
}

/// Enforce one namespace, from the PolicyReconcilerActor.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Enforce {
    /// The namespace.
    pub namespace: String,
    /// Excluded namespaces are never enforced.
    pub excluded: bool,
    /// Owners of the pods with remediable findings.
    pub candidates: Vec<Candidate>,
    /// The namespace's valid policies that are not being deleted.
    pub policies: Vec<EnforcingPolicy>,
}

impl Enforce {
    /// The request for an evaluated namespace; `None` when no policy there enforces or
    /// holds enforcement status to clear.
    pub fn of(
        eval: &NamespaceEvaluation,
        set: &PolicySet,
        policies: Vec<EnforcingPolicy>,
    ) -> Option<Self> {
        let relevant = policies.iter().any(|p| {
            p.mode != EnforcementMode::Audit
                || p.held.as_ref().is_some_and(|h| {
                    h.remediated_workloads.is_some()
                        || h.skipped.is_some()
                        || h.planned_changes.is_some()
                })
        });
        if !relevant {
            return None;
        }
        let candidates = candidates(
            eval.pods
                .iter()
                .map(|p| (p.template.as_ref(), p.name.as_ref(), p.findings.as_slice())),
        );
        Some(Enforce {
            namespace: eval.namespace.clone(),
            excluded: set.exclusions().is_excluded(&eval.namespace),
            candidates,
            policies,
        })
    }
}

/// The actor.
pub struct EnforcerActor {
    enforcer: Arc<Enforcer>,
    guard: LeadershipGuard,
    pending: BTreeMap<String, Enforce>,
    last: HashMap<String, Enforce>,
    busy: bool,
    stopped: bool,
}

impl EnforcerActor {
    /// An enforcer writing through `client` while `guard` allows.
    pub fn new(client: Client, guard: LeadershipGuard, metrics: Metrics, identity: &str) -> Self {
        // Every reason is a series from the start (a bounded set), so a rate over it is
        // defined before the first skip.
        for reason in kube_devops::enforce::SkipReason::ALL {
            metrics
                .remediations_skipped_total
                .with_label_values(&[reason.as_str()])
                .inc_by(0);
        }
        EnforcerActor {
            enforcer: Arc::new(Enforcer::new(
                client,
                guard.clone(),
                metrics,
                identity,
                WRITES_PER_SECOND,
            )),
            guard,
            pending: BTreeMap::new(),
            last: HashMap::new(),
            busy: false,
            stopped: false,
        }
    }

    fn next(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.stopped {
            return;
        }
        let Some(ns) = self.pending.keys().next().cloned() else {
            return;
        };
        let Some(req) = self.pending.remove(&ns) else {
            return;
        };
        self.last.insert(ns, req.clone());
        self.busy = true;
        let enforcer = self.enforcer.clone();
        ctx.spawn(
            async move { enforcer.run(req).await }
                .into_actor(self)
                .map(|(), act, ctx| {
                    act.busy = false;
                    act.next(ctx);
                }),
        );
    }

    fn overdue(&mut self, ctx: &mut Context<Self>) {
        if !self.guard.is_leading() {
            return;
        }
        let due: Vec<Enforce> = self
            .last
            .iter()
            .filter(|(ns, _)| !self.pending.contains_key(*ns) && self.enforcer.overdue(ns))
            .map(|(_, req)| req.clone())
            .collect();
        for req in due {
            self.pending.insert(req.namespace.clone(), req);
        }
        self.next(ctx);
    }
}

impl Actor for EnforcerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(TICK, |act, ctx| act.overdue(ctx));
    }
}

impl Supervised for EnforcerActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!("EnforcerActor restarting");
        self.busy = false;
    }
}

impl Handler<Enforce> for EnforcerActor {
    type Result = ();

    fn handle(&mut self, msg: Enforce, ctx: &mut Context<Self>) {
        if self.stopped || !self.guard.is_leading() {
            return;
        }
        self.pending.insert(msg.namespace.clone(), msg);
        self.next(ctx);
    }
}

impl Handler<LeadershipChanged> for EnforcerActor {
    type Result = ();

    fn handle(&mut self, msg: LeadershipChanged, _: &mut Context<Self>) {
        if !msg.leader {
            self.pending.clear();
        }
    }
}

impl Handler<Shutdown> for EnforcerActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {
        self.stopped = true;
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kube_devops::checks::evaluate;
    use kube_devops::policy::NamespaceExclusions;
    use kube_devops::score::store::PodEvaluation;
    use kube_devops::testing::{pod, with_uid};

    use super::*;

    fn evaluation(ns: &str) -> NamespaceEvaluation {
        let facts = with_uid(
            pod("web-1").ns(ns).without_liveness().facts(),
            "1",
            Some(("ReplicaSet", "web")),
        );
        let findings = evaluate(
            &facts,
            &EffectivePolicy::default(),
            jiff::Timestamp::UNIX_EPOCH,
        );
        NamespaceEvaluation {
            namespace: ns.to_owned(),
            score: None,
            pods: vec![PodEvaluation {
                uid: Arc::from("1"),
                name: Arc::from("web-1"),
                template: Arc::new(facts),
                findings,
            }],
        }
    }

    fn policy(mode: &str) -> EnforcingPolicy {
        let spec: DevOpsPolicySpec = serde_json::from_value(serde_json::json!({
            "enforcementMode": mode, "requireLivenessProbe": true,
            "enforcement": {"maxWorkloadsPerCycle": 2, "rolloutDeadlineSeconds": 30}
        }))
        .unwrap();
        EnforcingPolicy::new("p", &spec, None).unwrap()
    }

    #[test]
    fn requests_carry_the_owners_and_say_when_the_namespace_is_excluded() {
        let set = PolicySet::new(
            EffectivePolicy::default(),
            "default",
            NamespaceExclusions::from_flags(Some("kube-devops"), &["legacy-*".to_owned()]).unwrap(),
        );
        let req = Enforce::of(&evaluation("shop"), &set, vec![policy("enforce")]).unwrap();
        assert!(!req.excluded);
        assert_eq!(
            req.candidates,
            vec![Candidate::Controller {
                kind: "ReplicaSet".into(),
                name: "web".into()
            }]
        );
        assert_eq!(req.policies[0].max_per_cycle, 2);
        assert_eq!(req.policies[0].rollout_deadline, Duration::from_secs(30));
        for ns in ["kube-devops", "legacy-app", "kube-system"] {
            let req = Enforce::of(&evaluation(ns), &set, vec![policy("enforce")]).unwrap();
            assert!(req.excluded, "{ns}");
        }
        assert!(Enforce::of(&evaluation("shop"), &set, vec![policy("audit")]).is_none());
    }
}
