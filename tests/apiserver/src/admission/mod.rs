//! Validating admission webhooks, called as kube-apiserver calls them. A write arrives
//! here as a closure that prepares a [`Planned`] write under the store lock; when no
//! webhook matches it is committed at once, under the same lock. Otherwise the lock is
//! released, every matching webhook gets an `AdmissionReview` over HTTPS (in parallel),
//! and the write is committed only if all allow it; a write the store moved past in the
//! meantime is prepared and admitted again. Out: an [`Answer`] with the stored object,
//! a webhook's denial, or the failure of a call, plus the webhooks' warnings.

pub mod client;
pub mod configuration;
pub mod review;
pub mod rules;

use futures::future::join_all;
use serde_json::{Map, Value, json};

use crate::app::{App, Context, lock};
use crate::planned::{Answer, Operation, Planned, View};
use crate::status::{ApiError, ApiResult, Reason};
use crate::store::{ObjectKey, State};
use crate::{meta, resources::TypeKey};
use client::ServiceMap;
use rules::Hook;

/// How often a write is prepared again when the store moved during admission.
const ATTEMPTS: usize = 5;

/// What admission knows about a request: what webhook rules and selectors match on and
/// what the AdmissionReview carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Attributes {
    /// CREATE, UPDATE or DELETE.
    pub operation: Operation,
    /// API group of the resource.
    pub group: String,
    /// API version of the resource.
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// `status`, `scale` or empty.
    pub subresource: String,
    /// `{group, version, kind}` of the reviewed objects.
    pub kind: Value,
    /// Object name.
    pub name: String,
    /// Namespace (for a namespace object, its own name except on create).
    pub namespace: String,
    /// The object after the write.
    pub object: Option<Value>,
    /// The object before the write.
    pub old_object: Option<Value>,
    /// Labels `namespaceSelector` is matched against; `None` for cluster-scoped objects
    /// other than namespaces, which no namespace selector exempts.
    pub namespace_labels: Option<Map<String, Value>>,
    /// Whether the request is a dry run.
    pub dry_run: bool,
    /// CreateOptions, UpdateOptions or DeleteOptions.
    pub options: Value,
    /// Who sent the request, as `userInfo`.
    pub user_info: Value,
}

impl Attributes {
    fn of(state: &State, ctx: &Context, planned: &Planned) -> Attributes {
        let rt = &ctx.rt;
        let (object, old_object) = planned.review_objects(rt);
        let subresource = match (ctx.status, ctx.scale) {
            (true, _) => "status",
            (_, true) => "scale",
            _ => "",
        };
        let kind = match planned.view {
            View::Scale => json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
            View::Object => json!({"group": rt.group, "version": rt.version, "kind": rt.kind}),
        };
        let stored = planned
            .pending
            .old
            .as_deref()
            .unwrap_or(&planned.pending.new);
        let name = meta::name(stored).to_string();
        let is_namespace = rt.group.is_empty() && rt.plural == "namespaces";
        let namespace = if is_namespace {
            if planned.operation == Operation::Create {
                String::new()
            } else {
                name.clone()
            }
        } else if rt.namespaced {
            ctx.namespace.clone()
        } else {
            String::new()
        };
        let namespace_labels = if is_namespace {
            let own = if planned.operation == Operation::Delete {
                planned.pending.old.as_deref()
            } else {
                Some(&*planned.pending.new)
            };
            Some(own.map(rules::labels_of).unwrap_or_default())
        } else if rt.namespaced {
            let key = ObjectKey::new(&TypeKey::new("", "namespaces"), "", &ctx.namespace);
            Some(
                state
                    .get(&key)
                    .map(|ns| rules::labels_of(&ns))
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        let mut options = json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": planned.operation.options_kind(),
        });
        if let Some(map) = options.as_object_mut() {
            if planned.dry_run {
                map.insert("dryRun".into(), json!(["All"]));
            }
            if planned.operation != Operation::Delete && !planned.manager.is_empty() {
                map.insert("fieldManager".into(), json!(planned.manager));
            }
        }
        Attributes {
            operation: planned.operation,
            group: rt.group.clone(),
            version: rt.version.clone(),
            resource: rt.plural.clone(),
            subresource: subresource.to_string(),
            kind,
            name,
            namespace,
            object,
            old_object,
            namespace_labels,
            dry_run: planned.dry_run,
            options,
            user_info: review::user_info(&ctx.user),
        }
    }
}

