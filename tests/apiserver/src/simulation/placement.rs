//! Where a pod may run, as the scheduler's and the DaemonSet controller's filters decide:
//! in, a pod spec and a Node; out, whether the node is schedulable, carries every label
//! of the pod's `nodeSelector`, satisfies one of its required node affinity terms
//! (`matchExpressions` on labels, `matchFields` on `metadata.name`), and has no
//! `NoSchedule` / `NoExecute` taint the pod does not tolerate.

use serde_json::Value;

use crate::meta;

/// Whether the pod may be placed on the node; `daemon` adds the tolerations the
/// DaemonSet controller gives its pods.
pub fn fits(spec: &Value, node: &Value, daemon: bool) -> bool {
    let unschedulable = node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true);
    (!unschedulable || daemon)
        && selector_matches(spec, node)
        && affinity_matches(spec, node)
        && tolerated(spec, node, daemon)
}

fn label<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    meta::labels(node)
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

fn selector_matches(spec: &Value, node: &Value) -> bool {
    spec.get("nodeSelector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| label(node, k) == v.as_str())
}

fn affinity_matches(spec: &Value, node: &Value) -> bool {
    let terms = spec
        .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array);
    let Some(terms) = terms else {
        return true;
    };
    terms.iter().any(|term| {
        let expressions = term.get("matchExpressions").and_then(Value::as_array);
        let fields = term.get("matchFields").and_then(Value::as_array);
        if expressions.is_none_or(Vec::is_empty) && fields.is_none_or(Vec::is_empty) {
            return false;
        }
        expressions
            .into_iter()
            .flatten()
            .all(|e| requirement(e, label(node, e["key"].as_str().unwrap_or(""))))
            && fields.into_iter().flatten().all(|e| {
                let value = (e["key"] == "metadata.name").then(|| meta::name(node));
                requirement(e, value)
            })
    })
}

fn requirement(expression: &Value, value: Option<&str>) -> bool {
    let values = meta::strings(expression.get("values"));
    let number = |v: Option<&str>| v.and_then(|v| v.parse::<i64>().ok());
    let bound = number(values.first().copied());
    match expression.get("operator").and_then(Value::as_str) {
        Some("In") => value.is_some_and(|v| values.contains(&v)),
        Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
        Some("Exists") => value.is_some(),
        Some("DoesNotExist") => value.is_none(),
        Some("Gt") => number(value).zip(bound).is_some_and(|(v, b)| v > b),
        Some("Lt") => number(value).zip(bound).is_some_and(|(v, b)| v < b),
        _ => false,
    }
}

fn tolerated(spec: &Value, node: &Value, daemon: bool) -> bool {
    let tolerations: Vec<&Value> = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| matches!(t["effect"].as_str(), Some("NoSchedule" | "NoExecute")))
        .all(|taint| {
            let key = taint["key"].as_str().unwrap_or("");
            (daemon && key.starts_with("node.kubernetes.io/"))
                || tolerations.iter().any(|t| tolerates(t, taint))
        })
}

fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let effect_ok = toleration["effect"]
        .as_str()
        .is_none_or(|e| e.is_empty() || Some(e) == taint["effect"].as_str());
    let key = toleration["key"].as_str().unwrap_or("");
    let key_ok = key.is_empty() || Some(key) == taint["key"].as_str();
    let value_ok = match toleration["operator"].as_str().unwrap_or("Equal") {
        "Exists" => true,
        _ => toleration["value"].as_str().unwrap_or("") == taint["value"].as_str().unwrap_or(""),
    };
    effect_ok && key_ok && value_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: Value, taints: Value) -> Value {
        json!({"metadata": {"name": "n1", "labels": labels}, "spec": {"taints": taints}})
    }

    #[test]
    fn selectors_affinity_and_taints_decide_where_a_pod_fits() {
        let gpu = node(json!({"gpu": "yes", "zone": "a"}), json!([]));
        let tainted = node(
            json!({"zone": "a"}),
            json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
        );
        let affinity = |op: &str, values: Value| {
            json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": op, "values": values}]}]}}}})
        };
        let cases = [
            ("no constraints", json!({}), &gpu, true),
            (
                "a matching selector",
                json!({"nodeSelector": {"gpu": "yes"}}),
                &gpu,
                true,
            ),
            (
                "a selector the node lacks",
                json!({"nodeSelector": {"gpu": "no"}}),
                &gpu,
                false,
            ),
            ("affinity In", affinity("In", json!(["a", "b"])), &gpu, true),
            (
                "affinity NotIn",
                affinity("NotIn", json!(["a"])),
                &gpu,
                false,
            ),
            ("an untolerated taint", json!({}), &tainted, false),
            (
                "a tolerated taint",
                json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]}),
                &tainted,
                true,
            ),
            (
                "a toleration of everything",
                json!({"tolerations": [{"operator": "Exists"}]}),
                &tainted,
                true,
            ),
        ];
        for (case, spec, node, expected) in cases {
            assert_eq!(fits(&spec, node, false), expected, "{case}");
        }
    }
}
