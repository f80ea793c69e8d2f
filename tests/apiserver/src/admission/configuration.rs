//! ValidatingWebhookConfiguration objects on their way into the store: the defaults the
//! real server fills in (`failurePolicy: Fail`, `matchPolicy: Equivalent`, empty
//! selectors, `timeoutSeconds: 10`, rule `scope: "*"`, service port 443) and the
//! `admissionregistration.k8s.io/v1` validation, reported as 422 Invalid with one cause
//! per field path (`webhooks[0].sideEffects`, ...).

use serde_json::{Map, Value, json};

use super::rules::{DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS};
use crate::meta::{self, strings};
use crate::resources::TypeKey;
use crate::status::{ApiError, ApiResult, FieldCause};

const GROUP: &str = "admissionregistration.k8s.io";
const KIND: &str = "ValidatingWebhookConfiguration";

/// Where ValidatingWebhookConfigurations are stored.
pub fn type_key() -> TypeKey {
    TypeKey::new(GROUP, "validatingwebhookconfigurations")
}

/// Whether admission skips a resource: webhooks never see webhook configurations, so a
/// broken webhook cannot lock itself in.
pub fn is_exempt(group: &str, resource: &str) -> bool {
    group == GROUP
        && matches!(
            resource,
            "validatingwebhookconfigurations" | "mutatingwebhookconfigurations"
        )
}

/// Fills in defaults, then validates; 422 naming every bad field.
pub fn default_and_validate(object: &mut Value) -> ApiResult<()> {
    if let Some(Value::Array(webhooks)) = object.get_mut("webhooks") {
        webhooks
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(default_webhook);
    }
    let causes = validate(object);
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(KIND, GROUP, meta::name(object), &causes))
    }
}

fn default_webhook(webhook: &mut Map<String, Value>) {
    webhook
        .entry("failurePolicy")
        .or_insert_with(|| json!("Fail"));
    webhook
        .entry("matchPolicy")
        .or_insert_with(|| json!("Equivalent"));
    webhook
        .entry("namespaceSelector")
        .or_insert_with(|| json!({}));
    webhook.entry("objectSelector").or_insert_with(|| json!({}));
    webhook
        .entry("timeoutSeconds")
        .or_insert_with(|| json!(DEFAULT_TIMEOUT_SECONDS));
    if let Some(Value::Array(rules)) = webhook.get_mut("rules") {
        for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
            rule.entry("scope").or_insert_with(|| json!("*"));
        }
    }
    if let Some(Value::Object(service)) = webhook
        .get_mut("clientConfig")
        .and_then(|c| c.get_mut("service"))
    {
        service.entry("port").or_insert_with(|| json!(443));
    }
}

fn required(field: String, detail: &str) -> FieldCause {
    let message = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    FieldCause::new("FieldValueRequired", field, message)
}

fn invalid(field: String, value: &Value, detail: &str) -> FieldCause {
    FieldCause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: {value}: {detail}"),
    )
}

fn unsupported(field: String, value: &Value, supported: &[&str]) -> FieldCause {
    let supported: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    FieldCause::new(
        "FieldValueNotSupported",
        field,
        format!(
            "Unsupported value: {value}: supported values: {}",
            supported.join(", ")
        ),
    )
}

fn one_of(causes: &mut Vec<FieldCause>, field: String, value: Option<&Value>, allowed: &[&str]) {
    if let Some(value) = value
        && !value.as_str().is_some_and(|v| allowed.contains(&v))
    {
        causes.push(unsupported(field, value, allowed));
    }
}

