//! Related objects straight from a watch's JSON, reading only the fields the facts use.
//!
//! In: a PodDisruptionBudget, HorizontalPodAutoscaler (`autoscaling/v2`), NetworkPolicy,
//! Service, Ingress, ServiceAccount, Role, ClusterRole, RoleBinding or ClusterRoleBinding
//! as the API server sends it. Out: [`SlimRelated`], the object's [`RelatedObject`] and
//! the little metadata a watcher needs (name, namespace, uid, resourceVersion). Managed
//! fields, status, most annotations (only the exemption ones are kept) and every spec
//! field no check reads are skipped unread. The fields read build a typed `k8s-openapi`
//! object holding only them, whose facts the same [`Related`] extraction takes, so the
//! watch and a cluster listing give equal facts by construction (tests hold them equal).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
};
use k8s_openapi::api::core::v1::{Service, ServiceAccount, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    Ingress, IngressBackend, IngressRule, IngressSpec, IngressTLS, NetworkPolicy, NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::extract::Related;
use super::objects::RelatedObject;
use crate::facts::kept_annotations;

/// The metadata read: identity, resourceVersion, labels and the exemption annotations.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "kept_annotations")]
    annotations: Option<BTreeMap<String, String>>,
}

impl Meta {
    fn full(&self) -> ObjectMeta {
        ObjectMeta {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            ..ObjectMeta::default()
        }
    }

    /// What the watcher keeps of the object: identity and resourceVersion.
    fn kept(self) -> ObjectMeta {
        ObjectMeta {
            name: self.name,
            namespace: self.namespace,
            uid: self.uid,
            resource_version: self.resource_version,
            ..ObjectMeta::default()
        }
    }
}

/// A related kind that can be read slim: the fields read, and the typed object they make.
pub trait SlimKind: kube::Resource<DynamicType = ()> + Related {
    /// The fields read (the metadata among them).
    type Body: for<'de> Deserialize<'de> + Default;
    /// The metadata read, and the typed object holding only the fields read.
    fn build(body: Self::Body) -> (Meta, Self);
}

/// One related object from a watch: its facts and the metadata the watcher tracks.
#[derive(Debug, Clone)]
pub struct SlimRelated<K> {
    metadata: ObjectMeta,
    /// The object's facts.
    pub related: RelatedObject,
    kind: PhantomData<fn() -> K>,
}

impl<'de, K: SlimKind> Deserialize<'de> for SlimRelated<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (meta, object) = K::build(K::Body::deserialize(d)?);
        let related = object.related();
        Ok(SlimRelated {
            metadata: meta.kept(),
            related,
            kind: PhantomData,
        })
    }
}

impl<K: SlimKind> kube::Resource for SlimRelated<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(_: &()) -> Cow<'_, str> {
        K::kind(&())
    }
    fn group(_: &()) -> Cow<'_, str> {
        K::group(&())
    }
    fn version(_: &()) -> Cow<'_, str> {
        K::version(&())
    }
    fn api_version(_: &()) -> Cow<'_, str> {
        K::api_version(&())
    }
    fn plural(_: &()) -> Cow<'_, str> {
        K::plural(&())
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A body with one `spec` of type `S`.
#[derive(Debug, Deserialize)]
pub struct SpecBody<S> {
    #[serde(default)]
    metadata: Meta,
    #[serde(default = "Option::default")]
    spec: Option<S>,
}

impl<S> Default for SpecBody<S> {
    fn default() -> Self {
        SpecBody {
            metadata: Meta::default(),
            spec: None,
        }
    }
}

/// What a PodDisruptionBudget's facts read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PdbSpec {
    #[serde(default)]
    selector: Option<LabelSelector>,
    #[serde(default)]
    min_available: Option<IntOrString>,
    #[serde(default)]
    max_unavailable: Option<IntOrString>,
}

impl SlimKind for PodDisruptionBudget {
    type Body = SpecBody<PdbSpec>;
    fn build(body: Self::Body) -> (Meta, Self) {
        let metadata = body.metadata.full();
        let object = PodDisruptionBudget {
            metadata,
            spec: body.spec.map(|s| PodDisruptionBudgetSpec {
                selector: s.selector,
                min_available: s.min_available,
                max_unavailable: s.max_unavailable,
                ..PodDisruptionBudgetSpec::default()
            }),
            status: None,
        };
        (body.metadata, object)
    }
}

/// What a HorizontalPodAutoscaler's facts read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaSpec {
    #[serde(default)]
    scale_target_ref: Option<CrossVersionObjectReference>,
    #[serde(default)]
    min_replicas: Option<i32>,
    #[serde(default)]
    max_replicas: i32,
}

impl SlimKind for HorizontalPodAutoscaler {
    type Body = SpecBody<HpaSpec>;
    fn build(body: Self::Body) -> (Meta, Self) {
        let metadata = body.metadata.full();
        let object = HorizontalPodAutoscaler {
            metadata,
            spec: body.spec.map(|s| HorizontalPodAutoscalerSpec {
                scale_target_ref: s.scale_target_ref.unwrap_or_default(),
                min_replicas: s.min_replicas,
                max_replicas: s.max_replicas,
                ..HorizontalPodAutoscalerSpec::default()
            }),
            status: None,
        };
        (body.metadata, object)
    }
}

