//! The `admission.k8s.io/v1` AdmissionReview wire format, as much of it as judging needs.
//!
//! In: the bytes the API server posts. Out: a validated [`AdmissionRequest`], or a
//! [`ReviewError`] that says exactly which field is wrong, for an HTTP 400. The envelope is
//! read first with the objects skipped; the objects are decoded later, straight into the
//! typed Kubernetes object of the request's kind, and only when the request is judged (no
//! intermediate JSON tree: that halves the cost of a review). Out again: [`AdmissionResponse`], wrapped
//! in an AdmissionReview that echoes the request's uid. Own types rather than a client
//! library's: every field the API server always sends is checked with a message naming it,
//! and fields judging never reads (userInfo, options, ...) cannot make a review unreadable.

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::facts::SlimObject;

/// The only AdmissionReview version served.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The AdmissionReview kind.
pub const KIND: &str = "AdmissionReview";

/// Why a body is not an AdmissionReview that can be answered (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// The body is empty.
    #[error("empty body: expected an AdmissionReview (admission.k8s.io/v1) as JSON")]
    Empty,
    /// The body is not JSON, or a field has the wrong type.
    #[error("malformed AdmissionReview: {0}")]
    Json(String),
    /// `apiVersion` or `kind` is not `admission.k8s.io/v1` `AdmissionReview`.
    #[error(
        "expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got {api_version:?} {kind:?}"
    )]
    WrongType {
        /// The apiVersion sent.
        api_version: String,
        /// The kind sent.
        kind: String,
    },
    /// A required field is missing or empty.
    #[error("AdmissionReview has no {0}")]
    Missing(&'static str),
    /// `request.operation` is not a Kubernetes operation.
    #[error("request.operation {0:?} is not CREATE, UPDATE, DELETE or CONNECT")]
    Operation(String),
    /// `request.object` or `request.oldObject` is not a JSON object.
    #[error("{0} must be a JSON object")]
    NotAnObject(&'static str),
}

/// What the request does to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// The object is being created.
    Create,
    /// The object is being replaced or patched.
    Update,
    /// The object is being deleted.
    Delete,
    /// A connect request (exec, attach, port-forward).
    Connect,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 4] = [
        Operation::Create,
        Operation::Update,
        Operation::Delete,
        Operation::Connect,
    ];

    /// The Kubernetes spelling, also the `operation` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

/// `group`, `version`, `kind` of the object under review.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GroupVersionKind {
    /// API group, empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// A validated admission request, borrowing the body its objects are decoded from.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionRequest<'a> {
    /// Echoed in the response.
    pub uid: String,
    /// The object's type (after `matchPolicy: Equivalent` conversion).
    pub kind: GroupVersionKind,
    /// A subresource (`status`, `scale`, ...), if the request targets one.
    pub sub_resource: Option<String>,
    /// The object's name (may be empty on create with `generateName`).
    pub name: String,
    /// The request's namespace.
    pub namespace: Option<String>,
    /// The operation.
    pub operation: Operation,
    /// `request.object` is present (required for CREATE and UPDATE).
    pub has_object: bool,
    /// `request.oldObject` is present.
    pub has_old_object: bool,
    /// `request.object` as the slim reader read it in the envelope's pass; `None` when it
    /// could not (another kind's shape, a field of the wrong type): judging then decodes it
    /// again and reports why.
    slim: Option<SlimObject>,
    body: &'a [u8],
}

impl AdmissionRequest<'_> {
    /// `request.object`, read slim in the same pass as the envelope.
    pub fn slim_object(&self) -> Option<&SlimObject> {
        self.slim.as_ref()
    }

    /// Decodes `request.object` and `request.oldObject` as `T`.
    pub fn objects<T: DeserializeOwned>(
        &self,
    ) -> Result<(Option<T>, Option<T>), serde_json::Error> {
        let typed: TypedReview<T> = serde_json::from_slice(self.body)?;
        Ok((typed.request.object, typed.request.old_object))
    }
}

