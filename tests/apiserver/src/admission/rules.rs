//! Which validating webhooks a request reaches, decided as kube-apiserver decides it:
//! every webhook of every stored ValidatingWebhookConfiguration (configurations ordered
//! by name) whose rules match the operation, group, version, resource / subresource and
//! scope, whose `namespaceSelector` matches the labels of the namespace (or of the
//! namespace object itself) and whose `objectSelector` matches the new or the old object.
//! Pure: it reads JSON and answers parsed [`Hook`]s.

use std::time::Duration;

use serde_json::{Map, Value};

use super::Attributes;

/// Default `timeoutSeconds` of a v1 webhook.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
/// Largest `timeoutSeconds` a webhook may ask for.
pub const MAX_TIMEOUT_SECONDS: u64 = 30;

/// Where a webhook is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `clientConfig.url`.
    Url(String),
    /// `clientConfig.service`.
    Service {
        /// Service namespace.
        namespace: String,
        /// Service name.
        name: String,
        /// Service port (default 443).
        port: u16,
        /// Request path (default `/`).
        path: String,
    },
}

/// One webhook that a request must be sent to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// The webhook's `name`, as denials quote it.
    pub name: String,
    /// Where to send the review.
    pub destination: Option<Destination>,
    /// `clientConfig.caBundle`, base64 of PEM certificates.
    pub ca_bundle: String,
    /// `timeoutSeconds`, clamped to 1..=30.
    pub timeout: Duration,
    /// `failurePolicy: Ignore`.
    pub ignore_failures: bool,
    /// `sideEffects`.
    pub side_effects: String,
    /// Why the `clientConfig.service` cannot be routed to (no such Service or port), as
    /// the cluster IP service resolver reports it.
    pub route_error: Option<String>,
}

impl Hook {
    fn parse(webhook: &Value) -> Hook {
        let text = |p: &str| webhook.pointer(p).and_then(Value::as_str).unwrap_or("");
        let destination = if let Some(url) = webhook.pointer("/clientConfig/url") {
            Some(Destination::Url(url.as_str().unwrap_or("").to_string()))
        } else if let Some(service) = webhook.pointer("/clientConfig/service") {
            let field = |f: &str| service.get(f).and_then(Value::as_str).unwrap_or("");
            Some(Destination::Service {
                namespace: field("namespace").to_string(),
                name: field("name").to_string(),
                port: service
                    .get("port")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(443),
                path: match field("path") {
                    "" => "/".to_string(),
                    path => path.to_string(),
                },
            })
        } else {
            None
        };
        let seconds = webhook
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
            .clamp(1, MAX_TIMEOUT_SECONDS);
        Hook {
            name: text("/name").to_string(),
            destination,
            ca_bundle: text("/clientConfig/caBundle").to_string(),
            timeout: Duration::from_secs(seconds),
            ignore_failures: text("/failurePolicy") == "Ignore",
            side_effects: text("/sideEffects").to_string(),
            route_error: None,
        }
    }
}

/// The webhooks of `configurations` that `attributes` reach, in configuration-name order.
pub fn matching(configurations: &[&Value], attributes: &Attributes) -> Vec<Hook> {
    let mut ordered: Vec<&Value> = configurations.to_vec();
    ordered.sort_by(|a, b| crate::meta::name(a).cmp(crate::meta::name(b)));
    ordered
        .into_iter()
        .filter_map(|c| c.get("webhooks").and_then(Value::as_array))
        .flatten()
        .filter(|webhook| reaches(webhook, attributes))
        .map(Hook::parse)
        .collect()
}

