use std::collections::BTreeMap;

use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::checks::{CheckId, Severity};
use crate::facts::WorkloadKind;
use crate::policy::crd::{AdmissionSettings, CheckSettings};
use crate::policy::exemptions::{IGNORE, IGNORE_UNTIL};
use crate::policy::{DevOpsPolicySpec, NamespaceExclusions};
use crate::testing::{ObjectBuilder, TEST_REGISTRY, deployment, pod, workload};

const NOW: &str = "2026-06-01T00:00:00Z";
const NS: &str = "shop";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn group_version(kind: WorkloadKind) -> (&'static str, &'static str) {
    match kind {
        WorkloadKind::Pod | WorkloadKind::ReplicationController => ("", "v1"),
        WorkloadKind::Job | WorkloadKind::CronJob => ("batch", "v1"),
        _ => ("apps", "v1"),
    }
}

/// An AdmissionReview body for `op` on `object` (and `old` for updates).
fn body(op: &str, object: Option<&Value>, old: Option<&Value>) -> Value {
    let source = object.or(old).cloned().unwrap_or(Value::Null);
    let kind = source["kind"].as_str().unwrap_or("Pod");
    let (group, version) = group_version(WorkloadKind::from_kind(kind).unwrap());
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": "things"},
            "name": source["metadata"]["name"],
            "namespace": NS,
            "operation": op,
            "userInfo": {"username": "admin"},
            "object": object,
            "oldObject": old,
            "dryRun": false
        }
    })
}

fn request(op: &str, object: Option<&Value>, old: Option<&Value>) -> String {
    body(op, object, old).to_string()
}

fn spec(edit: impl FnOnce(&mut DevOpsPolicySpec)) -> DevOpsPolicySpec {
    let mut s = DevOpsPolicySpec::default();
    edit(&mut s);
    s
}

fn with_checks(ids: &[CheckId]) -> DevOpsPolicySpec {
    spec(|s| {
        s.checks = Some(
            ids.iter()
                .map(|id| (id.as_str().to_owned(), CheckSettings::default()))
                .collect(),
        );
        if ids.contains(&CheckId::ImageRegistryNotAllowed) {
            s.allowed_registries = Some(vec![TEST_REGISTRY.to_owned()]);
        }
    })
}

fn latest_policy() -> DevOpsPolicySpec {
    spec(|s| s.forbid_latest_tag = Some(true))
}

fn snapshot(policies: &[(&str, &str, DevOpsPolicySpec)]) -> PolicySnapshot {
    PolicySnapshot::from_policies(
        policies.iter().map(|(ns, name, s)| (*ns, *name, s)),
        NamespaceExclusions::default(),
    )
}

fn judge(text: String, snap: &PolicySnapshot) -> Verdict {
    review(&parse_review(text.as_bytes()).unwrap(), snap, now()).unwrap()
}

fn create(b: &ObjectBuilder, snap: &PolicySnapshot) -> Verdict {
    judge(
        request("CREATE", Some(&b.clone().ns(NS).build()), None),
        snap,
    )
}

fn message(v: &Verdict) -> &str {
    v.response
        .status
        .as_ref()
        .map_or("", |s| s.message.as_str())
}

#[rstest]
fn every_kind_is_judged_on_create(
    #[values(
        WorkloadKind::Pod,
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::ReplicaSet,
        WorkloadKind::ReplicationController,
        WorkloadKind::Job,
        WorkloadKind::CronJob
    )]
    kind: WorkloadKind,
) {
    let snap = snapshot(&[(NS, "p", latest_policy())]);
    let bad = create(&workload(kind, "web").image("nginx:latest"), &snap);
    assert!(!bad.response.allowed, "{kind}");
    assert_eq!(bad.denied_by, [CheckId::LatestTag]);
    assert!(message(&bad).contains(kind.as_str()), "{}", message(&bad));
    let good = create(&workload(kind, "web"), &snap);
    assert!(good.response.allowed, "{kind}");
    assert_eq!(good.judgement, Judgement::Judged);
}

