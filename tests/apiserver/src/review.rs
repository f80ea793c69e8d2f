//! SelfSubjectAccessReviews: create-only, never stored. The review is answered
//! `allowed: true` unless the handle denied its `(verb, resource)` pair, and the endpoint
//! itself can be made to answer 403 to exercise clients' error paths.

use serde_json::{Value, json};

use crate::faults::AccessRules;
use crate::http::ApiRequest;
use crate::status::{ApiError, ApiResult, Reason};
use crate::write::body;

/// Answers a SelfSubjectAccessReview.
pub fn create(request: &ApiRequest, rules: &AccessRules) -> ApiResult<Value> {
    if rules.endpoint_forbidden {
        return Err(ApiError::new(
            Reason::Forbidden,
            "selfsubjectaccessreviews.authorization.k8s.io is forbidden: User \"test\" cannot create resource \
             \"selfsubjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope",
        ));
    }
    let mut review = body(request)?;
    let attributes = review.pointer("/spec/resourceAttributes").cloned();
    let Some(attributes) = attributes else {
        return Err(ApiError::new(
            Reason::Invalid,
            "SelfSubjectAccessReview is invalid: spec.resourceAttributes: this server answers resource attributes only",
        ));
    };
    let text = |k: &str| {
        attributes
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (verb, resource) = (text("verb"), text("resource"));
    let denied = rules.denied.contains(&(verb.clone(), resource.clone()))
        || rules.denied.contains(&("*".into(), resource.clone()))
        || rules.denied.contains(&(verb.clone(), "*".into()));
    let status = if denied {
        json!({"allowed": false, "denied": true, "reason": format!("denied by the test server: {verb} {resource}")})
    } else {
        json!({"allowed": true, "reason": "allowed by the test server"})
    };
    if let Some(map) = review.as_object_mut() {
        map.insert("apiVersion".into(), json!("authorization.k8s.io/v1"));
        map.insert("kind".into(), json!("SelfSubjectAccessReview"));
        map.entry("metadata").or_insert_with(|| json!({}));
        map.insert("status".into(), status);
    }
    Ok(review)
}
