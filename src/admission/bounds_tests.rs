//! The work one object may cost: containers per pod are bounded, at admission and offline.

use serde_json::{Value, json};

use super::*;
use crate::facts::facts_from_json;
use crate::policy::{DevOpsPolicySpec, NamespaceExclusions};

fn pod_with(containers: usize) -> Value {
    let list: Vec<Value> = (0..containers)
        .map(|i| json!({"name": format!("c{i}"), "image": "nginx:1.27"}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "wide", "namespace": "shop"},
           "spec": {"containers": list}})
}

fn review_of(object: &Value) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "namespace": "shop", "name": "wide", "operation": "CREATE",
                    "object": object}
    })
    .to_string()
    .into_bytes()
}

fn judge(object: &Value) -> Verdict {
    let spec = DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        ..DevOpsPolicySpec::default()
    };
    let snapshot =
        PolicySnapshot::from_policies([("shop", "p", &spec)], NamespaceExclusions::default());
    let body = review_of(object);
    let request = parse_review(&body).unwrap();
    review(&request, &snapshot, "2026-06-01T00:00:00Z".parse().unwrap()).unwrap()
}

#[test]
fn a_pod_with_more_containers_than_are_judged_is_denied_not_let_through() {
    let verdict = judge(&pod_with(MAX_CONTAINERS_PER_POD + 1));
    assert!(!verdict.response.allowed);
    let message = &verdict.response.status.as_ref().unwrap().message;
    assert!(message.contains("1001 containers"), "{message}");
    assert!(message.contains("more than the 1000"), "{message}");
}

#[test]
fn a_pod_at_the_bound_is_judged() {
    let verdict = judge(&pod_with(MAX_CONTAINERS_PER_POD));
    assert!(verdict.response.allowed);
    assert_eq!(verdict.judgement, Judgement::Judged);
}

#[test]
fn offline_a_pod_over_the_bound_is_an_error_before_it_is_decoded() {
    let error = facts_from_json(pod_with(MAX_CONTAINERS_PER_POD + 1)).unwrap_err();
    assert!(
        matches!(error, FactsError::TooManyContainers { count: 1001, .. }),
        "{error}"
    );
}
