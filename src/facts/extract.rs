//! Turns typed Kubernetes objects, or raw JSON of any workload kind, into [`PodFacts`].
//!
//! In: a `Pod`, or a workload object whose pod template is read (Deployment, StatefulSet,
//! DaemonSet, ReplicaSet, ReplicationController, Job, CronJob). Out: facts, or an error that
//! says which field of which object could not be read. Kinds that carry no pods answer
//! `Ok(None)` so callers can skip them with a note.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EphemeralContainer, Pod, PodSecurityContext, PodSpec,
    PodTemplateSpec, ReplicationController, ResourceRequirements, SELinuxOptions, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;

use super::derived::{apparmor_annotation, plain_secrets, se_linux_set};
use super::{
    ContainerFacts, ContainerRole, HostPathVolume, ObjectRef, OwnerRef, PodFacts, PodRuntime,
    ResourceFacts, SecurityFacts, WorkloadKind,
};
use crate::manifests::Tree;
use crate::policy::exemptions::Exemption;

/// Why an object could not be turned into facts.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FactsError {
    /// The object has no `kind` string.
    #[error("object has no `kind`")]
    MissingKind,
    /// The object does not match the schema of its kind.
    #[error("{kind} {name:?} is not a valid {kind}: {reason}")]
    Invalid {
        /// The declared kind.
        kind: String,
        /// The object's name, when readable.
        name: String,
        /// What the decoder said.
        reason: String,
    },
    /// More containers than are judged in one pod.
    #[error(
        "{kind} {name:?} has {count} containers, more than the {max} kube-devops judges in one pod",
        max = super::MAX_CONTAINERS_PER_POD
    )]
    TooManyContainers {
        /// The declared kind.
        kind: String,
        /// The object's name.
        name: String,
        /// Its containers.
        count: usize,
    },
    /// A workload with no pod template to judge.
    #[error("{kind} {name:?} has no pod template")]
    NoTemplate {
        /// The declared kind.
        kind: String,
        /// The object's name.
        name: String,
    },
}

/// Facts from a typed Pod, including its live status.
pub fn facts_from_pod(pod: &Pod) -> PodFacts {
    let meta = &pod.metadata;
    let object = object_ref(WorkloadKind::Pod, meta);
    let owners = owners(meta);
    let batch = owners.iter().any(|o| o.controller && o.kind == "Job");
    let exemptions = Exemption::from_annotations(meta.annotations.as_ref())
        .into_iter()
        .collect();
    let pod_meta = PodMeta {
        labels: meta.labels.as_ref(),
        annotations: meta.annotations.as_ref(),
    };
    let mut facts = from_spec(
        object,
        meta,
        owners,
        batch,
        exemptions,
        pod_meta,
        pod.spec.as_ref(),
    );
    if let Some(status) = &pod.status {
        let restarts = status
            .container_statuses
            .iter()
            .flatten()
            .chain(status.init_container_statuses.iter().flatten())
            .map(|s| (s.name.as_str(), s.restart_count));
        let created = meta.creation_timestamp.as_ref().map(|t| t.0);
        add_runtime(&mut facts, restarts, status.phase.clone(), created);
    }
    facts
}

/// Facts from raw JSON of any kind. `Ok(None)` for kinds that carry no pods, and for kinds
/// of another API group that share a name with ours (see [`WorkloadKind::from_group_kind`]).
///
/// A missing namespace is read as `default`, as `kubectl apply` would place it.
pub fn facts_from_json(value: serde_json::Value) -> Result<Option<PodFacts>, FactsError> {
    facts_from_tree(value)
}