/// The webhooks a prepared write must pass.
fn hooks_for(state: &State, attributes: &Attributes) -> Vec<Hook> {
    if configuration::is_exempt(&attributes.group, &attributes.resource) {
        return Vec::new();
    }
    let configurations = state.list(&configuration::type_key(), None);
    let configurations: Vec<&Value> = configurations.iter().map(|c| &**c).collect();
    rules::matching(&configurations, attributes)
}

/// Whether a prepared write would be sent to any webhook.
pub fn needs_review(state: &State, ctx: &Context, planned: &Planned) -> bool {
    let attributes = Attributes::of(state, ctx, planned);
    !hooks_for(state, &attributes).is_empty()
}

/// Prepares, admits and commits one write.
pub async fn admit<F>(app: &App, ctx: &Context, mut plan: F) -> Answer
where
    F: FnMut(&mut State) -> ApiResult<Planned>,
{
    for _ in 0..ATTEMPTS {
        let (planned, attributes, hooks) = {
            let mut state = app.store.lock();
            let planned = match plan(&mut state) {
                Ok(planned) => planned,
                Err(error) => return error.into(),
            };
            let attributes = Attributes::of(&state, ctx, &planned);
            let mut hooks = hooks_for(&state, &attributes);
            for hook in &mut hooks {
                hook.route_error = route_error(&state, hook.destination.as_ref());
            }
            if hooks.is_empty() {
                return planned.finish(&mut state, &ctx.rt).unwrap_or_else(|_| {
                    ApiError::internal("the store changed while the lock was held").into()
                });
            }
            (planned, attributes, hooks)
        };
        let services = lock(&app.services).clone();
        let warnings = match dispatch(&hooks, &attributes, &services).await {
            Ok(warnings) => warnings,
            Err(refusal) => return refusal,
        };
        let mut state = app.store.lock();
        if let Ok(mut answer) = planned.finish(&mut state, &ctx.rt) {
            answer.warnings = warnings;
            return answer;
        }
    }
    ApiError::new(
        Reason::Conflict,
        "the object kept changing while admission webhooks were called; try again",
    )
    .into()
}

/// Why a webhook's Service cannot be routed to, as kube-apiserver's cluster IP service
/// resolver answers: the Service must exist, have a cluster IP and serve the port.
fn route_error(state: &State, destination: Option<&rules::Destination>) -> Option<String> {
    let Some(rules::Destination::Service {
        namespace,
        name,
        port,
        ..
    }) = destination
    else {
        return None;
    };
    let key = ObjectKey::new(&TypeKey::new("", "services"), namespace, name);
    let Some(service) = state.get(&key) else {
        return Some(format!("service {name:?} not found"));
    };
    let spec = service.get("spec");
    let text = |field: &str| spec.and_then(|s| s.get(field)).and_then(Value::as_str);
    if text("type") == Some("ExternalName") {
        return Some(format!(
            "service {name:?} is an ExternalName service, which this server does not route to"
        ));
    }
    if text("clusterIP") == Some("None") {
        return Some("cannot route to service with ClusterIP None".into());
    }
    let serves = spec
        .and_then(|s| s.get("ports"))
        .and_then(Value::as_array)
        .is_some_and(|ports| {
            ports
                .iter()
                .any(|p| p.get("port").and_then(Value::as_u64) == Some(u64::from(*port)))
        });
    (!serves).then(|| format!("no service port {port} found for service {name:?}"))
}

/// What one webhook call came to.
enum Outcome {
    Allowed(Vec<String>),
    Denied(Vec<String>, Answer),
    Failed(String),
    Refused(Answer),
}

/// Calls every hook (in parallel) and answers their warnings, or the first refusal in
/// hook order with every warning attached.
async fn dispatch(
    hooks: &[Hook],
    attributes: &Attributes,
    services: &ServiceMap,
) -> Result<Vec<String>, Answer> {
    let outcomes = join_all(hooks.iter().map(|hook| call(hook, attributes, services))).await;
    let mut warnings = Vec::new();
    let mut refusal: Option<Answer> = None;
    for (hook, outcome) in hooks.iter().zip(outcomes) {
        match outcome {
            Outcome::Allowed(more) => warnings.extend(more),
            Outcome::Denied(more, answer) => {
                warnings.extend(more);
                refusal.get_or_insert(answer);
            }
            Outcome::Refused(answer) => {
                refusal.get_or_insert(answer);
            }
            Outcome::Failed(cause) if hook.ignore_failures => {
                tracing::warn!(webhook = %hook.name, %cause, "webhook call failed; failurePolicy Ignore admits the request");
            }
            Outcome::Failed(cause) => {
                tracing::warn!(webhook = %hook.name, %cause, "webhook call failed");
                refusal.get_or_insert(
                    ApiError::internal(format!(
                        "Internal error occurred: failed calling webhook {:?}: {cause}",
                        hook.name
                    ))
                    .into(),
                );
            }
        }
    }
    match refusal {
        Some(mut answer) => {
            answer.warnings = warnings;
            Err(answer)
        }
        None => Ok(warnings),
    }
}

