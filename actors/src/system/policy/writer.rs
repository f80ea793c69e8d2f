//! The operator's writer: performs namespace jobs, each write behind the leadership guard.
//!
//! In: [`NamespaceJob`]s (finalizers to add, the plan's writes, policies to clean up).
//! Out: one [`NamespaceOutcome`] per job: what was written (so the held state follows at
//! once, before the watches echo it), the first error, or that leadership ended. Every
//! write asks the [`LeadershipGuard`] right before it goes out and has a deadline; report
//! writes also wait for a token of the report bucket. Statuses and reports are applied
//! server-side under the field manager `kube-devops` (fields left out are removed, so
//! stale fields are cleared); finalizers are added and removed with JSON patches that test
//! the list first, so a concurrent writer's change fails the patch instead of being lost;
//! events go through kube-runtime's recorder (events.k8s.io/v1).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use kube_devops::operator::audit::{AuditRecord, policy_label};
use kube_devops::operator::{PolicyEvent, ReportApi, ReportKey, Write};
use kube_devops::policy::crd::{FINALIZER, POLICY_LABEL, PolicyAuditResultSpec};
use kube_devops::policy::{DevOpsPolicy, DevOpsPolicyStatus, PolicyAuditResult};
use serde_json::{Value, json};

use super::OperatorOptions;
use crate::system::lease::LeadershipGuard;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "kube-devops";
/// Deadline of one write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A policy being deleted: its audit results go, then the finalizer.
#[derive(Debug, Clone)]
pub struct Cleanup {
    /// The policy.
    pub policy: String,
    /// Its finalizers as held.
    pub finalizers: Vec<String>,
}

/// Everything to write for one namespace.
#[derive(Debug)]
pub struct NamespaceJob {
    /// The namespace.
    pub namespace: String,
    /// When its reconcile started.
    pub started: Instant,
    /// Policies in it (for metrics).
    pub policies: usize,
    /// Policy name -> uid (events and audit results name it).
    pub uids: HashMap<String, String>,
    /// Policies lacking the finalizer, with their finalizers as held.
    pub add_finalizer: Vec<(String, Vec<String>)>,
    /// The plan's writes.
    pub writes: Vec<Write>,
    /// Policies being deleted.
    pub cleanup: Vec<Cleanup>,
}

impl NamespaceJob {
    /// An empty job.
    pub fn new(namespace: &str, started: Instant) -> Self {
        NamespaceJob {
            namespace: namespace.to_owned(),
            started,
            policies: 0,
            uids: HashMap::new(),
            add_finalizer: Vec::new(),
            writes: Vec::new(),
            cleanup: Vec::new(),
        }
    }

    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.add_finalizer.is_empty() && self.writes.is_empty() && self.cleanup.is_empty()
    }
}

/// A write that went through.
#[derive(Debug)]
pub enum Applied {
    /// A status was applied.
    Status {
        /// The policy.
        policy: String,
        /// What it now holds.
        status: Box<DevOpsPolicyStatus>,
    },
    /// The finalizer was added.
    FinalizerAdded {
        /// The policy.
        policy: String,
    },
    /// A deleted policy's audit results are gone and its finalizer removed.
    CleanedUp {
        /// The policy.
        policy: String,
    },
    /// An audit result was created.
    AuditCreated {
        /// The policy.
        policy: String,
        /// The new result.
        record: AuditRecord,
    },
    /// An audit result was deleted.
    AuditDeleted {
        /// The policy.
        policy: String,
        /// Its name.
        name: String,
    },
    /// A report was applied (`Some` digest) or deleted (`None`).
    Report {
        /// Which.
        key: ReportKey,
        /// Its digest now.
        digest: Option<u64>,
    },
}

/// What a job did.
#[derive(Debug)]
pub struct NamespaceOutcome {
    /// The namespace.
    pub namespace: String,
    /// When its reconcile started.
    pub started: Instant,
    /// Policies in it.
    pub policies: usize,
    /// The writes that went through.
    pub applied: Vec<Applied>,
    /// The first failure; the rest of the job was not attempted.
    pub error: Option<String>,
    /// The guard refused: the rest was not attempted.
    pub not_leading: bool,
}

/// Writes per second, with a burst of one second's worth.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling at `rate` tokens per second.
    pub fn new(rate: f64) -> Self {
        let rate = rate.max(0.1);
        TokenBucket {
            rate,
            tokens: rate,
            last: Instant::now(),
        }
    }

    /// Takes a token; returns how long to wait before using it.
    pub fn take(&mut self) -> Duration {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Why a write did not happen.
enum Stop {
    NotLeading,
    Failed(String),
}

async fn timed<T>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, Stop> {
    match tokio::time::timeout(WRITE_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Stop::Failed(format!("{what}: {e}"))),
        Err(_) => Err(Stop::Failed(format!(
            "{what}: no answer within {WRITE_TIMEOUT:?}"
        ))),
    }
}

fn gone(result: &Result<(), Stop>) -> bool {
    matches!(result, Err(Stop::Failed(e)) if e.contains("404") || e.contains("NotFound"))
}

