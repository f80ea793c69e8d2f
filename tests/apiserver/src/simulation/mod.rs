//! The workload simulation: a small control plane inside the server that reacts to every
//! committed write. Each pass collects garbage (objects whose owners are all gone), runs
//! the workload controllers (`workloads`) and the kubelet (`kubelet`). All writes go
//! through the ordinary lifecycle pipeline under the field managers the real components
//! use, and a pass that finds nothing to do writes nothing, so the loop settles.
//!
//! Pods the controllers create pass admission as the real controllers' do: when a
//! validating webhook guards pod creation, the pod is sent through it after the pass (the
//! store lock is not held across webhook calls). A refused pod is not created; its owner
//! gets a `FailedCreate` Warning event with the webhook's message, as the real controllers
//! record, and creates no pod until its backoff (1 s, doubling to 30 s) ends. Admission
//! runs beside the loop, so a slow webhook holds back only the pods it reviews; an owner
//! with pods under review creates no more meanwhile.

mod deployments;
mod events;
mod kubelet;
mod namespaces;
mod placement;
mod scheduler;
mod scope;
mod workloads;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use crate::admission;
use crate::app::{App, Context, lock};
use crate::lifecycle::{self, Preconditions, WriteOptions};
use crate::meta;
use crate::planned::{Answer, Cascade, Operation, Planned, View};
use crate::resources::ResourceType;
use crate::status::ApiResult;
use crate::store::{EventType, ObjectKey, State, StoredEvent};
use crate::stored::Stored;
use scope::Scope;

/// Pause between passes, so bursts of writes are handled together.
const SETTLE: Duration = Duration::from_millis(10);
/// Longest wait between passes when nothing changes.
const IDLE: Duration = Duration::from_millis(500);

/// First and longest pause of an owner's pod creations after a refusal.
const REFUSAL_BACKOFF_MIN: Duration = Duration::from_secs(1);
const REFUSAL_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Runs passes until the task is aborted (which aborts its admissions in flight too).
/// A pass looks only at the namespaces written in since the previous one, slice by slice
/// (see `scope`), releasing the store lock between slices.
pub async fn run(app: Arc<App>) {
    let changed = app.store.changed();
    let admissions = Arc::new(Mutex::new(Admissions::default()));
    let mut in_flight = JoinSet::new();
    let mut changes = app.store.subscribe();
    let mut since = 0;
    loop {
        while in_flight.try_join_next().is_some() {}
        let (mut gate, retrying) = {
            let admissions = lock(&admissions);
            let gate = PodGate {
                backed_off: admissions.held(Instant::now()),
                failures: admissions.failures(),
                deferred: Vec::new(),
                created: HashSet::new(),
                events: app.simulated_events,
            };
            (gate, !admissions.refused.is_empty())
        };
        let slices = {
            let mut state = app.store.lock();
            let slices = scope::plan(&state, since, retrying);
            since = state.current_rv();
            let stopped = deleted_pods(&mut changes);
            if gate.events {
                for pod in &stopped {
                    kubelet::record_stopped(&mut state, pod);
                }
            }
            slices
        };
        let mut load = scheduler::Load::default();
        for slice in &slices {
            {
                let mut state = app.store.lock();
                // Read under the store lock, as the handle scripts a pod under it: a pod
                // the pass sees written by the handle is always seen scripted too.
                let scripted = lock(&app.scripted_pods);
                pass(
                    &mut state,
                    slice,
                    &scripted,
                    &mut gate,
                    &app.ca_pem,
                    &mut load,
                );
            }
            tokio::task::yield_now().await;
        }
        lock(&admissions).created(&gate.created);
        if !gate.deferred.is_empty() {
            // Admitted off the loop, so a slow webhook holds back only its owners' pods.
            lock(&admissions).start(&gate.deferred);
            in_flight.spawn(admit_pods(app.clone(), gate.deferred, admissions.clone()));
        }
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep(IDLE) => {}
        }
        tokio::time::sleep(SETTLE).await;
    }
}

fn pass(
    state: &mut State,
    scope: &Scope,
    scripted: &HashSet<String>,
    gate: &mut PodGate,
    ca_pem: &str,
    load: &mut scheduler::Load,
) {
    collect_garbage(state, scope);
    namespaces::reconcile(state, scope, ca_pem);
    workloads::reconcile(state, scope, gate);
    scheduler::reconcile(state, scope, scripted, gate.events, load);
    kubelet::reconcile(state, scope, scripted, gate.events);
}

