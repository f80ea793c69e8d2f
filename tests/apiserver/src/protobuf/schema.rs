//! The protobuf field tables of the objects kubectl's typed commands send: field number,
//! JSON name and type per message, with whether a zero value is kept (Go pointer or
//! required fields) and whether the field repeats. The numbers are those of the
//! `generated.proto` files of k8s.io/api and apimachinery; pods and the workload kinds
//! are in `pods`. In: an apiVersion and kind; out, the message that reads it.

use super::pods;

/// How a field's wire value becomes JSON.
#[derive(Debug)]
pub enum Ty {
    /// A string.
    Str,
    /// An integer (varint).
    Int,
    /// A boolean.
    Bool,
    /// Bytes, base64 in JSON.
    Bytes,
    /// A nested object.
    Msg(&'static Message),
    /// A Go struct embedded inline: its fields join the parent's.
    Inline(&'static Message),
    /// `map<string, V>` of this value type.
    Map(&'static Ty),
    /// `metav1.Time`, an RFC 3339 string.
    Time,
    /// `resource.Quantity`, a string.
    Quantity,
    /// `intstr.IntOrString`, an integer or a string.
    IntOrString,
    /// Read and dropped: a status, which the server sets itself.
    Skip,
}

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    /// The field number.
    pub number: u32,
    /// The JSON name.
    pub name: &'static str,
    /// How it reads.
    pub ty: Ty,
    /// Whether the field repeats (a JSON list).
    pub repeated: bool,
    /// Whether a zero value stays (a pointer or required field in Go).
    pub keep: bool,
}

/// A message: its name (for errors) and fields.
#[derive(Debug)]
pub struct Message {
    /// The type's name.
    pub name: &'static str,
    /// Its fields.
    pub fields: &'static [Field],
}

pub(super) const fn f(number: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        number,
        name,
        ty,
        repeated: false,
        keep: false,
    }
}

/// A pointer or required field: its zero value stays.
pub(super) const fn p(number: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        number,
        name,
        ty,
        repeated: false,
        keep: true,
    }
}

/// A repeated field.
pub(super) const fn r(number: u32, name: &'static str, ty: Ty) -> Field {
    Field {
        number,
        name,
        ty,
        repeated: true,
        keep: true,
    }
}

pub(super) const STR_MAP: Ty = Ty::Map(&Ty::Str);
pub(super) const QUANTITY_MAP: Ty = Ty::Map(&Ty::Quantity);

pub static STRING_ENTRY: [Field; 2] = [f(1, "key", Ty::Str), p(2, "value", Ty::Str)];
pub static BYTES_ENTRY: [Field; 2] = [f(1, "key", Ty::Str), p(2, "value", Ty::Bytes)];
pub static QUANTITY_ENTRY: [Field; 2] = [f(1, "key", Ty::Str), p(2, "value", Ty::Quantity)];

pub static TIME: Message = Message {
    name: "Time",
    fields: &[p(1, "seconds", Ty::Int), p(2, "nanos", Ty::Int)],
};
pub static QUANTITY: Message = Message {
    name: "Quantity",
    fields: &[p(1, "string", Ty::Str)],
};
pub static INT_OR_STRING: Message = Message {
    name: "IntOrString",
    fields: &[
        p(1, "type", Ty::Int),
        p(2, "intVal", Ty::Int),
        p(3, "strVal", Ty::Str),
    ],
};

static RUNTIME_TYPE_META: Message = Message {
    name: "TypeMeta",
    fields: &[f(1, "apiVersion", Ty::Str), f(2, "kind", Ty::Str)],
};

/// `runtime.Unknown`, the envelope.
pub static UNKNOWN: Message = Message {
    name: "Unknown",
    fields: &[
        f(1, "typeMeta", Ty::Msg(&RUNTIME_TYPE_META)),
        f(2, "raw", Ty::Bytes),
        f(3, "contentEncoding", Ty::Str),
        f(4, "contentType", Ty::Str),
    ],
};

