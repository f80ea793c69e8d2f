//! The server application: shared state (store, faults, access rules, watch signals) and
//! the dispatcher that routes an [`ApiRequest`] to discovery, OpenAPI or a resource verb,
//! applying injected faults first. Verb handlers live in `read`, `write`, `patch`,
//! `watch` and `review`; writes pass through `admission` on their way to the store.
//! This module only decides who answers.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::Method;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::faults::{AccessRules, Faults};
use crate::http::{ApiRequest, Reply};
use crate::rbac::{Attributes, ForbiddenRequest, User};
use crate::resources::ResourceType;
use crate::routes::{ResourceTarget, Route, route};
use crate::status::{ApiError, ApiResult, Reason};
use crate::store::Store;
use crate::{
    admission, authn, discovery, openapi, patch, rbac, read, review, scale, table,
    watch as watches, write,
};

/// Shared state of one running server.
#[derive(Debug)]
pub struct App {
    /// All objects.
    pub store: Store,
    /// Pending injected faults.
    pub faults: Mutex<Faults>,
    /// What access reviews answer.
    pub access: Mutex<AccessRules>,
    /// Bumped to close every open watch.
    pub watch_epoch: watch::Sender<u64>,
    /// Turns true when the server stops.
    pub shutdown: watch::Sender<bool>,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// `host:port` clients reach the server at.
    pub address: String,
    /// Uids of pods whose status a test scripted; the simulated kubelet leaves them alone.
    pub scripted_pods: Mutex<HashSet<String>>,
    /// Webhook services a test mapped to loopback addresses.
    pub services: Mutex<crate::admission::client::ServiceMap>,
    /// Whether the simulated components record events.
    pub simulated_events: bool,
    /// The cluster CA certificate (PEM) published in every namespace.
    pub ca_pem: String,
    /// The admin token and the ServiceAccount tokens issued.
    pub tokens: Mutex<crate::authn::Tokens>,
    /// Every request refused with 403, oldest first.
    pub forbidden: Mutex<Vec<ForbiddenRequest>>,
    /// Whether watches serve streaming lists (`sendInitialEvents`).
    pub watch_list: bool,
}

/// A resource request after its type has been resolved.
#[derive(Clone, Debug)]
pub struct Context {
    /// The resource type.
    pub rt: Arc<ResourceType>,
    /// Namespace from the path (empty for cluster scope or all namespaces).
    pub namespace: String,
    /// Whether the list spans all namespaces of a namespaced type.
    pub all_namespaces: bool,
    /// Object name, for object URLs.
    pub name: Option<String>,
    /// Whether the request targets `/status`.
    pub status: bool,
    /// Whether the request targets `/scale`.
    pub scale: bool,
    /// Who sent the request (what admission webhooks see as `userInfo`).
    pub user: User,
}