/// Pods deleted since the last pass, from the store's event stream (a lagging stream
/// loses some, as a kubelet that missed a watch event would not report them either).
fn deleted_pods(changes: &mut broadcast::Receiver<Arc<StoredEvent>>) -> Vec<Arc<Value>> {
    let pods = crate::resources::TypeKey::new("", "pods");
    let mut out = Vec::new();
    loop {
        match changes.try_recv() {
            Ok(event) => {
                if event.kind == EventType::Deleted && event.type_key == pods {
                    out.push(Arc::new(event.object.value()));
                }
            }
            Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return out,
        }
    }
}

/// What a pass's pod creations must respect: owners backed off after a refusal, and pods
/// to send through admission once the pass is over.
pub(crate) struct PodGate {
    backed_off: HashSet<String>,
    failures: HashMap<String, String>,
    deferred: Vec<(String, Value)>,
    created: HashSet<String>,
    /// Whether the simulated components record events.
    pub(crate) events: bool,
}

impl PodGate {
    /// Why the owner's last pod was refused, until one of its pods is admitted: what a
    /// ReplicaSet's `ReplicaFailure` condition says.
    pub(crate) fn failure(&self, owner_uid: &str) -> Option<&str> {
        self.failures.get(owner_uid).map(String::as_str)
    }

    /// Creates a pod for its owner, as the owner's controller does: at once when no
    /// webhook guards pod creation, otherwise after the pass through admission. An owner
    /// refused lately, or with pods under review, creates none.
    pub(crate) fn create_pod(
        &mut self,
        state: &mut State,
        pods: &Arc<ResourceType>,
        namespace: &str,
        pod: Value,
    ) {
        let owner = owner_of(&pod).map(|o| reference_uid(o).to_string());
        if owner.as_ref().is_some_and(|o| self.backed_off.contains(o)) {
            return;
        }
        let planned = match plan_pod(state, pods, namespace, &pod) {
            Ok(planned) => planned,
            Err(error) => return log_refusal("create pod", Err(error)),
        };
        let guarded = !state
            .list(&admission::configuration::type_key(), None)
            .is_empty();
        if guarded && admission::needs_review(state, &pod_context(pods, namespace), &planned) {
            self.deferred.push((namespace.to_string(), pod));
            return;
        }
        match planned.finish(state, pods) {
            Ok(_) => {
                self.created.extend(owner);
                if self.events {
                    record_pod_created(state, namespace, &pod);
                }
            }
            Err(_) => tracing::debug!("simulated pod create refused: the store moved"),
        }
    }
}

/// Owners whose pods are being admitted, and owners refused a pod lately with when they
/// may try again and their last pause. Neither creates pods meanwhile.
#[derive(Default)]
struct Admissions {
    in_flight: HashSet<String>,
    refused: HashMap<String, Refusal>,
}

/// An owner's last refusal: when it may try again, its last pause, and why.
struct Refusal {
    until: Instant,
    pause: Duration,
    message: String,
}

impl Admissions {
    /// Owners that create no pod now.
    fn held(&self, now: Instant) -> HashSet<String> {
        let refused = self
            .refused
            .iter()
            .filter(|(_, r)| r.until > now)
            .map(|(uid, _)| uid.clone());
        self.in_flight.iter().cloned().chain(refused).collect()
    }

    /// Owners that created a pod without review: their refusals are over.
    fn created(&mut self, owners: &HashSet<String>) {
        self.refused.retain(|uid, _| !owners.contains(uid));
    }

    /// Owners whose last pod was refused, with the refusal's message.
    fn failures(&self) -> HashMap<String, String> {
        self.refused
            .iter()
            .map(|(uid, r)| (uid.clone(), r.message.clone()))
            .collect()
    }

    fn start(&mut self, deferred: &[(String, Value)]) {
        let owners = deferred.iter().filter_map(|(_, pod)| owner_of(pod));
        self.in_flight
            .extend(owners.map(|o| reference_uid(o).to_string()));
    }

    /// One owner's batch is over: a refusal doubles its pause (from 1 s to 30 s), an
    /// admission clears it.
    fn finish(&mut self, owner_uid: &str, refusal: Option<String>) {
        self.in_flight.remove(owner_uid);
        let Some(message) = refusal else {
            self.refused.remove(owner_uid);
            return;
        };
        let pause = self
            .refused
            .get(owner_uid)
            .map_or(REFUSAL_BACKOFF_MIN, |r| {
                (r.pause * 2).min(REFUSAL_BACKOFF_MAX)
            });
        let now = Instant::now();
        // Owners long past their pause (deleted ones among them) are forgotten.
        self.refused
            .retain(|_, r| r.until + REFUSAL_BACKOFF_MAX > now);
        let refusal = Refusal {
            until: now + pause,
            pause,
            message,
        };
        self.refused.insert(owner_uid.to_string(), refusal);
    }
}

