//! The related objects the cross-resource checks read, as compact facts, and the identity
//! every judged object is reported under.
//!
//! In: typed `k8s-openapi` objects (from a cluster listing or a watch), or raw JSON of any
//! kind (from manifests, decoded into the kind's type first so a malformed object is an
//! error naming it). Out: [`RelatedObject`], or `Ok(None)` for kinds no check reads.

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::{v1 as autoscaling_v1, v2 as autoscaling_v2};
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::selector::Selector;
use crate::facts::{FactsError, ObjectRef, WorkloadKind};
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

    fn of(kind: ObjectKind, meta: &ObjectMeta) -> Self {
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
    fn read(v: &IntOrString) -> Option<Self> {
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

const BOOTSTRAP_LABEL: &str = "kubernetes.io/bootstrapping";

fn labelled_bootstrap(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(BOOTSTRAP_LABEL))
        .is_some_and(|v| v == "rbac-defaults")
}

fn exemptions(meta: &ObjectMeta) -> Vec<Exemption> {
    Exemption::from_annotations(meta.annotations.as_ref())
        .into_iter()
        .collect()
}

fn rules(rules: Option<&Vec<PolicyRule>>) -> Vec<RuleFacts> {
    rules
        .into_iter()
        .flatten()
        .map(|r| RuleFacts {
            api_groups: r.api_groups.clone().unwrap_or_default(),
            resources: r.resources.clone().unwrap_or_default(),
            verbs: r.verbs.clone(),
            resource_names: r.resource_names.clone().unwrap_or_default(),
        })
        .collect()
}

/// A typed object the cross-resource checks read.
pub trait Related {
    /// Its compact facts.
    fn related(&self) -> RelatedObject;
}

impl Related for PodDisruptionBudget {
    fn related(&self) -> RelatedObject {
        let spec = self.spec.as_ref();
        RelatedObject::Pdb(PdbFacts {
            id: ObjectId::of(ObjectKind::PodDisruptionBudget, &self.metadata),
            selector: spec
                .and_then(|s| s.selector.as_ref())
                .map(Selector::from_label_selector),
            min_available: spec
                .and_then(|s| s.min_available.as_ref())
                .and_then(Amount::read),
            max_unavailable: spec
                .and_then(|s| s.max_unavailable.as_ref())
                .and_then(Amount::read),
        })
    }
}

impl Related for autoscaling_v2::HorizontalPodAutoscaler {
    fn related(&self) -> RelatedObject {
        let spec = self.spec.as_ref();
        RelatedObject::Hpa(HpaFacts {
            id: ObjectId::of(ObjectKind::HorizontalPodAutoscaler, &self.metadata),
            target_kind: spec
                .map(|s| s.scale_target_ref.kind.clone())
                .unwrap_or_default(),
            target_name: spec
                .map(|s| s.scale_target_ref.name.clone())
                .unwrap_or_default(),
            min_replicas: spec.and_then(|s| s.min_replicas).unwrap_or(1),
            max_replicas: spec.map_or(0, |s| s.max_replicas),
        })
    }
}

impl Related for autoscaling_v1::HorizontalPodAutoscaler {
    fn related(&self) -> RelatedObject {
        let spec = self.spec.as_ref();
        RelatedObject::Hpa(HpaFacts {
            id: ObjectId::of(ObjectKind::HorizontalPodAutoscaler, &self.metadata),
            target_kind: spec
                .map(|s| s.scale_target_ref.kind.clone())
                .unwrap_or_default(),
            target_name: spec
                .map(|s| s.scale_target_ref.name.clone())
                .unwrap_or_default(),
            min_replicas: spec.and_then(|s| s.min_replicas).unwrap_or(1),
            max_replicas: spec.map_or(0, |s| s.max_replicas),
        })
    }
}

impl Related for NetworkPolicy {
    fn related(&self) -> RelatedObject {
        let spec = self.spec.as_ref();
        let types = spec.and_then(|s| s.policy_types.as_ref());
        RelatedObject::NetworkPolicy(NetworkPolicyFacts {
            id: ObjectId::of(ObjectKind::NetworkPolicy, &self.metadata),
            pod_selector: spec
                .and_then(|s| s.pod_selector.as_ref())
                .map(Selector::from_label_selector)
                .unwrap_or_default(),
            // Without policyTypes a policy always governs ingress (and egress only when it
            // has egress rules).
            ingress: types.is_none_or(|t| t.iter().any(|t| t == "Ingress")),
        })
    }
}

impl Related for Service {
    fn related(&self) -> RelatedObject {
        let spec = self.spec.as_ref();
        RelatedObject::Service(ServiceFacts {
            id: ObjectId::of(ObjectKind::Service, &self.metadata),
            selector: spec.and_then(|s| s.selector.clone()).unwrap_or_default(),
            external_name: spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName"),
            exemptions: exemptions(&self.metadata),
        })
    }
}

impl Related for Ingress {
    fn related(&self) -> RelatedObject {
        let spec = self.spec.as_ref();
        let mut hosts: Vec<Option<String>> = spec
            .and_then(|s| s.rules.as_ref())
            .into_iter()
            .flatten()
            .map(|r| r.host.clone().filter(|h| !h.is_empty()))
            .collect();
        if spec.is_some_and(|s| s.default_backend.is_some()) {
            hosts.push(None);
        }
        RelatedObject::Ingress(IngressFacts {
            id: ObjectId::of(ObjectKind::Ingress, &self.metadata),
            hosts,
            tls: spec
                .and_then(|s| s.tls.as_ref())
                .into_iter()
                .flatten()
                .map(|t| t.hosts.clone().unwrap_or_default())
                .collect(),
            exemptions: exemptions(&self.metadata),
        })
    }
}

impl Related for ServiceAccount {
    fn related(&self) -> RelatedObject {
        RelatedObject::ServiceAccount(ServiceAccountFacts {
            id: ObjectId::of(ObjectKind::ServiceAccount, &self.metadata),
            automount: self.automount_service_account_token,
        })
    }
}

fn system_name(meta: &ObjectMeta, prefixes: &[&str]) -> bool {
    let name = meta.name.as_deref().unwrap_or_default();
    prefixes.iter().any(|p| name.starts_with(p)) || labelled_bootstrap(meta)
}

impl Related for Role {
    fn related(&self) -> RelatedObject {
        RelatedObject::Role(RoleFacts {
            id: ObjectId::of(ObjectKind::Role, &self.metadata),
            rules: rules(self.rules.as_ref()),
            system: system_name(&self.metadata, &["system:"]),
            exemptions: exemptions(&self.metadata),
        })
    }
}

impl Related for ClusterRole {
    fn related(&self) -> RelatedObject {
        RelatedObject::Role(RoleFacts {
            id: ObjectId::of(ObjectKind::ClusterRole, &self.metadata),
            rules: rules(self.rules.as_ref()),
            system: system_name(&self.metadata, &["system:"]) || self.aggregation_rule.is_some(),
            exemptions: exemptions(&self.metadata),
        })
    }
}

fn binding(
    kind: ObjectKind,
    meta: &ObjectMeta,
    role_ref: &k8s_openapi::api::rbac::v1::RoleRef,
    subjects: Option<&Vec<k8s_openapi::api::rbac::v1::Subject>>,
) -> RelatedObject {
    RelatedObject::Binding(BindingFacts {
        id: ObjectId::of(kind, meta),
        role_kind: role_ref.kind.clone(),
        role_name: role_ref.name.clone(),
        subjects: subjects
            .into_iter()
            .flatten()
            .map(|s| SubjectFacts {
                kind: s.kind.clone(),
                name: s.name.clone(),
                namespace: s.namespace.clone().filter(|n| !n.is_empty()),
            })
            .collect(),
        system: system_name(meta, &["system:", "kubeadm:"]),
        exemptions: exemptions(meta),
    })
}

impl Related for RoleBinding {
    fn related(&self) -> RelatedObject {
        binding(
            ObjectKind::RoleBinding,
            &self.metadata,
            &self.role_ref,
            self.subjects.as_ref(),
        )
    }
}

impl Related for ClusterRoleBinding {
    fn related(&self) -> RelatedObject {
        binding(
            ObjectKind::ClusterRoleBinding,
            &self.metadata,
            &self.role_ref,
            self.subjects.as_ref(),
        )
    }
}

fn decode<T: DeserializeOwned + Related>(
    value: serde_json::Value,
    kind: &str,
) -> Result<RelatedObject, FactsError> {
    let name = value
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_owned();
    serde_json::from_value::<T>(value)
        .map(|t| t.related())
        .map_err(|e| FactsError::Invalid {
            kind: kind.to_owned(),
            name,
            reason: e.to_string(),
        })
}

/// The kind a manifest's `apiVersion` and `kind` name, when a cross-resource check reads
/// it. API versions that are no longer served with other meanings (`policy/v1beta1`,
/// where an empty selector selects nothing) are not read.
pub fn related_kind(api_version: &str, kind: &str) -> Option<ObjectKind> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    Some(match (group, version, kind) {
        ("", "v1", "Service") => ObjectKind::Service,
        ("", "v1", "ServiceAccount") => ObjectKind::ServiceAccount,
        ("networking.k8s.io", "v1", "Ingress") => ObjectKind::Ingress,
        ("networking.k8s.io", "v1", "NetworkPolicy") => ObjectKind::NetworkPolicy,
        ("policy", "v1", "PodDisruptionBudget") => ObjectKind::PodDisruptionBudget,
        ("autoscaling", "v1" | "v2", "HorizontalPodAutoscaler") => {
            ObjectKind::HorizontalPodAutoscaler
        }
        ("rbac.authorization.k8s.io", "v1", "Role") => ObjectKind::Role,
        ("rbac.authorization.k8s.io", "v1", "ClusterRole") => ObjectKind::ClusterRole,
        ("rbac.authorization.k8s.io", "v1", "RoleBinding") => ObjectKind::RoleBinding,
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => ObjectKind::ClusterRoleBinding,
        _ => return None,
    })
}

