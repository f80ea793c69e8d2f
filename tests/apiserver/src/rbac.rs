//! RBAC authorization, decided as kube-apiserver's RBAC authorizer decides it. In: an
//! authenticated [`User`], the request's [`Attributes`] (from the path as kube-apiserver's
//! request-info reads it) and the stored Roles, ClusterRoles, RoleBindings and
//! ClusterRoleBindings; out: a [`Decision`] with the reason kube-apiserver gives, and the
//! 403 `Status` it writes when nobody allows. Members of `system:masters` are allowed
//! everything without a rule. ClusterRoles with an `aggregationRule` take the rules of the
//! ClusterRoles their selectors pick, as the aggregation controller would fill them in.

use serde_json::{Value, json};

use crate::http::ApiRequest;
use crate::meta;
use crate::routes::Route;
use crate::status::{ApiError, Reason, qualified};
use crate::store::State;

pub mod bootstrap;

/// The group whose members pass every authorization check.
pub const MASTERS: &str = "system:masters";
/// The RBAC API group.
const RBAC: &str = "rbac.authorization.k8s.io";

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user name, e.g. `system:serviceaccount:ns:name`.
    pub name: String,
    /// The user's uid (a ServiceAccount's uid; empty otherwise).
    pub uid: String,
    /// The groups, e.g. `system:authenticated`.
    pub groups: Vec<String>,
}

impl User {
    /// Whether the user is in `system:masters`.
    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }
}

/// The resource part of a request's attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    /// Namespace (for `namespaces` objects, the namespace's own name).
    pub namespace: String,
    /// API group, empty for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource, empty for none.
    pub subresource: String,
    /// Object name, empty for collections.
    pub name: String,
}

/// What a request asks to do, as authorizers see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `get list watch create update patch delete deletecollection` for resources, the
    /// lowercased HTTP method for other paths.
    pub verb: String,
    /// The request path.
    pub path: String,
    /// Resource attributes; `None` for a non-resource request.
    pub resource: Option<ResourceAttributes>,
}

impl Attributes {
    /// The attributes of a routed request, as kube-apiserver's request-info reads them.
    pub fn of(request: &ApiRequest, route: &Route) -> Attributes {
        let method = request.method.as_str().to_ascii_lowercase();
        let Route::Resource(target) = route else {
            return Attributes {
                verb: method,
                path: request.path.clone(),
                resource: None,
            };
        };
        let mut name = target.name.clone().unwrap_or_default();
        let verb = match method.as_str() {
            _ if target.legacy_watch => "watch",
            "post" => "create",
            "put" => "update",
            "patch" => "patch",
            "delete" if name.is_empty() => "deletecollection",
            "delete" => "delete",
            "get" | "head" if name.is_empty() => {
                if let Some(selected) = request.param("fieldSelector").and_then(selected_name) {
                    name = selected;
                }
                if request.flag("watch") {
                    "watch"
                } else {
                    "list"
                }
            }
            "get" | "head" => "get",
            other => other,
        };
        let mut namespace = target.namespace.clone().unwrap_or_default();
        if target.group.is_empty() && target.plural == "namespaces" {
            namespace = name.clone();
        }
        Attributes {
            verb: verb.to_string(),
            path: request.path.clone(),
            resource: Some(ResourceAttributes {
                namespace,
                group: target.group.clone(),
                version: target.version.clone(),
                resource: target.plural.clone(),
                subresource: target.subresource.clone().unwrap_or_default(),
                name,
            }),
        }
    }

    /// Attributes from the `spec` of an access review.
    pub fn from_review(spec: &Value) -> Option<Attributes> {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(r) = spec.get("resourceAttributes") {
            return Some(Attributes {
                verb: text(r, "verb"),
                path: String::new(),
                resource: Some(ResourceAttributes {
                    namespace: text(r, "namespace"),
                    group: text(r, "group"),
                    version: text(r, "version"),
                    resource: text(r, "resource"),
                    subresource: text(r, "subresource"),
                    name: text(r, "name"),
                }),
            });
        }
        spec.get("nonResourceAttributes").map(|n| Attributes {
            verb: text(n, "verb"),
            path: text(n, "path"),
            resource: None,
        })
    }
}

/// `metadata.name=<x>` (or `==`) in a field selector names the object of a list or watch.
fn selected_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let value = term
            .strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="))?;
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// A request the server refused with 403, as recorded for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForbiddenRequest {
    /// Who sent it.
    pub user: String,
    /// The verb as authorized (`list`, `create`, ... or `get` for a path).
    pub verb: String,
    /// The namespace, empty at the cluster scope or for a path.
    pub namespace: String,
    /// The API group, empty for core or for a path.
    pub group: String,
    /// The resource with its subresource (`pods/log`); empty for a path.
    pub resource: String,
    /// The object name, empty for collections.
    pub name: String,
    /// The request path.
    pub path: String,
    /// The `Status` message the client got.
    pub message: String,
}