fn owner_of(pod: &Value) -> Option<&Value> {
    pod.pointer("/metadata/ownerReferences/0")
}

fn reference_uid(reference: &Value) -> &str {
    reference.get("uid").and_then(Value::as_str).unwrap_or("")
}

fn pod_context(pods: &Arc<ResourceType>, namespace: &str) -> Context {
    Context {
        rt: pods.clone(),
        namespace: namespace.to_string(),
        all_namespaces: false,
        name: None,
        status: false,
        scale: false,
        user: crate::authn::admin(),
    }
}

/// A controller's pod creation, prepared as a create request would be.
fn plan_pod(
    state: &mut State,
    pods: &ResourceType,
    namespace: &str,
    pod: &Value,
) -> ApiResult<Planned> {
    let opts = WriteOptions::by(workloads::MANAGER);
    let pending = lifecycle::prepare_create(state, pods, namespace, pod.clone(), &opts)?;
    Ok(Planned {
        pending,
        operation: Operation::Create,
        dry_run: false,
        code: 201,
        view: View::Object,
        manager: workloads::MANAGER.to_string(),
        cascade: Cascade::default(),
    })
}

/// Sends the deferred pods through admission (in parallel). Each owner's first refusal
/// becomes one `FailedCreate` event and one step of its backoff, however many of its pods
/// were refused, as a controller stops a batch at its first error.
async fn admit_pods(
    app: Arc<App>,
    deferred: Vec<(String, Value)>,
    admissions: Arc<Mutex<Admissions>>,
) {
    let pods = type_of(&app.store.lock(), "", "pods");
    let answers = join_all(deferred.iter().map(|(namespace, pod)| {
        let (app, pods) = (&app, pods.clone());
        async move {
            let pods = pods?;
            let ctx = pod_context(&pods, namespace);
            let plan = |state: &mut State| plan_pod(state, &pods, namespace, pod);
            Some(admission::admit(app, &ctx, plan).await)
        }
    }))
    .await;
    let mut refusals: HashMap<&str, (&str, &Value, Answer)> = HashMap::new();
    let mut owners: HashSet<&str> = HashSet::new();
    let mut admitted: Vec<(&String, &Value)> = Vec::new();
    for ((namespace, pod), answer) in deferred.iter().zip(answers) {
        let Some(owner) = owner_of(pod) else {
            continue;
        };
        let uid = reference_uid(owner);
        owners.insert(uid);
        match answer {
            Some(answer) if !(200..300).contains(&answer.code) => {
                refusals.entry(uid).or_insert((namespace, owner, answer));
            }
            Some(_) => admitted.push((namespace, pod)),
            None => {}
        }
    }
    {
        let mut admissions = lock(&admissions);
        for uid in &owners {
            let message = refusals
                .get(uid)
                .map(|(_, _, answer)| refusal_message(answer));
            admissions.finish(uid, message);
        }
    }
    let mut state = app.store.lock();
    for (namespace, owner, answer) in refusals.values() {
        record_failed_create(&mut state, namespace, owner, answer);
    }
    if app.simulated_events {
        for (namespace, pod) in admitted {
            record_pod_created(&mut state, namespace, pod);
        }
    }
}

/// The `SuccessfulCreate` event of the controller that created a pod.
fn record_pod_created(state: &mut State, namespace: &str, pod: &Value) {
    let Some(owner) = owner_of(pod) else {
        return;
    };
    let kind = owner.get("kind").and_then(Value::as_str).unwrap_or("");
    let owner_name = owner.get("name").and_then(Value::as_str).unwrap_or("");
    let message = match kind {
        "StatefulSet" => format!(
            "create Pod {} in StatefulSet {owner_name} successful",
            meta::name(pod)
        ),
        _ => format!("Created pod: {}", meta::name(pod)),
    };
    events::record(
        state,
        namespace,
        events::reference(owner),
        events::controller(kind),
        events::Occurrence::normal("SuccessfulCreate", message),
    );
}

/// The API server's message for a refused create.
fn refusal_message(answer: &Answer) -> String {
    answer
        .body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the request was refused")
        .to_string()
}