/// Locks a mutex, recovering from poisoning (the guarded values stay consistent).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl App {
    /// Answers one request.
    pub async fn handle(self: Arc<Self>, request: ApiRequest) -> Reply {
        let route = route(&request.path);
        let user = match self.admit_user(&request, &route) {
            Ok(user) => user,
            Err(error) => return error.into(),
        };
        if !answers_json(&request.accept) {
            return ApiError::new(
                Reason::NotAcceptable,
                format!(
                    "only the following media types are accepted: application/json \
                     (this server does not write {:?})",
                    request.accept
                ),
            )
            .into();
        }
        let answer = match &route {
            Route::Version => Ok(Reply::Json(200, discovery::version())),
            Route::CoreVersions => Ok(Reply::Json(200, discovery::core_versions(&self.address))),
            Route::Groups => Ok(Reply::Json(200, discovery::groups(&self.store.lock()))),
            Route::Group(group) => {
                discovery::group(&self.store.lock(), group).map(|v| Reply::Json(200, v))
            }
            Route::Resources(group, version) => {
                discovery::resources(&self.store.lock(), group, version)
                    .map(|v| Reply::Json(200, v))
            }
            Route::OpenApiRoot => Ok(Reply::Json(200, openapi::root(&self.store.lock()))),
            Route::OpenApiDocument(path) => {
                openapi::document(&self.store.lock(), path).map(|v| Reply::Json(200, v))
            }
            Route::Health => Ok(Reply::Json(200, json!("ok"))),
            Route::Resource(target) if is_token_request(target) => self.token(&request, target),
            Route::Resource(target) => self.resource(&request, target, &user).await,
            Route::Unknown => Err(ApiError::no_route(&request.path)),
        };
        answer.unwrap_or_else(Reply::from)
    }

    /// Authenticates and authorizes a request: its user, or the 401 or 403 to answer
    /// (a 403 is recorded for [`crate::ApiServerHandle::forbidden_requests`]).
    fn admit_user(&self, request: &ApiRequest, route: &Route) -> ApiResult<User> {
        let state = self.store.lock();
        let user = authn::authenticate(&lock(&self.tokens), &state, request)?;
        let attributes = Attributes::of(request, route);
        let decision = rbac::authorize(&state, &user, &attributes);
        if decision.allowed {
            return Ok(user);
        }
        let error = rbac::forbidden(&user, &attributes, &decision.reason);
        lock(&self.forbidden).push(ForbiddenRequest::new(&user, &attributes, &error.message));
        Err(error)
    }

    /// Answers a `TokenRequest` for a ServiceAccount.
    fn token(&self, request: &ApiRequest, target: &ResourceTarget) -> ApiResult<Reply> {
        if request.method != Method::POST {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({} serviceaccounts/token)",
                request.method
            )));
        }
        let namespace = target.namespace.as_deref().unwrap_or("");
        let name = target.name.as_deref().unwrap_or("");
        let state = self.store.lock();
        authn::token_request(&mut lock(&self.tokens), &state, request, namespace, name)
            .map(|v| Reply::Json(201, v))
    }

    fn context(&self, target: &ResourceTarget, user: &User) -> ApiResult<Context> {
        let rt = self
            .store
            .lock()
            .resolve(&target.group, &target.version, &target.plural)
            .ok_or_else(|| {
                ApiError::no_route(&format!(
                    "{}/{}, Resource={}",
                    target.group, target.version, target.plural
                ))
            })?;
        let (status, scale) = match target.subresource.as_deref() {
            None => (false, false),
            Some("status") if rt.status_subresource => (true, false),
            Some("scale") if rt.scale_subresource => (false, true),
            Some(sub) => {
                return Err(ApiError::no_route(&format!(
                    "subresource {sub} of {} is not served by this server",
                    rt.plural
                )));
            }
        };
        if !rt.namespaced && target.namespace.is_some() {
            return Err(ApiError::no_route(&format!(
                "{} is cluster-scoped",
                rt.plural
            )));
        }
        let all_namespaces = rt.namespaced && target.namespace.is_none();
        if all_namespaces && target.name.is_some() {
            return Err(ApiError::no_route(&format!(
                "{} is namespaced; the path needs a namespace",
                rt.plural
            )));
        }
        Ok(Context {
            namespace: target.namespace.clone().unwrap_or_default(),
            all_namespaces,
            name: target.name.clone(),
            status,
            scale,
            rt,
            user: user.clone(),
        })
    }

    async fn resource(
        self: &Arc<Self>,
        request: &ApiRequest,
        target: &ResourceTarget,
        user: &User,
    ) -> ApiResult<Reply> {
        let ctx = self.context(target, user)?;
        let watching = target.legacy_watch || request.flag("watch");
        let verb = match (&request.method, ctx.name.is_some()) {
            (&Method::GET, false) if watching => "watch",
            (&Method::GET, true) if watching => "watch",
            (&Method::GET, false) => "list",
            (&Method::GET, true) => "get",
            (&Method::POST, false) => "create",
            (&Method::PUT, true) => "update",
            (&Method::PATCH, true) => "patch",
            (&Method::DELETE, true) => "delete",
            (&Method::DELETE, false) => "deletecollection",
            (method, _) => {
                return Err(ApiError::method_not_allowed(format!(
                    "the server does not allow method {method} on {}",
                    request.path
                )));
            }
        };
        let resource = match (ctx.status, ctx.scale) {
            (true, _) => format!("{}/status", ctx.rt.plural),
            (_, true) => format!("{}/scale", ctx.rt.plural),
            _ => ctx.rt.plural.clone(),
        };
        let (delay, fail) = lock(&self.faults).take(verb, &resource);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(code) = fail {
            let mut error = ApiError::new(
                Reason::for_code(code),
                format!("injected fault: {verb} {resource}"),
            );
            error.code = code;
            return Err(error);
        }
        let allowed = if ctx.status || ctx.scale {
            verb == "get" || verb == "update" || verb == "patch"
        } else {
            ctx.rt.allows(verb)
        };
        if !allowed {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({verb} {resource})"
            )));
        }
        if ctx.all_namespaces && !matches!(verb, "list" | "watch") {
            return Err(ApiError::no_route(&format!(
                "{verb} on {} needs a namespace in the path",
                ctx.rt.plural
            )));
        }
        if review::KINDS.contains(&ctx.rt.plural.as_str()) {
            let rules = lock(&self.access).clone();
            let state = self.store.lock();
            return review::create(&state, request, &ctx, user, &rules)
                .map(|v| Reply::Json(201, v));
        }
        if ctx.scale {
            if verb == "get" {
                return scale::get(&self.store, &ctx).map(|v| Reply::Json(200, v));
            }
            let plan = |state: &mut _| scale::plan(state, request, &ctx, verb);
            return Ok(admission::admit(self, &ctx, plan).await.into());
        }
        let include = table::Include::parse(request.param("includeObject"));
        let as_table = table::wanted(&request.accept);
        match verb {
            "get" => read::get(&self.store, &ctx).map(|v| {
                if as_table {
                    let metadata =
                        json!({"resourceVersion": crate::meta::meta_str(&v, "resourceVersion")});
                    Reply::Json(
                        200,
                        table::render(&ctx.rt, std::slice::from_ref(&v), metadata, include),
                    )
                } else {
                    Reply::Json(200, v)
                }
            }),
            "list" => read::list(&self.store, request, &ctx).map(|page| {
                if as_table {
                    let items = page.values(&ctx);
                    Reply::Json(
                        200,
                        table::render(&ctx.rt, &items, page.metadata(), include),
                    )
                } else {
                    Reply::Raw(200, page.json(&ctx))
                }
            }),
            "watch" => watches::start(self.clone(), request, &ctx),
            "create" => {
                let plan = |state: &mut _| write::plan_create(state, request, &ctx);
                Ok(admission::admit(self, &ctx, plan).await.into())
            }
            "update" => {
                let plan = |state: &mut _| write::plan_update(state, request, &ctx);
                Ok(admission::admit(self, &ctx, plan).await.into())
            }
            "patch" => {
                let plan = |state: &mut _| patch::plan(state, request, &ctx);
                Ok(admission::admit(self, &ctx, plan).await.into())
            }
            "delete" => {
                let options = write::delete_request(request)?;
                let name = ctx.name.clone().unwrap_or_default();
                let plan = |state: &mut _| write::plan_delete(state, &ctx, &name, &options);
                Ok(admission::admit(self, &ctx, plan).await.into())
            }
            _ => self.delete_collection(request, &ctx).await,
        }
    }

    /// Deletes every selected object, each admitted on its own as the real server does.
    async fn delete_collection(&self, request: &ApiRequest, ctx: &Context) -> ApiResult<Reply> {
        let options = write::delete_request(request)?;
        let mut items = Vec::new();
        let mut warnings = Vec::new();
        for name in write::collection_names(&self.store, request, ctx)? {
            let plan = |state: &mut _| write::plan_delete(state, ctx, &name, &options);
            let mut answer = admission::admit(self, ctx, plan).await;
            warnings.append(&mut answer.warnings);
            match answer.code {
                200..=299 => items.push(answer.body),
                404 => {}
                _ => {
                    answer.warnings = warnings;
                    return Ok(answer.into());
                }
            }
        }
        Ok(crate::planned::Answer {
            code: 200,
            body: write::collection_answer(&self.store, ctx, items),
            warnings,
        }
        .into())
    }
}

