//! The catalogue of servable resources: the built-in kinds this server knows, and the
//! custom resources that CRDs add at run time. Routing, discovery, the OpenAPI stub and
//! patch semantics all read [`ResourceType`]s from here; nothing here touches objects.

use std::sync::Arc;

use serde_json::Value;

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
    /// Built-in kinds accept strategic merge patch; custom resources do not.
    pub builtin: bool,
    /// The structural schema of a custom resource version.
    pub schema: Option<Arc<Value>>,
    /// Whether the kind has no `spec`, so any non-metadata change bumps the generation.
    pub specless: bool,
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
            group: self.group.clone(),
            plural: self.plural.clone(),
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

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short: &["ns"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short: &["po"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["all"],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short: &["no"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short: &["svc"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["all"],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        status: false,
        specless: true,
        verbs: ALL_VERBS,
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short: &[],
        status: false,
        specless: true,
        verbs: ALL_VERBS,
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
        status: false,
        specless: true,
        verbs: ALL_VERBS,
        categories: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "replicationcontrollers",
        singular: "replicationcontroller",
        kind: "ReplicationController",
        namespaced: true,
        short: &["rc"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["all"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short: &["deploy"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["all"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        short: &["rs"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["all"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "statefulsets",
        singular: "statefulset",
        kind: "StatefulSet",
        namespaced: true,
        short: &["sts"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["all"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "daemonsets",
        singular: "daemonset",
        kind: "DaemonSet",
        namespaced: true,
        short: &["ds"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["all"],
    },
    Builtin {
        group: "batch",
        version: "v1",
        plural: "jobs",
        singular: "job",
        kind: "Job",
        namespaced: true,
        short: &[],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["all"],
    },
    Builtin {
        group: "batch",
        version: "v1",
        plural: "cronjobs",
        singular: "cronjob",
        kind: "CronJob",
        namespaced: true,
        short: &["cj"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["all"],
    },
    Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        short: &[],
        status: false,
        specless: false,
        verbs: ALL_VERBS,
        categories: &[],
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short: &["crd", "crds"],
        status: true,
        specless: false,
        verbs: ALL_VERBS,
        categories: &["api-extensions"],
    },
    Builtin {
        group: "admissionregistration.k8s.io",
        version: "v1",
        plural: "validatingwebhookconfigurations",
        singular: "validatingwebhookconfiguration",
        kind: "ValidatingWebhookConfiguration",
        namespaced: false,
        short: &[],
        status: false,
        specless: true,
        verbs: ALL_VERBS,
        categories: &["api-extensions"],
    },
    Builtin {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        status: false,
        specless: true,
        verbs: ALL_VERBS,
        categories: &[],
    },
    Builtin {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        short: &[],
        status: false,
        specless: false,
        verbs: CREATE_ONLY,
        categories: &[],
    },
];

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
                builtin: true,
                schema: None,
                specless: b.specless,
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
            builtin: false,
            schema,
            specless: false,
        }));
    }
    Some(out)
}