fn reaches(webhook: &Value, attributes: &Attributes) -> bool {
    let rules = webhook
        .get("rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    rules.iter().any(|rule| rule_matches(rule, attributes))
        && namespace_matches(webhook.get("namespaceSelector"), attributes)
        && object_matches(webhook.get("objectSelector"), attributes)
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn listed(list: &[&str], wanted: &str) -> bool {
    list.iter().any(|item| *item == "*" || *item == wanted)
}

/// One RuleWithOperations against the request.
pub fn rule_matches(rule: &Value, attributes: &Attributes) -> bool {
    let resources_match = strings(rule.get("resources")).iter().any(|entry| {
        let (resource, sub) = entry.split_once('/').unwrap_or((entry, ""));
        (resource == "*" || resource == attributes.resource)
            && (sub == "*" || sub == attributes.subresource)
    });
    let is_namespace = attributes.group.is_empty() && attributes.resource == "namespaces";
    let scope_matches = match rule.get("scope").and_then(Value::as_str) {
        None | Some("*") => true,
        Some("Namespaced") => !is_namespace && !attributes.namespace.is_empty(),
        Some("Cluster") => is_namespace || attributes.namespace.is_empty(),
        Some(_) => false,
    };
    listed(
        &strings(rule.get("operations")),
        attributes.operation.as_str(),
    ) && listed(&strings(rule.get("apiGroups")), &attributes.group)
        && listed(&strings(rule.get("apiVersions")), &attributes.version)
        && resources_match
        && scope_matches
}

fn namespace_matches(selector: Option<&Value>, attributes: &Attributes) -> bool {
    match &attributes.namespace_labels {
        // A cluster-scoped object other than a namespace is never exempted.
        None => true,
        Some(labels) => selector_matches(selector, labels),
    }
}

fn object_matches(selector: Option<&Value>, attributes: &Attributes) -> bool {
    if selector.is_none_or(is_empty_selector) {
        return true;
    }
    [&attributes.object, &attributes.old_object]
        .into_iter()
        .flatten()
        .any(|object| selector_matches(selector, &labels_of(object)))
}

/// The labels of an object (empty when it has none).
pub fn labels_of(object: &Value) -> Map<String, Value> {
    crate::meta::labels(object).cloned().unwrap_or_default()
}

fn is_empty_selector(selector: &Value) -> bool {
    let empty = |field: &str| match selector.get(field) {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    empty("matchLabels") && empty("matchExpressions")
}

/// A `metav1.LabelSelector` against labels: `matchLabels` and every `matchExpressions`
/// entry (`In`, `NotIn`, `Exists`, `DoesNotExist`). An absent or empty selector matches.
pub fn selector_matches(selector: Option<&Value>, labels: &Map<String, Value>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    let labels_match = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|wanted| {
            wanted
                .iter()
                .all(|(k, v)| v.as_str().is_some_and(|v| label(k) == Some(v)))
        });
    let expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    labels_match
        && expressions.iter().all(|expression| {
            let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
            let values = strings(expression.get("values"));
            match expression.get("operator").and_then(Value::as_str) {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::planned::Operation;

    fn pod_create(namespace_labels: Value) -> Attributes {
        Attributes {
            operation: Operation::Create,
            group: String::new(),
            version: "v1".into(),
            resource: "pods".into(),
            subresource: String::new(),
            kind: json!({"group": "", "version": "v1", "kind": "Pod"}),
            name: "p".into(),
            namespace: "team".into(),
            object: Some(json!({"metadata": {"name": "p", "labels": {"app": "web"}}})),
            old_object: None,
            namespace_labels: namespace_labels.as_object().cloned(),
            dry_run: false,
            options: json!({}),
            user_info: json!({}),
        }
    }

    fn rule(operations: Value, resources: Value, scope: Option<&str>) -> Value {
        let mut rule = json!({"apiGroups": [""], "apiVersions": ["v1"],
                              "operations": operations, "resources": resources});
        if let (Some(scope), Some(map)) = (scope, rule.as_object_mut()) {
            map.insert("scope".into(), json!(scope));
        }
        rule
    }

    #[test]
    fn rules_match_like_the_admission_rule_matcher() {
        let create = pod_create(json!({}));
        let mut status = pod_create(json!({}));
        status.operation = Operation::Update;
        status.subresource = "status".into();
        let cases = [
            (
                rule(json!(["CREATE"]), json!(["pods"]), None),
                &create,
                true,
            ),
            (rule(json!(["*"]), json!(["*"]), None), &create, true),
            (
                rule(json!(["UPDATE"]), json!(["pods"]), None),
                &create,
                false,
            ),
            (
                rule(json!(["CREATE"]), json!(["deployments"]), None),
                &create,
                false,
            ),
            (
                rule(json!(["CREATE"]), json!(["pods"]), Some("Cluster")),
                &create,
                false,
            ),
            (
                rule(json!(["CREATE"]), json!(["pods"]), Some("Namespaced")),
                &create,
                true,
            ),
            (
                rule(json!(["UPDATE"]), json!(["pods"]), None),
                &status,
                false,
            ),
            (
                rule(json!(["UPDATE"]), json!(["pods/status"]), None),
                &status,
                true,
            ),
            (rule(json!(["UPDATE"]), json!(["*/*"]), None), &status, true),
            (
                rule(json!(["UPDATE"]), json!(["pods/*"]), None),
                &status,
                true,
            ),
            (rule(json!(["UPDATE"]), json!(["*"]), None), &status, false),
        ];
        for (rule, attributes, expected) in cases {
            assert_eq!(rule_matches(&rule, attributes), expected, "{rule}");
        }
    }

    #[test]
    fn selectors_follow_label_selector_semantics() {
        let labels = json!({"env": "prod", "team": "a"});
        let labels = labels.as_object().cloned().unwrap_or_default();
        let cases = [
            (json!({}), true),
            (json!({"matchLabels": {"env": "prod"}}), true),
            (json!({"matchLabels": {"env": "dev"}}), false),
            (
                json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["prod"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "team", "operator": "Exists"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}),
                false,
            ),
        ];
        for (selector, expected) in cases {
            assert_eq!(
                selector_matches(Some(&selector), &labels),
                expected,
                "{selector}"
            );
        }
    }

    #[test]
    fn a_namespace_selector_excludes_other_namespaces_but_not_cluster_objects() {
        let configuration = json!({"metadata": {"name": "c"}, "webhooks": [{
            "name": "a.b.c",
            "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"]}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "checked"}},
        }]});
        let elsewhere = pod_create(json!({"kubernetes.io/metadata.name": "team"}));
        let checked = pod_create(json!({"kubernetes.io/metadata.name": "checked"}));
        let mut node = pod_create(json!({}));
        node.resource = "nodes".into();
        node.namespace = String::new();
        node.namespace_labels = None;
        assert!(matching(&[&configuration], &elsewhere).is_empty());
        assert_eq!(matching(&[&configuration], &checked).len(), 1);
        assert_eq!(matching(&[&configuration], &node).len(), 1);
    }

    #[test]
    fn an_object_selector_matches_the_new_or_the_old_object() {
        let configuration = json!({"metadata": {"name": "c"}, "webhooks": [{
            "name": "a.b.c",
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["*"], "resources": ["pods"]}],
            "objectSelector": {"matchLabels": {"app": "db"}},
        }]});
        let mut attributes = pod_create(json!({}));
        assert!(matching(&[&configuration], &attributes).is_empty());
        attributes.old_object = Some(json!({"metadata": {"labels": {"app": "db"}}}));
        assert_eq!(matching(&[&configuration], &attributes).len(), 1);
    }

    #[test]
    fn hooks_carry_defaults_and_clamp_the_timeout() {
        let hook = Hook::parse(&json!({"name": "a.b.c", "timeoutSeconds": 99,
            "clientConfig": {"service": {"namespace": "n", "name": "s"}}}));
        assert_eq!(hook.timeout, Duration::from_secs(30));
        assert!(!hook.ignore_failures);
        assert_eq!(
            hook.destination,
            Some(Destination::Service {
                namespace: "n".into(),
                name: "s".into(),
                port: 443,
                path: "/".into()
            })
        );
    }
}
