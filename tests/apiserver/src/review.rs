//! Access reviews, create-only and never stored: SelfSubjectAccessReview,
//! SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview
//! (`authorization.k8s.io`), and SelfSubjectReview (`authentication.k8s.io`, `kubectl auth
//! whoami`). In: the posted review and the requester; out: the review with its `status`,
//! answered from the same RBAC rules that authorize requests. The admin identity's
//! SelfSubjectAccessReviews are the exception tests script through the handle: `allowed`
//! unless the handle denied the `(verb, resource)` pair, and the endpoint itself can be
//! made to answer 403 to exercise clients' error paths.

use serde_json::{Map, Value, json};

use crate::app::Context;
use crate::faults::AccessRules;
use crate::http::ApiRequest;
use crate::rbac::{self, Attributes, User};
use crate::status::{ApiError, ApiResult, FieldCause, Reason};
use crate::store::State;
use crate::write::body;

/// The review resources answered here.
pub const KINDS: &[&str] = &[
    "selfsubjectaccessreviews",
    "subjectaccessreviews",
    "localsubjectaccessreviews",
    "selfsubjectrulesreviews",
    "selfsubjectreviews",
];

/// Answers a review of one of the [`KINDS`].
pub fn create(
    state: &State,
    request: &ApiRequest,
    ctx: &Context,
    user: &User,
    rules: &AccessRules,
) -> ApiResult<Value> {
    let mut review = body(request)?;
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let kind = ctx.rt.kind.as_str();
    let status = match ctx.rt.plural.as_str() {
        "selfsubjectreviews" => json!({"userInfo": {
            "username": user.name, "uid": user.uid, "groups": user.groups}}),
        "selfsubjectrulesreviews" => {
            let namespace = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
            rules_review(state, user, namespace)
        }
        "selfsubjectaccessreviews" if user.is_master() => scripted(&spec, kind, user, rules)?,
        "selfsubjectaccessreviews" => access(state, user, &spec, kind)?,
        _ => {
            let subject = subject(&spec, kind)?;
            let mut spec = spec.clone();
            if !ctx.namespace.is_empty() {
                local_namespace(&mut spec, &ctx.namespace)?;
            }
            access(state, &subject, &spec, kind)?
        }
    };
    if let Some(map) = review.as_object_mut() {
        map.insert("apiVersion".into(), json!(ctx.rt.api_version()));
        map.insert("kind".into(), json!(kind));
        map.entry("metadata").or_insert_with(|| json!({}));
        map.insert("status".into(), status);
    }
    Ok(review)
}

fn invalid(kind: &str, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        kind,
        "authorization.k8s.io",
        "",
        &[FieldCause::new("FieldValueRequired", field, message)],
    )
}

/// The answer of an RBAC-decided access review.
fn access(state: &State, user: &User, spec: &Value, kind: &str) -> ApiResult<Value> {
    let attributes = Attributes::from_review(spec).ok_or_else(|| {
        invalid(
            kind,
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )
    })?;
    let decision = rbac::authorize(state, user, &attributes);
    let mut status = Map::new();
    status.insert("allowed".into(), json!(decision.allowed));
    if !decision.reason.is_empty() {
        status.insert("reason".into(), json!(decision.reason));
    }
    Ok(Value::Object(status))
}

/// The user a SubjectAccessReview asks about.
fn subject(spec: &Value, kind: &str) -> ApiResult<User> {
    let name = spec.get("user").and_then(Value::as_str).unwrap_or("");
    let groups: Vec<String> = crate::meta::strings(spec.get("groups"))
        .into_iter()
        .map(str::to_string)
        .collect();
    if name.is_empty() && groups.is_empty() {
        return Err(invalid(
            kind,
            "spec.user",
            "at least one of user or group must be specified",
        ));
    }
    Ok(User {
        name: name.to_string(),
        uid: spec
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        groups,
    })
}

/// A LocalSubjectAccessReview asks about its own namespace only.
fn local_namespace(spec: &mut Value, namespace: &str) -> ApiResult<()> {
    let Some(attributes) = spec
        .get_mut("resourceAttributes")
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    match attributes.get("namespace").and_then(Value::as_str) {
        None | Some("") => {
            attributes.insert("namespace".into(), json!(namespace));
            Ok(())
        }
        Some(ns) if ns == namespace => Ok(()),
        Some(_) => Err(invalid(
            "LocalSubjectAccessReview",
            "spec.resourceAttributes.namespace",
            "must match metadata.namespace",
        )),
    }
}

/// The admin's SelfSubjectAccessReview, as the handle scripted it.
fn scripted(spec: &Value, kind: &str, user: &User, rules: &AccessRules) -> ApiResult<Value> {
    if rules.endpoint_forbidden {
        return Err(ApiError::new(
            Reason::Forbidden,
            format!(
                "selfsubjectaccessreviews.authorization.k8s.io is forbidden: User {:?} cannot create resource \
                 \"selfsubjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope",
                user.name
            ),
        )
        .with_subject("authorization.k8s.io", "selfsubjectaccessreviews", ""));
    }
    let Some(Attributes {
        verb,
        resource: Some(resource),
        ..
    }) = Attributes::from_review(spec)
    else {
        return match spec.get("nonResourceAttributes") {
            Some(_) => Ok(json!({"allowed": true})),
            None => Err(invalid(
                kind,
                "spec.resourceAttributes",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )),
        };
    };
    let resource = resource.resource;
    let denied = [
        (verb.clone(), resource.clone()),
        ("*".into(), resource.clone()),
        (verb.clone(), "*".into()),
    ]
    .iter()
    .any(|pair| rules.denied.contains(pair));
    Ok(if denied {
        json!({"allowed": false, "denied": true, "reason": format!("denied by the test server: {verb} {resource}")})
    } else {
        json!({"allowed": true, "reason": "allowed by the test server"})
    })
}

/// A SelfSubjectRulesReview's status: every rule that applies in the namespace.
fn rules_review(state: &State, user: &User, namespace: &str) -> Value {
    let (rules, errors) = rbac::rules_for(state, user, namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for sourced in rules {
        let rule = sourced.rule;
        let pick = |keys: &[&str]| {
            let mut out = Map::new();
            for key in keys {
                if let Some(v) = rule
                    .get(*key)
                    .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
                {
                    out.insert((*key).to_string(), v.clone());
                }
            }
            Value::Object(out)
        };
        if rule
            .get("nonResourceURLs")
            .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        {
            non_resource_rules.push(pick(&["verbs", "nonResourceURLs"]));
        } else {
            resource_rules.push(pick(&["verbs", "apiGroups", "resources", "resourceNames"]));
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if let (false, Some(map)) = (errors.is_empty(), status.as_object_mut()) {
        map.insert("evaluationError".into(), json!(errors.join(", ")));
    }
    status
}
