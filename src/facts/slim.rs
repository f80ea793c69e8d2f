//! Facts straight from JSON bytes, reading only the fields the checks use.
//!
//! In: a Pod or a workload object as the API server sends it (the `object` of an admission
//! review). Out: the same [`PodFacts`] as the typed extraction in `extract.rs`, without a
//! runtime part (no status is read). The typed path decodes every field of the generated
//! `k8s-openapi` types (managed fields, env, volumes, probes in full) only to read a few of
//! them; here everything else is skipped unread, which makes a review several times cheaper.
//! The fields read are a subset of the typed ones with the same meanings, and like the
//! typed ones a missing required field reads as its default; the tests below hold the two
//! paths equal on every example manifest and on generated objects.
//!
//! Use it only where the object was validated already (the API server validated it before
//! admission): a type error in a field this path skips goes unnoticed here.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::derived::{apparmor_annotation, plain_secrets};
use super::extract::{PodMeta, add_runtime, bare_facts, init_role, object_ref_of};
use super::{
    ContainerFacts, ContainerRole, HostPathVolume, ObjectRef, OwnerRef, PodFacts, ResourceFacts,
    WorkloadKind,
};
use crate::facts::FactsError;
use crate::policy::exemptions::Exemption;
use security::SlimSecurity;
use visitors::ResourceKeys;
pub(crate) use visitors::kept_annotations;

mod security;
mod visitors;

/// A Pod or workload object, as much of it as the checks read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SlimObject {
    #[serde(default)]
    metadata: SlimMeta,
    #[serde(default)]
    spec: Option<SlimSpec>,
    /// Read for pods only; [`SlimObject::facts`] ignores it, [`SlimPod`] uses it.
    #[serde(default)]
    status: Option<SlimPodStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    generate_name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    creation_timestamp: Option<Time>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    /// Only the exemption and AppArmor annotations; the others are skipped unread.
    #[serde(default, deserialize_with = "kept_annotations")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    owner_references: Option<Vec<SlimOwner>>,
}

