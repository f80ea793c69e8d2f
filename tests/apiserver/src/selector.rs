//! Label and field selectors from list and watch query strings. Label selectors support
//! `=`, `==`, `!=`, `in`, `notin`, `key` and `!key`; field selectors support equality and
//! inequality on the labels each resource indexes in the real server (`metadata.name` and
//! `metadata.namespace` everywhere; `spec.nodeName`, `status.phase`, ... on pods;
//! `involvedObject.*` or `regarding.*`, `reason`, `type`, ... on events; a CRD's
//! `selectableFields`), read from the stored object. Anything else is a
//! `400 BadRequest` naming the field, never a silently ignored filter.

use serde_json::Value;

use crate::resources::ResourceType;
use crate::status::{ApiError, ApiResult};
use crate::stored::Stored;

#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    terms.push(current);
    terms
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn value_set(text: &str, term: &str) -> ApiResult<Vec<String>> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: {term}: expected a parenthesised set"
            ))
        })?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(text: &str) -> ApiResult<Self> {
        let mut requirements = Vec::new();
        for term in split_terms(text) {
            let bad = || {
                ApiError::bad_request(format!(
                    "unable to parse requirement: invalid label selector term: {term}"
                ))
            };
            let requirement = if let Some(key) = term.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_string())
            } else if let Some((key, value)) = term.split_once("!=") {
                Requirement::NotEquals(key.trim().into(), value.trim().into())
            } else if let Some((key, value)) = term.split_once("==") {
                Requirement::Equals(key.trim().into(), value.trim().into())
            } else if let Some((key, value)) = term.split_once('=') {
                Requirement::Equals(key.trim().into(), value.trim().into())
            } else if let Some((key, rest)) = term.split_once(" notin ") {
                Requirement::NotIn(key.trim().into(), value_set(rest, &term)?)
            } else if let Some((key, rest)) = term.split_once(" in ") {
                Requirement::In(key.trim().into(), value_set(rest, &term)?)
            } else {
                Requirement::Exists(term.clone())
            };
            let key = match &requirement {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::NotExists(k) => k,
            };
            if !valid_key(key) {
                return Err(bad());
            }
            requirements.push(requirement);
        }
        Ok(LabelSelector(requirements))
    }

    /// Whether a stored object's labels satisfy the selector.
    pub fn matches(&self, object: &Stored) -> bool {
        let get = |k: &str| object.meta().label(k);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

/// One term of a field selector: the label, whether it must equal (or differ from) the
/// value, and the stored pointers the label reads.
#[derive(Clone, Debug, PartialEq)]
struct FieldTerm {
    label: String,
    equal: bool,
    value: String,
    pointers: Vec<String>,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector(Vec<FieldTerm>);

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter for a resource; a label the resource
    /// does not index is a 400, as from the real server.
    pub fn parse(text: &str, rt: &ResourceType) -> ApiResult<Self> {
        let mut terms = Vec::new();
        for term in split_terms(text) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                )));
            };
            let field = field.trim();
            let Some(pointers) = rt.selectable_field(field) else {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            };
            terms.push(FieldTerm {
                label: field.to_string(),
                equal,
                value: value.trim().to_string(),
                pointers,
            });
        }
        Ok(FieldSelector(terms))
    }

    /// Whether the selector is empty (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a stored object satisfies the selector.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|term| {
            let actual = term
                .pointers
                .iter()
                .map(|p| scalar(object.pointer(p)))
                .find(|v| !v.is_empty())
                .unwrap_or_default();
            (actual == term.value) == term.equal
        })
    }
}

/// A selectable field's value as text (`true`, `3`, or the string itself).
fn scalar(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_selectors_match_like_the_real_server() {
        let object = labelled(json!({"app": "web", "tier": "front"}));
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, api)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("missing!=x", true),
            ("app=web,tier=back", false),
            ("", true),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector);
            assert_eq!(
                parsed.map(|s| s.matches(&Stored::new(&object))),
                Ok(expected),
                "{selector}"
            );
        }
    }

    fn resource(group: &str, plural: &str) -> ResourceType {
        crate::resources::builtin_types()
            .into_iter()
            .find(|t| t.group == group && t.plural == plural)
            .map(|t| (*t).clone())
            .unwrap_or_else(|| panic!("{plural} is built in"))
    }

    #[test]
    fn field_selectors_match_the_fields_each_resource_indexes() {
        let pod = labelled(json!({}));
        let event = json!({"metadata": {"name": "e", "namespace": "ns"}, "type": "Warning",
                           "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "BackOff",
                           "reportingComponent": "kubelet"});
        let cases = [
            ("", "pods", "metadata.name=p", &pod, Some(true)),
            ("", "pods", "metadata.namespace!=ns", &pod, Some(false)),
            (
                "",
                "pods",
                "spec.nodeName=n1,status.phase=Running",
                &pod,
                Some(true),
            ),
            ("", "pods", "status.phase==Pending", &pod, Some(false)),
            ("", "pods", "spec.unknown=x", &pod, None),
            ("", "configmaps", "spec.nodeName=n1", &pod, None),
            (
                "",
                "events",
                "involvedObject.kind=Pod,involvedObject.name=p",
                &event,
                Some(true),
            ),
            (
                "",
                "events",
                "type=Warning,reason=BackOff",
                &event,
                Some(true),
            ),
            ("", "events", "source=kubelet", &event, Some(true)),
            (
                "events.k8s.io",
                "events",
                "regarding.name=p,reportingController=kubelet",
                &event,
                Some(true),
            ),
            (
                "events.k8s.io",
                "events",
                "involvedObject.name=p",
                &event,
                None,
            ),
        ];
        for (group, plural, selector, object, expected) in cases {
            let parsed = FieldSelector::parse(selector, &resource(group, plural)).ok();
            assert_eq!(
                parsed.map(|s| s.matches(object)),
                expected,
                "{plural}: {selector}"
            );
        }
    }

    #[test]
    fn an_unsupported_field_is_named_in_the_error() {
        let error = FieldSelector::parse("spec.schedulerName=x", &resource("", "configmaps")).err();
        assert!(error.is_some_and(|e| e.code == 400 && e.message.contains("spec.schedulerName")));
    }
}
