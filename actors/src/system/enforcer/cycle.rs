//! One enforcement cycle of one namespace: resolve, plan, apply, watch the rollout,
//! revert, record.
//!
//! In: an [`Enforce`] request (the namespace's candidates and policies) and what earlier
//! cycles remember (remediations whose rollout is being watched, reverted workloads, the
//! enforcement status last written). Out: server-side applies of workloads (real in
//! `enforce` mode, server dry-run in `dryRun`), reverts of remediations whose pods did not
//! become ready in time, the policies' enforcement status (only when it changed), Events
//! on the workloads, and the enforcement counters. Every write asks the leadership guard
//! first and waits for a token of the global bucket; a workload whose rollout is in
//! progress is not touched.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use kube_devops::enforce::intent::{
    apply_object, failed_revert_object, previous_object, rollout_failed_here, template_digest,
};
use kube_devops::enforce::rollout::{Rollout, rollout};
use kube_devops::enforce::status::{CycleOutcome, enforcement_status, new_skips, same_enforcement};
use kube_devops::enforce::{Decision, Enforcing, FIELD_MANAGER, RemediationPlan, SkipReason, plan};
use kube_devops::facts::facts_from_json;
use kube_devops::policy::crd::{EnforcementMode, SkippedWorkload};
use kube_devops::policy::{DevOpsPolicy, DevOpsPolicyStatus};
use serde_json::{Value, json};

use super::workloads::{self, CallError, Resolved, WorkloadName};
use super::{Enforce, EnforcingPolicy};
use crate::metrics::Metrics;
use crate::system::lease::LeadershipGuard;
use crate::system::policy::TokenBucket;

/// A remediation whose rollout is being watched.
#[derive(Debug, Clone)]
struct Watched {
    policy: String,
    since: Instant,
    deadline: Duration,
    /// The applied configuration that undoes it.
    previous: Value,
    /// Digest of the pod template before it (what a revert restores).
    restored: String,
}

/// What cycles remember.
#[derive(Debug, Default)]
struct Memory {
    watched: HashMap<(String, WorkloadName), Watched>,
    /// Enforcement status last written, per (namespace, policy).
    statuses: HashMap<(String, String), DevOpsPolicyStatus>,
}

/// The enforcer's shared state: client, guard, bucket, recorder, memory.
pub struct Enforcer {
    client: Client,
    guard: LeadershipGuard,
    metrics: Metrics,
    recorder: Recorder,
    bucket: Mutex<TokenBucket>,
    memory: Mutex<Memory>,
}

fn skip_entry(workload: String, reason: SkipReason, message: String) -> SkippedWorkload {
    SkippedWorkload {
        workload,
        reason: reason.as_str().to_owned(),
        message,
    }
}

/// The guard refused a write: the cycle ends.
struct NotLeading;

