//! The `admission.k8s.io/v1 AdmissionReview` exchanged with a webhook: the request this
//! server sends, the checks kube-apiserver applies to the answer (uid echoed, kind and
//! version, no patch from a validating webhook), and the `Status` a denial turns into,
//! worded as kube-apiserver words it.

use serde_json::{Value, json};

use super::Attributes;
use crate::planned::Answer;
use crate::rbac::User;

/// The `userInfo` of a request's user (the uid only when there is one).
pub fn user_info(user: &User) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if let (false, Some(map)) = (user.uid.is_empty(), info.as_object_mut()) {
        map.insert("uid".into(), json!(user.uid));
    }
    info
}

/// The review sent to a webhook.
pub fn request(attributes: &Attributes, uid: &str) -> Value {
    let resource = json!({
        "group": attributes.group,
        "version": attributes.version,
        "resource": attributes.resource,
    });
    let mut request = json!({
        "uid": uid,
        "kind": attributes.kind,
        "resource": resource,
        "requestKind": attributes.kind,
        "requestResource": resource,
        "name": attributes.name,
        "operation": attributes.operation.as_str(),
        "userInfo": attributes.user_info,
        "object": attributes.object,
        "oldObject": attributes.old_object,
        "dryRun": attributes.dry_run,
        "options": attributes.options,
    });
    if let Some(map) = request.as_object_mut() {
        if !attributes.subresource.is_empty() {
            map.insert("subResource".into(), json!(attributes.subresource));
            map.insert("requestSubResource".into(), json!(attributes.subresource));
        }
        if !attributes.namespace.is_empty() {
            map.insert("namespace".into(), json!(attributes.namespace));
        }
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    })
}

/// What a webhook answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// `response.allowed`.
    pub allowed: bool,
    /// `response.status`, if any.
    pub status: Option<Value>,
    /// `response.warnings`.
    pub warnings: Vec<String>,
}

/// Reads a webhook's answer; the error says why kube-apiserver would not accept it.
pub fn verdict(body: &[u8], uid: &str) -> Result<Verdict, String> {
    let review: Value =
        serde_json::from_slice(body).map_err(|e| format!("cannot decode the response: {e}"))?;
    let Some(response) = review.get("response").filter(|r| r.is_object()) else {
        return Err("webhook response was absent".into());
    };
    let answered_uid = response.get("uid").and_then(Value::as_str).unwrap_or("");
    if answered_uid != uid {
        return Err(format!(
            "expected response.uid={uid:?}, got {answered_uid:?}"
        ));
    }
    let api_version = review
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = review.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != "admission.k8s.io/v1" || kind != "AdmissionReview" {
        return Err(format!(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {api_version}, Kind={kind}"
        ));
    }
    if response.get("patch").is_some_and(|p| !p.is_null()) {
        return Err("validating webhooks may not return patches".into());
    }
    let allowed = match response.get("allowed") {
        Some(Value::Bool(allowed)) => *allowed,
        None | Some(Value::Null) => false,
        Some(other) => return Err(format!("response.allowed is not a boolean: {other}")),
    };
    let warnings = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Verdict {
        allowed,
        status: response.get("status").filter(|s| s.is_object()).cloned(),
        warnings,
    })
}

/// The `Status` a denial answers: the webhook's status with code at least 400 (403 by
/// default) and the message prefixed with `admission webhook "<name>" denied the request`.
pub fn denial(hook: &str, status: Option<&Value>) -> Answer {
    let mut status = status.cloned().unwrap_or_else(|| json!({}));
    let text = |field: &str| {
        status
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (message, reason) = (text("message"), text("reason"));
    let denied_by = format!("admission webhook {hook:?} denied the request");
    let message = if !message.is_empty() {
        format!("{denied_by}: {message}")
    } else if !reason.is_empty() {
        format!("{denied_by}: {reason}")
    } else {
        format!("{denied_by} without explanation")
    };
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..=599).contains(c))
        .unwrap_or(403);
    if let Some(map) = status.as_object_mut() {
        map.insert("kind".into(), json!("Status"));
        map.insert("apiVersion".into(), json!("v1"));
        map.entry("metadata").or_insert_with(|| json!({}));
        map.insert("status".into(), json!("Failure"));
        map.insert("message".into(), json!(message));
        map.insert("code".into(), json!(code));
    }
    Answer {
        code,
        body: status,
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(response: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1",
                                   "kind": "AdmissionReview", "response": response}))
        .unwrap_or_default()
    }

    #[test]
    fn a_denial_is_worded_as_kube_apiserver_words_it() {
        let cases = [
            (
                json!({"message": "no latest"}),
                403,
                "admission webhook \"a.b.c\" denied the request: no latest",
            ),
            (
                json!({"reason": "Nope", "code": 422}),
                422,
                "admission webhook \"a.b.c\" denied the request: Nope",
            ),
            (
                json!({"code": 200}),
                403,
                "admission webhook \"a.b.c\" denied the request without explanation",
            ),
        ];
        for (status, code, message) in cases {
            let answer = denial("a.b.c", Some(&status));
            assert_eq!(answer.code, code);
            assert_eq!(answer.body["message"], message);
            assert_eq!(answer.body["status"], "Failure");
        }
    }

    #[test]
    fn answers_kube_apiserver_would_refuse_are_errors() {
        let bad = [
            (b"not json".to_vec(), "cannot decode"),
            (
                review(json!({"uid": "other", "allowed": true})),
                "expected response.uid=\"u\"",
            ),
            (
                serde_json::to_vec(
                    &json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview",
                "response": {"uid": "u", "allowed": true}}),
                )
                .unwrap_or_default(),
                "expected webhook response of",
            ),
            (
                review(json!({"uid": "u", "allowed": true, "patch": "e30="})),
                "may not return patches",
            ),
            (
                serde_json::to_vec(&json!({"kind": "AdmissionReview"})).unwrap_or_default(),
                "absent",
            ),
        ];
        for (body, expected) in bad {
            let error = verdict(&body, "u").err().unwrap_or_default();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
        let ok = verdict(
            &review(json!({"uid": "u", "allowed": true, "warnings": ["w"]})),
            "u",
        );
        assert_eq!(
            ok,
            Ok(Verdict {
                allowed: true,
                status: None,
                warnings: vec!["w".into()]
            })
        );
    }
}