#[derive(Deserialize)]
struct TypedReview<T> {
    request: TypedRequest<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedRequest<T> {
    #[serde(default = "Option::default")]
    object: Option<T>,
    #[serde(default = "Option::default")]
    old_object: Option<T>,
}

/// A JSON value that must be an object: read as `O` when it is one, skipped when it is not.
#[derive(Debug, Clone, PartialEq)]
enum Slot<O> {
    Object(O),
    Other,
}

/// `request.oldObject`, and `request.object` when only the envelope is read: skipped.
type Shape = Slot<IgnoredAny>;

impl<'de, O: Deserialize<'de>> Deserialize<'de> for Slot<O> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SlotVisitor<O>(std::marker::PhantomData<O>);
        impl<'de, O: Deserialize<'de>> Visitor<'de> for SlotVisitor<O> {
            type Value = Slot<O>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Slot<O>, A::Error> {
                O::deserialize(MapAccessDeserializer::new(map)).map(Slot::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot<O>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Slot::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Slot<O>, E> {
                Ok(Slot::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Slot<O>, E> {
                Ok(Slot::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Slot<O>, E> {
                Ok(Slot::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Slot<O>, E> {
                Ok(Slot::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Slot<O>, E> {
                Ok(Slot::Other)
            }
        }
        d.deserialize_any(SlotVisitor(std::marker::PhantomData))
    }
}

/// What the envelope's pass keeps of `request.object`.
trait KeptObject {
    fn into_slim(self) -> Option<SlimObject>;
}

impl KeptObject for IgnoredAny {
    fn into_slim(self) -> Option<SlimObject> {
        None
    }
}

impl KeptObject for Box<SlimObject> {
    fn into_slim(self) -> Option<SlimObject> {
        Some(*self)
    }
}

impl<O> Slot<O> {
    fn is_object(&self) -> bool {
        matches!(self, Slot::Object(_))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReview<O> {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default = "Option::default")]
    request: Option<RawRequest<O>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest<O> {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    kind: Option<GroupVersionKind>,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default = "Option::default")]
    object: Option<Slot<O>>,
    #[serde(default)]
    old_object: Option<Shape>,
}

/// Reads and validates an AdmissionReview body.
///
/// One pass reads the envelope and `request.object` (slim: only what the checks use). When
/// the object does not read that way, a second pass reads the envelope alone, so such an
/// object never turns a review into a 400: it is judged (and reported) later, or allowed
/// when its kind is not judged.
pub fn parse_review(body: &[u8]) -> Result<AdmissionRequest<'_>, ReviewError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ReviewError::Empty);
    }
    match serde_json::from_slice::<RawReview<Box<SlimObject>>>(body) {
        Ok(raw) => validate(raw, body),
        Err(_) => {
            let raw: RawReview<IgnoredAny> =
                serde_json::from_slice(body).map_err(|e| ReviewError::Json(e.to_string()))?;
            validate(raw, body)
        }
    }
}

fn validate<O: KeptObject>(
    raw: RawReview<O>,
    body: &[u8],
) -> Result<AdmissionRequest<'_>, ReviewError> {
    let api_version = raw.api_version.unwrap_or_default();
    let kind = raw.kind.unwrap_or_default();
    if api_version != API_VERSION || kind != KIND {
        return Err(ReviewError::WrongType { api_version, kind });
    }
    let req = raw.request.ok_or(ReviewError::Missing("request"))?;
    let uid = req
        .uid
        .filter(|u| !u.trim().is_empty())
        .ok_or(ReviewError::Missing("request.uid"))?;
    let gvk = req
        .kind
        .filter(|k| !k.kind.is_empty())
        .ok_or(ReviewError::Missing("request.kind.kind"))?;
    let op_text = req
        .operation
        .ok_or(ReviewError::Missing("request.operation"))?;
    let operation = Operation::parse(&op_text).ok_or(ReviewError::Operation(op_text))?;
    if req.object.as_ref().is_some_and(|o| !o.is_object()) {
        return Err(ReviewError::NotAnObject("request.object"));
    }
    if req.old_object.as_ref().is_some_and(|o| !o.is_object()) {
        return Err(ReviewError::NotAnObject("request.oldObject"));
    }
    let has_object = req.object.is_some();
    if matches!(operation, Operation::Create | Operation::Update) && !has_object {
        return Err(ReviewError::Missing(
            "request.object (required for CREATE and UPDATE)",
        ));
    }
    Ok(AdmissionRequest {
        uid,
        kind: gvk,
        sub_resource: req.sub_resource.filter(|s| !s.is_empty()),
        name: req.name.unwrap_or_default(),
        namespace: req.namespace.filter(|n| !n.is_empty()),
        operation,
        has_object,
        has_old_object: req.old_object.is_some(),
        slim: match req.object {
            Some(Slot::Object(o)) => o.into_slim(),
            _ => None,
        },
        body,
    })
}

/// `response.status` of a denial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseStatus {
    /// Always `Failure`.
    pub status: &'static str,
    /// HTTP-style code the API server reports (403).
    pub code: u16,
    /// Machine-readable reason.
    pub reason: &'static str,
    /// What kubectl shows.
    pub message: String,
}

/// An AdmissionResponse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The request's uid.
    pub uid: String,
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Why not, when denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
    /// Printed by kubectl as `Warning: ...`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Longest warning kept: the API server may truncate longer ones.
pub const MAX_WARNING_LEN: usize = 256;
/// Most warnings returned; the API server ignores more than 4 KiB of them.
pub const MAX_WARNINGS: usize = 12;
/// Longest denial message.
pub const MAX_MESSAGE_LEN: usize = 4096;

impl AdmissionResponse {
    /// Allows the request.
    pub fn allow(uid: &str) -> Self {
        AdmissionResponse {
            uid: uid.to_owned(),
            allowed: true,
            status: None,
            warnings: Vec::new(),
        }
    }

    /// Denies the request with a message for the user.
    pub fn deny(uid: &str, message: &str) -> Self {
        AdmissionResponse {
            uid: uid.to_owned(),
            allowed: false,
            status: Some(ResponseStatus {
                status: "Failure",
                code: 403,
                reason: "Forbidden",
                message: clip(&printable(message), MAX_MESSAGE_LEN),
            }),
            warnings: Vec::new(),
        }
    }

    /// Sets the warnings, each made printable and clipped; beyond [`MAX_WARNINGS`], the
    /// last one says how many were left out.
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        let total = warnings.len();
        self.warnings = warnings
            .iter()
            .take(if total > MAX_WARNINGS {
                MAX_WARNINGS - 1
            } else {
                total
            })
            .map(|w| clip(&printable(w), MAX_WARNING_LEN))
            .collect();
        if total > MAX_WARNINGS {
            let shown = self.warnings.len();
            self.warnings.push(format!(
                "kube-devops: {} more findings not shown",
                total - shown
            ));
        }
        self
    }

    /// The response wrapped in an AdmissionReview, as the API server expects it.
    pub fn into_review(self) -> AdmissionReviewResponse {
        AdmissionReviewResponse {
            api_version: API_VERSION,
            kind: KIND,
            response: self,
        }
    }
}

/// An AdmissionReview carrying a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReviewResponse {
    /// `admission.k8s.io/v1`.
    pub api_version: &'static str,
    /// `AdmissionReview`.
    pub kind: &'static str,
    /// The answer.
    pub response: AdmissionResponse,
}

/// Control characters (a newline in an image name) would break kubectl's output.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