#[rstest]
#[case::create("CREATE", true, Judgement::Judged)]
#[case::update_image("UPDATE", true, Judgement::Judged)]
#[case::delete("DELETE", false, Judgement::NotJudgedOperation)]
#[case::connect("CONNECT", false, Judgement::NotJudgedOperation)]
fn operations_are_judged_only_on_create_and_changing_update(
    #[case] op: &str,
    #[case] denied: bool,
    #[case] judgement: Judgement,
) {
    let snap = snapshot(&[(NS, "p", latest_policy())]);
    let old = pod("web").ns(NS).build();
    let new = pod("web").ns(NS).image("nginx:latest").build();
    let req = match op {
        "CREATE" => request(op, Some(&new), None),
        "UPDATE" => request(op, Some(&new), Some(&old)),
        _ => request(op, None, Some(&new)),
    };
    let v = judge(req, &snap);
    assert_eq!(v.response.allowed, !denied, "{op}");
    assert_eq!(v.judgement, judgement);
    assert_eq!(v.operation.as_str(), op);
}

fn violating(check: CheckId) -> ObjectBuilder {
    let safe = json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true});
    let with = |extra: Value| {
        let mut sc = safe.clone();
        sc["capabilities"] = json!({"drop": ["ALL"]});
        for (k, v) in extra.as_object().unwrap() {
            sc[k] = v.clone();
        }
        sc
    };
    let without = |key: &str| {
        let mut sc = safe.clone();
        sc.as_object_mut().unwrap().remove(key);
        sc
    };
    let p = pod("web");
    match check {
        CheckId::LatestTag => p.image("nginx:latest"),
        CheckId::MissingLivenessProbe => p.without_liveness(),
        CheckId::MissingReadinessProbe => p.without_readiness(),
        CheckId::CpuRequestsMissing
        | CheckId::MemoryRequestsMissing
        | CheckId::CpuLimitsMissing
        | CheckId::MemoryLimitsMissing => p.without_resources(),
        CheckId::RunAsRootAllowed => p.container_security(without("runAsNonRoot")),
        CheckId::RunAsPrivileged => {
            let mut sc = safe.clone();
            sc["privileged"] = json!(true);
            p.container_security(sc)
        }
        CheckId::PrivilegeEscalationAllowed => {
            p.container_security(without("allowPrivilegeEscalation"))
        }
        CheckId::NotReadOnlyRootFilesystem => {
            p.container_security(without("readOnlyRootFilesystem"))
        }
        CheckId::HostNetworkSet => p.pod_field("hostNetwork", json!(true)),
        CheckId::HostPidSet => p.pod_field("hostPID", json!(true)),
        CheckId::HostIpcSet => p.pod_field("hostIPC", json!(true)),
        CheckId::HostPathSet => p.pod_field(
            "volumes",
            json!([{"name": "root", "hostPath": {"path": "/"}}]),
        ),
        CheckId::HostPortSet => {
            p.main_field("ports", json!([{"containerPort": 8080, "hostPort": 80}]))
        }
        CheckId::DangerousCapabilities => {
            let mut sc = safe.clone();
            sc["capabilities"] = json!({"add": ["SYS_ADMIN"]});
            p.container_security(sc)
        }
        CheckId::PullPolicyNotAlways => p.main_field("imagePullPolicy", json!("IfNotPresent")),
        CheckId::HighRestarts | CheckId::LongPending => {
            p.status("Pending", 50).created("2020-01-01T00:00:00Z")
        }
        CheckId::AutomountServiceAccountToken => {
            p.pod_field("automountServiceAccountToken", json!(true))
        }
        CheckId::DeploymentMissingReplicas => deployment("web").replicas(Some(1)),
        CheckId::HostProcess => p.container_security(with(json!({"windowsOptions": {"hostProcess": true}}))),
        CheckId::InsecureCapabilities => p.container_security(safe.clone()),
        CheckId::LinuxHardening => p.pod_field("securityContext", json!({})),
        CheckId::ProcMount => p.container_security(with(json!({"procMount": "Unmasked"}))),
        CheckId::PriorityClassNotSet => p.pod_field("priorityClassName", Value::Null),
        CheckId::TopologySpreadConstraint => p
            .owned_by("ReplicaSet", "web-5d8f")
            .pod_field("topologySpreadConstraints", Value::Null),
        CheckId::SensitiveContainerEnvVar => {
            p.main_field("env", json!([{"name": "API_TOKEN", "value": "s3cr3t"}]))
        }
        CheckId::RunAsUserZero => p.container_security(with(json!({"runAsUser": 0}))),
        CheckId::SeccompProfileUnconfined => p.pod_field(
            "securityContext",
            json!({"seccompProfile": {"type": "Unconfined"}}),
        ),
        CheckId::HostPathSensitive => p.pod_field(
            "volumes",
            json!([{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]),
        ),
        CheckId::ImageRegistryNotAllowed => p.image("docker.io/library/nginx:1.27"),
        CheckId::EphemeralStorageLimitsMissing => p.main_field(
            "resources",
            json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
        ),
        CheckId::ServiceAccountDefault => p.pod_field("serviceAccountName", Value::Null),
        // Cross-resource checks need other objects and are never judged at admission.
        CheckId::MissingPodDisruptionBudget
        | CheckId::PdbDisruptionsIsZero
        | CheckId::PdbMinAvailableGreaterThanHpaMinReplicas
        | CheckId::HpaMaxAvailability
        | CheckId::HpaMinAvailability
        | CheckId::MissingNetworkPolicy
        | CheckId::ServiceSelectorMatchesNothing
        | CheckId::IngressTlsMissing
        | CheckId::ClusterAdminBinding
        | CheckId::RoleWildcard
        | CheckId::PodExecAttachAllowed
        | CheckId::SecretsReadableByServiceAccount => p,
    }
}