static OWNER_REFERENCE: Message = Message {
    name: "OwnerReference",
    fields: &[
        p(5, "apiVersion", Ty::Str),
        p(1, "kind", Ty::Str),
        p(3, "name", Ty::Str),
        p(4, "uid", Ty::Str),
        p(6, "controller", Ty::Bool),
        p(7, "blockOwnerDeletion", Ty::Bool),
    ],
};

pub(super) static OBJECT_META: Message = Message {
    name: "ObjectMeta",
    fields: &[
        f(1, "name", Ty::Str),
        f(2, "generateName", Ty::Str),
        f(3, "namespace", Ty::Str),
        f(4, "selfLink", Ty::Str),
        f(5, "uid", Ty::Str),
        f(6, "resourceVersion", Ty::Str),
        f(7, "generation", Ty::Int),
        f(8, "creationTimestamp", Ty::Time),
        f(9, "deletionTimestamp", Ty::Time),
        p(10, "deletionGracePeriodSeconds", Ty::Int),
        f(11, "labels", STR_MAP),
        f(12, "annotations", STR_MAP),
        r(13, "ownerReferences", Ty::Msg(&OWNER_REFERENCE)),
        r(14, "finalizers", Ty::Str),
    ],
};

static SELECTOR_REQUIREMENT: Message = Message {
    name: "LabelSelectorRequirement",
    fields: &[
        p(1, "key", Ty::Str),
        p(2, "operator", Ty::Str),
        r(3, "values", Ty::Str),
    ],
};

pub(super) static LABEL_SELECTOR: Message = Message {
    name: "LabelSelector",
    fields: &[
        f(1, "matchLabels", STR_MAP),
        r(2, "matchExpressions", Ty::Msg(&SELECTOR_REQUIREMENT)),
    ],
};

pub(super) static LOCAL_REFERENCE: Message = Message {
    name: "LocalObjectReference",
    fields: &[f(1, "name", Ty::Str)],
};

static OBJECT_REFERENCE: Message = Message {
    name: "ObjectReference",
    fields: &[
        f(1, "kind", Ty::Str),
        f(2, "namespace", Ty::Str),
        f(3, "name", Ty::Str),
        f(4, "uid", Ty::Str),
        f(5, "apiVersion", Ty::Str),
        f(6, "resourceVersion", Ty::Str),
        f(7, "fieldPath", Ty::Str),
    ],
};

static NAMESPACE_SPEC: Message = Message {
    name: "NamespaceSpec",
    fields: &[r(1, "finalizers", Ty::Str)],
};

static NAMESPACE: Message = Message {
    name: "Namespace",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&NAMESPACE_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static SECRET: Message = Message {
    name: "Secret",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        p(5, "immutable", Ty::Bool),
        f(2, "data", Ty::Map(&Ty::Bytes)),
        f(4, "stringData", STR_MAP),
        f(3, "type", Ty::Str),
    ],
};

static CONFIG_MAP: Message = Message {
    name: "ConfigMap",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        p(4, "immutable", Ty::Bool),
        f(2, "data", STR_MAP),
        f(3, "binaryData", Ty::Map(&Ty::Bytes)),
    ],
};

static SERVICE_ACCOUNT: Message = Message {
    name: "ServiceAccount",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        r(2, "secrets", Ty::Msg(&OBJECT_REFERENCE)),
        r(3, "imagePullSecrets", Ty::Msg(&LOCAL_REFERENCE)),
        p(4, "automountServiceAccountToken", Ty::Bool),
    ],
};

static SERVICE_PORT: Message = Message {
    name: "ServicePort",
    fields: &[
        f(1, "name", Ty::Str),
        f(2, "protocol", Ty::Str),
        p(6, "appProtocol", Ty::Str),
        p(3, "port", Ty::Int),
        p(4, "targetPort", Ty::IntOrString),
        f(5, "nodePort", Ty::Int),
    ],
};

