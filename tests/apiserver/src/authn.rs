//! Authentication by bearer token. In: a request's `Authorization` header; out: the
//! [`User`] it identifies, or the 401 `Status` kube-apiserver answers (`Unauthorized`).
//! Two kinds of token exist: the admin token the server's kubeconfig carries
//! (`kubernetes-admin`, in `system:masters`), and ServiceAccount tokens issued by the
//! `serviceaccounts/<name>/token` subresource (a `TokenRequest`), which identify
//! `system:serviceaccount:<ns>:<name>` until they expire or the ServiceAccount they were
//! issued for is deleted. A request over TLS without a token is `system:anonymous`; one
//! over plain HTTP without a token is `system:unsecured`, allowed everything, as on
//! kube-apiserver's former insecure port (kubectl sends no credentials over plain HTTP).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::http::ApiRequest;
use crate::meta;
use crate::rbac::{MASTERS, User};
use crate::status::{ApiError, ApiResult, FieldCause, Reason};
use crate::store::{ObjectKey, State};

/// The admin user the kubeconfig's token identifies.
pub const ADMIN_USER: &str = "kubernetes-admin";
/// Default lifetime of a requested token, as kube-apiserver's `TokenRequest` defaults it.
const DEFAULT_EXPIRATION: i64 = 3600;
/// Shortest lifetime a `TokenRequest` may ask for.
const MIN_EXPIRATION: i64 = 600;
/// The audience tokens are issued for when the request names none.
const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// A token issued for a ServiceAccount.
#[derive(Clone, Debug)]
struct Issued {
    namespace: String,
    name: String,
    uid: String,
    expires: SystemTime,
}

/// The tokens the server knows, and its token clock.
#[derive(Debug)]
pub struct Tokens {
    admin: String,
    issued: HashMap<String, Issued>,
    clock_offset: Duration,
}

impl Tokens {
    /// A fresh token table with a random admin token.
    pub fn new() -> Self {
        Tokens {
            admin: format!("admin-{}", uuid::Uuid::new_v4().simple()),
            issued: HashMap::new(),
            clock_offset: Duration::ZERO,
        }
    }

    /// The admin token.
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// Moves the token clock forward (expiry is judged against it).
    pub fn advance(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    fn now(&self) -> SystemTime {
        SystemTime::now() + self.clock_offset
    }

    /// Issues a token for a ServiceAccount; answers it and its expiry.
    pub fn issue(
        &mut self,
        namespace: &str,
        name: &str,
        uid: &str,
        seconds: i64,
    ) -> (String, SystemTime) {
        let token = format!("sa-{}", uuid::Uuid::new_v4().simple());
        let expires = self.now() + Duration::from_secs(seconds.max(0).unsigned_abs());
        self.issued.insert(
            token.clone(),
            Issued {
                namespace: namespace.to_string(),
                name: name.to_string(),
                uid: uid.to_string(),
                expires,
            },
        );
        (token, expires)
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Self::new()
    }
}

/// The admin identity.
pub fn admin() -> User {
    User {
        name: ADMIN_USER.to_string(),
        uid: String::new(),
        groups: vec![MASTERS.to_string(), "system:authenticated".to_string()],
    }
}

/// Who a plain-HTTP request without credentials is: kube-apiserver's former insecure
/// port treated such requests as `system:unsecured` in `system:masters`, and kubectl
/// never sends credentials over plain HTTP.
fn unsecured() -> User {
    User {
        name: "system:unsecured".to_string(),
        uid: String::new(),
        groups: vec![MASTERS.to_string(), "system:authenticated".to_string()],
    }
}

/// The identity of a ServiceAccount.
pub fn service_account(namespace: &str, name: &str, uid: &str) -> User {
    User {
        name: format!("system:serviceaccount:{namespace}:{name}"),
        uid: uid.to_string(),
        groups: vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".to_string(),
        ],
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(Reason::Unauthorized, "Unauthorized")
}

/// Who sent the request.
pub fn authenticate(tokens: &Tokens, state: &State, request: &ApiRequest) -> ApiResult<User> {
    let header = request.authorization.trim();
    if header.is_empty() && !request.secure {
        return Ok(unsecured());
    }
    if header.is_empty() {
        return Ok(User {
            name: "system:anonymous".to_string(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".to_string()],
        });
    }
    let (scheme, token) = header.split_once(' ').ok_or_else(unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized());
    }
    let token = token.trim();
    if token == tokens.admin {
        return Ok(admin());
    }
    let issued = tokens.issued.get(token).ok_or_else(unauthorized)?;
    if tokens.now() >= issued.expires {
        return Err(unauthorized());
    }
    let current = service_account_uid(state, &issued.namespace, &issued.name);
    if current.as_deref() != Some(issued.uid.as_str()) {
        return Err(unauthorized());
    }
    Ok(service_account(
        &issued.namespace,
        &issued.name,
        &issued.uid,
    ))
}

/// The uid of a stored ServiceAccount that is not being deleted.
pub fn service_account_uid(state: &State, namespace: &str, name: &str) -> Option<String> {
    let rt = state.resolve("", "v1", "serviceaccounts")?;
    let account = state.get(&ObjectKey::new(&rt.type_key(), namespace, name))?;
    (!meta::is_deleting(&account)).then(|| meta::uid(&account).to_string())
}

/// Answers a `TokenRequest` posted to `serviceaccounts/<name>/token`.
pub fn token_request(
    tokens: &mut Tokens,
    state: &State,
    request: &ApiRequest,
    namespace: &str,
    name: &str,
) -> ApiResult<Value> {
    let mut review = crate::write::body(request)?;
    let kind = review.get("kind").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "" | "TokenRequest") {
        return Err(ApiError::bad_request(format!(
            "the body of a token request must be a TokenRequest, not {kind}"
        )));
    }
    let uid = service_account_uid(state, namespace, name)
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
    let seconds = review
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION);
    if seconds < MIN_EXPIRATION {
        let cause = FieldCause::new(
            "FieldValueInvalid",
            "spec.expirationSeconds",
            format!("Invalid value: {seconds}: may not specify a duration less than 10 minutes"),
        );
        return Err(ApiError::invalid(
            "TokenRequest",
            "authentication.k8s.io",
            name,
            &[cause],
        ));
    }
    let (token, expires) = tokens.issue(namespace, name, &uid, seconds);
    let expires = expires
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| jiff::Timestamp::from_second(d.as_secs().try_into().ok()?).ok())
        .map(|t| t.to_string())
        .unwrap_or_default();
    let audiences = match review.pointer("/spec/audiences").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => json!(list),
        _ => json!([DEFAULT_AUDIENCE]),
    };
    let spec = json!({
        "audiences": audiences,
        "expirationSeconds": seconds,
        "boundObjectRef": review.pointer("/spec/boundObjectRef").cloned().unwrap_or(Value::Null),
    });
    if let Some(map) = review.as_object_mut() {
        map.insert("apiVersion".into(), json!("authentication.k8s.io/v1"));
        map.insert("kind".into(), json!("TokenRequest"));
        map.insert(
            "metadata".into(),
            json!({"name": name, "namespace": namespace, "creationTimestamp": meta::now()}),
        );
        map.insert("spec".into(), spec);
        map.insert(
            "status".into(),
            json!({"token": token, "expirationTimestamp": expires}),
        );
    }
    Ok(review)
}
