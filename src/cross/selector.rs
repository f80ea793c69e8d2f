//! Label selectors, matched as the API server matches them.
//!
//! In: a `LabelSelector` (`matchLabels` and `matchExpressions`) or a Service's plain
//! selector map, and a pod's labels. Out: whether the selector selects the pod. A selector
//! with no requirements selects every pod; the one-line forms used in documents and
//! messages come from [`Selector::describe`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` and `NotIn`.
    pub values: Vec<String>,
}

/// A label selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// `matchLabels`: each key must have exactly this value.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    pub expressions: Vec<Requirement>,
}

impl Selector {
    /// Reads a `LabelSelector`.
    pub fn from_label_selector(s: &LabelSelector) -> Self {
        Selector {
            match_labels: s.match_labels.clone().unwrap_or_default(),
            expressions: s
                .match_expressions
                .iter()
                .flatten()
                .map(|e| Requirement {
                    key: e.key.clone(),
                    operator: e.operator.clone(),
                    values: e.values.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// A selector of plain `key: value` pairs, as a Service writes it.
    pub fn from_map(map: BTreeMap<String, String>) -> Self {
        Selector {
            match_labels: map,
            expressions: Vec::new(),
        }
    }

    /// No requirement at all: selects every pod.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.expressions.is_empty()
    }

    /// Whether the selector selects a pod with these labels. An unknown operator selects
    /// nothing (the API server refuses one, so it is never seen from a cluster).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }

    /// The selector as `kubectl get -l` writes it (`app=web,tier in (a,b)`), or `{}`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.expressions {
            parts.push(match r.operator.as_str() {
                "Exists" => r.key.clone(),
                "DoesNotExist" => format!("!{}", r.key),
                op => format!(
                    "{} {} ({})",
                    r.key,
                    op.to_ascii_lowercase(),
                    r.values.join(",")
                ),
            });
        }
        if parts.is_empty() {
            "{}".to_owned()
        } else {
            parts.join(",")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator: operator.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn match_labels_need_every_pair() {
        let s = Selector::from_map(labels(&[("app", "web"), ("tier", "front")]));
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "back")])));
    }

    #[test]
    fn expressions_follow_the_api_semantics() {
        let pod = labels(&[("app", "web"), ("env", "prod")]);
        let cases = [
            (expression("env", "In", &["prod", "stage"]), true),
            (expression("env", "In", &["dev"]), false),
            (expression("env", "NotIn", &["dev"]), true),
            (expression("missing", "NotIn", &["dev"]), true),
            (expression("env", "NotIn", &["prod"]), false),
            (expression("app", "Exists", &[]), true),
            (expression("missing", "Exists", &[]), false),
            (expression("missing", "DoesNotExist", &[]), true),
            (expression("app", "DoesNotExist", &[]), false),
            (expression("app", "Matches", &["web"]), false),
        ];
        for (req, want) in cases {
            let s = Selector {
                match_labels: BTreeMap::new(),
                expressions: vec![req.clone()],
            };
            assert_eq!(s.matches(&pod), want, "{req:?}");
        }
    }

    #[test]
    fn an_empty_selector_selects_everything_and_describes_itself() {
        let s = Selector::default();
        assert!(s.is_empty());
        assert!(s.matches(&BTreeMap::new()));
        assert_eq!(s.describe(), "{}");
        let s = Selector {
            match_labels: labels(&[("app", "web")]),
            expressions: vec![
                expression("env", "In", &["a", "b"]),
                expression("x", "DoesNotExist", &[]),
            ],
        };
        assert_eq!(s.describe(), "app=web,env in (a,b),!x");
    }
}