/// Performs jobs.
pub struct Writer {
    client: Client,
    guard: LeadershipGuard,
    recorder: Recorder,
    reports: Mutex<TokenBucket>,
}

impl Writer {
    /// A writer for the operator described by `options`.
    pub fn new(client: Client, options: &OperatorOptions) -> Self {
        let reporter = Reporter {
            controller: "kube-devops".to_owned(),
            instance: Some(options.identity.clone()),
        };
        Writer {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            guard: options.guard.clone(),
            reports: Mutex::new(TokenBucket::new(options.report_writes_per_second)),
        }
    }

    fn allowed(&self) -> Result<(), Stop> {
        self.guard.check().map_err(|_| Stop::NotLeading)
    }

    /// Performs the jobs in order; a refusal of the guard ends them all.
    pub async fn perform(
        self: std::sync::Arc<Self>,
        jobs: Vec<NamespaceJob>,
    ) -> Vec<NamespaceOutcome> {
        let mut out = Vec::with_capacity(jobs.len());
        let mut leading = true;
        for job in jobs {
            let mut outcome = NamespaceOutcome {
                namespace: job.namespace.clone(),
                started: job.started,
                policies: job.policies,
                applied: Vec::new(),
                error: None,
                not_leading: !leading,
            };
            if leading {
                match self.job(&job, &mut outcome.applied).await {
                    Ok(()) => {}
                    Err(Stop::NotLeading) => {
                        leading = false;
                        outcome.not_leading = true;
                    }
                    Err(Stop::Failed(e)) => outcome.error = Some(e),
                }
            }
            out.push(outcome);
        }
        out
    }

    async fn job(&self, job: &NamespaceJob, applied: &mut Vec<Applied>) -> Result<(), Stop> {
        let ns = job.namespace.as_str();
        for (policy, finalizers) in &job.add_finalizer {
            let result = self.add_finalizer(ns, policy, finalizers).await;
            if gone(&result) {
                continue;
            }
            result?;
            applied.push(Applied::FinalizerAdded {
                policy: policy.clone(),
            });
        }
        for write in &job.writes {
            self.write(ns, job, write, applied).await?;
        }
        for c in &job.cleanup {
            self.cleanup(ns, c).await?;
            applied.push(Applied::CleanedUp {
                policy: c.policy.clone(),
            });
        }
        Ok(())
    }

    async fn write(
        &self,
        ns: &str,
        job: &NamespaceJob,
        write: &Write,
        applied: &mut Vec<Applied>,
    ) -> Result<(), Stop> {
        match write {
            Write::Status {
                policy,
                status,
                events,
            } => {
                let result = self.apply_status(ns, policy, status).await;
                if gone(&result) {
                    return Ok(());
                }
                result?;
                applied.push(Applied::Status {
                    policy: policy.clone(),
                    status: status.clone(),
                });
                let uid = job.uids.get(policy).cloned().unwrap_or_default();
                for e in events {
                    self.event(ns, policy, &uid, e).await?;
                }
            }
            Write::AuditResult {
                policy,
                policy_uid,
                spec,
                ..
            } => {
                let record = self.create_audit(ns, policy, policy_uid, spec).await?;
                applied.push(Applied::AuditCreated {
                    policy: policy.clone(),
                    record,
                });
            }
            Write::DeleteAuditResult { policy, name } => {
                self.allowed()?;
                let api: Api<PolicyAuditResult> = Api::namespaced(self.client.clone(), ns);
                let result = timed("delete audit result", async {
                    api.delete(name, &DeleteParams::default()).await.map(|_| ())
                })
                .await;
                if !gone(&result) {
                    result?;
                }
                applied.push(Applied::AuditDeleted {
                    policy: policy.clone(),
                    name: name.clone(),
                });
            }
            Write::ApplyReport {
                key,
                report,
                digest,
            } => {
                self.report_token().await;
                self.allowed()?;
                let object = report.to_object(key.api);
                timed("apply report", async {
                    report_api(&self.client, key.api, ns)
                        .patch(
                            &key.name,
                            &PatchParams::apply(FIELD_MANAGER).force(),
                            &Patch::Apply(&object),
                        )
                        .await
                        .map(|_| ())
                })
                .await?;
                applied.push(Applied::Report {
                    key: key.clone(),
                    digest: Some(*digest),
                });
            }
            Write::DeleteReport { key } => {
                self.report_token().await;
                self.allowed()?;
                let result = timed("delete report", async {
                    report_api(&self.client, key.api, ns)
                        .delete(&key.name, &DeleteParams::default())
                        .await
                        .map(|_| ())
                })
                .await;
                if !gone(&result) {
                    result?;
                }
                applied.push(Applied::Report {
                    key: key.clone(),
                    digest: None,
                });
            }
        }
        Ok(())
    }