static CLIENT_IP: Message = Message {
    name: "ClientIPConfig",
    fields: &[p(1, "timeoutSeconds", Ty::Int)],
};

static AFFINITY_CONFIG: Message = Message {
    name: "SessionAffinityConfig",
    fields: &[f(1, "clientIP", Ty::Msg(&CLIENT_IP))],
};

static SERVICE_SPEC: Message = Message {
    name: "ServiceSpec",
    fields: &[
        r(1, "ports", Ty::Msg(&SERVICE_PORT)),
        f(2, "selector", STR_MAP),
        f(3, "clusterIP", Ty::Str),
        r(18, "clusterIPs", Ty::Str),
        f(4, "type", Ty::Str),
        r(5, "externalIPs", Ty::Str),
        f(7, "sessionAffinity", Ty::Str),
        f(8, "loadBalancerIP", Ty::Str),
        f(10, "externalName", Ty::Str),
        f(11, "externalTrafficPolicy", Ty::Str),
        r(19, "ipFamilies", Ty::Str),
        p(17, "ipFamilyPolicy", Ty::Str),
        p(20, "allocateLoadBalancerNodePorts", Ty::Bool),
        p(22, "internalTrafficPolicy", Ty::Str),
        r(9, "loadBalancerSourceRanges", Ty::Str),
        f(12, "healthCheckNodePort", Ty::Int),
        f(13, "publishNotReadyAddresses", Ty::Bool),
        p(21, "loadBalancerClass", Ty::Str),
        p(23, "trafficDistribution", Ty::Str),
        f(14, "sessionAffinityConfig", Ty::Msg(&AFFINITY_CONFIG)),
    ],
};

static SERVICE: Message = Message {
    name: "Service",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&SERVICE_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static POLICY_RULE: Message = Message {
    name: "PolicyRule",
    fields: &[
        r(1, "verbs", Ty::Str),
        r(2, "apiGroups", Ty::Str),
        r(3, "resources", Ty::Str),
        r(4, "resourceNames", Ty::Str),
        r(5, "nonResourceURLs", Ty::Str),
    ],
};

static AGGREGATION_RULE: Message = Message {
    name: "AggregationRule",
    fields: &[r(1, "clusterRoleSelectors", Ty::Msg(&LABEL_SELECTOR))],
};

static ROLE: Message = Message {
    name: "Role",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        r(2, "rules", Ty::Msg(&POLICY_RULE)),
        f(3, "aggregationRule", Ty::Msg(&AGGREGATION_RULE)),
    ],
};

static SUBJECT: Message = Message {
    name: "Subject",
    fields: &[
        p(1, "kind", Ty::Str),
        f(2, "apiGroup", Ty::Str),
        p(3, "name", Ty::Str),
        f(4, "namespace", Ty::Str),
    ],
};

static ROLE_REF: Message = Message {
    name: "RoleRef",
    fields: &[
        p(1, "apiGroup", Ty::Str),
        p(2, "kind", Ty::Str),
        p(3, "name", Ty::Str),
    ],
};

static BINDING: Message = Message {
    name: "RoleBinding",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        r(2, "subjects", Ty::Msg(&SUBJECT)),
        f(3, "roleRef", Ty::Msg(&ROLE_REF)),
    ],
};

static SELECTOR_ATTRIBUTES: Message = Message {
    name: "SelectorAttributes",
    fields: &[f(1, "rawSelector", Ty::Str)],
};

static RESOURCE_ATTRIBUTES: Message = Message {
    name: "ResourceAttributes",
    fields: &[
        f(1, "namespace", Ty::Str),
        f(2, "verb", Ty::Str),
        f(3, "group", Ty::Str),
        f(4, "version", Ty::Str),
        f(5, "resource", Ty::Str),
        f(6, "subresource", Ty::Str),
        f(7, "name", Ty::Str),
        f(8, "fieldSelector", Ty::Msg(&SELECTOR_ATTRIBUTES)),
        f(9, "labelSelector", Ty::Msg(&SELECTOR_ATTRIBUTES)),
    ],
};