#[test]
fn each_admission_check_denies_at_high_and_above_and_warns_below() {
    for id in CheckId::ALL.iter().filter(|id| id.spec().admission) {
        let snap = snapshot(&[(NS, "p", with_checks(&[*id]))]);
        let v = create(&violating(*id), &snap);
        if id.spec().severity >= Severity::High {
            assert!(!v.response.allowed, "{id} should deny");
            assert_eq!(v.denied_by, [*id]);
            assert!(message(&v).contains(id.as_str()), "{}", message(&v));
        } else {
            assert!(v.response.allowed, "{id} should only warn");
            assert_eq!(
                v.response.warnings.len(),
                1,
                "{id}: {:?}",
                v.response.warnings
            );
            assert!(v.response.warnings[0].contains(id.as_str()));
        }
        let clean = create(&pod("web"), &snap);
        assert!(
            clean.response.allowed && clean.response.warnings.is_empty(),
            "{id}"
        );
    }
}

#[test]
fn runtime_checks_are_never_judged() {
    let policy = spec(|s| {
        s.max_restart_count = Some(0);
        s.forbid_pending_duration = Some(0);
        s.admission = Some(AdmissionSettings {
            deny_severity: Some(Severity::Low),
        });
    });
    let snap = snapshot(&[(NS, "p", policy)]);
    let v = create(&violating(CheckId::HighRestarts), &snap);
    assert!(v.response.allowed);
    assert!(v.response.warnings.is_empty(), "{:?}", v.response.warnings);
}

#[rstest]
#[case::default_threshold_denies_high(None, None, true)]
#[case::lowered_severity_only_warns(None, Some(Severity::Medium), false)]
#[case::raised_threshold_only_warns(Some(Severity::Critical), None, false)]
#[case::raised_severity_meets_raised_threshold(
    Some(Severity::Critical),
    Some(Severity::Critical),
    true
)]
#[case::lowest_threshold_denies_low(Some(Severity::Low), Some(Severity::Low), true)]
fn the_deny_threshold_follows_overrides(
    #[case] deny: Option<Severity>,
    #[case] latest_severity: Option<Severity>,
    #[case] denied: bool,
) {
    let policy = spec(|s| {
        s.forbid_latest_tag = Some(true);
        s.admission = Some(AdmissionSettings {
            deny_severity: deny,
        });
        s.severity_overrides =
            latest_severity.map(|sev| BTreeMap::from([("latestTag".to_owned(), sev)]));
    });
    let v = create(&pod("web").image("nginx"), &snapshot(&[(NS, "p", policy)]));
    assert_eq!(!v.response.allowed, denied);
    assert_eq!(v.response.warnings.len(), usize::from(!denied));
}

#[test]
fn multiple_policies_are_united_and_the_lowest_threshold_wins() {
    let strict = spec(|s| {
        s.require_liveness_probe = Some(true);
        s.admission = Some(AdmissionSettings {
            deny_severity: Some(Severity::Medium),
        });
    });
    let snap = snapshot(&[(NS, "a-latest", latest_policy()), (NS, "b-probes", strict)]);
    let v = create(&pod("web").image("nginx:latest").without_liveness(), &snap);
    assert!(!v.response.allowed);
    assert_eq!(
        v.denied_by,
        [CheckId::LatestTag, CheckId::MissingLivenessProbe]
    );
    assert!(
        message(&v).contains("a-latest, b-probes"),
        "{}",
        message(&v)
    );
}