    async fn report_token(&self) {
        let wait = match self.reports.lock() {
            Ok(mut bucket) => bucket.take(),
            Err(_) => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    async fn apply_status(
        &self,
        ns: &str,
        name: &str,
        status: &DevOpsPolicyStatus,
    ) -> Result<(), Stop> {
        self.allowed()?;
        let api: Api<DevOpsPolicy> = Api::namespaced(self.client.clone(), ns);
        let patch = json!({
            "apiVersion": DevOpsPolicy::api_version(&()),
            "kind": DevOpsPolicy::kind(&()),
            "metadata": {"name": name, "namespace": ns},
            "status": status,
        });
        timed("apply status", async {
            api.patch_status(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn event(&self, ns: &str, policy: &str, uid: &str, e: &PolicyEvent) -> Result<(), Stop> {
        self.allowed()?;
        let reference = ObjectReference {
            api_version: Some(DevOpsPolicy::api_version(&()).into_owned()),
            kind: Some(DevOpsPolicy::kind(&()).into_owned()),
            name: Some(policy.to_owned()),
            namespace: Some(ns.to_owned()),
            uid: Some(uid.to_owned()),
            ..ObjectReference::default()
        };
        let event = Event {
            type_: if e.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: e.reason.to_owned(),
            note: Some(e.note.chars().take(1000).collect()),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        // An event that cannot be recorded is logged, never a reason to write again.
        if let Err(Stop::Failed(error)) =
            timed("record event", self.recorder.publish(&event, &reference)).await
        {
            tracing::warn!(%ns, %policy, %error, "cannot record an event");
        }
        Ok(())
    }

    async fn create_audit(
        &self,
        ns: &str,
        policy: &str,
        policy_uid: &str,
        spec: &PolicyAuditResultSpec,
    ) -> Result<AuditRecord, Stop> {
        self.allowed()?;
        let api: Api<PolicyAuditResult> = Api::namespaced(self.client.clone(), ns);
        let mut object = PolicyAuditResult::new("", spec.clone());
        let prefix: String = policy.chars().take(50).collect();
        object.metadata.name = None;
        object.metadata.generate_name = Some(format!("{}-", prefix.trim_end_matches(['-', '.'])));
        object.metadata.namespace = Some(ns.to_owned());
        object.metadata.labels = Some([(POLICY_LABEL.to_owned(), policy_label(policy))].into());
        object.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: DevOpsPolicy::api_version(&()).into_owned(),
                kind: DevOpsPolicy::kind(&()).into_owned(),
                name: policy.to_owned(),
                uid: policy_uid.to_owned(),
                controller: Some(true),
                block_owner_deletion: None,
            },
        ]);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        let created = timed("create audit result", api.create(&params, &object)).await?;
        // Recorded as the watch will show it, so the two never disagree.
        Ok(AuditRecord::of(
            created.metadata.name.as_deref().unwrap_or_default(),
            &created.spec,
            created.metadata.creation_timestamp.map(|t| t.0),
        ))
    }

    async fn json_patch(&self, ns: &str, name: &str, ops: Value) -> Result<(), Stop> {
        self.allowed()?;
        let patch: json_patch::Patch = serde_json::from_value(ops)
            .map_err(|e| Stop::Failed(format!("finalizer patch: {e}")))?;
        let api: Api<DevOpsPolicy> = Api::namespaced(self.client.clone(), ns);
        timed("patch finalizers", async {
            api.patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
                .await
                .map(|_| ())
        })
        .await
    }

    /// Adds the finalizer, failing if the list is not what was held.
    async fn add_finalizer(&self, ns: &str, name: &str, held: &[String]) -> Result<(), Stop> {
        let ops = if held.is_empty() {
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
            ])
        } else {
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": held},
                {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
            ])
        };
        self.json_patch(ns, name, ops).await
    }

    /// Deletes a policy's audit results, then removes its finalizer (and nothing else).
    async fn cleanup(&self, ns: &str, c: &Cleanup) -> Result<(), Stop> {
        self.allowed()?;
        let api: Api<PolicyAuditResult> = Api::namespaced(self.client.clone(), ns);
        let selector = format!("{POLICY_LABEL}={}", policy_label(&c.policy));
        timed("delete audit results", async {
            api.delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&selector),
            )
            .await
            .map(|_| ())
        })
        .await?;
        let Some(i) = c.finalizers.iter().position(|f| f == FINALIZER) else {
            return Ok(());
        };
        let path = format!("/metadata/finalizers/{i}");
        let ops = json!([
            {"op": "test", "path": path, "value": FINALIZER},
            {"op": "remove", "path": path},
        ]);
        let result = self.json_patch(ns, &c.policy, ops).await;
        if gone(&result) {
            return Ok(());
        }
        result
    }
}

/// The API of one report kind in one namespace.
pub fn report_api(client: &Client, api: ReportApi, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &report_resource(api))
}

/// The report kind as an API resource.
pub fn report_resource(api: ReportApi) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(api.group(), api.version(), api.kind()),
        api.plural(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_bucket_lets_a_burst_through_then_paces() {
        let mut bucket = TokenBucket::new(20.0);
        let waits: Vec<Duration> = (0..25).map(|_| bucket.take()).collect();
        assert!(waits[..20].iter().all(|w| w.is_zero()), "{waits:?}");
        // The 25th write waits for about five twentieths of a second.
        assert!(waits[24] > Duration::from_millis(200), "{waits:?}");
        assert!(waits[24] <= Duration::from_millis(260), "{waits:?}");
    }
}
