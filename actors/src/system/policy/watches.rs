//! The reconciler's watches: DevOpsPolicies (the policy source, restarted and probed like
//! the pod watch), and for the operator its own audit results and reports (what the
//! cluster holds, so writes happen only on change and a standby stays warm), the report
//! CRDs (so reports start when a CRD is installed after start and stop when it goes), and
//! ReplicaSet and Job metadata (the owner index behind one report per top-level workload).
//!
//! In: `kube_runtime::watcher` streams, each item a [`Watched`] message. Out: the held
//! state of the reconciler. The secondary watches keep kube's backoff and resume by
//! themselves; each relist (`Init`..`InitDone`) replaces what it lists, so deletions missed
//! while a watch was down are pruned. Only digests and names are kept of audit results and
//! reports, never the objects.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube_devops::operator::audit::AuditRecord;
use kube_devops::operator::reports::{MANAGED_BY, MANAGED_BY_LABEL};
use kube_devops::operator::{ReportApi, WorkloadReport};
use kube_devops::owners::ParentRef;
use kube_devops::policy::crd::POLICY_LABEL;
use kube_devops::policy::{DevOpsPolicy, PolicyAuditResult};

use super::PolicyReconcilerActor;
use super::state::HeldPolicy;
use super::writer::report_resource;
use crate::system::lists::{self, ListMode};
use crate::system::liveness::{self, watch_config};

/// Resource label of the policy watch in metrics.
pub const POLICY_RESOURCE: &str = "devopspolicies";
const AUDIT_RESOURCE: &str = "policyauditresults";
const CRD_RESOURCE: &str = "customresourcedefinitions";

/// One item of one of the reconciler's watches.
pub enum Watched {
    /// The DevOpsPolicy watch.
    Policy(Box<Result<Event<DevOpsPolicy>, watcher::Error>>),
    /// The DevOpsPolicy watch stream ended.
    PolicyEnded,
    /// The audit result watch.
    Audit(Box<Result<Event<PolicyAuditResult>, watcher::Error>>),
    /// The watch of one report API's CRD.
    Crd(
        ReportApi,
        Box<Result<Event<CustomResourceDefinition>, watcher::Error>>,
    ),
    /// The watch of one report API's reports.
    Report(ReportApi, Box<Result<Event<DynamicObject>, watcher::Error>>),
    /// The metadata watch of ReplicaSets or Jobs.
    Owner(&'static str, Box<Result<Event<ObjectMeta>, watcher::Error>>),
}

/// Handles and relist buffers of the watches.
#[derive(Default)]
pub struct Watches {
    handles: Vec<SpawnHandle>,
    reports: HashMap<ReportApi, SpawnHandle>,
    audit_relist: Option<HashMap<(String, String), Vec<AuditRecord>>>,
    report_relist: HashMap<ReportApi, HashMap<String, HashMap<String, u64>>>,
    owner_seen: HashMap<&'static str, HashSet<String>>,
    /// Streaming or paginated lists, shared by every watch of the reconciler.
    lists: ListMode,
}

impl Watches {
    /// Stops every secondary watch.
    pub fn cancel_all(&mut self, ctx: &mut Context<PolicyReconcilerActor>) {
        for h in self.handles.drain(..) {
            ctx.cancel_future(h);
        }
        for (_, h) in self.reports.drain() {
            ctx.cancel_future(h);
        }
    }
}

fn crd_missing(e: &watcher::Error) -> bool {
    // A paginated list fails to start with the list, a streamed one with the watch.
    matches!(
        e,
        watcher::Error::InitialListFailed(kube::Error::Api(s))
            | watcher::Error::WatchStartFailed(kube::Error::Api(s)) if s.code == 404
    )
}

fn meta_event<K>(
    e: Result<Event<PartialObjectMeta<K>>, watcher::Error>,
) -> Result<Event<ObjectMeta>, watcher::Error> {
    e.map(|event| match event {
        Event::Apply(o) => Event::Apply(o.metadata),
        Event::Delete(o) => Event::Delete(o.metadata),
        Event::InitApply(o) => Event::InitApply(o.metadata),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    })
}

/// Whether the API server serves a CRD (its `Established` condition is true).
pub fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

fn audit_record(r: &PolicyAuditResult) -> Option<((String, String), AuditRecord)> {
    let key = (r.metadata.namespace.clone()?, r.spec.policy_name.clone());
    let created = r.metadata.creation_timestamp.as_ref().map(|t| t.0);
    Some((
        key,
        AuditRecord::of(r.metadata.name.as_deref()?, &r.spec, created),
    ))
}

fn report_digest(o: &DynamicObject) -> Option<(String, String, u64)> {
    let value = serde_json::to_value(o).ok()?;
    // A report this version cannot read is rewritten: digest 0 never matches.
    let digest = WorkloadReport::from_object(&value).map_or(0, |r| r.digest());
    Some((
        o.metadata.namespace.clone()?,
        o.metadata.name.clone()?,
        digest,
    ))
}

impl PolicyReconcilerActor {
    /// Starts (or restarts) the DevOpsPolicy watch; a fresh watcher lists first.
    pub(super) fn start_policy_watch(&mut self, ctx: &mut Context<Self>) {
        self.liveness.restarted();
        if self.stopped || self.health.is_shutting_down() {
            return;
        }
        let api: Api<DevOpsPolicy> = Api::all(self.client.clone());
        let config = watch_config().any_semantic();
        let stream = lists::watch(api, config, self.watches.lists.clone(), POLICY_RESOURCE)
            .map(|e| Watched::Policy(Box::new(e)))
            .chain(futures::stream::once(async { Watched::PolicyEnded }));
        self.stream = Some(ctx.add_stream(stream));
    }