/// A pod's `status`, as much of it as the runtime checks read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimPodStatus {
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    container_statuses: Option<Vec<SlimContainerStatus>>,
    #[serde(default)]
    init_container_statuses: Option<Vec<SlimContainerStatus>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimContainerStatus {
    #[serde(default)]
    name: String,
    #[serde(default)]
    restart_count: i32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SlimOwner {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    controller: Option<bool>,
}

/// A pod spec, or a workload spec holding a template: the field names do not overlap, so
/// one type reads all of them and the kind says which to use.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimSpec {
    // Workload specs.
    #[serde(default)]
    template: Option<Box<SlimTemplate>>,
    #[serde(default)]
    job_template: Option<Box<SlimJobTemplate>>,
    #[serde(default)]
    replicas: Option<i32>,
    // Pod specs.
    #[serde(default)]
    containers: Option<Vec<SlimContainer>>,
    #[serde(default)]
    init_containers: Option<Vec<SlimContainer>>,
    #[serde(default)]
    ephemeral_containers: Option<Vec<SlimContainer>>,
    #[serde(default)]
    service_account_name: Option<String>,
    #[serde(default)]
    service_account: Option<String>,
    #[serde(default)]
    automount_service_account_token: Option<bool>,
    #[serde(default)]
    priority_class_name: Option<String>,
    #[serde(default)]
    topology_spread_constraints: Option<Vec<SlimSpread>>,
    #[serde(default)]
    host_network: Option<bool>,
    #[serde(default, rename = "hostPID")]
    host_pid: Option<bool>,
    #[serde(default, rename = "hostIPC")]
    host_ipc: Option<bool>,
    #[serde(default)]
    volumes: Option<Vec<SlimVolume>>,
    #[serde(default)]
    security_context: Option<SlimSecurity>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct SlimTemplate {
    #[serde(default)]
    metadata: Option<SlimMeta>,
    #[serde(default)]
    spec: Option<SlimSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct SlimJobTemplate {
    #[serde(default)]
    spec: Option<SlimSpec>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimSpread {
    #[serde(default)]
    topology_key: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimVolume {
    #[serde(default)]
    name: String,
    #[serde(default)]
    host_path: Option<SlimHostPath>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SlimHostPath {
    #[serde(default)]
    path: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SlimEnv {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimContainer {
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    image_pull_policy: Option<String>,
    #[serde(default)]
    restart_policy: Option<String>,
    #[serde(default)]
    liveness_probe: Option<IgnoredAny>,
    #[serde(default)]
    readiness_probe: Option<IgnoredAny>,
    #[serde(default)]
    ports: Option<Vec<SlimPort>>,
    #[serde(default)]
    resources: Option<SlimResources>,
    #[serde(default)]
    security_context: Option<SlimSecurity>,
    #[serde(default)]
    env: Option<Vec<SlimEnv>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimPort {
    #[serde(default)]
    container_port: i32,
    #[serde(default)]
    host_port: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct SlimResources {
    #[serde(default)]
    requests: Option<ResourceKeys>,
    #[serde(default)]
    limits: Option<ResourceKeys>,
}

impl SlimObject {
    /// Reads an object from JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The facts of this object read as `kind`: a Pod's spec, or a workload's pod template.
    /// A Pod's status is not read (see [`SlimPod`]).
    pub fn facts(&self, kind: WorkloadKind) -> Result<PodFacts, FactsError> {
        if kind == WorkloadKind::Pod {
            return Ok(self.pod_facts());
        }
        // As the typed kinds read them: where the template is a required field, a spec
        // without one holds an empty template; where it is optional, there is none.
        let empty = SlimTemplate::default();
        let template = match &self.spec {
            Some(spec) if kind == WorkloadKind::CronJob => spec
                .job_template
                .as_ref()
                .and_then(|job| job.spec.as_ref())
                .map(|s| s.template.as_deref().unwrap_or(&empty)),
            Some(spec) if template_required(kind) => {
                Some(spec.template.as_deref().unwrap_or(&empty))
            }
            Some(spec) => spec.template.as_deref(),
            None => None,
        };
        let Some(template) = template else {
            return Err(FactsError::NoTemplate {
                kind: kind.as_str().to_owned(),
                name: self.object_ref(kind).name,
            });
        };
        let template_meta = template.metadata.as_ref();
        let annotations = template_meta.and_then(|m| m.annotations.as_ref());
        let pod_meta = PodMeta {
            labels: template_meta.and_then(|m| m.labels.as_ref()),
            annotations,
        };
        let mut facts = facts_of_spec(
            self.object_ref(kind),
            &self.metadata,
            self.owners(),
            kind.is_batch(),
            Exemption::from_annotations(annotations),
            pod_meta,
            template.spec.as_ref(),
        );
        if has_replicas(kind) {
            facts.replicas = self.spec.as_ref().and_then(|s| s.replicas);
        }
        Ok(facts)
    }

    /// The facts of this object read as a Pod, without its status.
    fn pod_facts(&self) -> PodFacts {
        let owners = self.owners();
        let batch = owners.iter().any(|o| o.controller && o.kind == "Job");
        let pod_meta = PodMeta {
            labels: self.metadata.labels.as_ref(),
            annotations: self.metadata.annotations.as_ref(),
        };
        facts_of_spec(
            self.object_ref(WorkloadKind::Pod),
            &self.metadata,
            owners,
            batch,
            None,
            pod_meta,
            self.spec.as_ref(),
        )
    }

    fn object_ref(&self, kind: WorkloadKind) -> ObjectRef {
        let m = &self.metadata;
        object_ref_of(
            kind,
            m.namespace.as_deref(),
            m.name.as_deref(),
            m.generate_name.as_deref(),
        )
    }

    fn owners(&self) -> Vec<OwnerRef> {
        self.metadata
            .owner_references
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
}

/// Whether the kind's spec requires a pod template (ReplicaSet and ReplicationController
/// make it optional).
fn template_required(kind: WorkloadKind) -> bool {
    matches!(
        kind,
        WorkloadKind::Deployment
            | WorkloadKind::StatefulSet
            | WorkloadKind::DaemonSet
            | WorkloadKind::Job
    )
}

/// Whether the kind's spec has `replicas`.
fn has_replicas(kind: WorkloadKind) -> bool {
    matches!(
        kind,
        WorkloadKind::Deployment
            | WorkloadKind::StatefulSet
            | WorkloadKind::ReplicaSet
            | WorkloadKind::ReplicationController
    )
}

/// A string field that is set and not empty.
fn non_empty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.is_empty()).cloned()
}

/// Facts of a pod spec: the object's own exemption first, then the template's.
fn facts_of_spec(
    object: ObjectRef,
    metadata: &SlimMeta,
    owners: Vec<OwnerRef>,
    batch: bool,
    template_exemption: Option<Exemption>,
    pod_meta: PodMeta<'_>,
    spec: Option<&SlimSpec>,
) -> PodFacts {
    let own_exemption = Exemption::from_annotations(metadata.annotations.as_ref());
    let exemptions = own_exemption
        .into_iter()
        .chain(template_exemption)
        .collect();
    let mut facts = bare_facts(object, metadata.uid.clone(), owners, batch, exemptions);
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
    facts.pod_security = spec
        .security_context
        .as_ref()
        .map(|sc| sc.facts(false))
        .unwrap_or_default();
    let annotations = pod_meta.annotations;
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| container(c, init_role(c.restart_policy.as_deref()), annotations));
    let regular = spec
        .containers
        .iter()
        .flatten()
        .map(|c| container(c, ContainerRole::Regular, annotations));
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| container(c, ContainerRole::Ephemeral, annotations));
    facts.containers = init.chain(regular).chain(ephemeral).collect();
    facts
}

/// A Pod read slim, with its status: what the pod watcher decodes. A [`kube::Resource`],
/// so `kube_runtime::watcher` can list and watch it; its metadata holds identity and
/// resourceVersion only.
#[derive(Debug, Clone, PartialEq)]
pub struct SlimPod {
    metadata: ObjectMeta,
    object: SlimObject,
}

impl<'de> Deserialize<'de> for SlimPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let object = SlimObject::deserialize(d)?;
        let m = &object.metadata;
        let metadata = ObjectMeta {
            name: m.name.clone(),
            generate_name: m.generate_name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            resource_version: m.resource_version.clone(),
            creation_timestamp: m.creation_timestamp.clone(),
            ..ObjectMeta::default()
        };
        Ok(SlimPod { metadata, object })
    }
}

impl kube::Resource for SlimPod {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("Pod")
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }
    fn api_version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("pods")
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl SlimPod {
    /// The pod's facts with its live status: equal to [`super::facts_from_pod`] of the
    /// typed Pod.
    pub fn facts(&self) -> PodFacts {
        let mut facts = self.object.pod_facts();
        if let Some(status) = &self.object.status {
            let restarts = status
                .container_statuses
                .iter()
                .flatten()
                .chain(status.init_container_statuses.iter().flatten())
                .map(|s| (s.name.as_str(), s.restart_count));
            let created = self.metadata.creation_timestamp.as_ref().map(|t| t.0);
            add_runtime(&mut facts, restarts, status.phase.clone(), created);
        }
        facts
    }
}

fn container(
    c: &SlimContainer,
    role: ContainerRole,
    annotations: Option<&BTreeMap<String, String>>,
) -> ContainerFacts {
    let resources = c.resources.as_ref();
    let requests = resources.and_then(|r| r.requests).unwrap_or_default();
    let limits = resources.and_then(|r| r.limits).unwrap_or_default();
    let ports = c.ports.as_deref().unwrap_or_default();
    let mut security = c
        .security_context
        .as_ref()
        .map(|sc| sc.facts(true))
        .unwrap_or_default();
    if security.app_armor.is_none() {
        security.app_armor = apparmor_annotation(annotations, &c.name);
    }
    ContainerFacts {
        name: c.name.clone(),
        role,
        image: c.image.clone().unwrap_or_default(),
        image_pull_policy: c.image_pull_policy.clone(),
        liveness_probe: c.liveness_probe.is_some(),
        readiness_probe: c.readiness_probe.is_some(),
        ports: ports.iter().map(|p| p.container_port).collect(),
        host_port: ports.iter().any(|p| p.host_port.unwrap_or(0) != 0),
        resources: ResourceFacts {
            cpu_request: requests.cpu,
            memory_request: requests.memory,
            cpu_limit: limits.cpu,
            memory_limit: limits.memory,
            ephemeral_storage_limit: limits.ephemeral_storage,
        },
        sensitive_env: plain_secrets(
            c.env
                .iter()
                .flatten()
                .map(|e| (&*e.name, e.value.as_deref())),
        ),
        security,
        restart_count: None,
    }
}

#[cfg(test)]
mod tests;