/// Facts of a related object from raw JSON; `Ok(None)` for kinds no check reads.
pub fn related_from_json(value: serde_json::Value) -> Result<Option<RelatedObject>, FactsError> {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let Some(which) = related_kind(&api_version, &kind) else {
        return Ok(None);
    };
    let object = match which {
        ObjectKind::Service => decode::<Service>(value, &kind)?,
        ObjectKind::ServiceAccount => decode::<ServiceAccount>(value, &kind)?,
        ObjectKind::Ingress => decode::<Ingress>(value, &kind)?,
        ObjectKind::NetworkPolicy => decode::<NetworkPolicy>(value, &kind)?,
        ObjectKind::PodDisruptionBudget => decode::<PodDisruptionBudget>(value, &kind)?,
        ObjectKind::HorizontalPodAutoscaler if api_version.ends_with("/v1") => {
            decode::<autoscaling_v1::HorizontalPodAutoscaler>(value, &kind)?
        }
        ObjectKind::HorizontalPodAutoscaler => {
            decode::<autoscaling_v2::HorizontalPodAutoscaler>(value, &kind)?
        }
        ObjectKind::Role => decode::<Role>(value, &kind)?,
        ObjectKind::ClusterRole => decode::<ClusterRole>(value, &kind)?,
        ObjectKind::RoleBinding => decode::<RoleBinding>(value, &kind)?,
        ObjectKind::ClusterRoleBinding => decode::<ClusterRoleBinding>(value, &kind)?,
        ObjectKind::Workload(_) => return Ok(None),
    };
    Ok(Some(object))
}
