//! Compact facts of related objects from typed `k8s-openapi` objects (a cluster listing
//! or a watch) or from raw JSON (manifests, decoded into the kind's type first so a
//! malformed object is an error naming it).
//!
//! In: a PodDisruptionBudget, HorizontalPodAutoscaler (v1 or v2), NetworkPolicy, Service,
//! Ingress, ServiceAccount, Role, ClusterRole, RoleBinding or ClusterRoleBinding. Out:
//! [`RelatedObject`], or `Ok(None)` for kinds no check reads.

use k8s_openapi::api::autoscaling::{v1 as autoscaling_v1, v2 as autoscaling_v2};
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;

use super::objects::{
    Amount, BindingFacts, HpaFacts, IngressFacts, NetworkPolicyFacts, ObjectId, ObjectKind,
    PdbFacts, RelatedObject, RoleFacts, RuleFacts, ServiceAccountFacts, ServiceFacts, SubjectFacts,
};
use super::selector::Selector;
use crate::facts::FactsError;
use crate::policy::exemptions::Exemption;

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

/// An autoscaler of either API version: both name the same fields.
macro_rules! autoscaler {
    ($ty:ty) => {
        impl Related for $ty {
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
    };
}

autoscaler!(autoscaling_v2::HorizontalPodAutoscaler);
autoscaler!(autoscaling_v1::HorizontalPodAutoscaler);

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
    let name = crate::facts::at(&value, &["metadata", "name"])
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