impl ForbiddenRequest {
    /// The record of a refused request.
    pub fn new(user: &User, attributes: &Attributes, message: &str) -> Self {
        let r = attributes.resource.clone().unwrap_or_default();
        let resource = match r.subresource.as_str() {
            "" => r.resource,
            sub => format!("{}/{sub}", r.resource),
        };
        ForbiddenRequest {
            user: user.name.clone(),
            verb: attributes.verb.clone(),
            namespace: r.namespace,
            group: r.group,
            resource,
            name: r.name,
            path: attributes.path.clone(),
            message: message.to_string(),
        }
    }
}

/// An authorizer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Why, as kube-apiserver words it (`RBAC: allowed by ...`, or the RBAC errors met).
    pub reason: String,
}

/// A rule with where it came from (`ClusterRoleBinding "x" of ClusterRole "y" to ...`).
pub struct SourcedRule {
    /// The binding that grants it, described as the RBAC authorizer does.
    pub source: String,
    /// The `PolicyRule`.
    pub rule: Value,
}

/// Every rule that applies to the user in `namespace` (empty: cluster-wide bindings
/// only), and the errors met on the way (bindings whose role is missing).
pub fn rules_for(state: &State, user: &User, namespace: &str) -> (Vec<SourcedRule>, Vec<String>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for binding in objects(state, "clusterrolebindings", None) {
        let Some(subject) = applies_to(&binding, user, "") else {
            continue;
        };
        let role = meta::meta_str(&binding, "name");
        let (kind, role_name) = role_ref(&binding);
        let source = format!(
            "ClusterRoleBinding {role:?} of {kind} {role_name:?} to {}",
            describe_subject(subject, "")
        );
        collect(state, &binding, "", source, &mut rules, &mut errors);
    }
    if !namespace.is_empty() {
        for binding in objects(state, "rolebindings", Some(namespace)) {
            let Some(subject) = applies_to(&binding, user, namespace) else {
                continue;
            };
            let (kind, role_name) = role_ref(&binding);
            let source = format!(
                "RoleBinding {:?} of {kind} {role_name:?} to {}",
                format!("{}/{namespace}", meta::name(&binding)),
                describe_subject(subject, namespace)
            );
            collect(state, &binding, namespace, source, &mut rules, &mut errors);
        }
    }
    (rules, errors)
}

/// Decides a request as the RBAC authorizer, after the `system:masters` shortcut.
pub fn authorize(state: &State, user: &User, attributes: &Attributes) -> Decision {
    if user.is_master() {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let namespace = attributes
        .resource
        .as_ref()
        .map(|r| r.namespace.as_str())
        .unwrap_or("");
    let (rules, errors) = rules_for(state, user, namespace);
    if let Some(found) = rules.iter().find(|r| rule_allows(&r.rule, attributes)) {
        return Decision {
            allowed: true,
            reason: format!("RBAC: allowed by {}", found.source),
        };
    }
    let reason = match errors.as_slice() {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    };
    Decision {
        allowed: false,
        reason,
    }
}

/// The 403 kube-apiserver answers when no authorizer allows a request.
pub fn forbidden(user: &User, attributes: &Attributes, reason: &str) -> ApiError {
    let user = &user.name;
    let verb = &attributes.verb;
    let Some(r) = &attributes.resource else {
        let mut message = format!(
            "forbidden: User {user:?} cannot {verb} path {:?}",
            attributes.path
        );
        if !reason.is_empty() {
            message = format!("{message}: {reason}");
        }
        let mut error = ApiError::new(Reason::Forbidden, message);
        error.details = Some(json!({}));
        return error;
    };
    let resource = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    let scope = if r.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {:?}", r.namespace)
    };
    let mut cause = format!(
        "User {user:?} cannot {verb} resource {resource:?} in API group {:?} {scope}",
        r.group
    );
    if !reason.is_empty() {
        cause = format!("{cause}: {reason}");
    }
    let what = qualified(&r.group, &r.resource);
    let message = if r.name.is_empty() {
        format!("{what} is forbidden: {cause}")
    } else {
        format!("{what} {:?} is forbidden: {cause}", r.name)
    };
    let mut error = ApiError::new(Reason::Forbidden, message);
    let mut details = serde_json::Map::new();
    for (key, value) in [
        ("name", &r.name),
        ("group", &r.group),
        ("kind", &r.resource),
    ] {
        if !value.is_empty() {
            details.insert(key.into(), json!(value));
        }
    }
    error.details = Some(Value::Object(details));
    error
}

