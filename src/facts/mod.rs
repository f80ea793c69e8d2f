//! Compact facts about one pod, or one pod template of a workload.
//!
//! In: a Kubernetes object (`Pod`, or a workload whose pod template we read), typed by
//! `k8s-openapi` or as raw JSON. Out: [`PodFacts`], the few fields the checks, the scores
//! and the remediation planner need, and nothing else. Full objects are never kept: a
//! watcher turns each event into facts at once, so memory follows the number of pods, not
//! the size of their manifests.

mod derived;
mod extract;
pub mod image;
mod slim;

pub use derived::{APPARMOR_ANNOTATION_PREFIX, is_sensitive_env_name};
pub use extract::{
    FactsError, PodTemplateSource, at, facts_from_json, facts_from_pod, facts_from_tree,
    facts_from_workload,
};
pub(crate) use slim::kept_annotations;
pub use slim::{SlimObject, SlimPod};

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::policy::exemptions::Exemption;

/// Most containers (init, regular and ephemeral together) judged in one pod or pod
/// template; a bigger one is refused, never judged in part. kube-apiserver's validation
/// sets no count: only the object's size bounds it (etcd stores at most 1.5 MiB per object
/// by default, about 10,000 minimal containers once defaulted). Real pods hold a handful,
/// heavy sidecar meshes a few dozen; this bound is far above them and keeps the work and
/// the findings of one object small. See docs/admission.md.
pub const MAX_CONTAINERS_PER_POD: usize = 1_000;

/// The kinds whose pods or pod templates kube-devops judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum WorkloadKind {
    /// A bare or controller-owned pod, with live status when read from a cluster.
    Pod,
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `v1` ReplicationController.
    ReplicationController,
    /// `batch/v1` Job.
    Job,
    /// `batch/v1` CronJob.
    CronJob,
}

impl WorkloadKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [WorkloadKind; 8] = [
        WorkloadKind::Pod,
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::ReplicaSet,
        WorkloadKind::ReplicationController,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
    ];

    /// The Kubernetes `kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "Pod",
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::ReplicationController => "ReplicationController",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
        }
    }

    /// Parses a Kubernetes `kind` string; `None` for kinds that carry no pods.
    pub fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The kind of an object of API group `group` (empty for the core group) and kind
    /// `kind`, when it is one kube-devops judges. A kind of the same name in another group
    /// (a Volcano `batch.volcano.sh` Job) is not: it has another schema.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        let kind = Self::from_kind(kind)?;
        let known = match kind {
            WorkloadKind::Pod | WorkloadKind::ReplicationController => group.is_empty(),
            WorkloadKind::Job | WorkloadKind::CronJob => group == "batch",
            WorkloadKind::StatefulSet => group == "apps",
            // Old manifests still name these extensions/v1beta1; the fields read are the same.
            WorkloadKind::Deployment | WorkloadKind::DaemonSet | WorkloadKind::ReplicaSet => {
                matches!(group, "apps" | "extensions")
            }
        };
        known.then_some(kind)
    }

    /// The group of an `apiVersion` (`apps/v1` -> `apps`, `v1` -> the core group, empty).
    pub fn group_of(api_version: &str) -> &str {
        api_version.rsplit_once('/').map_or("", |(group, _)| group)
    }

    /// Run-to-completion kinds, whose pods are not expected to carry probes.
    pub fn is_batch(self) -> bool {
        matches!(self, WorkloadKind::Job | WorkloadKind::CronJob)
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which object the facts were read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// The object's kind.
    pub kind: WorkloadKind,
    /// Its namespace (`default` when a manifest names none).
    pub namespace: String,
    /// Its name (or `generateName` prefix when it has no name yet).
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// One `ownerReferences` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerRef {
    /// Owner kind, e.g. `ReplicaSet`.
    pub kind: String,
    /// Owner name.
    pub name: String,
    /// Owner uid.
    pub uid: String,
    /// Whether this owner is the managing controller.
    pub controller: bool,
}

/// Where a container runs in the pod lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ContainerRole {
    /// A classic init container: runs to completion before the others start.
    Init,
    /// A native sidecar: an init container with `restartPolicy: Always`, running for the
    /// pod's whole life like a regular container.
    Sidecar,
    /// A regular container.
    Regular,
    /// An ephemeral container (`kubectl debug`): added to a running pod, never restarted,
    /// with no probes, ports or resources of its own.
    Ephemeral,
}

impl ContainerRole {
    /// Long-running containers that may declare probes: native sidecars and regular
    /// containers (init containers run to completion; ephemeral ones cannot have probes).
    pub fn takes_probes(self) -> bool {
        matches!(self, ContainerRole::Sidecar | ContainerRole::Regular)
    }

    /// Containers that may declare resources and ports (all but ephemeral ones, which the
    /// API server refuses both).
    pub fn takes_resources(self) -> bool {
        !matches!(self, ContainerRole::Ephemeral)
    }

    /// How messages name a container of this role.
    pub fn label(self) -> &'static str {
        match self {
            ContainerRole::Init => "init container",
            ContainerRole::Sidecar => "sidecar container",
            ContainerRole::Regular => "container",
            ContainerRole::Ephemeral => "ephemeral container",
        }
    }
}

/// A `hostPath` volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPathVolume {
    /// The volume's name.
    pub name: String,
    /// `hostPath.path`, as written.
    pub path: String,
}