/// [`facts_from_json`] of a parsed object of either form (see [`Tree`]): the block
/// reader's nodes are decoded into the typed object without a `Value` between.
pub fn facts_from_tree<V: Tree>(value: V) -> Result<Option<PodFacts>, FactsError> {
    let kind_str = value
        .get_key("kind")
        .and_then(Tree::text)
        .ok_or(FactsError::MissingKind)?
        .to_owned();
    let api_version = value
        .get_key("apiVersion")
        .and_then(Tree::text)
        .unwrap_or("");
    // An object that names no apiVersion is read by its kind alone.
    let kind = match api_version {
        "" => WorkloadKind::from_kind(&kind_str),
        v => WorkloadKind::from_group_kind(WorkloadKind::group_of(v), &kind_str),
    };
    let Some(kind) = kind else {
        return Ok(None);
    };
    let name = at(&value, &["metadata", "name"])
        .or_else(|| at(&value, &["metadata", "generateName"]))
        .and_then(Tree::text)
        .unwrap_or("")
        .to_owned();
    // Counted before decoding, so an oversized object costs no typed copy.
    let count = container_count(&value, kind);
    if count > super::MAX_CONTAINERS_PER_POD {
        return Err(FactsError::TooManyContainers {
            kind: kind_str,
            name,
            count,
        });
    }
    let facts = match kind {
        WorkloadKind::Pod => facts_from_pod(&decode::<Pod>(value, &kind_str, &name)?),
        WorkloadKind::Deployment => {
            facts_from_workload(&decode::<Deployment>(value, &kind_str, &name)?)?
        }
        WorkloadKind::StatefulSet => {
            facts_from_workload(&decode::<StatefulSet>(value, &kind_str, &name)?)?
        }
        WorkloadKind::DaemonSet => {
            facts_from_workload(&decode::<DaemonSet>(value, &kind_str, &name)?)?
        }
        WorkloadKind::ReplicaSet => {
            facts_from_workload(&decode::<ReplicaSet>(value, &kind_str, &name)?)?
        }
        WorkloadKind::ReplicationController => {
            facts_from_workload(&decode::<ReplicationController>(value, &kind_str, &name)?)?
        }
        WorkloadKind::Job => facts_from_workload(&decode::<Job>(value, &kind_str, &name)?)?,
        WorkloadKind::CronJob => facts_from_workload(&decode::<CronJob>(value, &kind_str, &name)?)?,
    };
    Ok(Some(facts))
}

/// A workload object that carries a pod template.
pub trait PodTemplateSource {
    /// Its kind.
    const KIND: WorkloadKind;
    /// Its metadata.
    fn meta(&self) -> &ObjectMeta;
    /// Its pod template, if it has one.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// Its `spec.replicas`, for the kinds that have one.
    fn replicas(&self) -> Option<i32> {
        None
    }
}

macro_rules! template_source {
    ($ty:ty, $kind:expr, |$w:ident| $template:expr) => {
        template_source!($ty, $kind, |$w| $template, |_r| None);
    };
    ($ty:ty, $kind:expr, |$w:ident| $template:expr, |$r:ident| $replicas:expr) => {
        impl PodTemplateSource for $ty {
            const KIND: WorkloadKind = $kind;
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn template(&self) -> Option<&PodTemplateSpec> {
                let $w = self;
                $template
            }
            fn replicas(&self) -> Option<i32> {
                let $r = self;
                $replicas
            }
        }
    };
}

template_source!(
    Deployment,
    WorkloadKind::Deployment,
    |w| w.spec.as_ref().map(|s| &s.template),
    |w| w.spec.as_ref().and_then(|s| s.replicas)
);
template_source!(
    StatefulSet,
    WorkloadKind::StatefulSet,
    |w| w.spec.as_ref().map(|s| &s.template),
    |w| w.spec.as_ref().and_then(|s| s.replicas)
);
template_source!(DaemonSet, WorkloadKind::DaemonSet, |w| w
    .spec
    .as_ref()
    .map(|s| &s.template));
template_source!(
    ReplicaSet,
    WorkloadKind::ReplicaSet,
    |w| w.spec.as_ref().and_then(|s| s.template.as_ref()),
    |w| w.spec.as_ref().and_then(|s| s.replicas)
);
template_source!(
    ReplicationController,
    WorkloadKind::ReplicationController,
    |w| w.spec.as_ref().and_then(|s| s.template.as_ref()),
    |w| w.spec.as_ref().and_then(|s| s.replicas)
);
template_source!(Job, WorkloadKind::Job, |w| w
    .spec
    .as_ref()
    .map(|s| &s.template));
