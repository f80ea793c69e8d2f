//! The write pipeline every create, update, patch, apply and delete goes through, whether
//! it comes from HTTP, the handle or the workload simulation. It enforces the object
//! lifecycle of the real server: names and namespaces, uid and timestamps, resourceVersion
//! preconditions, status isolation, generation bumps, CRD schemas, managedFields,
//! finalizers with deletionTimestamp, no-op detection and dry runs. A write is first
//! prepared into a [`PendingWrite`] and then committed; admission runs in between, with
//! the store unlocked, and [`commit`] refuses a pending write the store has moved past.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::fieldset::{Scope, Writer, record_update};
use crate::meta::{self, generation_content, metadata_mut};
use crate::resources::{ResourceType, TypeKey};
use crate::schema;
use crate::status::{ApiError, ApiResult, FieldCause, qualified};
use crate::store::{ObjectKey, State};

pub use crate::pending::{Effect, PendingWrite, Stale, commit, is_fresh};

/// How managedFields are maintained for a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// An ordinary write: the manager takes what it changed.
    Update,
    /// Server-side apply already computed managedFields on the incoming object.
    Precomputed,
}

/// Who writes and how.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// The field manager.
    pub manager: String,
    /// Validate and answer, but store nothing.
    pub dry_run: bool,
    /// Whether the write targets `/status`.
    pub status: bool,
    /// How managedFields are maintained.
    pub ownership: Ownership,
    /// Reject unknown fields of custom resources instead of pruning them.
    pub strict: bool,
}

impl WriteOptions {
    /// An ordinary write by `manager` to the main resource.
    pub fn by(manager: &str) -> Self {
        WriteOptions {
            manager: manager.to_string(),
            dry_run: false,
            status: false,
            ownership: Ownership::Update,
            strict: false,
        }
    }

    /// The same, targeting `/status`.
    pub fn for_status(mut self) -> Self {
        self.status = true;
        self
    }
}

/// Commits under the same lock the write was prepared under, where it cannot be stale.
fn settle(state: &mut State, pending: PendingWrite, dry_run: bool) -> ApiResult<Arc<Value>> {
    commit(state, pending, dry_run)
        .map_err(|Stale| ApiError::internal("the store changed while the lock was held"))
}

fn key_of(rt: &ResourceType, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(
        &rt.type_key(),
        if rt.namespaced { namespace } else { "" },
        name,
    )
}

fn check_type(rt: &ResourceType, object: &Value) -> ApiResult<()> {
    if let Some(api_version) = object.get("apiVersion").and_then(Value::as_str) {
        let same_group = api_version.split_once('/').map_or("", |(g, _)| g) == rt.group;
        if !same_group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
    }
    if let Some(kind) = object.get("kind").and_then(Value::as_str)
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    Ok(())
}

fn check_namespace(
    state: &State,
    rt: &ResourceType,
    namespace: &str,
    object: &Value,
) -> ApiResult<()> {
    if !rt.namespaced {
        return Ok(());
    }
    let body_ns = meta::namespace(object);
    if !body_ns.is_empty() && body_ns != namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let ns_key = ObjectKey::new(&TypeKey::new("", "namespaces"), "", namespace);
    if state.get(&ns_key).is_none() {
        return Err(ApiError::not_found("", "namespaces", namespace));
    }
    Ok(())
}

/// Validates and prunes a custom resource, or checks a CRD, before it is stored.
fn validate(rt: &ResourceType, object: &mut Value, opts: &WriteOptions) -> ApiResult<()> {
    let name = meta::name(object).to_string();
    if rt.type_key() == TypeKey::new("apiextensions.k8s.io", "customresourcedefinitions") {
        return crate::crd::validate(object);
    }
    if rt.type_key() == crate::admission::configuration::type_key() {
        return crate::admission::configuration::default_and_validate(object);
    }
    let causes = crate::strategy::validate(rt, object);
    if !causes.is_empty() {
        return Err(ApiError::invalid(&rt.kind, &rt.group, &name, &causes));
    }
    let Some(schema) = &rt.schema else {
        return Ok(());
    };
    let outcome = schema::check(object, schema);
    if opts.strict && !outcome.pruned.is_empty() {
        let unknown: Vec<String> = outcome
            .pruned
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            unknown.join(", "),
            kind = rt.kind,
            version = rt.version,
        )));
    }
    let causes = outcome.causes;
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&rt.kind, &rt.group, &name, &causes))
    }
}

/// Creates an object. `namespace` is ignored for cluster-scoped types.
pub fn create(
    state: &mut State,
    rt: &ResourceType,
    namespace: &str,
    object: Value,
    opts: &WriteOptions,
) -> ApiResult<Arc<Value>> {
    let pending = prepare_create(state, rt, namespace, object, opts)?;
    settle(state, pending, opts.dry_run)
}