    fn restart_policy_watch(&mut self, delay: Option<Duration>, ctx: &mut Context<Self>) {
        if let Some(h) = self.stream.take() {
            ctx.cancel_future(h);
        }
        if let Some(delay) = delay.filter(|_| !self.stopped) {
            ctx.run_later(delay, |act, ctx| act.start_policy_watch(ctx));
        }
    }

    /// Proves a silent policy watch live (see `liveness`).
    pub(super) fn probe(&mut self, ctx: &mut Context<Self>) {
        if self.stopped || !self.liveness.probe_due() {
            return;
        }
        self.liveness.probe_started();
        let api: Api<DevOpsPolicy> = Api::all(self.client.clone());
        ctx.spawn(liveness::probe(api).into_actor(self).map(|result, act, ctx| {
            if let Err(why) = &result {
                act.count_error(POLICY_RESOURCE);
                tracing::warn!(resource = POLICY_RESOURCE, %why, "policy watch silent and the API server does not answer; restarting it");
            }
            let delay = act.liveness.probe_finished(result);
            if delay.is_some() {
                act.restart_policy_watch(delay, ctx);
            }
        }));
    }

    fn count_error(&self, resource: &str) {
        self.metrics
            .watch_errors_total
            .with_label_values(&[resource])
            .inc();
    }

    /// Starts the operator's secondary watches.
    pub(super) fn start_operator_watches(&mut self, ctx: &mut Context<Self>) {
        for resource in [AUDIT_RESOURCE, CRD_RESOURCE, "replicasets", "jobs"] {
            self.metrics
                .watch_errors_total
                .with_label_values(&[resource])
                .inc_by(0);
        }
        let c = self.client.clone();
        let audits: Api<PolicyAuditResult> = Api::all(c.clone());
        let lists = self.watches.lists.clone();
        let s = lists::watch(
            audits,
            watch_config().labels(POLICY_LABEL),
            lists.clone(),
            AUDIT_RESOURCE,
        )
        .default_backoff()
        .map(|e| Watched::Audit(Box::new(e)));
        self.watches.handles.push(ctx.add_stream(s));
        for api in ReportApi::ALL {
            let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
            let config = watch_config().fields(&format!("metadata.name={}", api.crd_name()));
            let s = lists::watch(crds, config, lists.clone(), CRD_RESOURCE)
                .default_backoff()
                .map(move |e| Watched::Crd(api, Box::new(e)));
            self.watches.handles.push(ctx.add_stream(s));
        }
        let rs: Api<PartialObjectMeta<ReplicaSet>> = Api::all(c.clone());
        let s = lists::watch(
            rs,
            watch_config().any_semantic(),
            lists.clone(),
            "replicasets",
        )
        .default_backoff()
        .map(|e| Watched::Owner("ReplicaSet", Box::new(meta_event(e))));
        self.watches.handles.push(ctx.add_stream(s));
        let jobs: Api<PartialObjectMeta<Job>> = Api::all(c);
        let s = lists::watch(jobs, watch_config().any_semantic(), lists, "jobs")
            .default_backoff()
            .map(|e| Watched::Owner("Job", Box::new(meta_event(e))));
        self.watches.handles.push(ctx.add_stream(s));
    }

    fn start_report_watch(&mut self, api: ReportApi, ctx: &mut Context<Self>) {
        if self.watches.reports.contains_key(&api) {
            return;
        }
        tracing::info!(crd = %api.crd_name(), "report CRD installed; writing reports through it");
        let objects: Api<DynamicObject> = Api::all_with(self.client.clone(), &report_resource(api));
        let config = watch_config().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
        let s = lists::watch(objects, config, self.watches.lists.clone(), "reports")
            .default_backoff()
            .map(move |e| Watched::Report(api, Box::new(e)));
        let handle = ctx.add_stream(s);
        self.watches.reports.insert(api, handle);
    }