fn validate(object: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    let webhooks = match object.get("webhooks") {
        None | Some(Value::Null) => return causes,
        Some(Value::Array(webhooks)) => webhooks,
        Some(other) => {
            causes.push(invalid("webhooks".into(), other, "must be a list"));
            return causes;
        }
    };
    let mut names = Vec::new();
    for (i, webhook) in webhooks.iter().enumerate() {
        let path = |field: &str| format!("webhooks[{i}].{field}");
        let name = webhook.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            causes.push(required(path("name"), ""));
        } else if name.split('.').filter(|s| !s.is_empty()).count() < 3 {
            causes.push(invalid(
                path("name"),
                &json!(name),
                "should be a domain with at least three segments separated by dots",
            ));
        } else if names.contains(&name) {
            causes.push(FieldCause::new(
                "FieldValueDuplicate",
                path("name"),
                format!("Duplicate value: {name:?}"),
            ));
        }
        names.push(name);
        validate_client(
            &mut causes,
            webhook.get("clientConfig"),
            &path("clientConfig"),
        );
        validate_rules(&mut causes, webhook.get("rules"), &path("rules"));
        one_of(
            &mut causes,
            path("failurePolicy"),
            webhook.get("failurePolicy"),
            &["Fail", "Ignore"],
        );
        one_of(
            &mut causes,
            path("matchPolicy"),
            webhook.get("matchPolicy"),
            &["Equivalent", "Exact"],
        );
        match webhook.get("sideEffects") {
            None | Some(Value::Null) => causes.push(required(
                path("sideEffects"),
                "must specify one of None, NoneOnDryRun",
            )),
            value => one_of(
                &mut causes,
                path("sideEffects"),
                value,
                &["None", "NoneOnDryRun"],
            ),
        }
        if let Some(timeout) = webhook.get("timeoutSeconds")
            && !timeout
                .as_u64()
                .is_some_and(|t| (1..=MAX_TIMEOUT_SECONDS).contains(&t))
        {
            causes.push(invalid(
                path("timeoutSeconds"),
                timeout,
                "the timeout value must be between 1 and 30 seconds",
            ));
        }
        let versions = strings(webhook.get("admissionReviewVersions"));
        if versions.is_empty() {
            causes.push(required(
                path("admissionReviewVersions"),
                "must specify one of v1, v1beta1",
            ));
        } else if !versions.contains(&"v1") {
            causes.push(invalid(
                path("admissionReviewVersions"),
                &json!(versions),
                "must include v1 (this test server sends admission.k8s.io/v1 reviews only)",
            ));
        }
        for selector in ["namespaceSelector", "objectSelector"] {
            validate_selector(&mut causes, webhook.get(selector), &path(selector));
        }
        if webhook
            .get("matchConditions")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty())
        {
            causes.push(FieldCause::new(
                "FieldValueForbidden",
                path("matchConditions"),
                "Forbidden: matchConditions (CEL) are not supported by this test server",
            ));
        }
    }
    causes
}

fn validate_client(causes: &mut Vec<FieldCause>, client: Option<&Value>, path: &str) {
    let url = client.and_then(|c| c.get("url")).filter(|u| !u.is_null());
    let service = client
        .and_then(|c| c.get("service"))
        .filter(|s| !s.is_null());
    match (url, service) {
        (Some(url), None) => {
            let field = format!("{path}.url");
            let text = url.as_str().unwrap_or("");
            match text.parse::<hyper::Uri>() {
                Err(e) => causes.push(invalid(field, url, &format!("must be a valid URL: {e}"))),
                Ok(uri) if uri.scheme_str() != Some("https") => causes.push(invalid(
                    field,
                    url,
                    "'https' is the only allowed URL scheme",
                )),
                Ok(uri) if uri.host().is_none_or(str::is_empty) => {
                    causes.push(invalid(field, url, "host must be specified"));
                }
                Ok(_) if text.contains('#') => {
                    causes.push(invalid(field, url, "fragments are not permitted"));
                }
                Ok(_) => {}
            }
        }
        (None, Some(service)) => {
            let text = |f: &str| service.get(f).and_then(Value::as_str).unwrap_or("");
            if text("name").is_empty() {
                causes.push(required(
                    format!("{path}.service.name"),
                    "service name is required",
                ));
            }
            if text("namespace").is_empty() {
                causes.push(required(
                    format!("{path}.service.namespace"),
                    "service namespace is required",
                ));
            }
            if let Some(port) = service.get("port")
                && !port.as_u64().is_some_and(|p| (1..=65535).contains(&p))
            {
                causes.push(invalid(
                    format!("{path}.service.port"),
                    port,
                    "port is not valid: must be between 1 and 65535, inclusive",
                ));
            }
            let service_path = text("path");
            if !service_path.is_empty() && !service_path.starts_with('/') {
                causes.push(invalid(
                    format!("{path}.service.path"),
                    &json!(service_path),
                    "must start with a '/'",
                ));
            }
        }
        _ => causes.push(required(
            path.to_string(),
            "exactly one of url or service is required",
        )),
    }
}

fn validate_rules(causes: &mut Vec<FieldCause>, rules: Option<&Value>, path: &str) {
    let rules = rules
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (j, rule) in rules.iter().enumerate() {
        let field = |f: &str| format!("{path}[{j}].{f}");
        let operations = strings(rule.get("operations"));
        if operations.is_empty() {
            causes.push(required(field("operations"), ""));
        }
        for operation in &operations {
            if !["*", "CONNECT", "CREATE", "DELETE", "UPDATE"].contains(operation) {
                causes.push(unsupported(
                    field("operations"),
                    &json!(operation),
                    &["*", "CONNECT", "CREATE", "DELETE", "UPDATE"],
                ));
            }
        }
        if operations.len() > 1 && operations.contains(&"*") {
            causes.push(invalid(
                field("operations"),
                &json!(operations),
                "if '*' is present, must not specify other operations",
            ));
        }
        for list in ["apiGroups", "apiVersions", "resources"] {
            if strings(rule.get(list)).is_empty() {
                causes.push(required(field(list), ""));
            }
        }
        one_of(
            causes,
            field("scope"),
            rule.get("scope"),
            &["*", "Cluster", "Namespaced"],
        );
    }
}