template_source!(CronJob, WorkloadKind::CronJob, |w| w
    .spec
    .as_ref()
    .and_then(|s| s.job_template.spec.as_ref())
    .map(|s| &s.template));

/// Facts from the pod template of a typed workload object.
pub fn facts_from_workload<W: PodTemplateSource>(workload: &W) -> Result<PodFacts, FactsError> {
    let kind = W::KIND;
    let meta = workload.meta();
    let object = object_ref(kind, meta);
    let Some(template) = workload.template() else {
        return Err(FactsError::NoTemplate {
            kind: kind.as_str().to_owned(),
            name: object.name,
        });
    };
    let exemptions = [meta.annotations.as_ref(), template_annotations(template)]
        .into_iter()
        .filter_map(Exemption::from_annotations)
        .collect();
    let pod_meta = PodMeta {
        labels: template.metadata.as_ref().and_then(|m| m.labels.as_ref()),
        annotations: template_annotations(template),
    };
    let mut facts = from_spec(
        object,
        meta,
        owners(meta),
        kind.is_batch(),
        exemptions,
        pod_meta,
        template.spec.as_ref(),
    );
    facts.replicas = workload.replicas();
    Ok(facts)
}

fn template_annotations(t: &PodTemplateSpec) -> Option<&BTreeMap<String, String>> {
    t.metadata.as_ref().and_then(|m| m.annotations.as_ref())
}

/// The pod's own labels and annotations (a workload's: its template's).
#[derive(Clone, Copy, Default)]
pub(super) struct PodMeta<'a> {
    pub(super) labels: Option<&'a BTreeMap<String, String>>,
    pub(super) annotations: Option<&'a BTreeMap<String, String>>,
}

/// Containers of every list in the pod spec of `value`, read as `kind`.
fn container_count<V: Tree>(value: &V, kind: WorkloadKind) -> usize {
    let path: &[&str] = match kind {
        WorkloadKind::Pod => &["spec"],
        WorkloadKind::CronJob => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &["spec", "template", "spec"],
    };
    let Some(spec) = at(value, path) else {
        return 0;
    };
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .filter_map(|list| spec.get_key(list))
        .filter_map(Tree::seq_len)
        .sum()
}

/// The value at `path`, a list of mapping keys: what [`serde_json::Value::pointer`] finds
/// at `/a/b`, without parsing and unescaping the pointer on every call.
pub fn at<'v, V: Tree>(value: &'v V, path: &[&str]) -> Option<&'v V> {
    path.iter().try_fold(value, |v, key| v.get_key(key))
}