/// Checks and completes a new object without storing it.
pub fn prepare_create(
    state: &mut State,
    rt: &ResourceType,
    namespace: &str,
    mut object: Value,
    opts: &WriteOptions,
) -> ApiResult<PendingWrite> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    check_type(rt, &object)?;
    check_namespace(state, rt, namespace, &object)?;
    let mut name = meta::name(&object).to_string();
    if name.is_empty() {
        let prefix = meta::meta_str(&object, "generateName").to_string();
        if prefix.is_empty() {
            return Err(ApiError::invalid(
                &rt.kind,
                &rt.group,
                "",
                &[FieldCause::new(
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )],
            ));
        }
        name = format!("{prefix}{}", meta::random_suffix());
    }
    if rt.group == "rbac.authorization.k8s.io" {
        check_path_segment_name(rt, &name)?;
    } else if !is_dns_subdomain(&name) {
        return Err(ApiError::invalid(
            &rt.kind,
            &rt.group,
            &name,
            &[FieldCause::new(
                "FieldValueInvalid",
                "metadata.name",
                format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case \
                     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            )],
        ));
    }
    let key = key_of(rt, namespace, &name);
    if state.get(&key).is_some() {
        return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
    }
    let now = meta::now();
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    map.insert("apiVersion".into(), Value::String(rt.api_version()));
    map.insert("kind".into(), Value::String(rt.kind.clone()));
    if rt.status_subresource && !opts.status {
        map.remove("status");
    }
    let Some(metadata) = metadata_mut(&mut object) else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    metadata.insert("name".into(), Value::String(name.clone()));
    if rt.namespaced {
        metadata.insert("namespace".into(), Value::String(namespace.to_string()));
    } else {
        metadata.remove("namespace");
    }
    metadata.insert("uid".into(), Value::String(meta::new_uid()));
    metadata.insert("creationTimestamp".into(), Value::String(now.clone()));
    metadata.insert("generation".into(), json!(1));
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        metadata.remove(field);
    }
    if opts.ownership == Ownership::Update {
        metadata.remove("managedFields");
    }
    crate::defaults::apply(rt, &mut object);
    validate(rt, &mut object, opts)?;
    if opts.ownership == Ownership::Update {
        let api_version = rt.api_version();
        let writer = Writer {
            manager: &opts.manager,
            api_version: &api_version,
            scope: Scope::of(rt, opts.status),
            now: &now,
        };
        record_update(None, &mut object, rt, &writer);
    }
    crate::strategy::prepare_create(rt, &mut object);
    Ok(PendingWrite {
        key,
        old: None,
        new: Arc::new(rt.to_stored(object)),
        effect: Effect::Put,
        namespace: rt
            .namespaced
            .then(|| ObjectKey::new(&TypeKey::new("", "namespaces"), "", namespace)),
    })
}

/// RBAC objects only need a name that is a valid path segment (`system:discovery` is
/// one), as kube-apiserver's `ValidateRBACName` checks.
fn check_path_segment_name(rt: &ResourceType, name: &str) -> ApiResult<()> {
    let problem = match name {
        "." | ".." => Some(format!("may not be '{name}'")),
        _ => ["/", "%"]
            .into_iter()
            .find(|c| name.contains(c))
            .map(|c| format!("may not contain '{c}'")),
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(ApiError::invalid(
            &rt.kind,
            &rt.group,
            name,
            &[FieldCause::new(
                "FieldValueInvalid",
                "metadata.name",
                format!("Invalid value: \"{name}\": {problem}"),
            )],
        )),
    }
}

/// Whether a name is a lowercase RFC 1123 subdomain, as object names must be.
fn is_dns_subdomain(name: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    name.len() <= 253
        && name.starts_with(alphanumeric)
        && name.ends_with(alphanumeric)
        && name
            .chars()
            .all(|c| alphanumeric(c) || c == '-' || c == '.')
}

/// Replaces an object (PUT, patch results, status writes).
pub fn update(
    state: &mut State,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    incoming: Value,
    opts: &WriteOptions,
) -> ApiResult<Arc<Value>> {
    let pending = prepare_update(state, rt, namespace, name, incoming, opts)?;
    settle(state, pending, opts.dry_run)
}