fn validate_selector(causes: &mut Vec<FieldCause>, selector: Option<&Value>, path: &str) {
    let expressions = selector
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (k, expression) in expressions.iter().enumerate() {
        let field = |f: &str| format!("{path}.matchExpressions[{k}].{f}");
        let has_values = !strings(expression.get("values")).is_empty();
        match expression.get("operator").and_then(Value::as_str) {
            Some("In" | "NotIn") if !has_values => causes.push(required(
                field("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            Some("Exists" | "DoesNotExist") if has_values => causes.push(FieldCause::new(
                "FieldValueForbidden",
                field("values"),
                "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            Some("In" | "NotIn" | "Exists" | "DoesNotExist") => {}
            _ => causes.push(invalid(
                field("operator"),
                expression.get("operator").unwrap_or(&Value::Null),
                "not a valid selector operator",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(overrides: Value) -> Value {
        let mut webhook = json!({
            "name": "images.policy.example",
            "clientConfig": {"url": "https://127.0.0.1:8443/validate", "caBundle": ""},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        });
        if let (Some(map), Some(extra)) = (webhook.as_object_mut(), overrides.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    map.remove(k);
                } else {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
        json!({"metadata": {"name": "c"}, "webhooks": [webhook]})
    }

    fn fields(object: Value) -> Vec<String> {
        let mut object = object;
        match default_and_validate(&mut object) {
            Ok(()) => Vec::new(),
            Err(error) => error
                .details
                .and_then(|d| d.get("causes").cloned())
                .and_then(|c| c.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|c| c["field"].as_str().unwrap_or("").to_string())
                .collect(),
        }
    }

    #[test]
    fn a_complete_webhook_is_valid_and_gets_defaults() {
        let mut object = webhook(json!({}));
        assert_eq!(default_and_validate(&mut object), Ok(()));
        assert_eq!(object["webhooks"][0]["failurePolicy"], "Fail");
        assert_eq!(object["webhooks"][0]["timeoutSeconds"], 10);
        assert_eq!(object["webhooks"][0]["rules"][0]["scope"], "*");
    }

    #[test]
    fn invalid_webhooks_name_the_field() {
        let both =
            json!({"url": "https://127.0.0.1/x", "service": {"namespace": "n", "name": "s"}});
        let cases = [
            (json!({"name": null}), "webhooks[0].name"),
            (json!({"name": "short.name"}), "webhooks[0].name"),
            (json!({"clientConfig": both}), "webhooks[0].clientConfig"),
            (json!({"clientConfig": {}}), "webhooks[0].clientConfig"),
            (
                json!({"clientConfig": {"url": "http://127.0.0.1/x"}}),
                "webhooks[0].clientConfig.url",
            ),
            (json!({"sideEffects": null}), "webhooks[0].sideEffects"),
            (json!({"sideEffects": "Some"}), "webhooks[0].sideEffects"),
            (json!({"timeoutSeconds": 31}), "webhooks[0].timeoutSeconds"),
            (json!({"timeoutSeconds": 0}), "webhooks[0].timeoutSeconds"),
            (
                json!({"admissionReviewVersions": null}),
                "webhooks[0].admissionReviewVersions",
            ),
            (
                json!({"admissionReviewVersions": ["v1beta1"]}),
                "webhooks[0].admissionReviewVersions",
            ),
            (
                json!({"failurePolicy": "Sometimes"}),
                "webhooks[0].failurePolicy",
            ),
            (
                json!({"rules": [{"operations": ["MOVE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}),
                "webhooks[0].rules[0].operations",
            ),
            (
                json!({"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}),
                "webhooks[0].namespaceSelector.matchExpressions[0].operator",
            ),
            (
                json!({"matchConditions": [{"name": "x", "expression": "true"}]}),
                "webhooks[0].matchConditions",
            ),
        ];
        for (overrides, field) in cases {
            let found = fields(webhook(overrides.clone()));
            assert!(found.iter().any(|f| f == field), "{overrides}: {found:?}");
        }
    }
}