/// Which resource fields a container declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResourceFacts {
    /// `resources.requests.cpu` is set.
    pub cpu_request: bool,
    /// `resources.requests.memory` is set.
    pub memory_request: bool,
    /// `resources.limits.cpu` is set.
    pub cpu_limit: bool,
    /// `resources.limits.memory` is set.
    pub memory_limit: bool,
    /// `resources.limits.ephemeral-storage` is set.
    pub ephemeral_storage_limit: bool,
}

/// Security settings of a pod (`spec.securityContext`) or a container, as declared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SecurityFacts {
    /// `runAsNonRoot`.
    pub run_as_non_root: Option<bool>,
    /// `runAsUser`.
    pub run_as_user: Option<i64>,
    /// `privileged` (containers only).
    pub privileged: Option<bool>,
    /// `allowPrivilegeEscalation` (containers only).
    pub allow_privilege_escalation: Option<bool>,
    /// `readOnlyRootFilesystem` (containers only).
    pub read_only_root_filesystem: Option<bool>,
    /// `capabilities.add`, as written.
    pub capabilities_add: Vec<String>,
    /// `capabilities.drop`, as written.
    pub capabilities_drop: Vec<String>,
    /// `seccompProfile.type` (`RuntimeDefault`, `Localhost`, `Unconfined`).
    pub seccomp: Option<String>,
    /// `appArmorProfile.type`, or for a container the legacy
    /// `container.apparmor.security.beta.kubernetes.io/<name>` annotation read as a type.
    pub app_armor: Option<String>,
    /// `seLinuxOptions` sets a user, role, type or level.
    pub se_linux: bool,
    /// `windowsOptions.hostProcess`.
    pub host_process: Option<bool>,
    /// `procMount` (containers only).
    pub proc_mount: Option<String>,
}

/// Facts about one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerFacts {
    /// Container name, the key enforcement matches on.
    pub name: String,
    /// Init, sidecar or regular.
    pub role: ContainerRole,
    /// Image reference as written.
    pub image: String,
    /// `imagePullPolicy` as written (`None` when the API server would default it).
    pub image_pull_policy: Option<String>,
    /// A liveness probe is declared.
    pub liveness_probe: bool,
    /// A readiness probe is declared.
    pub readiness_probe: bool,
    /// Declared `containerPort`s, in order; a probe can only be derived from these.
    pub ports: Vec<i32>,
    /// Some port sets a non-zero `hostPort`.
    pub host_port: bool,
    /// Declared resource fields.
    pub resources: ResourceFacts,
    /// Names of `env` entries whose literal `value` looks like a secret (a sensitive
    /// name, or a private key in the value); entries read `valueFrom` are never listed.
    pub sensitive_env: Vec<String>,
    /// The container's own `securityContext`.
    pub security: SecurityFacts,
    /// Restarts from live status (`None` for templates or when not reported yet).
    pub restart_count: Option<i32>,
}

/// Live status of a pod read from a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodRuntime {
    /// `status.phase`.
    pub phase: Option<String>,
    /// When the pod became Pending: its creation time.
    pub pending_since: Option<Timestamp>,
}

/// Everything the checks need to know about one pod or pod template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodFacts {
    /// The object these facts describe.
    pub object: ObjectRef,
    /// `metadata.uid`, when the object came from a cluster.
    pub uid: Option<String>,
    /// `metadata.ownerReferences`.
    pub owners: Vec<OwnerRef>,
    /// Run-to-completion pod: a Job or CronJob template, or a pod controlled by a Job.
    pub batch: bool,
    /// Exemption annotations found on the object and its pod template.
    pub exemptions: Vec<Exemption>,
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// `spec.hostPID`.
    pub host_pid: bool,
    /// `spec.hostIPC`.
    pub host_ipc: bool,
    /// `hostPath` volumes, in order.
    pub host_paths: Vec<HostPathVolume>,
    /// `spec.serviceAccountName` (or the deprecated `serviceAccount`), when set.
    pub service_account: Option<String>,
    /// `spec.automountServiceAccountToken`.
    pub automount_service_account_token: Option<bool>,
    /// `spec.priorityClassName`, when set.
    pub priority_class: Option<String>,
    /// `topologyKey` of every `spec.topologySpreadConstraints` entry.
    pub topology_spread_keys: Vec<String>,
    /// The pod's labels (a workload's pod template labels): what Services,
    /// NetworkPolicies and PodDisruptionBudgets select on.
    pub labels: BTreeMap<String, String>,
    /// The workload's `spec.replicas` (Deployment, StatefulSet, ReplicaSet,
    /// ReplicationController); `None` when absent or for other kinds.
    pub replicas: Option<i32>,
    /// Pod-level security context, inherited by containers that do not override it.
    pub pod_security: SecurityFacts,
    /// Init containers first (in order), then regular containers, then ephemeral
    /// containers (each in order).
    pub containers: Vec<ContainerFacts>,
    /// Live status, only for pods read from a cluster.
    pub runtime: Option<PodRuntime>,
}

impl PodFacts {
    /// A pod that has run to completion or failed for good (`Succeeded` or `Failed`):
    /// it no longer runs anything, so it is not scored.
    pub fn is_terminated(&self) -> bool {
        self.runtime
            .as_ref()
            .and_then(|r| r.phase.as_deref())
            .is_some_and(|p| p == "Succeeded" || p == "Failed")
    }

    /// The service account the pod runs as: `default` when the spec names none.
    pub fn service_account_name(&self) -> &str {
        self.service_account.as_deref().unwrap_or("default")
    }

    /// The owner marked `controller: true`, if any.
    pub fn controller(&self) -> Option<&OwnerRef> {
        self.owners.iter().find(|o| o.controller)
    }
}