/// Checks and completes a replacement without storing it.
pub fn prepare_update(
    state: &mut State,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    incoming: Value,
    opts: &WriteOptions,
) -> ApiResult<PendingWrite> {
    let key = key_of(rt, namespace, name);
    let Some(stored) = state.get(&key) else {
        return Err(ApiError::not_found(&rt.group, &rt.plural, name));
    };
    // The write is computed in the version the client speaks, and stored converted.
    let current = match rt.conversion {
        Some(_) => Arc::new(rt.present(&stored)),
        None => stored.clone(),
    };
    if !incoming.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    check_type(rt, &incoming)?;
    let body_name = meta::name(&incoming);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let wanted_rv = meta::meta_str(&incoming, "resourceVersion");
    if !wanted_rv.is_empty() && wanted_rv != meta::meta_str(&current, "resourceVersion") {
        return Err(ApiError::stale(&rt.group, &rt.plural, name));
    }
    let mut next = if opts.status {
        let mut next = (*current).clone();
        if let Some(map) = next.as_object_mut() {
            match incoming.get("status") {
                Some(status) => map.insert("status".into(), status.clone()),
                None => map.remove("status"),
            };
        }
        if opts.ownership == Ownership::Precomputed
            && let Some(fields) = incoming.pointer("/metadata/managedFields")
            && let Some(metadata) = metadata_mut(&mut next)
        {
            metadata.insert("managedFields".into(), fields.clone());
        }
        next
    } else {
        let mut next = incoming;
        if rt.status_subresource
            && let Some(map) = next.as_object_mut()
        {
            match current.get("status") {
                Some(status) => map.insert("status".into(), status.clone()),
                None => map.remove("status"),
            };
        }
        next
    };
    if let Some(map) = next.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(rt.api_version()));
        map.insert("kind".into(), Value::String(rt.kind.clone()));
    }
    let Some(metadata) = metadata_mut(&mut next) else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let kept = [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
        "generateName",
    ];
    for field in kept {
        match current.get("metadata").and_then(|m| m.get(field)) {
            Some(v) => metadata.insert(field.into(), v.clone()),
            None => metadata.remove(field),
        };
    }
    if opts.ownership == Ownership::Update {
        match current.pointer("/metadata/managedFields") {
            Some(v) => metadata.insert("managedFields".into(), v.clone()),
            None => metadata.remove("managedFields"),
        };
    }
    if !opts.status {
        crate::defaults::apply(rt, &mut next);
        validate(rt, &mut next, opts)?;
    }
    if generation_content(&current, rt.specless) != generation_content(&next, rt.specless) {
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if let Some(metadata) = metadata_mut(&mut next) {
            metadata.insert("generation".into(), json!(generation + 1));
        }
    }
    if opts.ownership == Ownership::Update {
        let now = meta::now();
        let api_version = rt.api_version();
        let writer = Writer {
            manager: &opts.manager,
            api_version: &api_version,
            scope: Scope::of(rt, opts.status),
            now: &now,
        };
        record_update(Some(&current), &mut next, rt, &writer);
    }
    crate::strategy::prepare_update(rt, &current, &mut next);
    let next = rt.to_stored(next);
    let effect = if meta::same_write(&next, &stored) {
        Effect::Unchanged
    } else if meta::is_deleting(&next) && meta::finalizers(&next).is_empty() {
        Effect::Remove
    } else {
        Effect::Put
    };
    let new = if effect == Effect::Unchanged {
        stored.clone()
    } else {
        Arc::new(next)
    };
    Ok(PendingWrite {
        key,
        old: Some(stored),
        new,
        effect,
        namespace: None,
    })
}

/// Preconditions a delete may carry.
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    /// Required uid.
    pub uid: Option<String>,
    /// Required resourceVersion.
    pub resource_version: Option<String>,
}

/// Deletes an object, or marks it for deletion while finalizers remain. Answers the
/// object as it is after the call.
pub fn delete(
    state: &mut State,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    preconditions: &Preconditions,
    dry_run: bool,
) -> ApiResult<Arc<Value>> {
    let pending = prepare_delete(state, rt, namespace, name, preconditions)?;
    settle(state, pending, dry_run)
}

/// Checks a delete without performing it: a removal, or a deletionTimestamp while
/// finalizers remain.
pub fn prepare_delete(
    state: &State,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    preconditions: &Preconditions,
) -> ApiResult<PendingWrite> {
    let key = key_of(rt, namespace, name);
    let Some(current) = state.get(&key) else {
        return Err(ApiError::not_found(&rt.group, &rt.plural, name));
    };
    let uid_differs = preconditions
        .uid
        .as_deref()
        .is_some_and(|u| u != meta::uid(&current));
    let rv_differs = preconditions
        .resource_version
        .as_deref()
        .is_some_and(|rv| rv != meta::meta_str(&current, "resourceVersion"));
    if uid_differs || rv_differs {
        return Err(ApiError::new(
            crate::status::Reason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the precondition on the object does not hold",
                qualified(&rt.group, &rt.plural)
            ),
        )
        .with_subject(&rt.group, &rt.plural, name));
    }
    let pending = |new: Arc<Value>, effect: Effect| PendingWrite {
        key: key.clone(),
        old: Some(current.clone()),
        new,
        effect,
        namespace: None,
    };
    if meta::finalizers(&current).is_empty() {
        return Ok(pending(current.clone(), Effect::Remove));
    }
    if meta::is_deleting(&current) {
        return Ok(pending(current.clone(), Effect::Unchanged));
    }
    let mut marked = (*current).clone();
    if let Some(metadata) = metadata_mut(&mut marked) {
        metadata.insert("deletionTimestamp".into(), Value::String(meta::now()));
        metadata.insert("deletionGracePeriodSeconds".into(), json!(0));
        // Marking an object for deletion is a change its controllers must observe, so the
        // real registry bumps the generation with it.
        if let Some(generation) = metadata.get("generation").and_then(Value::as_i64) {
            metadata.insert("generation".into(), json!(generation + 1));
        }
    }
    Ok(pending(Arc::new(marked), Effect::Put))
}
