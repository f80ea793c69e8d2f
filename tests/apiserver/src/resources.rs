//! The catalogue of servable resources: the built-in kinds this server knows, and the
//! custom resources that CRDs add at run time. Routing, discovery, the OpenAPI stub and
//! patch semantics all read [`ResourceType`]s from here; nothing here touches objects.

use std::sync::Arc;

use serde_json::Value;

use crate::convert::{Conversion, EVENTS_V1};

/// Verbs of an ordinary read-write resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Verbs of a status subresource.
pub const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// One servable resource at one group/version.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceType {
    /// API group, empty for core.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Plural resource name, e.g. `pods`.
    pub plural: String,
    /// Singular name, e.g. `pod`.
    pub singular: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names for kubectl, e.g. `po`.
    pub short_names: Vec<String>,
    /// Verbs answered on the main resource.
    pub verbs: Vec<String>,
    /// Categories for kubectl, e.g. `all`.
    pub categories: Vec<String>,
    /// Whether `/status` is served and `status` is split from the main resource.
    pub status_subresource: bool,
    /// Whether `/scale` is served (an `autoscaling/v1 Scale` over `spec.replicas`).
    pub scale_subresource: bool,
    /// A custom resource version's `additionalPrinterColumns`.
    pub printer_columns: Vec<Value>,
    /// Built-in kinds accept strategic merge patch; custom resources do not.
    pub builtin: bool,
    /// The structural schema of a custom resource version.
    pub schema: Option<Arc<Value>>,
    /// Whether the kind has no `spec`, so any non-metadata change bumps the generation.
    pub specless: bool,
    /// The group the objects are stored under, when another version owns the storage.
    pub storage_group: Option<String>,
    /// How objects are converted to and from storage, when stored at another version.
    pub conversion: Option<&'static Conversion>,
    /// Field selector labels beyond `metadata.name` and `metadata.namespace`, each with
    /// the JSON pointers (into the stored object) whose first non-empty value it matches.
    pub selectable: Vec<(String, Vec<String>)>,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the verb is served on the main resource.
    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// The storage identity shared by all versions of a resource.
    pub fn type_key(&self) -> TypeKey {
        TypeKey {
            group: self
                .storage_group
                .clone()
                .unwrap_or_else(|| self.group.clone()),
            plural: self.plural.clone(),
        }
    }

    /// A stored object as this version serves it.
    pub fn present(&self, object: &Value) -> Value {
        let mut out = match self.conversion {
            Some(conversion) => conversion.to_served(object),
            None => object.clone(),
        };
        if let Some(map) = out.as_object_mut() {
            map.insert("apiVersion".into(), Value::String(self.api_version()));
        }
        out
    }

    /// An object of this version as it is stored.
    pub fn to_stored(&self, object: Value) -> Value {
        match self.conversion {
            Some(conversion) => conversion.to_stored(&object),
            None => object,
        }
    }

    /// The stored pointers a field selector label reads, `None` when the label is not
    /// selectable on this resource.
    pub fn selectable_field(&self, label: &str) -> Option<Vec<String>> {
        match label {
            "metadata.name" => Some(vec!["/metadata/name".into()]),
            "metadata.namespace" => Some(vec!["/metadata/namespace".into()]),
            _ => self
                .selectable
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, pointers)| pointers.clone()),
        }
    }
}

/// Identity of a resource across versions: group and plural.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeKey {
    /// API group, empty for core.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
}

impl TypeKey {
    /// A key from borrowed parts.
    pub fn new(group: &str, plural: &str) -> Self {
        TypeKey {
            group: group.to_string(),
            plural: plural.to_string(),
        }
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    specless: bool,
    verbs: &'static [&'static str],
    categories: &'static [&'static str],
}

const CREATE_ONLY: &[&str] = &["create"];

const NAMESPACED: bool = true;
const CLUSTER: bool = false;
const STATUS: bool = true;
const NO_STATUS: bool = false;
const SPEC: bool = false;
const SPECLESS: bool = true;

#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    specless: bool,
    verbs: &'static [&'static str],
    categories: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short,
        status,
        specless,
        verbs,
        categories,
    }
}