    fn stop_report_watch(&mut self, api: ReportApi, ctx: &mut Context<Self>) {
        if let Some(h) = self.watches.reports.remove(&api) {
            tracing::info!(crd = %api.crd_name(), "report CRD removed; no more reports through it");
            ctx.cancel_future(h);
        }
        self.watches.report_relist.remove(&api);
        if let Some(op) = self.op.as_mut() {
            op.report_apis.remove(&api);
            op.held.reports.remove(&api);
        }
    }

    fn on_policy(
        &mut self,
        item: Result<Event<DevOpsPolicy>, watcher::Error>,
        ctx: &mut Context<Self>,
    ) {
        let event = match item {
            Ok(event) => event,
            Err(e) => {
                self.count_error(POLICY_RESOURCE);
                let why = if crd_missing(&e) {
                    "the DevOpsPolicy CRD is not installed (run `kube-devops crd install`)"
                        .to_owned()
                } else {
                    format!("watch failing: {e}")
                };
                if crd_missing(&e) && !self.options.policies_required {
                    if !self.synced {
                        tracing::warn!("{why}; every namespace is scored with the default policy");
                        self.policies_listed(Default::default());
                    }
                } else if self.options.policies_required && crd_missing(&e) {
                    tracing::error!(resource = POLICY_RESOURCE, "{why}; not ready until it is");
                } else if crate::system::watch::gone(&e) {
                    // kube's watcher lists again by itself at once (see the pod watch).
                    tracing::info!(resource = POLICY_RESOURCE, %why, "listing again");
                    return;
                } else {
                    tracing::warn!(resource = POLICY_RESOURCE, %why, "retrying with backoff");
                }
                let delay = self.liveness.failed(why);
                self.restart_policy_watch(delay, ctx);
                return;
            }
        };
        self.liveness.seen(&event);
        match event {
            Event::Apply(p) => {
                if let Some((key, held)) = HeldPolicy::of(p) {
                    tracing::debug!(ns = %key.0, policy = %key.1, "policy applied");
                    self.policy_applied(key, held);
                }
            }
            Event::Delete(p) => {
                if let (Some(ns), Some(name)) = (p.metadata.namespace, p.metadata.name) {
                    tracing::debug!(%ns, policy = %name, "policy deleted");
                    self.policy_deleted((ns, name));
                }
            }
            Event::Init => self.relist = Some(Default::default()),
            Event::InitApply(p) => {
                if let (Some((key, held)), Some(buffer)) = (HeldPolicy::of(p), self.relist.as_mut())
                {
                    buffer.insert(key, held);
                }
            }
            Event::InitDone => {
                let listed = self.relist.take().unwrap_or_default();
                self.policies_listed(listed);
            }
        }
    }

    fn on_audit(&mut self, item: Result<Event<PolicyAuditResult>, watcher::Error>) {
        let Some(op) = self.op.as_mut() else {
            return;
        };
        match item {
            Err(e) => {
                tracing::debug!(error = %e, "audit result watch error; kube retries");
                self.count_error(AUDIT_RESOURCE);
            }
            Ok(Event::Init) => self.watches.audit_relist = Some(HashMap::new()),
            Ok(Event::InitApply(r)) => {
                if let (Some((key, record)), Some(buffer)) =
                    (audit_record(&r), self.watches.audit_relist.as_mut())
                {
                    buffer.entry(key).or_default().push(record);
                }
            }
            Ok(Event::InitDone) => {
                if let Some(buffer) = self.watches.audit_relist.take() {
                    op.held.audits = buffer;
                }
            }
            Ok(Event::Apply(r)) => {
                if let Some((key, record)) = audit_record(&r) {
                    let records = op.held.audits.entry(key).or_default();
                    records.retain(|x| x.name != record.name);
                    records.push(record);
                }
            }
            Ok(Event::Delete(r)) => {
                if let Some((key, record)) = audit_record(&r)
                    && let Some(records) = op.held.audits.get_mut(&key)
                {
                    records.retain(|x| x.name != record.name);
                    if records.is_empty() {
                        op.held.audits.remove(&key);
                    }
                }
            }
        }
    }

    fn on_crd(
        &mut self,
        api: ReportApi,
        item: Result<Event<CustomResourceDefinition>, watcher::Error>,
        ctx: &mut Context<Self>,
    ) {
        match item {
            Err(e) => {
                tracing::debug!(error = %e, "CRD watch error; kube retries");
                self.count_error(CRD_RESOURCE);
            }
            Ok(Event::Apply(crd) | Event::InitApply(crd)) => {
                if established(&crd) && crd.metadata.deletion_timestamp.is_none() {
                    self.start_report_watch(api, ctx);
                }
            }
            Ok(Event::Delete(_)) => self.stop_report_watch(api, ctx),
            Ok(Event::Init | Event::InitDone) => {}
        }
    }