/// Whether one `PolicyRule` allows the request (`RuleAllows`).
pub fn rule_allows(rule: &Value, attributes: &Attributes) -> bool {
    let list = |key: &str| meta::strings(rule.get(key));
    let has = |key: &str, wanted: &str| list(key).iter().any(|v| *v == "*" || *v == wanted);
    if !has("verbs", &attributes.verb) {
        return false;
    }
    let Some(r) = &attributes.resource else {
        return list("nonResourceURLs").iter().any(|url| {
            *url == "*"
                || *url == attributes.path
                || url
                    .strip_suffix('*')
                    .is_some_and(|prefix| attributes.path.starts_with(prefix))
        });
    };
    let combined = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    let resource_matches = list("resources").iter().any(|res| {
        *res == "*"
            || *res == combined
            || (!r.subresource.is_empty() && res.strip_prefix("*/") == Some(r.subresource.as_str()))
    });
    let names = list("resourceNames");
    has("apiGroups", &r.group)
        && resource_matches
        && (names.is_empty() || names.iter().any(|n| *n == r.name))
}

fn objects(state: &State, plural: &str, namespace: Option<&str>) -> Vec<Value> {
    state
        .resolve(RBAC, "v1", plural)
        .map(|rt| {
            state
                .list(&rt.type_key(), namespace)
                .into_iter()
                .map(std::sync::Arc::unwrap_or_clone)
                .collect()
        })
        .unwrap_or_default()
}

fn role_ref(binding: &Value) -> (String, String) {
    let text = |k: &str| {
        binding
            .pointer(&format!("/roleRef/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (text("kind"), text("name"))
}

/// The subject of a binding that names the user (`appliesTo`), if any.
fn applies_to<'a>(binding: &'a Value, user: &User, namespace: &str) -> Option<&'a Value> {
    let subjects = binding.get("subjects").and_then(Value::as_array)?;
    subjects.iter().find(|subject| {
        let text = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or("");
        match text("kind") {
            "User" => text("name") == user.name,
            "Group" => user.groups.iter().any(|g| g == text("name")),
            "ServiceAccount" => {
                let ns = match text("namespace") {
                    "" => namespace,
                    ns => ns,
                };
                !ns.is_empty()
                    && user.name == format!("system:serviceaccount:{ns}:{}", text("name"))
            }
            _ => false,
        }
    })
}

fn describe_subject(subject: &Value, namespace: &str) -> String {
    let text = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or("");
    match text("kind") {
        "ServiceAccount" => {
            let ns = match text("namespace") {
                "" => namespace,
                ns => ns,
            };
            format!("ServiceAccount {:?}", format!("{}/{ns}", text("name")))
        }
        kind => format!("{kind} {:?}", text("name")),
    }
}

/// Adds the rules of the binding's role, or the error of a missing role.
fn collect(
    state: &State,
    binding: &Value,
    namespace: &str,
    source: String,
    rules: &mut Vec<SourcedRule>,
    errors: &mut Vec<String>,
) {
    let (kind, name) = role_ref(binding);
    let found = match kind.as_str() {
        "Role" if !namespace.is_empty() => objects(state, "roles", Some(namespace))
            .into_iter()
            .find(|r| meta::name(r) == name)
            .map(|role| role_rules(&role)),
        "ClusterRole" => cluster_role_rules(state, &name),
        _ => None,
    };
    match found {
        Some(found) => rules.extend(found.into_iter().map(|rule| SourcedRule {
            source: source.clone(),
            rule,
        })),
        None => errors.push(format!(
            "{}.{RBAC} {name:?} not found",
            kind.to_ascii_lowercase()
        )),
    }
}

fn role_rules(role: &Value) -> Vec<Value> {
    role.get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A ClusterRole's rules; an aggregated one's are those of the ClusterRoles it selects.
fn cluster_role_rules(state: &State, name: &str) -> Option<Vec<Value>> {
    let roles = objects(state, "clusterroles", None);
    let role = roles.iter().find(|r| meta::name(r) == name)?;
    let Some(selectors) = role
        .pointer("/aggregationRule/clusterRoleSelectors")
        .and_then(Value::as_array)
    else {
        return Some(role_rules(role));
    };
    let mut rules: Vec<Value> = Vec::new();
    for other in roles.iter().filter(|r| meta::name(r) != name) {
        if selectors.iter().any(|s| selector_matches(s, other)) {
            for rule in role_rules(other) {
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
    }
    Some(rules)
}

/// Whether a `metav1.LabelSelector` picks an object (an empty selector picks nothing here,
/// as aggregation ignores it).
fn selector_matches(selector: &Value, object: &Value) -> bool {
    let labels = meta::labels(object);
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    if match_labels.is_none_or(|m| m.is_empty()) && expressions.is_none_or(|e| e.is_empty()) {
        return false;
    }
    let labels_ok = match_labels.is_none_or(|m| {
        m.iter()
            .all(|(k, v)| get(k).is_some_and(|l| Some(l) == v.as_str()))
    });
    let expressions_ok = expressions.is_none_or(|list| {
        list.iter().all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values = meta::strings(e.get("values"));
            let value = get(key);
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
    });
    labels_ok && expressions_ok
}

#[cfg(test)]
mod tests;