/// Decodes `value` as `serde_json::from_value` would (the same object, the same error).
fn decode<T: DeserializeOwned>(value: impl Tree, kind: &str, name: &str) -> Result<T, FactsError> {
    T::deserialize(value).map_err(|e| FactsError::Invalid {
        kind: kind.to_owned(),
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

fn object_ref(kind: WorkloadKind, meta: &ObjectMeta) -> ObjectRef {
    object_ref_of(
        kind,
        meta.namespace.as_deref(),
        meta.name.as_deref(),
        meta.generate_name.as_deref(),
    )
}

/// The object's reference: a missing or empty namespace is `default`, a missing name is the
/// `generateName` prefix.
pub(super) fn object_ref_of(
    kind: WorkloadKind,
    namespace: Option<&str>,
    name: Option<&str>,
    generate_name: Option<&str>,
) -> ObjectRef {
    ObjectRef {
        kind,
        namespace: namespace
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_owned(),
        name: name.or(generate_name).unwrap_or_default().to_owned(),
    }
}

/// Facts of an object before its pod spec is read.
pub(super) fn bare_facts(
    object: ObjectRef,
    uid: Option<String>,
    owners: Vec<OwnerRef>,
    batch: bool,
    exemptions: Vec<Exemption>,
) -> PodFacts {
    PodFacts {
        object,
        uid,
        owners,
        batch,
        exemptions,
        host_network: false,
        host_pid: false,
        host_ipc: false,
        host_paths: Vec::new(),
        service_account: None,
        automount_service_account_token: None,
        priority_class: None,
        topology_spread_keys: Vec::new(),
        labels: BTreeMap::new(),
        replicas: None,
        pod_security: SecurityFacts::default(),
        containers: Vec::new(),
        runtime: None,
    }
}

/// A live pod's status: restart counts by container name (an init container's entry wins
/// over a regular one's of the same name), phase, and creation time as the start of any
/// pending.
pub(super) fn add_runtime<'a>(
    facts: &mut PodFacts,
    restarts: impl Iterator<Item = (&'a str, i32)>,
    phase: Option<String>,
    created: Option<jiff::Timestamp>,
) {
    let restarts: BTreeMap<&str, i32> = restarts.collect();
    for c in &mut facts.containers {
        c.restart_count = restarts.get(c.name.as_str()).copied();
    }
    facts.runtime = Some(PodRuntime {
        phase,
        pending_since: created,
    });
}

/// An init container with `restartPolicy: Always` is a native sidecar.
pub(super) fn init_role(restart_policy: Option<&str>) -> ContainerRole {
    if restart_policy == Some("Always") {
        ContainerRole::Sidecar
    } else {
        ContainerRole::Init
    }
}

fn owners(meta: &ObjectMeta) -> Vec<OwnerRef> {
    meta.owner_references
        .iter()
        .flatten()
        .map(|o| OwnerRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
            uid: o.uid.clone(),
            controller: o.controller.unwrap_or(false),
        })
        .collect()
}

fn from_spec(
    object: ObjectRef,
    meta: &ObjectMeta,
    owners: Vec<OwnerRef>,
    batch: bool,
    exemptions: Vec<Exemption>,
    pod_meta: PodMeta<'_>,
    spec: Option<&PodSpec>,
) -> PodFacts {
    let mut facts = bare_facts(object, meta.uid.clone(), owners, batch, exemptions);
    facts.labels = pod_meta.labels.cloned().unwrap_or_default();
    let Some(spec) = spec else {
        return facts;
    };
    facts.host_network = spec.host_network.unwrap_or(false);
    facts.host_pid = spec.host_pid.unwrap_or(false);
    facts.host_ipc = spec.host_ipc.unwrap_or(false);
    facts.host_paths = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            v.host_path.as_ref().map(|h| HostPathVolume {
                name: v.name.clone(),
                path: h.path.clone(),
            })
        })
        .collect();
    facts.service_account = non_empty(spec.service_account_name.as_ref())
        .or_else(|| non_empty(spec.service_account.as_ref()));
    facts.automount_service_account_token = spec.automount_service_account_token;
    facts.priority_class = non_empty(spec.priority_class_name.as_ref());
    facts.topology_spread_keys = spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .map(|t| t.topology_key.clone())
        .collect();
    facts.pod_security = pod_security(spec.security_context.as_ref());
    let annotations = pod_meta.annotations;
    let init = spec.init_containers.iter().flatten().map(|c| {
        container(
            ContainerView::of(c),
            init_role(c.restart_policy.as_deref()),
            annotations,
        )
    });
    let regular = spec
        .containers
        .iter()
        .map(|c| container(ContainerView::of(c), ContainerRole::Regular, annotations));
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| {
        container(
            ContainerView::of_ephemeral(c),
            ContainerRole::Ephemeral,
            annotations,
        )
    });
    facts.containers = init.chain(regular).chain(ephemeral).collect();
    facts
}

/// A string field that is set and not empty.
pub(super) fn non_empty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.is_empty()).cloned()
}

fn se_linux(o: Option<&SELinuxOptions>) -> bool {
    o.is_some_and(|o| {
        se_linux_set([
            o.user.as_deref(),
            o.role.as_deref(),
            o.type_.as_deref(),
            o.level.as_deref(),
        ])
    })
}