impl Enforcer {
    /// An enforcer writing through `client` while `guard` allows, at most
    /// `writes_per_second` workload writes per second.
    pub fn new(
        client: Client,
        guard: LeadershipGuard,
        metrics: Metrics,
        identity: &str,
        writes_per_second: f64,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: Some(identity.to_owned()),
        };
        Enforcer {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            guard,
            metrics,
            bucket: Mutex::new(TokenBucket::new(writes_per_second)),
            memory: Mutex::new(Memory::default()),
        }
    }

    fn memory<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        match self.memory.lock() {
            Ok(mut m) => f(&mut m),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Whether a watched rollout of `ns` has passed its deadline.
    pub fn overdue(&self, ns: &str) -> bool {
        self.memory(|m| {
            m.watched
                .iter()
                .any(|((n, _), w)| n == ns && w.since.elapsed() >= w.deadline)
        })
    }

    async fn allowed(&self) -> Result<(), NotLeading> {
        let wait = match self.bucket.lock() {
            Ok(mut b) => b.take(),
            Err(_) => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.guard.check().map_err(|_| NotLeading)
    }

    /// Runs one cycle of `req`.
    pub async fn run(&self, req: Enforce) {
        if !self.guard.is_leading() || req.excluded {
            return;
        }
        // Policies gone from the namespace leave the status cache.
        self.memory(|m| {
            m.statuses.retain(|(ns, name), _| {
                *ns != req.namespace || req.policies.iter().any(|p| &p.name == name)
            })
        });
        let mut outcomes: BTreeMap<String, CycleOutcome> = BTreeMap::new();
        if self.enforce(&req, &mut outcomes).await.is_err() {
            tracing::info!(ns = %req.namespace, "no longer leading: enforcement cycle stopped");
            return;
        }
        for p in &req.policies {
            let outcome = outcomes.remove(&p.name).unwrap_or_default();
            if self.record(&req.namespace, p, &outcome).await.is_err() {
                return;
            }
        }
    }

    async fn enforce(
        &self,
        req: &Enforce,
        outcomes: &mut BTreeMap<String, CycleOutcome>,
    ) -> Result<(), NotLeading> {
        let ns = req.namespace.as_str();
        let enforcing: Vec<&EnforcingPolicy> = req
            .policies
            .iter()
            .filter(|p| p.mode != EnforcementMode::Audit)
            .collect();
        if enforcing.is_empty() {
            return Ok(());
        }
        let mut common = Vec::new();
        let mut targets: BTreeSet<WorkloadName> = BTreeSet::new();
        for c in &req.candidates {
            match workloads::resolve(&self.client, ns, c).await {
                Ok(Resolved::Workload(w)) => {
                    targets.insert(w);
                }
                Ok(Resolved::Skipped(what, skip)) => {
                    common.push(skip_entry(what, skip.reason, skip.detail));
                }
                Err(CallError::NotFound) => {}
                Err(error) => tracing::warn!(%ns, ?c, %error, "cannot resolve an owner"),
            }
        }
        self.memory(|m| {
            targets.extend(
                m.watched
                    .keys()
                    .filter(|(n, _)| n == ns)
                    .map(|(_, w)| w.clone()),
            )
        });
        for p in &enforcing {
            outcomes.entry(p.name.clone()).or_default().skipped = common.clone();
        }
        let now = Timestamp::now();
        let mut patched: HashMap<&str, u32> = HashMap::new();
        for w in &targets {
            let key = (ns.to_owned(), w.clone());
            let mut live = match workloads::get(&self.client, ns, w.kind.as_str(), &w.name).await {
                Ok(v) => v,
                Err(CallError::NotFound) => {
                    self.memory(|m| m.watched.remove(&key));
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%ns, workload = %w, %error, "cannot read a workload");
                    continue;
                }
            };
            if self.watch_rollout(ns, w, &live, outcomes).await? {
                continue;
            }
            if rollout_failed_here(&live) {
                for p in &enforcing {
                    outcomes.entry(p.name.clone()).or_default().skipped.push(skip_entry(
                        w.to_string(),
                        SkipReason::RolloutFailed,
                        "an earlier remediation was reverted because its pods did not become ready; not retried until the pod template changes".into(),
                    ));
                }
                continue;
            }
            for p in &enforcing {
                let facts = match facts_from_json(live.clone()) {
                    Ok(Some(f)) => f,
                    _ => break,
                };
                let decision = plan(
                    &facts,
                    Enforcing {
                        policy: &p.policy,
                        spec: &p.spec,
                    },
                    now,
                );
                let outcome = outcomes.entry(p.name.clone()).or_default();
                let plan = match decision {
                    Decision::Compliant => continue,
                    Decision::Skip(s) => {
                        outcome
                            .skipped
                            .push(skip_entry(w.to_string(), s.reason, s.detail));
                        continue;
                    }
                    Decision::Patch(plan) => plan,
                };
                if let Rollout::InProgress(why) = rollout(w.kind, &live) {
                    outcome.skipped.push(skip_entry(
                        w.to_string(),
                        SkipReason::RolloutInProgress,
                        format!("waiting for the rollout: {why}"),
                    ));
                    continue;
                }
                let count = patched.entry(p.name.as_str()).or_insert(0);
                if *count >= p.max_per_cycle {
                    outcome.skipped.push(skip_entry(
                        w.to_string(),
                        SkipReason::RateLimited,
                        format!(
                            "{} workloads patched this cycle (maxWorkloadsPerCycle); next cycle",
                            p.max_per_cycle
                        ),
                    ));
                    continue;
                }
                self.allowed().await?;
                if let Some(after) = self.apply_plan(ns, w, p, &live, &plan, now, outcome).await {
                    *count += 1;
                    live = after;
                }
            }
        }
        Ok(())
    }

    /// Applies one plan and records what happened; the object after a real write.
    #[allow(clippy::too_many_arguments)]
    async fn apply_plan(
        &self,
        ns: &str,
        w: &WorkloadName,
        p: &EnforcingPolicy,
        live: &Value,
        plan: &RemediationPlan,
        now: Timestamp,
        outcome: &mut CycleOutcome,
    ) -> Option<Value> {
        let dry_run = p.mode == EnforcementMode::DryRun;
        let body = apply_object(live, plan, &now.to_string());
        let changes: Vec<String> = plan.describe();
        match workloads::apply(&self.client, ns, w, &body, dry_run).await {
            Ok(after) if dry_run => {
                outcome.would_patch.push(w.to_string());
                outcome
                    .planned_changes
                    .extend(changes.iter().map(|c| format!("{w}: {c}")));
                let _ = after;
                None
            }
            Ok(after) => {
                tracing::info!(%ns, workload = %w, policy = %p.name, ?changes, "remediated");
                self.metrics.remediations_applied_total.inc();
                outcome.applied.push(w.to_string());
                let previous = previous_object(live, w.kind, ns, &w.name);
                let restored = template_digest(live);
                self.memory(|m| {
                    m.watched.insert(
                        (ns.to_owned(), w.clone()),
                        Watched {
                            policy: p.name.clone(),
                            since: Instant::now(),
                            deadline: p.rollout_deadline,
                            previous,
                            restored,
                        },
                    )
                });
                let note = format!("policy {}: {}", p.name, changes.join("; "));
                self.event(ns, w, &after, false, "Remediated", &note).await;
                Some(after)
            }
            Err(CallError::Conflict { managers, message }) => {
                let owners = if managers.is_empty() {
                    "another field manager".to_owned()
                } else {
                    managers.join(", ")
                };
                outcome.skipped.push(skip_entry(
                    w.to_string(),
                    SkipReason::Conflict,
                    format!("a field enforcement would set is owned by {owners}: {message}"),
                ));
                None
            }
            Err(CallError::NotFound) => None,
            Err(CallError::Failed(error)) => {
                tracing::warn!(%ns, workload = %w, %error, "remediation failed");
                self.metrics.remediations_failed_total.inc();
                outcome.failed.push(w.to_string());
                let note = format!("policy {}: the write failed: {error}", p.name);
                self.event(ns, w, live, true, "RemediationFailed", &note)
                    .await;
                None
            }
        }
    }

    /// Follows a watched remediation: forgotten once its rollout completes, reverted once
    /// its deadline passes first. True when the workload is done with for this cycle.
    async fn watch_rollout(
        &self,
        ns: &str,
        w: &WorkloadName,
        live: &Value,
        outcomes: &mut BTreeMap<String, CycleOutcome>,
    ) -> Result<bool, NotLeading> {
        let key = (ns.to_owned(), w.clone());
        let Some(watched) = self.memory(|m| m.watched.get(&key).cloned()) else {
            return Ok(false);
        };
        let why = match rollout(w.kind, live) {
            Rollout::Complete => {
                self.memory(|m| m.watched.remove(&key));
                return Ok(false);
            }
            Rollout::InProgress(why) => why,
        };
        if watched.since.elapsed() < watched.deadline {
            return Ok(true);
        }
        self.allowed().await?;
        let outcome = outcomes.entry(watched.policy.clone()).or_default();
        let body = failed_revert_object(&watched.previous, &watched.restored);
        match workloads::apply(&self.client, ns, w, &body, false).await {
            Ok(_) => {
                self.memory(|m| m.watched.remove(&key));
                self.metrics.remediations_failed_total.inc();
                outcome.failed.push(w.to_string());
                outcome.reverted.push(w.to_string());
                let message = format!(
                    "reverted: the pods did not become ready within {}s ({why}); not retried until the spec changes",
                    watched.deadline.as_secs()
                );
                outcome.skipped.push(skip_entry(
                    w.to_string(),
                    SkipReason::RolloutFailed,
                    message,
                ));
                tracing::warn!(%ns, workload = %w, %why, "remediation reverted after a failed rollout");
            }
            Err(CallError::NotFound) => {
                self.memory(|m| m.watched.remove(&key));
            }
            Err(error) => {
                tracing::warn!(%ns, workload = %w, %error, "cannot revert a remediation; retrying");
            }
        }
        Ok(true)
    }

    /// Writes a policy's enforcement status when it changed, with an Event and a count
    /// for each new skip.
    async fn record(
        &self,
        ns: &str,
        p: &EnforcingPolicy,
        outcome: &CycleOutcome,
    ) -> Result<(), NotLeading> {
        let key = (ns.to_owned(), p.name.clone());
        let held = self
            .memory(|m| m.statuses.get(&key).cloned())
            .or_else(|| p.held.clone());
        let next = enforcement_status(p.mode, held.as_ref(), outcome);
        if same_enforcement(
            held.as_ref().unwrap_or(&DevOpsPolicyStatus::default()),
            &next,
        ) {
            return Ok(());
        }
        self.guard.check().map_err(|_| NotLeading)?;
        let api: Api<DevOpsPolicy> = Api::namespaced(self.client.clone(), ns);
        let body = json!({
            "apiVersion": DevOpsPolicy::api_version(&()),
            "kind": DevOpsPolicy::kind(&()),
            "metadata": {"name": p.name, "namespace": ns},
            "status": next,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let written = tokio::time::timeout(
            workloads::CALL_TIMEOUT,
            api.patch_status(&p.name, &params, &Patch::Apply(&body)),
        )
        .await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%ns, policy = %p.name, %error, "cannot write the enforcement status");
                return Ok(());
            }
            Err(_) => {
                tracing::warn!(%ns, policy = %p.name, "enforcement status: no answer in time");
                return Ok(());
            }
        }
        for s in new_skips(held.as_ref(), &next) {
            self.metrics
                .remediations_skipped_total
                .with_label_values(&[s.reason.as_str()])
                .inc();
            let warning = matches!(
                s.reason.as_str(),
                "conflict" | "rolloutFailed" | "nothingDerivable"
            );
            let note = format!("policy {}: {}: {}", p.name, s.reason, s.message);
            self.event_on(ns, &s.workload, None, warning, "RemediationSkipped", &note)
                .await;
        }
        self.memory(|m| m.statuses.insert(key, next));
        Ok(())
    }

    async fn event(
        &self,
        ns: &str,
        w: &WorkloadName,
        live: &Value,
        warning: bool,
        reason: &str,
        note: &str,
    ) {
        let uid = live.pointer("/metadata/uid").and_then(Value::as_str);
        self.event_on(ns, &w.to_string(), uid, warning, reason, note)
            .await;
    }

    /// Records an Event on `Kind/name`; failures are logged, never retried.
    async fn event_on(
        &self,
        ns: &str,
        workload: &str,
        uid: Option<&str>,
        warning: bool,
        reason: &str,
        note: &str,
    ) {
        let Some((kind, name)) = workload.split_once('/') else {
            return;
        };
        if !self.guard.is_leading() {
            return;
        }
        let api_version = kube_devops::owners::builtin_api_version(kind).unwrap_or("apps/v1");
        let reference = ObjectReference {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            uid: uid.map(str::to_owned),
            ..ObjectReference::default()
        };
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(note.chars().take(1000).collect()),
            action: "Remediate".to_owned(),
            secondary: None,
        };
        let published = tokio::time::timeout(
            workloads::CALL_TIMEOUT,
            self.recorder.publish(&event, &reference),
        )
        .await;
        if !matches!(published, Ok(Ok(()))) {
            tracing::warn!(%ns, %workload, %reason, "cannot record an event");
        }
    }
}