/// What a NetworkPolicy's facts read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySlimSpec {
    #[serde(default)]
    pod_selector: Option<LabelSelector>,
    #[serde(default)]
    policy_types: Option<Vec<String>>,
}

impl SlimKind for NetworkPolicy {
    type Body = SpecBody<NetworkPolicySlimSpec>;
    fn build(body: Self::Body) -> (Meta, Self) {
        let metadata = body.metadata.full();
        let object = NetworkPolicy {
            metadata,
            spec: body.spec.map(|s| NetworkPolicySpec {
                pod_selector: s.pod_selector,
                policy_types: s.policy_types,
                ..NetworkPolicySpec::default()
            }),
        };
        (body.metadata, object)
    }
}

/// What a Service's facts read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSlimSpec {
    #[serde(default)]
    selector: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "type")]
    type_: Option<String>,
}

impl SlimKind for Service {
    type Body = SpecBody<ServiceSlimSpec>;
    fn build(body: Self::Body) -> (Meta, Self) {
        let metadata = body.metadata.full();
        let object = Service {
            metadata,
            spec: body.spec.map(|s| ServiceSpec {
                selector: s.selector,
                type_: s.type_,
                ..ServiceSpec::default()
            }),
            status: None,
        };
        (body.metadata, object)
    }
}

/// An Ingress rule: only its host.
#[derive(Debug, Default, Deserialize)]
pub struct HostOnly {
    #[serde(default)]
    host: Option<String>,
}

/// An Ingress tls entry: only its hosts.
#[derive(Debug, Default, Deserialize)]
pub struct HostsOnly {
    #[serde(default)]
    hosts: Option<Vec<String>>,
}

/// What an Ingress's facts read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressSlimSpec {
    #[serde(default)]
    rules: Option<Vec<HostOnly>>,
    #[serde(default)]
    default_backend: Option<IgnoredAny>,
    #[serde(default)]
    tls: Option<Vec<HostsOnly>>,
}

impl SlimKind for Ingress {
    type Body = SpecBody<IngressSlimSpec>;
    fn build(body: Self::Body) -> (Meta, Self) {
        let metadata = body.metadata.full();
        let object = Ingress {
            metadata,
            spec: body.spec.map(|s| IngressSpec {
                rules: s.rules.map(|rules| {
                    rules
                        .into_iter()
                        .map(|r| IngressRule {
                            host: r.host,
                            http: None,
                        })
                        .collect()
                }),
                default_backend: s.default_backend.map(|_| IngressBackend::default()),
                tls: s.tls.map(|tls| {
                    tls.into_iter()
                        .map(|t| IngressTLS {
                            hosts: t.hosts,
                            secret_name: None,
                        })
                        .collect()
                }),
                ingress_class_name: None,
            }),
            status: None,
        };
        (body.metadata, object)
    }
}

/// What a ServiceAccount's facts read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBody {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    automount_service_account_token: Option<bool>,
}

impl SlimKind for ServiceAccount {
    type Body = AccountBody;
    fn build(body: Self::Body) -> (Meta, Self) {
        let metadata = body.metadata.full();
        let object = ServiceAccount {
            metadata,
            automount_service_account_token: body.automount_service_account_token,
            ..ServiceAccount::default()
        };
        (body.metadata, object)
    }
}

/// What a Role's or ClusterRole's facts read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBody {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    rules: Option<Vec<PolicyRule>>,
    #[serde(default)]
    aggregation_rule: Option<IgnoredAny>,
}

impl SlimKind for Role {
    type Body = RoleBody;
    fn build(body: Self::Body) -> (Meta, Self) {
        let metadata = body.metadata.full();
        let object = Role {
            metadata,
            rules: body.rules,
        };
        (body.metadata, object)
    }
}

impl SlimKind for ClusterRole {
    type Body = RoleBody;
    fn build(body: Self::Body) -> (Meta, Self) {
        let metadata = body.metadata.full();
        let object = ClusterRole {
            metadata,
            rules: body.rules,
            aggregation_rule: body.aggregation_rule.map(|_| AggregationRule::default()),
        };
        (body.metadata, object)
    }
}

/// What a binding's facts read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingBody {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    role_ref: RoleRef,
    #[serde(default)]
    subjects: Option<Vec<Subject>>,
}

/// Both binding kinds read the same fields.
macro_rules! binding {
    ($ty:ty) => {
        impl SlimKind for $ty {
            type Body = BindingBody;
            fn build(body: Self::Body) -> (Meta, Self) {
                let object = Self {
                    metadata: body.metadata.full(),
                    role_ref: body.role_ref,
                    subjects: body.subjects,
                };
                (body.metadata, object)
            }
        }
    };
}

binding!(RoleBinding);
binding!(ClusterRoleBinding);

#[cfg(test)]
#[path = "slim_tests.rs"]
mod tests;