/// The Warning event a controller records when the API server refuses its pod.
fn record_failed_create(state: &mut State, namespace: &str, owner: &Value, answer: &Answer) {
    let kind = owner.get("kind").and_then(Value::as_str).unwrap_or("");
    let message = format!("Error creating: {}", refusal_message(answer));
    events::record(
        state,
        namespace,
        events::reference(owner),
        events::controller(kind),
        events::Occurrence::warning("FailedCreate", message),
    );
}

/// A type by group and plural (at its only served version here).
pub(crate) fn type_of(state: &State, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
    state
        .types()
        .find(|t| t.group == group && t.plural == plural)
        .cloned()
}

/// An owner reference marking `owner` as the controller.
pub(crate) fn controller_ref(owner: &Value, rt: &ResourceType) -> Value {
    json!({
        "apiVersion": rt.api_version(),
        "kind": rt.kind,
        "name": meta::name(owner),
        "uid": meta::uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Logs a refused simulated write; the next pass tries again.
pub(crate) fn log_refusal(what: &str, result: Result<Arc<Value>, crate::ApiError>) {
    if let Err(error) = result {
        tracing::debug!(%what, %error, "simulated write refused");
    }
}

/// Deletes an object as the garbage collector or a controller would.
pub(crate) fn remove(state: &mut State, rt: &ResourceType, object: &Value) {
    let result = lifecycle::delete(
        state,
        rt,
        meta::namespace(object),
        meta::name(object),
        &Preconditions::default(),
        false,
    );
    log_refusal("delete", result);
}

/// Writes `status` when it differs from the stored one, timestamps aside.
pub(crate) fn write_status(
    state: &mut State,
    rt: &ResourceType,
    object: &Value,
    status: Value,
    manager: &str,
) {
    if object.get("status").map(strip_times) == Some(strip_times(&status)) {
        return;
    }
    let mut next = object.clone();
    if let Some(map) = next.as_object_mut() {
        map.insert("status".into(), status);
    }
    replace(
        state,
        rt,
        object,
        next,
        &WriteOptions::by(manager).for_status(),
    );
}

/// Replaces a stored object with `next` as a simulated component's client would.
pub(crate) fn replace(
    state: &mut State,
    rt: &ResourceType,
    object: &Value,
    next: Value,
    options: &WriteOptions,
) {
    let result = lifecycle::update(
        state,
        rt,
        meta::namespace(object),
        meta::name(object),
        next,
        options,
    );
    log_refusal("update", result);
}

/// A copy without the timestamps the simulation refreshes, to compare statuses.
pub(crate) fn strip_times(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "startTime"
                            | "startedAt"
                            | "finishedAt"
                            | "lastTransitionTime"
                            | "lastProbeTime"
                            | "lastUpdateTime"
                            | "completionTime"
                    )
                })
                .map(|(k, v)| (k.clone(), strip_times(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_times).collect()),
        other => other.clone(),
    }
}

/// Deletes every object of the slice all of whose owners are gone, as the garbage
/// collector does: an owner is there when an object of its kind and name (in the
/// dependant's namespace, or cluster-scoped) has its uid.
fn collect_garbage(state: &mut State, scope: &Scope) {
    let types: Vec<Arc<ResourceType>> = state.types().cloned().collect();
    let mut orphans = Vec::new();
    for namespace in scope.namespaces() {
        for rt in types
            .iter()
            .filter(|t| t.namespaced != namespace.is_empty())
        {
            for object in state.list_stored(&rt.type_key(), Some(namespace)) {
                if is_orphan(state, &object) && !object.meta().deleting {
                    orphans.push((rt.clone(), object.value()));
                }
            }
        }
    }
    for (rt, object) in orphans {
        remove(state, &rt, &object);
    }
}

fn is_orphan(state: &State, object: &Stored) -> bool {
    let owners = &object.meta().owners;
    if owners.is_empty() {
        return false;
    }
    owners.iter().all(|owner| {
        let group = owner.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let Some(rt) = state
            .types()
            .find(|t| t.group == group && *t.kind == *owner.kind)
            .cloned()
        else {
            return true;
        };
        let namespace = if rt.namespaced {
            &*object.meta().namespace
        } else {
            ""
        };
        state
            .get_stored(&ObjectKey::new(&rt.type_key(), namespace, &owner.name))
            .is_none_or(|o| o.meta().uid != owner.uid)
    })
}