#[test]
fn the_highest_severity_of_the_united_policies_wins() {
    let low = spec(|s| {
        s.forbid_latest_tag = Some(true);
        s.severity_overrides = Some(BTreeMap::from([("latestTag".to_owned(), Severity::Low)]));
    });
    let alone = create(
        &pod("web").image("nginx:latest"),
        &snapshot(&[(NS, "low", low.clone())]),
    );
    assert!(alone.response.allowed);
    let both = snapshot(&[(NS, "low", low), (NS, "plain", latest_policy())]);
    assert!(
        !create(&pod("web").image("nginx:latest"), &both)
            .response
            .allowed
    );
}

#[rstest]
#[case::exempt_without_date(None, true)]
#[case::exempt_until_the_future(Some("2099-01-01"), true)]
#[case::lapsed_exemption(Some("2020-01-01"), false)]
#[case::unreadable_date(Some("soon"), false)]
fn exemptions_are_honoured_until_they_lapse(#[case] until: Option<&str>, #[case] allowed: bool) {
    let snap = snapshot(&[(NS, "p", latest_policy())]);
    let mut b = workload(WorkloadKind::Deployment, "web")
        .image("nginx:latest")
        .annotation(IGNORE, "latestTag");
    if let Some(until) = until {
        b = b.annotation(IGNORE_UNTIL, until);
    }
    let v = create(&b, &snap);
    assert_eq!(v.response.allowed, allowed, "{}", message(&v));
    assert!(
        v.response.warnings.is_empty(),
        "exempt findings are not warned"
    );
    if !allowed {
        assert!(message(&v).contains("exemption"), "{}", message(&v));
    }
}

#[rstest]
#[case::kube_system("kube-system")]
#[case::default_glob("istio-system")]
#[case::cert_manager("cert-manager")]
fn excluded_namespaces_are_never_judged(#[case] ns: &str) {
    let snap = snapshot(&[(ns, "p", latest_policy())]);
    let mut b = body(
        "CREATE",
        Some(&pod("web").ns(ns).image("nginx:latest").build()),
        None,
    );
    b["request"]["namespace"] = json!(ns);
    let v = judge(b.to_string(), &snap);
    assert!(v.response.allowed);
    assert_eq!(v.judgement, Judgement::Excluded);
}

#[test]
fn own_exclusion_globs_replace_the_defaults() {
    let ex = NamespaceExclusions::new(None, ["team-*"]).unwrap();
    let spec = latest_policy();
    let snap = PolicySnapshot::from_policies([("team-a", "p", &spec), (NS, "p", &spec)], ex);
    let mut b = body(
        "CREATE",
        Some(&pod("web").image("nginx:latest").build()),
        None,
    );
    b["request"]["namespace"] = json!("team-a");
    let v = judge(b.to_string(), &snap);
    assert_eq!(v.judgement, Judgement::Excluded);
    assert!(
        !create(&pod("web").image("nginx:latest"), &snap)
            .response
            .allowed
    );
}

#[test]
fn a_namespace_without_policy_allows_everything() {
    let snap = snapshot(&[("elsewhere", "p", latest_policy())]);
    let v = create(&pod("web").image("nginx:latest"), &snap);
    assert!(v.response.allowed);
    assert_eq!(v.judgement, Judgement::NoPolicy);
}

type Edit = fn(&mut Value);

#[rstest]
#[case::deployment_labels(WorkloadKind::Deployment, (|v| v["metadata"]["labels"] = json!({"team": "x"})) as Edit, Judgement::Unchanged)]
#[case::deployment_replicas(WorkloadKind::Deployment, (|v| v["spec"]["replicas"] = json!(5)) as Edit, Judgement::Unchanged)]
#[case::deployment_exemption_added(WorkloadKind::Deployment, (|v| v["metadata"]["annotations"]["x"] = json!("y")) as Edit, Judgement::Unchanged)]
#[case::pod_labels(WorkloadKind::Pod, (|v| v["metadata"]["labels"] = json!({"team": "x"})) as Edit, Judgement::Unchanged)]
#[case::pod_tolerations(WorkloadKind::Pod, (|v| v["spec"]["tolerations"] = json!([])) as Edit, Judgement::Unchanged)]
#[case::deployment_template(WorkloadKind::Deployment, (|v| v["spec"]["template"]["metadata"]["annotations"]["restartedAt"] = json!("now")) as Edit, Judgement::Judged)]
#[case::cronjob_template(WorkloadKind::CronJob, (|v| v["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["v"] = json!("2")) as Edit, Judgement::Judged)]
#[case::cronjob_schedule(WorkloadKind::CronJob, (|v| v["spec"]["schedule"] = json!("@daily")) as Edit, Judgement::Unchanged)]
#[case::pod_image(WorkloadKind::Pod, (|v| v["spec"]["containers"][0]["image"] = json!("nginx:1.27")) as Edit, Judgement::Judged)]
fn updates_are_judged_only_when_the_pod_template_or_an_image_changes(
    #[case] kind: WorkloadKind,
    #[case] edit: Edit,
    #[case] judgement: Judgement,
) {
    // The stored object is already bad: only a judged update can be denied.
    let snap = snapshot(&[(NS, "p", with_checks(&[CheckId::HostNetworkSet]))]);
    let old = workload(kind, "web")
        .ns(NS)
        .pod_field("hostNetwork", json!(true))
        .build();
    let mut new = old.clone();
    edit(&mut new);
    let v = judge(request("UPDATE", Some(&new), Some(&old)), &snap);
    assert_eq!(v.judgement, judgement, "{kind}");
    assert_eq!(v.response.allowed, judgement == Judgement::Unchanged);
}

