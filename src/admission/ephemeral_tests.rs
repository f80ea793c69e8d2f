//! Admission of `kubectl debug`: an UPDATE of a Pod's `ephemeralcontainers` subresource
//! judges the ephemeral containers it adds, and only them.

use serde_json::{Value, json};

use super::*;
use crate::checks::{CheckId, Severity};
use crate::policy::crd::CheckSettings;
use crate::policy::{DevOpsPolicySpec, NamespaceExclusions};
use crate::testing::{ObjectBuilder, pod};

const NS: &str = "shop";

fn snapshot(ids: &[CheckId]) -> PolicySnapshot {
    let spec = DevOpsPolicySpec {
        checks: Some(
            ids.iter()
                .map(|id| (id.as_str().to_owned(), CheckSettings::default()))
                .collect(),
        ),
        ..DevOpsPolicySpec::default()
    };
    PolicySnapshot::from_policies([(NS, "p", &spec)], NamespaceExclusions::default())
}

fn review_body(sub: Option<&str>, op: &str, kind: &str, new: &Value, old: &Value) -> String {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "e7d1b7a0-1", "operation": op, "namespace": NS, "name": "web",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "subResource": sub,
            "requestKind": {"group": "", "version": "v1", "kind": kind},
            "userInfo": {"username": "alice"},
            "object": new, "oldObject": old
        }
    })
    .to_string()
}

fn judge(body: String, snap: &PolicySnapshot) -> Verdict {
    let now = "2026-06-01T00:00:00Z".parse().unwrap();
    review(&parse_review(body.as_bytes()).unwrap(), snap, now).unwrap()
}

/// A running pod that already misses its readiness probe.
fn running() -> ObjectBuilder {
    pod("web").ns(NS).without_readiness()
}

/// What `kubectl debug --profile=sysadmin` adds.
fn sysadmin_debugger() -> Value {
    json!({"name": "debugger-x7k2p", "image": "busybox:latest", "targetContainerName": "app",
           "securityContext": {"privileged": true, "runAsUser": 0}})
}

#[test]
fn a_privileged_debug_container_is_denied() {
    let snap = snapshot(&[
        CheckId::RunAsPrivileged,
        CheckId::RunAsRootAllowed,
        CheckId::LatestTag,
        CheckId::MissingReadinessProbe,
    ]);
    let old = running().build();
    let new = running().ephemeral(sysadmin_debugger()).build();
    let v = judge(
        review_body(Some(EPHEMERAL_CONTAINERS), "UPDATE", "Pod", &new, &old),
        &snap,
    );
    assert!(!v.response.allowed);
    assert_eq!(v.judgement, Judgement::Judged);
    assert_eq!(
        v.denied_by,
        [
            CheckId::LatestTag,
            CheckId::RunAsRootAllowed,
            CheckId::RunAsPrivileged
        ]
    );
    let message = &v.response.status.as_ref().unwrap().message;
    assert!(
        message.contains("ephemeral container \"debugger-x7k2p\""),
        "{message}"
    );
    // The pod's own, earlier findings are not this request's business.
    assert!(!message.contains("readinessProbe"), "{message}");
    assert!(v.response.warnings.is_empty(), "{:?}", v.response.warnings);
}

#[test]
fn a_compliant_debug_container_is_allowed() {
    let snap = snapshot(&[CheckId::RunAsPrivileged, CheckId::LatestTag]);
    let old = running().build();
    let new = running()
        .ephemeral_container("debug", "registry.example.com/tools:1.2")
        .build();
    let v = judge(
        review_body(Some(EPHEMERAL_CONTAINERS), "UPDATE", "Pod", &new, &old),
        &snap,
    );
    assert!(v.response.allowed);
    assert_eq!(v.judgement, Judgement::Judged);
}

#[test]
fn only_the_added_container_is_judged_when_one_was_there_before() {
    let snap = snapshot(&[CheckId::RunAsPrivileged]);
    let old = running().ephemeral(sysadmin_debugger()).build();
    let new = running()
        .ephemeral(sysadmin_debugger())
        .ephemeral_container("second", "registry.example.com/tools:1.2")
        .build();
    let v = judge(
        review_body(Some(EPHEMERAL_CONTAINERS), "UPDATE", "Pod", &new, &old),
        &snap,
    );
    assert!(v.response.allowed, "{:?}", v.response.status);
    let unchanged = judge(
        review_body(Some(EPHEMERAL_CONTAINERS), "UPDATE", "Pod", &old, &old),
        &snap,
    );
    assert_eq!(unchanged.judgement, Judgement::Unchanged);
    assert!(unchanged.response.allowed);
}

#[test]
fn warnings_below_the_threshold_name_the_debug_container() {
    let snap = snapshot(&[CheckId::NotReadOnlyRootFilesystem]);
    assert!(CheckId::NotReadOnlyRootFilesystem.spec().severity < Severity::High);
    let old = running().build();
    let new = running().ephemeral(sysadmin_debugger()).build();
    let v = judge(
        review_body(Some(EPHEMERAL_CONTAINERS), "UPDATE", "Pod", &new, &old),
        &snap,
    );
    assert!(v.response.allowed);
    assert_eq!(v.response.warnings.len(), 1);
    assert!(v.response.warnings[0].contains("debugger-x7k2p"));
}

#[test]
fn other_subresources_and_operations_are_not_judged() {
    let snap = snapshot(&[CheckId::RunAsPrivileged]);
    let old = running().build();
    let new = running().ephemeral(sysadmin_debugger()).build();
    for (sub, op, kind, want) in [
        (
            Some("status"),
            "UPDATE",
            "Pod",
            Judgement::NotJudgedOperation,
        ),
        (
            Some(EPHEMERAL_CONTAINERS),
            "CREATE",
            "Pod",
            Judgement::NotJudgedOperation,
        ),
        (
            Some(EPHEMERAL_CONTAINERS),
            "UPDATE",
            "EphemeralContainers",
            Judgement::NotJudgedKind,
        ),
    ] {
        let v = judge(review_body(sub, op, kind, &new, &old), &snap);
        assert!(v.response.allowed);
        assert_eq!(v.judgement, want, "{sub:?} {op} {kind}");
    }
}