/// The built-in kinds: group, version, plural, singular, kind, scope, short names,
/// status subresource, whether a spec exists, verbs, categories.
#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    b("", "v1", "namespaces", "namespace", "Namespace", CLUSTER, &["ns"], STATUS, SPEC, ALL_VERBS, &[]),
    b("", "v1", "pods", "pod", "Pod", NAMESPACED, &["po"], STATUS, SPEC, ALL_VERBS, &["all"]),
    b("", "v1", "nodes", "node", "Node", CLUSTER, &["no"], STATUS, SPEC, ALL_VERBS, &[]),
    b("", "v1", "services", "service", "Service", NAMESPACED, &["svc"], STATUS, SPEC, ALL_VERBS, &["all"]),
    b("", "v1", "events", "event", "Event", NAMESPACED, &["ev"], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("", "v1", "secrets", "secret", "Secret", NAMESPACED, &[], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("", "v1", "configmaps", "configmap", "ConfigMap", NAMESPACED, &["cm"], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", NAMESPACED, &["rc"], STATUS, SPEC, ALL_VERBS, &["all"]),
    b("apps", "v1", "deployments", "deployment", "Deployment", NAMESPACED, &["deploy"], STATUS, SPEC, ALL_VERBS, &["all"]),
    b("apps", "v1", "replicasets", "replicaset", "ReplicaSet", NAMESPACED, &["rs"], STATUS, SPEC, ALL_VERBS, &["all"]),
    b("apps", "v1", "statefulsets", "statefulset", "StatefulSet", NAMESPACED, &["sts"], STATUS, SPEC, ALL_VERBS, &["all"]),
    b("apps", "v1", "daemonsets", "daemonset", "DaemonSet", NAMESPACED, &["ds"], STATUS, SPEC, ALL_VERBS, &["all"]),
    b("batch", "v1", "jobs", "job", "Job", NAMESPACED, &[], STATUS, SPEC, ALL_VERBS, &["all"]),
    b("batch", "v1", "cronjobs", "cronjob", "CronJob", NAMESPACED, &["cj"], STATUS, SPEC, ALL_VERBS, &["all"]),
    b("coordination.k8s.io", "v1", "leases", "lease", "Lease", NAMESPACED, &[], NO_STATUS, SPEC, ALL_VERBS, &[]),
    b("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition", CLUSTER, &["crd", "crds"], STATUS, SPEC, ALL_VERBS, &["api-extensions"]),
    b("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "validatingwebhookconfiguration", "ValidatingWebhookConfiguration", CLUSTER, &[], NO_STATUS, SPECLESS, ALL_VERBS, &["api-extensions"]),
    b("events.k8s.io", "v1", "events", "event", "Event", NAMESPACED, &["ev"], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", NAMESPACED, &["sa"], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("", "v1", "endpoints", "endpoints", "Endpoints", NAMESPACED, &["ep"], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", NAMESPACED, &["pvc"], STATUS, SPEC, ALL_VERBS, &[]),
    b("", "v1", "limitranges", "limitrange", "LimitRange", NAMESPACED, &["limits"], NO_STATUS, SPEC, ALL_VERBS, &[]),
    b("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", NAMESPACED, &["quota"], STATUS, SPEC, ALL_VERBS, &[]),
    b("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", NAMESPACED, &[], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", NAMESPACED, &[], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", CLUSTER, &[], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", CLUSTER, &[], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", NAMESPACED, &["pdb"], STATUS, SPEC, ALL_VERBS, &[]),
    b("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", NAMESPACED, &["netpol"], NO_STATUS, SPEC, ALL_VERBS, &[]),
    b("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", NAMESPACED, &["ing"], STATUS, SPEC, ALL_VERBS, &[]),
    b("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", NAMESPACED, &["hpa"], STATUS, SPEC, ALL_VERBS, &[]),
    b("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", CLUSTER, &[], NO_STATUS, SPECLESS, ALL_VERBS, &[]),
    b("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview", CLUSTER, &[], NO_STATUS, SPEC, CREATE_ONLY, &[]),
    b("authorization.k8s.io", "v1", "subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview", CLUSTER, &[], NO_STATUS, SPEC, CREATE_ONLY, &[]),
    b("authorization.k8s.io", "v1", "localsubjectaccessreviews", "localsubjectaccessreview", "LocalSubjectAccessReview", NAMESPACED, &[], NO_STATUS, SPEC, CREATE_ONLY, &[]),
    b("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview", CLUSTER, &[], NO_STATUS, SPEC, CREATE_ONLY, &[]),
    b("authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", CLUSTER, &[], NO_STATUS, SPEC, CREATE_ONLY, &[]),
];

/// A field selector label and the stored pointers it reads, first non-empty wins.
type SelectableField = (&'static str, &'static [&'static str]);

/// Field selector labels of the built-in resources (besides `metadata.name` and
/// `metadata.namespace`), each read from the stored object at the listed pointers.
#[rustfmt::skip]
const SELECTABLE: &[(&str, &str, &[SelectableField])] = &[
    ("", "pods", &[
        ("spec.nodeName", &["/spec/nodeName"]),
        ("spec.restartPolicy", &["/spec/restartPolicy"]),
        ("spec.schedulerName", &["/spec/schedulerName"]),
        ("spec.serviceAccountName", &["/spec/serviceAccountName"]),
        ("spec.hostNetwork", &["/spec/hostNetwork"]),
        ("status.phase", &["/status/phase"]),
        ("status.podIP", &["/status/podIP"]),
        ("status.nominatedNodeName", &["/status/nominatedNodeName"]),
    ]),
    ("", "events", &[
        ("involvedObject.kind", &["/involvedObject/kind"]),
        ("involvedObject.namespace", &["/involvedObject/namespace"]),
        ("involvedObject.name", &["/involvedObject/name"]),
        ("involvedObject.uid", &["/involvedObject/uid"]),
        ("involvedObject.apiVersion", &["/involvedObject/apiVersion"]),
        ("involvedObject.resourceVersion", &["/involvedObject/resourceVersion"]),
        ("involvedObject.fieldPath", &["/involvedObject/fieldPath"]),
        ("reason", &["/reason"]),
        ("reportingComponent", &["/reportingComponent"]),
        ("source", &["/source/component", "/reportingComponent"]),
        ("type", &["/type"]),
    ]),
    ("events.k8s.io", "events", &[
        ("regarding.kind", &["/involvedObject/kind"]),
        ("regarding.namespace", &["/involvedObject/namespace"]),
        ("regarding.name", &["/involvedObject/name"]),
        ("regarding.uid", &["/involvedObject/uid"]),
        ("regarding.apiVersion", &["/involvedObject/apiVersion"]),
        ("regarding.resourceVersion", &["/involvedObject/resourceVersion"]),
        ("regarding.fieldPath", &["/involvedObject/fieldPath"]),
        ("reason", &["/reason"]),
        ("reportingController", &["/reportingComponent"]),
        ("source", &["/source/component", "/reportingComponent"]),
        ("type", &["/type"]),
    ]),
    ("", "secrets", &[("type", &["/type"])]),
    ("", "namespaces", &[("status.phase", &["/status/phase"])]),
    ("", "nodes", &[("spec.unschedulable", &["/spec/unschedulable"])]),
    ("", "services", &[("spec.clusterIP", &["/spec/clusterIP"]), ("spec.type", &["/spec/type"])]),
    ("", "replicationcontrollers", &[("status.replicas", &["/status/replicas"])]),
    ("apps", "replicasets", &[("status.replicas", &["/status/replicas"])]),
    ("batch", "jobs", &[("status.successful", &["/status/succeeded"])]),
];

fn selectable_fields(group: &str, plural: &str) -> Vec<(String, Vec<String>)> {
    SELECTABLE
        .iter()
        .find(|(g, p, _)| *g == group && *p == plural)
        .map(|(_, _, fields)| {
            fields
                .iter()
                .map(|(label, pointers)| {
                    (
                        label.to_string(),
                        pointers.iter().map(|p| p.to_string()).collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A CRD version's `selectableFields` (`jsonPath: .spec.color` selects as `spec.color`).
fn crd_selectable_fields(version: &Value) -> Vec<(String, Vec<String>)> {
    version
        .get("selectableFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
        .map(|path| {
            let label = path.trim_start_matches('.').to_string();
            let pointer = format!("/{}", label.replace('.', "/"));
            (label, vec![pointer])
        })
        .collect()
}

/// The built-in resource types, in discovery order.
pub fn builtin_types() -> Vec<Arc<ResourceType>> {
    BUILTINS
        .iter()
        .map(|b| {
            Arc::new(ResourceType {
                group: b.group.into(),
                version: b.version.into(),
                plural: b.plural.into(),
                singular: b.singular.into(),
                kind: b.kind.into(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                verbs: b.verbs.iter().map(|s| s.to_string()).collect(),
                categories: b.categories.iter().map(|s| s.to_string()).collect(),
                status_subresource: b.status,
                scale_subresource: matches!(
                    b.kind,
                    "Deployment" | "ReplicaSet" | "StatefulSet" | "ReplicationController"
                ),
                printer_columns: Vec::new(),
                builtin: true,
                schema: None,
                specless: b.specless,
                storage_group: (b.group == "events.k8s.io").then(String::new),
                conversion: (b.group == "events.k8s.io").then_some(&EVENTS_V1),
                selectable: selectable_fields(b.group, b.plural),
            })
        })
        .collect()
}

/// Resource types declared by one CustomResourceDefinition object, one per served version.
/// Answers `None` when the CRD lacks the fields needed to serve it.
pub fn crd_types(crd: &Value) -> Option<Vec<Arc<ResourceType>>> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let names = spec.get("names")?;
    let plural = names.get("plural")?.as_str()?;
    let kind = names.get("kind")?.as_str()?;
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map_or_else(|| kind.to_lowercase(), str::to_string);
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    let mut out = Vec::new();
    for version in spec.get("versions")?.as_array()? {
        if version.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let Some(name) = version.get("name").and_then(Value::as_str) else {
            continue;
        };
        let schema = version
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .map(Arc::new);
        out.push(Arc::new(ResourceType {
            group: group.into(),
            version: name.into(),
            plural: plural.into(),
            singular: singular.clone(),
            kind: kind.into(),
            namespaced,
            short_names: strings(names.get("shortNames")),
            verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
            categories: strings(names.get("categories")),
            status_subresource: version.pointer("/subresources/status").is_some(),
            scale_subresource: false,
            printer_columns: version
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            builtin: false,
            schema,
            specless: false,
            storage_group: None,
            conversion: None,
            selectable: crd_selectable_fields(version),
        }));
    }
    Some(out)
}