fn pod_security(sc: Option<&PodSecurityContext>) -> SecurityFacts {
    sc.map(|sc| SecurityFacts {
        run_as_non_root: sc.run_as_non_root,
        run_as_user: sc.run_as_user,
        seccomp: sc.seccomp_profile.as_ref().map(|p| p.type_.clone()),
        app_armor: sc.app_armor_profile.as_ref().map(|p| p.type_.clone()),
        se_linux: se_linux(sc.se_linux_options.as_ref()),
        host_process: sc.windows_options.as_ref().and_then(|w| w.host_process),
        ..SecurityFacts::default()
    })
    .unwrap_or_default()
}

fn container_security(sc: Option<&SecurityContext>) -> SecurityFacts {
    sc.map(|sc| {
        let caps = sc.capabilities.as_ref();
        SecurityFacts {
            run_as_non_root: sc.run_as_non_root,
            run_as_user: sc.run_as_user,
            privileged: sc.privileged,
            allow_privilege_escalation: sc.allow_privilege_escalation,
            read_only_root_filesystem: sc.read_only_root_filesystem,
            capabilities_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
            capabilities_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
            seccomp: sc.seccomp_profile.as_ref().map(|p| p.type_.clone()),
            app_armor: sc.app_armor_profile.as_ref().map(|p| p.type_.clone()),
            se_linux: se_linux(sc.se_linux_options.as_ref()),
            host_process: sc.windows_options.as_ref().and_then(|w| w.host_process),
            proc_mount: sc.proc_mount.clone(),
        }
    })
    .unwrap_or_default()
}

/// The fields of a container or an ephemeral container that the checks read.
struct ContainerView<'a> {
    name: &'a str,
    image: Option<&'a String>,
    image_pull_policy: Option<&'a String>,
    liveness_probe: bool,
    readiness_probe: bool,
    ports: &'a [ContainerPort],
    resources: Option<&'a ResourceRequirements>,
    security: Option<&'a SecurityContext>,
    env: &'a [EnvVar],
}

/// A view of a `Container` or an `EphemeralContainer`: both name these fields alike.
macro_rules! container_view {
    ($name:ident, $ty:ty) => {
        fn $name(c: &'a $ty) -> Self {
            ContainerView {
                name: &c.name,
                image: c.image.as_ref(),
                image_pull_policy: c.image_pull_policy.as_ref(),
                liveness_probe: c.liveness_probe.is_some(),
                readiness_probe: c.readiness_probe.is_some(),
                ports: c.ports.as_deref().unwrap_or_default(),
                resources: c.resources.as_ref(),
                security: c.security_context.as_ref(),
                env: c.env.as_deref().unwrap_or_default(),
            }
        }
    };
}

impl<'a> ContainerView<'a> {
    container_view!(of, Container);
    container_view!(of_ephemeral, EphemeralContainer);
}

fn container(
    c: ContainerView<'_>,
    role: ContainerRole,
    annotations: Option<&BTreeMap<String, String>>,
) -> ContainerFacts {
    let has =
        |map: Option<&BTreeMap<String, _>>, key: &str| map.is_some_and(|m| m.contains_key(key));
    let requests = c.resources.and_then(|r| r.requests.as_ref());
    let limits = c.resources.and_then(|r| r.limits.as_ref());
    let mut security = container_security(c.security);
    if security.app_armor.is_none() {
        security.app_armor = apparmor_annotation(annotations, c.name);
    }
    ContainerFacts {
        name: c.name.to_owned(),
        role,
        image: c.image.cloned().unwrap_or_default(),
        image_pull_policy: c.image_pull_policy.cloned(),
        liveness_probe: c.liveness_probe,
        readiness_probe: c.readiness_probe,
        ports: c.ports.iter().map(|p| p.container_port).collect(),
        host_port: c.ports.iter().any(|p| p.host_port.unwrap_or(0) != 0),
        resources: ResourceFacts {
            cpu_request: has(requests, "cpu"),
            memory_request: has(requests, "memory"),
            cpu_limit: has(limits, "cpu"),
            memory_limit: has(limits, "memory"),
            ephemeral_storage_limit: has(limits, "ephemeral-storage"),
        },
        sensitive_env: plain_secrets(c.env.iter().map(|e| (&*e.name, e.value.as_deref()))),
        security,
        restart_count: None,
    }
}