/// Whether a resource URL is a ServiceAccount's `token` subresource.
fn is_token_request(target: &ResourceTarget) -> bool {
    target.group.is_empty()
        && target.plural == "serviceaccounts"
        && target.name.is_some()
        && target.namespace.is_some()
        && target.subresource.as_deref() == Some("token")
}

/// Whether an `Accept` header lets the server answer JSON: no header, or any entry that
/// is JSON or a wildcard (kubectl sends `application/vnd.kubernetes.protobuf,
/// application/json` and takes JSON, as from servers that cannot write protobuf).
fn answers_json(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|entry| {
            let media = entry.split(';').next().unwrap_or("").trim();
            matches!(media, "application/json" | "application/*" | "*/*" | "*")
        })
}

/// The object as served at the requested version.
pub fn present(object: &Value, rt: &ResourceType) -> Value {
    rt.present(object)
}

#[cfg(test)]
mod tests {
    use super::answers_json;

    #[test]
    fn json_is_answered_whenever_the_accept_header_allows_it() {
        let cases = [
            ("", true),
            ("application/json", true),
            ("application/vnd.kubernetes.protobuf,application/json", true),
            ("application/vnd.kubernetes.protobuf, */*", true),
            (
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
                true,
            ),
            ("application/vnd.kubernetes.protobuf", false),
            ("application/cbor", false),
        ];
        for (accept, expected) in cases {
            assert_eq!(answers_json(accept), expected, "{accept}");
        }
    }
}
