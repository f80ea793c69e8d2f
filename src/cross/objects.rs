//! The related objects the cross-resource checks read, as compact facts, and the identity
//! every judged object is reported under.
//!
//! In: nothing but what `extract` fills in. Out: [`ObjectId`] and [`ObjectKind`] (how
//! reports name an object, workloads included) and [`RelatedObject`] with its parts.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::selector::Selector;
use crate::facts::{ObjectRef, WorkloadKind};
use crate::policy::exemptions::Exemption;

/// The kind of a judged or related object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// A Pod or a workload kind.
    Workload(WorkloadKind),
    /// `v1` Service.
    Service,
    /// `networking.k8s.io/v1` Ingress.
    Ingress,
    /// `policy/v1` PodDisruptionBudget.
    PodDisruptionBudget,
    /// `autoscaling` HorizontalPodAutoscaler (v1 or v2).
    HorizontalPodAutoscaler,
    /// `networking.k8s.io/v1` NetworkPolicy.
    NetworkPolicy,
    /// `v1` ServiceAccount.
    ServiceAccount,
    /// `rbac.authorization.k8s.io/v1` Role.
    Role,
    /// `rbac.authorization.k8s.io/v1` ClusterRole.
    ClusterRole,
    /// `rbac.authorization.k8s.io/v1` RoleBinding.
    RoleBinding,
    /// `rbac.authorization.k8s.io/v1` ClusterRoleBinding.
    ClusterRoleBinding,
}

impl ObjectKind {
    /// The Kubernetes `kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Workload(w) => w.as_str(),
            ObjectKind::Service => "Service",
            ObjectKind::Ingress => "Ingress",
            ObjectKind::PodDisruptionBudget => "PodDisruptionBudget",
            ObjectKind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            ObjectKind::NetworkPolicy => "NetworkPolicy",
            ObjectKind::ServiceAccount => "ServiceAccount",
            ObjectKind::Role => "Role",
            ObjectKind::ClusterRole => "ClusterRole",
            ObjectKind::RoleBinding => "RoleBinding",
            ObjectKind::ClusterRoleBinding => "ClusterRoleBinding",
        }
    }

    /// Objects without a namespace.
    pub fn is_cluster_scoped(self) -> bool {
        matches!(
            self,
            ObjectKind::ClusterRole | ObjectKind::ClusterRoleBinding
        )
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ObjectKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Which object a finding is about: kind, namespace (empty for cluster-scoped objects)
/// and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectId {
    /// The object's kind.
    pub kind: ObjectKind,
    /// Its namespace; empty for ClusterRoles and ClusterRoleBindings.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectId {
    /// A namespaced or cluster-scoped object's id (`default` for a namespaced object
    /// whose manifest names no namespace, as `kubectl apply` would place it).
    pub fn new(kind: ObjectKind, namespace: Option<&str>, name: &str) -> Self {
        let namespace = if kind.is_cluster_scoped() {
            String::new()
        } else {
            namespace
                .filter(|n| !n.is_empty())
                .unwrap_or("default")
                .to_owned()
        };
        ObjectId {
            kind,
            namespace,
            name: name.to_owned(),
        }
    }

    pub(super) fn of(kind: ObjectKind, meta: &ObjectMeta) -> Self {
        Self::new(
            kind,
            meta.namespace.as_deref(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }

    /// The workload kind, when the object is a Pod or a workload.
    pub fn workload_kind(&self) -> Option<WorkloadKind> {
        match self.kind {
            ObjectKind::Workload(w) => Some(w),
            _ => None,
        }
    }
}

impl From<&ObjectRef> for ObjectId {
    fn from(o: &ObjectRef) -> Self {
        ObjectId {
            kind: ObjectKind::Workload(o.kind),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
        }
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind.as_str(), self.name)
        } else {
            write!(f, "{}/{}/{}", self.namespace, self.kind.as_str(), self.name)
        }
    }
}

/// An `int` or a `"N%"` of a PodDisruptionBudget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// A number of pods.
    Pods(i32),
    /// A percentage of the expected pods.
    Percent(i32),
}

impl Amount {
    pub(super) fn read(v: &IntOrString) -> Option<Self> {
        match v {
            IntOrString::Int(n) => Some(Amount::Pods(*n)),
            IntOrString::String(s) => s
                .trim()
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .map(Amount::Percent),
        }
    }