async fn call(hook: &Hook, attributes: &Attributes, services: &ServiceMap) -> Outcome {
    if attributes.dry_run && !matches!(hook.side_effects.as_str(), "None" | "NoneOnDryRun") {
        return Outcome::Refused(
            ApiError::bad_request(format!(
                "admission webhook {:?} does not support dry run",
                hook.name
            ))
            .into(),
        );
    }
    if let (Some(cause), Some(destination)) = (&hook.route_error, &hook.destination) {
        let url = client::quoted_url(destination, hook.timeout.as_secs());
        return Outcome::Failed(format!("failed to call webhook: Post {url:?}: {cause}"));
    }
    let endpoint =
        match client::endpoint(hook.destination.as_ref(), services, hook.timeout.as_secs()) {
            Ok(endpoint) => endpoint,
            Err(cause) => return Outcome::Failed(format!("failed to call webhook: {cause}")),
        };
    let uid = meta::new_uid();
    let body = serde_json::to_vec(&review::request(attributes, &uid)).unwrap_or_default();
    let answer =
        tokio::time::timeout(hook.timeout, client::post(&endpoint, &hook.ca_bundle, body)).await;
    let bytes = match answer {
        Err(_) => {
            return Outcome::Failed(format!(
                "failed to call webhook: Post {:?}: context deadline exceeded",
                endpoint.url
            ));
        }
        Ok(Err(cause)) => {
            return Outcome::Failed(format!(
                "failed to call webhook: Post {:?}: {cause}",
                endpoint.url
            ));
        }
        Ok(Ok(bytes)) => bytes,
    };
    match review::verdict(&bytes, &uid) {
        Err(cause) => Outcome::Failed(format!("received invalid webhook response: {cause}")),
        Ok(verdict) if verdict.allowed => Outcome::Allowed(verdict.warnings),
        Ok(verdict) => Outcome::Denied(
            verdict.warnings,
            review::denial(&hook.name, verdict.status.as_ref()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn hook(side_effects: &str) -> Hook {
        Hook {
            name: "a.b.c".into(),
            destination: Some(rules::Destination::Url("https://127.0.0.1:1/x".into())),
            ca_bundle: String::new(),
            timeout: Duration::from_secs(1),
            ignore_failures: true,
            side_effects: side_effects.into(),
            route_error: None,
        }
    }

    fn dry_run_create() -> Attributes {
        Attributes {
            operation: Operation::Create,
            group: String::new(),
            version: "v1".into(),
            resource: "pods".into(),
            subresource: String::new(),
            kind: json!({"group": "", "version": "v1", "kind": "Pod"}),
            name: "p".into(),
            namespace: "default".into(),
            object: Some(json!({})),
            old_object: None,
            namespace_labels: Some(Map::new()),
            dry_run: true,
            options: json!({}),
            user_info: json!({}),
        }
    }

    #[tokio::test]
    async fn a_dry_run_is_refused_by_a_webhook_with_side_effects_whatever_its_failure_policy() {
        let refused = dispatch(&[hook("Some")], &dry_run_create(), &ServiceMap::new()).await;
        let answer = refused.err().unwrap_or_else(|| Answer {
            code: 0,
            body: json!({}),
            warnings: Vec::new(),
        });
        assert_eq!(answer.code, 400);
        assert_eq!(
            answer.body["message"],
            "admission webhook \"a.b.c\" does not support dry run"
        );
    }

    #[tokio::test]
    async fn a_failed_call_is_ignored_under_failure_policy_ignore() {
        let admitted = dispatch(&[hook("None")], &dry_run_create(), &ServiceMap::new()).await;
        assert_eq!(admitted, Ok(Vec::new()));
    }
}