#[test]
fn findings_below_the_threshold_come_back_as_warnings_naming_the_container() {
    let policy = spec(|s| {
        s.require_liveness_probe = Some(true);
        s.require_readiness_probe = Some(true);
    });
    let b = pod("web")
        .container("sidecar", "busybox:1.36")
        .without_probes();
    let v = create(&b, &snapshot(&[(NS, "p", policy)]));
    assert!(v.response.allowed);
    assert_eq!(
        v.response.warnings,
        [
            "kube-devops: [missingLivenessProbe medium] container \"app\" has no livenessProbe",
            "kube-devops: [missingReadinessProbe low] container \"app\" has no readinessProbe",
        ]
    );
}

#[test]
fn the_denial_message_names_object_container_check_and_fix() {
    let v = create(
        &pod("web").image("nginx:latest"),
        &snapshot(&[(NS, "latest", latest_policy())]),
    );
    assert_eq!(
        message(&v),
        "kube-devops denied Pod \"web\" in namespace \"shop\": 1 finding(s) at or above severity \
         high (DevOpsPolicy latest): [latestTag high] container \"app\" image \"nginx:latest\" \
         uses the mutable latest tag; pin a version tag or digest"
    );
    let status = v.response.status.as_ref().unwrap();
    assert_eq!((status.code, status.reason), (403, "Forbidden"));
}

#[test]
fn an_invalid_policy_is_left_out_with_a_warning() {
    let broken = spec(|s| {
        s.checks = Some(BTreeMap::from([(
            "noSuchCheck".to_owned(),
            CheckSettings::default(),
        )]))
    });
    let snap = snapshot(&[(NS, "broken", broken.clone()), (NS, "ok", latest_policy())]);
    let v = create(&pod("web").image("nginx:latest"), &snap);
    assert!(!v.response.allowed);
    assert!(
        v.response.warnings[0].contains("\"broken\" ignored"),
        "{:?}",
        v.response.warnings
    );
    let only_broken = snapshot(&[(NS, "broken", broken)]);
    let v = create(&pod("web").image("nginx:latest"), &only_broken);
    assert!(v.response.allowed);
    assert_eq!(v.response.warnings.len(), 1);
}

#[test]
fn subresources_and_foreign_groups_are_not_judged() {
    let snap = snapshot(&[(NS, "p", latest_policy())]);
    let object = pod("web").ns(NS).image("nginx:latest").build();
    let mut b = body("UPDATE", Some(&object), Some(&object));
    b["request"]["subResource"] = json!("status");
    let v = judge(b.to_string(), &snap);
    assert_eq!(v.judgement, Judgement::NotJudgedOperation);
    let mut b = body("CREATE", Some(&object), None);
    b["request"]["kind"] = json!({"group": "example.com", "version": "v1", "kind": "Pod"});
    let v = judge(b.to_string(), &snap);
    assert_eq!(v.judgement, Judgement::NotJudgedKind);
}

#[test]
fn an_object_that_does_not_decode_is_a_judge_error() {
    let snap = snapshot(&[(NS, "p", latest_policy())]);
    let mut object = pod("web").ns(NS).build();
    object["spec"]["containers"] = json!("not a list");
    let text = request("CREATE", Some(&object), None);
    let err = review(&parse_review(text.as_bytes()).unwrap(), &snap, now()).unwrap_err();
    assert!(err.to_string().contains("web"), "{err}");
}