    fn on_report(&mut self, api: ReportApi, item: Result<Event<DynamicObject>, watcher::Error>) {
        let Some(op) = self.op.as_mut() else {
            return;
        };
        match item {
            Err(e) => {
                tracing::debug!(error = %e, api = %api.crd_name(), "report watch error; kube retries");
                self.metrics
                    .watch_errors_total
                    .with_label_values(&[api.plural()])
                    .inc();
            }
            Ok(Event::Init) => {
                self.watches.report_relist.insert(api, HashMap::new());
            }
            Ok(Event::InitApply(o)) => {
                if let (Some((ns, name, digest)), Some(buffer)) =
                    (report_digest(&o), self.watches.report_relist.get_mut(&api))
                {
                    buffer.entry(ns).or_default().insert(name, digest);
                }
            }
            Ok(Event::InitDone) => {
                if let Some(buffer) = self.watches.report_relist.remove(&api) {
                    op.held.reports.insert(api, buffer);
                }
                if op.report_apis.insert(api) {
                    tracing::info!(api = %api.crd_name(), "reports listed; reconciling every namespace");
                    self.enqueue_all();
                }
            }
            Ok(Event::Apply(o)) => {
                if let Some((namespace, name, digest)) = report_digest(&o) {
                    op.held.set_report(
                        &kube_devops::operator::ReportKey {
                            api,
                            namespace,
                            name,
                        },
                        Some(digest),
                    );
                }
            }
            Ok(Event::Delete(o)) => {
                if let Some((namespace, name, _)) = report_digest(&o) {
                    op.held.set_report(
                        &kube_devops::operator::ReportKey {
                            api,
                            namespace,
                            name,
                        },
                        None,
                    );
                }
            }
        }
    }

    fn on_owner(&mut self, kind: &'static str, item: Result<Event<ObjectMeta>, watcher::Error>) {
        let Some(op) = self.op.as_mut() else {
            return;
        };
        let parent = |m: &ObjectMeta| -> Option<ParentRef> {
            let o = m
                .owner_references
                .as_ref()?
                .iter()
                .find(|o| o.controller == Some(true))?;
            Some(ParentRef {
                api_version: o.api_version.as_str().into(),
                kind: o.kind.as_str().into(),
                name: o.name.as_str().into(),
                uid: o.uid.as_str().into(),
            })
        };
        match item {
            Err(e) => {
                tracing::debug!(error = %e, %kind, "owner watch error; kube retries");
                let resource = if kind == "Job" { "jobs" } else { "replicasets" };
                self.metrics
                    .watch_errors_total
                    .with_label_values(&[resource])
                    .inc();
            }
            Ok(Event::Init) => {
                self.watches.owner_seen.insert(kind, HashSet::new());
            }
            Ok(Event::InitApply(m) | Event::Apply(m)) => {
                if let Some(uid) = m.uid.as_deref() {
                    op.owners.set(kind, uid, parent(&m));
                    if let Some(seen) = self.watches.owner_seen.get_mut(kind) {
                        seen.insert(uid.to_owned());
                    }
                }
            }
            Ok(Event::Delete(m)) => {
                if let Some(uid) = m.uid.as_deref() {
                    op.owners.remove(uid);
                }
            }
            Ok(Event::InitDone) => {
                if let Some(seen) = self.watches.owner_seen.remove(kind) {
                    op.owners.retain(kind, |uid| seen.contains(uid));
                }
            }
        }
    }
}

impl StreamHandler<Watched> for PolicyReconcilerActor {
    fn handle(&mut self, item: Watched, ctx: &mut Context<Self>) {
        match item {
            Watched::Policy(e) => self.on_policy(*e, ctx),
            Watched::PolicyEnded => {
                if self.stopped || self.liveness.restart_pending() {
                    return;
                }
                tracing::warn!(
                    resource = POLICY_RESOURCE,
                    "policy watch ended; restarting it"
                );
                self.stream = None;
                let delay = self.liveness.failed("watch stream ended".into());
                self.restart_policy_watch(delay, ctx);
            }
            Watched::Audit(e) => self.on_audit(*e),
            Watched::Crd(api, e) => self.on_crd(api, *e, ctx),
            Watched::Report(api, e) => self.on_report(api, *e),
            Watched::Owner(kind, e) => self.on_owner(kind, *e),
        }
    }

    /// A stream ended: the policy stream says so itself ([`Watched::PolicyEnded`]), the
    /// others retry forever and end only when cancelled. Never stop the actor.
    fn finished(&mut self, _: &mut Context<Self>) {}
}