    /// The number of pods out of `expected`, rounding a percentage up, as the disruption
    /// controller does.
    pub fn of(self, expected: i32) -> i32 {
        match self {
            Amount::Pods(n) => n,
            Amount::Percent(p) => {
                let product = i64::from(p) * i64::from(expected);
                i32::try_from((product + 99).div_euclid(100)).unwrap_or(i32::MAX)
            }
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Pods(n) => write!(f, "{n}"),
            Amount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdbFacts {
    /// Its id.
    pub id: ObjectId,
    /// `spec.selector`; `None` selects no pod.
    pub selector: Option<Selector>,
    /// `spec.minAvailable` (an unreadable value is `None`).
    pub min_available: Option<Amount>,
    /// `spec.maxUnavailable` (an unreadable value is `None`).
    pub max_unavailable: Option<Amount>,
}

/// A HorizontalPodAutoscaler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpaFacts {
    /// Its id.
    pub id: ObjectId,
    /// `spec.scaleTargetRef.kind`.
    pub target_kind: String,
    /// `spec.scaleTargetRef.name`.
    pub target_name: String,
    /// `spec.minReplicas`, 1 when absent (the API default).
    pub min_replicas: i32,
    /// `spec.maxReplicas`.
    pub max_replicas: i32,
}

/// A NetworkPolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicyFacts {
    /// Its id.
    pub id: ObjectId,
    /// `spec.podSelector` (`{}` selects every pod of the namespace).
    pub pod_selector: Selector,
    /// Its effective `policyTypes` include `Ingress` (they do when `policyTypes` is
    /// absent).
    pub ingress: bool,
}

/// A Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFacts {
    /// Its id.
    pub id: ObjectId,
    /// `spec.selector`; empty when the Service's endpoints are not managed by a selector.
    pub selector: BTreeMap<String, String>,
    /// `spec.type: ExternalName` (it has no endpoints).
    pub external_name: bool,
    /// Its exemption annotations.
    pub exemptions: Vec<Exemption>,
}

/// An Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressFacts {
    /// Its id.
    pub id: ObjectId,
    /// The host of each rule (`None` for a rule without a host) and, as `None`, the
    /// default backend.
    pub hosts: Vec<Option<String>>,
    /// The hosts of each `spec.tls` entry (empty: the controller's default, every host).
    pub tls: Vec<Vec<String>>,
    /// Its exemption annotations.
    pub exemptions: Vec<Exemption>,
}

/// A ServiceAccount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountFacts {
    /// Its id.
    pub id: ObjectId,
    /// `automountServiceAccountToken`.
    pub automount: Option<bool>,
}

/// One rule of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFacts {
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources`.
    pub resources: Vec<String>,
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `resourceNames`.
    pub resource_names: Vec<String>,
}

/// A Role or ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleFacts {
    /// Its id.
    pub id: ObjectId,
    /// `rules`.
    pub rules: Vec<RuleFacts>,
    /// A role Kubernetes itself maintains: named `system:...` or labelled
    /// `kubernetes.io/bootstrapping: rbac-defaults`, or an aggregated ClusterRole whose
    /// rules the controller fills in from the roles it aggregates.
    pub system: bool,
    /// Its exemption annotations.
    pub exemptions: Vec<Exemption>,
}

/// One subject of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectFacts {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// A ServiceAccount's namespace.
    pub namespace: Option<String>,
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingFacts {
    /// Its id.
    pub id: ObjectId,
    /// `roleRef.kind`: `Role` or `ClusterRole`.
    pub role_kind: String,
    /// `roleRef.name`.
    pub role_name: String,
    /// `subjects`.
    pub subjects: Vec<SubjectFacts>,
    /// A binding Kubernetes or its installer maintains: named `system:...` or
    /// `kubeadm:...`, or labelled `kubernetes.io/bootstrapping: rbac-defaults`.
    pub system: bool,
    /// Its exemption annotations.
    pub exemptions: Vec<Exemption>,
}

/// An object the cross-resource checks read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelatedObject {
    /// A PodDisruptionBudget.
    Pdb(PdbFacts),
    /// A HorizontalPodAutoscaler.
    Hpa(HpaFacts),
    /// A NetworkPolicy.
    NetworkPolicy(NetworkPolicyFacts),
    /// A Service.
    Service(ServiceFacts),
    /// An Ingress.
    Ingress(IngressFacts),
    /// A ServiceAccount.
    ServiceAccount(ServiceAccountFacts),
    /// A Role or ClusterRole.
    Role(RoleFacts),
    /// A RoleBinding or ClusterRoleBinding.
    Binding(BindingFacts),
}

impl RelatedObject {
    /// The object's id.
    pub fn id(&self) -> &ObjectId {
        match self {
            RelatedObject::Pdb(o) => &o.id,
            RelatedObject::Hpa(o) => &o.id,
            RelatedObject::NetworkPolicy(o) => &o.id,
            RelatedObject::Service(o) => &o.id,
            RelatedObject::Ingress(o) => &o.id,
            RelatedObject::ServiceAccount(o) => &o.id,
            RelatedObject::Role(o) => &o.id,
            RelatedObject::Binding(o) => &o.id,
        }
    }
}