#[test]
fn the_response_echoes_the_uid_in_an_admission_review_v1() {
    let snap = snapshot(&[]);
    let v = create(&pod("web"), &snap);
    let out = serde_json::to_value(v.response.into_review()).unwrap();
    assert_eq!(
        out,
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": true}
        })
    );
}

#[test]
fn many_warnings_are_capped_with_a_count() {
    let warnings: Vec<String> = (0..30).map(|i| format!("w{i}\nline")).collect();
    let r = AdmissionResponse::allow("u").with_warnings(warnings);
    assert_eq!(r.warnings.len(), MAX_WARNINGS);
    assert_eq!(r.warnings[0], "w0 line");
    assert_eq!(
        r.warnings[MAX_WARNINGS - 1],
        "kube-devops: 19 more findings not shown"
    );
    let long = AdmissionResponse::allow("u").with_warnings(vec!["é".repeat(400)]);
    assert!(long.warnings[0].len() <= MAX_WARNING_LEN && long.warnings[0].ends_with("..."));
}

#[rstest]
#[case::empty("", "empty body")]
#[case::whitespace("  \n", "empty body")]
#[case::not_json("hello", "malformed")]
#[case::truncated(
    r#"{"apiVersion":"admission.k8s.io/v1","kind":"Admission"#,
    "malformed"
)]
#[case::wrong_version(
    r#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#,
    "v1beta1"
)]
#[case::wrong_kind(
    r#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#,
    "kind AdmissionReview"
)]
#[case::no_request(
    r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
    "no request"
)]
#[case::no_uid(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"Pod"},"operation":"CREATE","object":{}}}"#, "request.uid")]
#[case::no_kind(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{}}}"#, "request.kind")]
#[case::bad_operation(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"PATCH","object":{}}}"#, "PATCH")]
#[case::null_object(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","object":null}}"#, "request.object")]
#[case::string_object(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","object":"x"}}"#, "JSON object")]
#[case::uid_is_a_number(
    r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}"#,
    "invalid type"
)]
fn malformed_reviews_are_explained(#[case] text: &str, #[case] expected: &str) {
    let err = parse_review(text.as_bytes()).unwrap_err();
    assert!(err.to_string().contains(expected), "{err}");
}

#[test]
fn a_delete_needs_no_object() {
    let text = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"DELETE","object":null}}"#;
    let v = judge(text.to_owned(), &snapshot(&[]));
    assert!(v.response.allowed);
}

#[test]
fn the_object_is_read_in_the_envelopes_pass() {
    let object = pod("web").ns(NS).image("nginx:latest").build();
    let text = request("CREATE", Some(&object), None);
    let request = parse_review(text.as_bytes()).unwrap();
    let slim = request.slim_object().expect("read with the envelope");
    assert_eq!(
        slim.facts(WorkloadKind::Pod).unwrap().containers[0].image,
        "nginx:latest"
    );
}

#[test]
fn an_object_the_slim_reader_cannot_read_is_no_bad_request() {
    let snap = snapshot(&[(NS, "baseline", latest_policy())]);
    // Another kind whose fields happen to collide with a pod spec's: allowed unjudged.
    let mut widget = body("CREATE", Some(&pod("web").build()), None);
    widget["request"]["kind"] = json!({"group": "example.com", "version": "v1", "kind": "Widget"});
    widget["request"]["object"] =
        json!({"kind": "Widget", "spec": {"containers": "three", "hostNetwork": "yes"}});
    let text = widget.to_string();
    let request = parse_review(text.as_bytes()).unwrap();
    assert!(request.slim_object().is_none());
    let verdict = review(&request, &snap, now()).unwrap();
    assert!(verdict.response.allowed);
    assert_eq!(verdict.judgement, Judgement::NotJudgedKind);
    // A judged kind with a wrong type in a field the checks read: the review is read, the
    // object is an internal error that names the field (answered per the failure mode).
    let mut bad = body("CREATE", Some(&pod("web").build()), None);
    bad["request"]["object"]["spec"]["containers"] = json!("three");
    let text = bad.to_string();
    let request = parse_review(text.as_bytes()).unwrap();
    let err = review(&request, &snap, now()).unwrap_err();
    assert!(err.to_string().contains("invalid type"), "{err}");
    // The envelope's own errors are still reported as such.
    let mut broken = body("CREATE", Some(&pod("web").build()), None);
    broken["request"]["uid"] = json!(7);
    assert!(matches!(
        parse_review(broken.to_string().as_bytes()),
        Err(ReviewError::Json(m)) if m.contains("invalid type")
    ));
}