static NON_RESOURCE_ATTRIBUTES: Message = Message {
    name: "NonResourceAttributes",
    fields: &[f(1, "path", Ty::Str), f(2, "verb", Ty::Str)],
};

static ACCESS_REVIEW_SPEC: Message = Message {
    name: "SelfSubjectAccessReviewSpec",
    fields: &[
        f(1, "resourceAttributes", Ty::Msg(&RESOURCE_ATTRIBUTES)),
        f(
            2,
            "nonResourceAttributes",
            Ty::Msg(&NON_RESOURCE_ATTRIBUTES),
        ),
    ],
};

static ACCESS_REVIEW: Message = Message {
    name: "SelfSubjectAccessReview",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&ACCESS_REVIEW_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static QUOTA_SPEC: Message = Message {
    name: "ResourceQuotaSpec",
    fields: &[f(1, "hard", QUANTITY_MAP), r(2, "scopes", Ty::Str)],
};

static QUOTA: Message = Message {
    name: "ResourceQuota",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&QUOTA_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static BOUND_OBJECT_REF: Message = Message {
    name: "BoundObjectReference",
    fields: &[
        f(1, "kind", Ty::Str),
        f(2, "apiVersion", Ty::Str),
        f(3, "name", Ty::Str),
        f(4, "uid", Ty::Str),
    ],
};

static TOKEN_REQUEST_SPEC: Message = Message {
    name: "TokenRequestSpec",
    fields: &[
        r(1, "audiences", Ty::Str),
        p(4, "expirationSeconds", Ty::Int),
        f(3, "boundObjectRef", Ty::Msg(&BOUND_OBJECT_REF)),
    ],
};

static TOKEN_REQUEST: Message = Message {
    name: "TokenRequest",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&TOKEN_REQUEST_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static RULES_REVIEW_SPEC: Message = Message {
    name: "SelfSubjectRulesReviewSpec",
    fields: &[f(1, "namespace", Ty::Str)],
};

static RULES_REVIEW: Message = Message {
    name: "SelfSubjectRulesReview",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&RULES_REVIEW_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static SELF_SUBJECT_REVIEW: Message = Message {
    name: "SelfSubjectReview",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "status", Ty::Skip),
    ],
};

/// The kinds read from protobuf, by apiVersion and kind.
static TOP_LEVEL: &[(&str, &str, &Message)] = &[
    ("v1", "Namespace", &NAMESPACE),
    ("v1", "Secret", &SECRET),
    ("v1", "ConfigMap", &CONFIG_MAP),
    ("v1", "ServiceAccount", &SERVICE_ACCOUNT),
    ("v1", "Pod", &pods::POD),
    ("v1", "Service", &SERVICE),
    ("v1", "ResourceQuota", &QUOTA),
    ("apps/v1", "Deployment", &pods::DEPLOYMENT),
    ("batch/v1", "Job", &pods::JOB),
    ("batch/v1", "CronJob", &pods::CRON_JOB),
    ("rbac.authorization.k8s.io/v1", "Role", &ROLE),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", &ROLE),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", &BINDING),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &BINDING,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &ACCESS_REVIEW,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        &RULES_REVIEW,
    ),
    ("authentication.k8s.io/v1", "TokenRequest", &TOKEN_REQUEST),
    (
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        &SELF_SUBJECT_REVIEW,
    ),
    ("policy/v1", "PodDisruptionBudget", &pods::DISRUPTION_BUDGET),
];

/// The message of a top-level kind.
pub fn top_level(api_version: &str, kind: &str) -> Option<&'static Message> {
    TOP_LEVEL
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, message)| *message)
}
