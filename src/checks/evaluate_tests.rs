use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::facts::{WorkloadKind, facts_from_json};
use crate::policy::crd::CheckSettings;
use crate::policy::exemptions::{IGNORE, IGNORE_REASON, IGNORE_UNTIL};
use crate::policy::{DevOpsPolicySpec, EffectivePolicy};
use crate::testing::{ObjectBuilder, deployment, pod, workload};

const NOW: &str = "2026-06-01T00:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn policy_with(ids: &[CheckId]) -> EffectivePolicy {
    crate::testing::policy_with(ids)
}

fn every_check() -> EffectivePolicy {
    policy_with(CheckId::ALL)
}

/// The checks `evaluate` decides (the others need related objects).
fn object_checks() -> impl Iterator<Item = CheckId> {
    CheckId::ALL
        .iter()
        .copied()
        .filter(|id| id.spec().scope != crate::checks::Scope::Related)
}

fn from_spec(spec: DevOpsPolicySpec) -> EffectivePolicy {
    EffectivePolicy::from_spec(&spec).unwrap()
}

/// The findings of `check` alone on `facts`.
fn findings_of(check: CheckId, facts: &PodFacts) -> Vec<Finding> {
    evaluate(facts, &policy_with(&[check]), now())
}

/// The containers (`None` for the pod) that `check` alone flags on `facts`.
fn flagged(check: CheckId, facts: &PodFacts) -> Vec<Option<String>> {
    findings_of(check, facts)
        .into_iter()
        .inspect(|f| assert_eq!(f.check, check, "a check reported under another id"))
        .map(|f| f.container)
        .collect()
}

/// Facts of the built object after an edit of its JSON.
fn edited(b: &ObjectBuilder, edit: impl FnOnce(&mut Value)) -> PodFacts {
    let mut v = b.build();
    edit(&mut v);
    facts_from_json(v).unwrap().unwrap()
}

/// A pod whose second regular container ("log") lacks `field`.
fn second_container_without(field: &str) -> PodFacts {
    edited(&pod("p").container("log", "fluentd:1.16"), |v| {
        v["spec"]["containers"][1]
            .as_object_mut()
            .unwrap()
            .remove(field);
    })
}

/// An init container that is compliant apart from `patch` (merged into it).
fn init_with(patch: Value) -> PodFacts {
    edited(&pod("p").init_container("init", "busybox:1.36"), |v| {
        let c = v["spec"]["initContainers"][0].as_object_mut().unwrap();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), val.clone());
            }
        }
    })
}

fn compliant_security() -> Value {
    json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true})
}

/// The compliant container securityContext with `patch` merged in (`null` removes a key).
fn security(patch: Value) -> Value {
    let mut sc = compliant_security();
    let obj = sc.as_object_mut().unwrap();
    for (k, val) in patch.as_object().unwrap() {
        if val.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), val.clone());
        }
    }
    sc
}

fn with_security(patch: Value) -> PodFacts {
    pod("p").container_security(security(patch)).facts()
}

fn main_only() -> Vec<Option<String>> {
    vec![Some("app".to_owned())]
}

fn named(name: &str) -> Vec<Option<String>> {
    vec![Some(name.to_owned())]
}

fn pod_level() -> Vec<Option<String>> {
    vec![None]
}

/// A Deployment whose pods break every rule that `evaluate` decides.
fn worst_pod() -> PodFacts {
    deployment("worst")
        .replicas(Some(1))
        .image("nginx:latest")
        .without_probes()
        .without_resources()
        .main_field("imagePullPolicy", json!("IfNotPresent"))
        .main_field("ports", json!([{"containerPort": 80, "hostPort": 80}]))
        .main_field("env", json!([{"name": "DB_PASSWORD", "value": "hunter2"}]))
        .container_security(json!({
            "privileged": true,
            "runAsUser": 0,
            "procMount": "Unmasked",
            "seccompProfile": {"type": "Unconfined"},
            "windowsOptions": {"hostProcess": true},
            "capabilities": {"add": ["SYS_ADMIN"]}
        }))
        .pod_field("hostNetwork", json!(true))
        .pod_field("hostPID", json!(true))
        .pod_field("hostIPC", json!(true))
        .pod_field("serviceAccountName", Value::Null)
        .pod_field("automountServiceAccountToken", Value::Null)
        .pod_field("priorityClassName", Value::Null)
        .pod_field("topologySpreadConstraints", Value::Null)
        .pod_field("securityContext", Value::Null)
        .pod_field(
            "volumes",
            json!([{"name": "root", "hostPath": {"path": "/"}}]),
        )
        .facts()
}

/// A running pod that breaks the runtime rules.
fn worst_running_pod() -> PodFacts {
    pod("worst")
        .created("2026-05-01T00:00:00Z")
        .status("Pending", 10)
        .facts()
}

// ---------------------------------------------------------------------------------------
// Baselines

#[rstest]
#[case::pod(pod("p"))]
#[case::deployment(deployment("d"))]
#[case::statefulset(workload(WorkloadKind::StatefulSet, "s"))]
#[case::daemonset(workload(WorkloadKind::DaemonSet, "ds"))]
#[case::replicaset(workload(WorkloadKind::ReplicaSet, "rs"))]
#[case::replication_controller(workload(WorkloadKind::ReplicationController, "rc"))]
#[case::job(workload(WorkloadKind::Job, "j"))]
#[case::cronjob(workload(WorkloadKind::CronJob, "cj"))]
#[case::running_pod(pod("p").created("2026-05-01T00:00:00Z").status("Running", 0))]
#[case::pod_with_init_container(pod("p").init_container("init", "registry.example.com/busybox:1.36"))]
#[case::pod_with_second_container(pod("p").container("log", "registry.example.com/fluentd:1.16"))]
#[case::pod_with_ephemeral_container(pod("p").ephemeral_container("debug", "registry.example.com/busybox:1.36"))]
fn a_default_object_passes_every_check(#[case] b: ObjectBuilder) {
    assert_eq!(evaluate(&b.facts(), &every_check(), now()), vec![]);
}

#[test]
fn a_pod_that_breaks_every_rule_fires_every_check() {
    let mut findings = evaluate(&worst_pod(), &every_check(), now());
    findings.extend(evaluate(&worst_running_pod(), &every_check(), now()));
    for id in object_checks() {
        assert!(
            findings.iter().any(|f| f.check == id),
            "{id} did not fire: {findings:#?}"
        );
    }
    assert!(
        findings
            .iter()
            .all(|f| f.check.spec().scope != crate::checks::Scope::Related)
    );
}

#[test]
fn a_check_that_is_off_produces_no_finding() {
    for facts in [worst_pod(), worst_running_pod()] {
        for off in object_checks() {
            let others: Vec<CheckId> = CheckId::ALL
                .iter()
                .copied()
                .filter(|id| *id != off)
                .collect();
            let findings = evaluate(&facts, &policy_with(&others), now());
            assert!(
                findings.iter().all(|f| f.check != off),
                "{off} fired while off"
            );
            assert!(!findings.is_empty());
        }
    }
}

#[test]
fn an_empty_policy_finds_nothing_on_the_worst_pod() {
    for facts in [worst_pod(), worst_running_pod()] {
        assert_eq!(evaluate(&facts, &EffectivePolicy::empty(), now()), vec![]);
    }
}

#[test]
fn findings_carry_the_default_severity_and_the_catalogue_weight_as_penalty() {
    let mut findings = evaluate(&worst_pod(), &every_check(), now());
    findings.extend(evaluate(&worst_running_pod(), &every_check(), now()));
    for f in findings {
        let spec = f.check.spec();
        assert_eq!(f.severity, spec.severity, "{}", f.check);
        if f.check != CheckId::HighRestarts {
            assert_eq!(f.penalty.points(), f64::from(spec.weight), "{}", f.check);
        }
        assert!(f.is_counted());
        assert!(!f.message.is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// Failing cases: the check alone flags exactly these containers

#[rstest]
// latestTag
#[case::latest_tag(CheckId::LatestTag, pod("p").image("nginx:latest").facts(), main_only())]
#[case::untagged_image(CheckId::LatestTag, pod("p").image("nginx").facts(), main_only())]
#[case::untagged_image_with_registry_port(CheckId::LatestTag, pod("p").image("registry:5000/app").facts(), main_only())]
#[case::latest_with_registry_port(CheckId::LatestTag, pod("p").image("registry:5000/team/app:latest").facts(), main_only())]
#[case::empty_tag(CheckId::LatestTag, pod("p").image("nginx:").facts(), main_only())]
#[case::no_image(CheckId::LatestTag, pod("p").main_field("image", Value::Null).facts(), main_only())]
#[case::latest_init_container(CheckId::LatestTag, pod("p").init_container("init", "busybox").facts(), named("init"))]
#[case::latest_sidecar(CheckId::LatestTag, pod("p").sidecar("proxy", "envoy:latest").facts(), named("proxy"))]
#[case::latest_second_container(CheckId::LatestTag, pod("p").container("log", "fluentd:latest").facts(), named("log"))]
#[case::latest_job_template(CheckId::LatestTag, workload(WorkloadKind::Job, "j").image("x:latest").facts(), main_only())]
#[case::latest_cronjob_template(CheckId::LatestTag, workload(WorkloadKind::CronJob, "c").image("x").facts(), main_only())]
// missingLivenessProbe
#[case::no_liveness(CheckId::MissingLivenessProbe, pod("p").without_liveness().facts(), main_only())]
#[case::no_liveness_on_native_sidecar(CheckId::MissingLivenessProbe, pod("p").sidecar("proxy", "envoy:1.30").facts(), named("proxy"))]
#[case::no_liveness_on_second_container(
    CheckId::MissingLivenessProbe,
    second_container_without("livenessProbe"),
    named("log")
)]
#[case::no_liveness_in_deployment(CheckId::MissingLivenessProbe, deployment("d").without_liveness().facts(), main_only())]
#[case::no_liveness_on_replicaset_pod(CheckId::MissingLivenessProbe, pod("p").owned_by("ReplicaSet", "rs").without_liveness().facts(), main_only())]
// missingReadinessProbe
#[case::no_readiness(CheckId::MissingReadinessProbe, pod("p").without_readiness().facts(), main_only())]
#[case::no_readiness_on_native_sidecar(CheckId::MissingReadinessProbe, pod("p").sidecar("proxy", "envoy:1.30").facts(), named("proxy"))]
#[case::no_readiness_on_second_container(
    CheckId::MissingReadinessProbe,
    second_container_without("readinessProbe"),
    named("log")
)]
#[case::no_readiness_in_statefulset(CheckId::MissingReadinessProbe, workload(WorkloadKind::StatefulSet, "s").without_readiness().facts(), main_only())]
// highRestarts (limit 3 by default)
#[case::restarts_above_limit(CheckId::HighRestarts, pod("p").status("Running", 4).facts(), main_only())]
// longPending (limit 300 s by default)
#[case::pending_longer_than_limit(CheckId::LongPending, pod("p").created("2026-05-31T23:54:59Z").status("Pending", 0).facts(), pod_level())]
// resources
#[case::no_cpu_request_nor_limit(CheckId::CpuRequestsMissing, pod("p").main_field("resources", json!({"requests": {"memory": "1Mi"}, "limits": {"memory": "1Mi"}})).facts(), main_only())]
#[case::no_memory_request_nor_limit(CheckId::MemoryRequestsMissing, pod("p").main_field("resources", json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1"}})).facts(), main_only())]
#[case::no_cpu_limit(CheckId::CpuLimitsMissing, pod("p").main_field("resources", json!({"requests": {"cpu": "1", "memory": "1Mi"}, "limits": {"memory": "1Mi"}})).facts(), main_only())]
#[case::no_memory_limit(CheckId::MemoryLimitsMissing, pod("p").main_field("resources", json!({"requests": {"cpu": "1", "memory": "1Mi"}, "limits": {"cpu": "1"}})).facts(), main_only())]
#[case::no_resources_cpu_request(CheckId::CpuRequestsMissing, pod("p").without_resources().facts(), main_only())]
#[case::no_resources_memory_limit(CheckId::MemoryLimitsMissing, pod("p").without_resources().facts(), main_only())]
#[case::init_container_without_cpu_request(CheckId::CpuRequestsMissing, init_with(json!({"resources": null})), named("init"))]
#[case::init_container_without_memory_limit(CheckId::MemoryLimitsMissing, init_with(json!({"resources": {"limits": {"cpu": "1"}}})), named("init"))]
#[case::job_without_cpu_limit(CheckId::CpuLimitsMissing, workload(WorkloadKind::Job, "j").without_resources().facts(), main_only())]
// runAsRootAllowed
#[case::no_run_as_non_root(CheckId::RunAsRootAllowed, with_security(json!({"runAsNonRoot": null})), main_only())]
#[case::run_as_non_root_false(CheckId::RunAsRootAllowed, with_security(json!({"runAsNonRoot": false})), main_only())]
#[case::container_run_as_user_zero(CheckId::RunAsRootAllowed, with_security(json!({"runAsUser": 0})), main_only())]
#[case::container_overrides_pod_non_root(CheckId::RunAsRootAllowed,
    pod("p").pod_field("securityContext", json!({"runAsNonRoot": true})).container_security(security(json!({"runAsNonRoot": false}))).facts(),
    main_only())]
#[case::pod_run_as_user_zero_is_inherited(CheckId::RunAsRootAllowed,
    pod("p").pod_field("securityContext", json!({"runAsUser": 0})).facts(), main_only())]
#[case::pod_run_as_non_root_false_inherited(CheckId::RunAsRootAllowed,
    pod("p").pod_field("securityContext", json!({"runAsNonRoot": false})).container_security(security(json!({"runAsNonRoot": null}))).facts(),
    main_only())]
#[case::init_container_may_run_as_root(CheckId::RunAsRootAllowed, init_with(json!({"securityContext": null})), named("init"))]
// runAsPrivileged
#[case::privileged(CheckId::RunAsPrivileged, with_security(json!({"privileged": true})), main_only())]
#[case::privileged_init_container(CheckId::RunAsPrivileged, init_with(json!({"securityContext": security(json!({"privileged": true}))})), named("init"))]
// privilegeEscalationAllowed
#[case::escalation_unset(CheckId::PrivilegeEscalationAllowed, with_security(json!({"allowPrivilegeEscalation": null})), main_only())]
#[case::escalation_true(CheckId::PrivilegeEscalationAllowed, with_security(json!({"allowPrivilegeEscalation": true})), main_only())]
#[case::privileged_always_escalates(CheckId::PrivilegeEscalationAllowed, with_security(json!({"privileged": true})), main_only())]
#[case::init_container_escalation_unset(CheckId::PrivilegeEscalationAllowed, init_with(json!({"securityContext": null})), named("init"))]
// notReadOnlyRootFilesystem
#[case::root_fs_unset(CheckId::NotReadOnlyRootFilesystem, with_security(json!({"readOnlyRootFilesystem": null})), main_only())]
#[case::root_fs_writable(CheckId::NotReadOnlyRootFilesystem, with_security(json!({"readOnlyRootFilesystem": false})), main_only())]
#[case::sidecar_root_fs_writable(CheckId::NotReadOnlyRootFilesystem,
    edited(&pod("p").sidecar("proxy", "envoy:1.30"), |v| { v["spec"]["initContainers"][0]["securityContext"]["readOnlyRootFilesystem"] = json!(false); }),
    named("proxy"))]
// host namespaces and paths
#[case::host_network(CheckId::HostNetworkSet, pod("p").pod_field("hostNetwork", json!(true)).facts(), pod_level())]
#[case::host_pid(CheckId::HostPidSet, pod("p").pod_field("hostPID", json!(true)).facts(), pod_level())]
#[case::host_ipc(CheckId::HostIpcSet, pod("p").pod_field("hostIPC", json!(true)).facts(), pod_level())]
#[case::host_network_in_daemonset(CheckId::HostNetworkSet, workload(WorkloadKind::DaemonSet, "ds").pod_field("hostNetwork", json!(true)).facts(), pod_level())]
#[case::host_path(CheckId::HostPathSet,
    pod("p").pod_field("volumes", json!([{"name": "tmp", "emptyDir": {}}, {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}])).facts(),
    pod_level())]
#[case::host_port(CheckId::HostPortSet, pod("p").main_field("ports", json!([{"containerPort": 80}, {"containerPort": 443, "hostPort": 443}])).facts(), main_only())]
#[case::host_port_on_init_container(CheckId::HostPortSet, init_with(json!({"ports": [{"containerPort": 53, "hostPort": 53}]})), named("init"))]
// dangerousCapabilities
#[case::sys_admin(CheckId::DangerousCapabilities, with_security(json!({"capabilities": {"add": ["SYS_ADMIN"]}})), main_only())]
#[case::cap_prefixed(CheckId::DangerousCapabilities, with_security(json!({"capabilities": {"add": ["CAP_SYS_ADMIN"]}})), main_only())]
#[case::lower_case(CheckId::DangerousCapabilities, with_security(json!({"capabilities": {"add": ["net_admin"]}})), main_only())]
#[case::lower_case_cap_prefixed(CheckId::DangerousCapabilities, with_security(json!({"capabilities": {"add": ["cap_sys_admin"]}})), main_only())]
#[case::all_capabilities(CheckId::DangerousCapabilities, with_security(json!({"capabilities": {"add": ["ALL"]}})), main_only())]
#[case::dangerous_among_safe(CheckId::DangerousCapabilities, with_security(json!({"capabilities": {"add": ["CHOWN", "SYS_PTRACE"]}})), main_only())]
#[case::dangerous_on_init_container(CheckId::DangerousCapabilities,
    init_with(json!({"securityContext": security(json!({"capabilities": {"add": ["BPF"]}}))})), named("init"))]
// pullPolicyNotAlways
#[case::if_not_present(CheckId::PullPolicyNotAlways, pod("p").main_field("imagePullPolicy", json!("IfNotPresent")).facts(), main_only())]
#[case::never(CheckId::PullPolicyNotAlways, pod("p").main_field("imagePullPolicy", json!("Never")).facts(), main_only())]
#[case::absent_policy_on_version_tag(CheckId::PullPolicyNotAlways, pod("p").main_field("imagePullPolicy", Value::Null).facts(), main_only())]
#[case::absent_policy_on_digest(CheckId::PullPolicyNotAlways,
    pod("p").image("nginx@sha256:0123456789abcdef").main_field("imagePullPolicy", Value::Null).facts(), main_only())]
#[case::explicit_if_not_present_on_latest(CheckId::PullPolicyNotAlways,
    pod("p").image("nginx:latest").main_field("imagePullPolicy", json!("IfNotPresent")).facts(), main_only())]
#[case::init_container_if_not_present(CheckId::PullPolicyNotAlways, init_with(json!({"imagePullPolicy": "IfNotPresent"})), named("init"))]
fn a_failing_object_is_flagged_on_the_right_container(
    #[case] check: CheckId,
    #[case] facts: PodFacts,
    #[case] want: Vec<Option<String>>,
) {
    assert_eq!(flagged(check, &facts), want);
}

// ---------------------------------------------------------------------------------------
// Passing cases: the check alone finds nothing

#[rstest]
// latestTag
#[case::version_tag(CheckId::LatestTag, pod("p").image("nginx:1.27").facts())]
#[case::digest(CheckId::LatestTag, pod("p").image("nginx@sha256:0123456789abcdef").facts())]
#[case::latest_tag_pinned_by_digest(CheckId::LatestTag, pod("p").image("nginx:latest@sha256:0123456789abcdef").facts())]
#[case::tag_with_registry_port(CheckId::LatestTag, pod("p").image("registry:5000/app:2.1").facts())]
#[case::tag_that_only_starts_with_latest(CheckId::LatestTag, pod("p").image("app:latest-2").facts())]
// probes
#[case::init_container_has_no_liveness(CheckId::MissingLivenessProbe, pod("p").init_container("init", "busybox:1.36").facts())]
#[case::init_container_has_no_readiness(CheckId::MissingReadinessProbe, pod("p").init_container("init", "busybox:1.36").facts())]
#[case::job_template_without_liveness(CheckId::MissingLivenessProbe, workload(WorkloadKind::Job, "j").without_probes().facts())]
#[case::job_template_without_readiness(CheckId::MissingReadinessProbe, workload(WorkloadKind::Job, "j").without_probes().facts())]
#[case::cronjob_template_without_liveness(CheckId::MissingLivenessProbe, workload(WorkloadKind::CronJob, "c").without_probes().facts())]
#[case::cronjob_template_without_readiness(CheckId::MissingReadinessProbe, workload(WorkloadKind::CronJob, "c").without_probes().facts())]
#[case::job_pod_without_liveness(CheckId::MissingLivenessProbe, pod("p").owned_by("Job", "j").without_probes().facts())]
#[case::job_pod_without_readiness(CheckId::MissingReadinessProbe, pod("p").owned_by("Job", "j").without_probes().facts())]
#[case::job_sidecar_without_probes(CheckId::MissingLivenessProbe, workload(WorkloadKind::Job, "j").sidecar("proxy", "envoy:1.30").facts())]
// highRestarts
#[case::restarts_at_limit(CheckId::HighRestarts, pod("p").status("Running", 3).facts())]
#[case::no_restarts(CheckId::HighRestarts, pod("p").status("Running", 0).facts())]
#[case::template_has_no_restarts(CheckId::HighRestarts, deployment("d").facts())]
// longPending
#[case::pending_exactly_the_limit(CheckId::LongPending, pod("p").created("2026-05-31T23:55:00Z").status("Pending", 0).facts())]
#[case::a_cpu_limit_alone_becomes_the_request(CheckId::CpuRequestsMissing, pod("p").main_field("resources", json!({"limits": {"cpu": "1", "memory": "1Mi"}})).facts())]
#[case::a_memory_limit_alone_becomes_the_request(CheckId::MemoryRequestsMissing, pod("p").main_field("resources", json!({"limits": {"cpu": "1", "memory": "1Mi"}})).facts())]
#[case::pending_briefly(CheckId::LongPending, pod("p").created("2026-05-31T23:59:00Z").status("Pending", 0).facts())]
#[case::running_for_long(CheckId::LongPending, pod("p").created("2026-01-01T00:00:00Z").status("Running", 0).facts())]
#[case::pod_without_status(CheckId::LongPending, pod("p").created("2026-01-01T00:00:00Z").facts())]
#[case::template_without_status(CheckId::LongPending, deployment("d").created("2026-01-01T00:00:00Z").facts())]
// runAsRootAllowed
#[case::pod_level_non_root_is_inherited(CheckId::RunAsRootAllowed,
    pod("p").pod_field("securityContext", json!({"runAsNonRoot": true})).container_security(security(json!({"runAsNonRoot": null}))).facts())]
#[case::container_non_zero_user(CheckId::RunAsRootAllowed, with_security(json!({"runAsNonRoot": null, "runAsUser": 1000})))]
#[case::pod_non_zero_user_is_inherited(CheckId::RunAsRootAllowed,
    pod("p").pod_field("securityContext", json!({"runAsUser": 1000})).container_security(security(json!({"runAsNonRoot": null}))).facts())]
#[case::container_user_overrides_pod_root(CheckId::RunAsRootAllowed,
    pod("p").pod_field("securityContext", json!({"runAsUser": 0})).container_security(security(json!({"runAsUser": 1000}))).facts())]
#[case::container_non_root_overrides_pod(CheckId::RunAsRootAllowed,
    pod("p").pod_field("securityContext", json!({"runAsNonRoot": false})).facts())]
// runAsPrivileged
#[case::privileged_false(CheckId::RunAsPrivileged, with_security(json!({"privileged": false})))]
#[case::privileged_unset(CheckId::RunAsPrivileged, with_security(json!({"privileged": null})))]
// privilegeEscalationAllowed / notReadOnlyRootFilesystem
#[case::escalation_false(CheckId::PrivilegeEscalationAllowed, with_security(json!({"allowPrivilegeEscalation": false})))]
#[case::root_fs_read_only(CheckId::NotReadOnlyRootFilesystem, with_security(json!({"readOnlyRootFilesystem": true})))]
// host namespaces and paths
#[case::host_network_false(CheckId::HostNetworkSet, pod("p").pod_field("hostNetwork", json!(false)).facts())]
#[case::host_pid_false(CheckId::HostPidSet, pod("p").pod_field("hostPID", json!(false)).facts())]
#[case::host_ipc_false(CheckId::HostIpcSet, pod("p").pod_field("hostIPC", json!(false)).facts())]
#[case::no_host_path(CheckId::HostPathSet,
    pod("p").pod_field("volumes", json!([{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}])).facts())]
#[case::host_port_zero(CheckId::HostPortSet, pod("p").main_field("ports", json!([{"containerPort": 80, "hostPort": 0}])).facts())]
#[case::no_ports(CheckId::HostPortSet, pod("p").main_field("ports", Value::Null).facts())]
// dangerousCapabilities
#[case::safe_capability(CheckId::DangerousCapabilities, with_security(json!({"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"]}})))]
#[case::dropping_all(CheckId::DangerousCapabilities, with_security(json!({"capabilities": {"drop": ["ALL"]}})))]
#[case::similar_name(CheckId::DangerousCapabilities, with_security(json!({"capabilities": {"add": ["SYS_ADMINISTRATOR"]}})))]
// pullPolicyNotAlways
#[case::always(CheckId::PullPolicyNotAlways, pod("p").main_field("imagePullPolicy", json!("Always")).facts())]
#[case::absent_policy_on_latest(CheckId::PullPolicyNotAlways, pod("p").image("nginx:latest").main_field("imagePullPolicy", Value::Null).facts())]
#[case::absent_policy_on_untagged(CheckId::PullPolicyNotAlways, pod("p").image("nginx").main_field("imagePullPolicy", Value::Null).facts())]
#[case::absent_policy_on_untagged_with_port(CheckId::PullPolicyNotAlways,
    pod("p").image("registry:5000/app").main_field("imagePullPolicy", Value::Null).facts())]
fn a_passing_object_is_not_flagged(#[case] check: CheckId, #[case] facts: PodFacts) {
    assert_eq!(flagged(check, &facts), Vec::<Option<String>>::new());
}

// ---------------------------------------------------------------------------------------
// Sidecars, init containers and batch pods

#[test]
fn a_native_sidecar_is_probed_but_a_classic_init_container_is_not() {
    let facts = pod("p")
        .init_container("init", "busybox:1.36")
        .sidecar("proxy", "envoy:1.30")
        .facts();
    let policy = policy_with(&[
        CheckId::MissingLivenessProbe,
        CheckId::MissingReadinessProbe,
    ]);
    let mut got: Vec<(CheckId, Option<String>)> = evaluate(&facts, &policy, now())
        .into_iter()
        .map(|f| (f.check, f.container))
        .collect();
    got.sort();
    let proxy = Some("proxy".to_owned());
    assert_eq!(
        got,
        [
            (CheckId::MissingLivenessProbe, proxy.clone()),
            (CheckId::MissingReadinessProbe, proxy),
        ]
    );
}

#[test]
fn a_job_template_still_gets_security_and_resource_findings() {
    let facts = workload(WorkloadKind::Job, "j")
        .without_probes()
        .without_resources()
        .container_security(json!({"privileged": true}))
        .facts();
    let checks: Vec<CheckId> = evaluate(&facts, &every_check(), now())
        .into_iter()
        .map(|f| f.check)
        .collect();
    assert!(checks.contains(&CheckId::RunAsPrivileged), "{checks:?}");
    assert!(checks.contains(&CheckId::CpuRequestsMissing), "{checks:?}");
    assert!(
        !checks.contains(&CheckId::MissingLivenessProbe),
        "{checks:?}"
    );
    assert!(
        !checks.contains(&CheckId::MissingReadinessProbe),
        "{checks:?}"
    );
}

#[test]
fn a_pod_owned_by_a_job_without_the_controller_flag_is_still_probed() {
    let facts = edited(&pod("p").owned_by("Job", "j").without_liveness(), |v| {
        v["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    });
    assert_eq!(flagged(CheckId::MissingLivenessProbe, &facts), main_only());
}

#[test]
fn an_init_container_restart_count_is_judged_too() {
    let facts = edited(
        &pod("p")
            .init_container("init", "busybox:1.36")
            .status("Running", 0),
        |v| {
            v["status"]["initContainerStatuses"] = json!([{
                "name": "init", "image": "x", "imageID": "", "ready": false, "restartCount": 7
            }]);
        },
    );
    assert_eq!(flagged(CheckId::HighRestarts, &facts), named("init"));
}

#[test]
fn every_container_is_reported_separately() {
    let facts = pod("p")
        .image("a:latest")
        .container("b", "b:latest")
        .init_container("c", "c")
        .facts();
    let mut got = flagged(CheckId::LatestTag, &facts);
    got.sort();
    assert_eq!(got, [named("app"), named("b"), named("c")].concat());
}

// ---------------------------------------------------------------------------------------
// Thresholds and penalties of the runtime checks

#[rstest]
#[case::one_above_the_limit(4, 24.0)]
#[case::five_restarts(5, 30.0)]
#[case::capped_at_five(50, 30.0)]
fn high_restarts_penalty_is_weight_times_capped_restarts(
    #[case] restarts: i32,
    #[case] points: f64,
) {
    let facts = pod("p").status("CrashLoopBackOff", restarts).facts();
    let found = findings_of(CheckId::HighRestarts, &facts);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Critical);
    assert_eq!(found[0].penalty.points(), points);
}

#[test]
fn high_restarts_penalty_follows_the_overridden_severity() {
    let policy = from_spec(DevOpsPolicySpec {
        max_restart_count: Some(3),
        severity_overrides: Some([("highRestarts".to_owned(), Severity::Medium)].into()),
        ..DevOpsPolicySpec::default()
    });
    let found = evaluate(&pod("p").status("Running", 10).facts(), &policy, now());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Medium);
    // weight 6 x (1 / 3) x min(10, 5)
    assert_eq!(found[0].penalty.points(), 10.0);
}

#[test]
fn a_restart_limit_of_zero_flags_the_first_restart() {
    let policy = from_spec(DevOpsPolicySpec {
        max_restart_count: Some(0),
        ..DevOpsPolicySpec::default()
    });
    assert_eq!(
        evaluate(&pod("p").status("Running", 0).facts(), &policy, now()),
        vec![]
    );
    let found = evaluate(&pod("p").status("Running", 1).facts(), &policy, now());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].penalty.points(), 6.0);
}

#[rstest]
#[case::below(599, false)]
#[case::equal(600, false)]
#[case::above(601, true)]
fn long_pending_fires_only_beyond_the_configured_limit(#[case] waited: i64, #[case] fires: bool) {
    let policy = from_spec(DevOpsPolicySpec {
        forbid_pending_duration: Some(600),
        ..DevOpsPolicySpec::default()
    });
    let created = now()
        .checked_sub(jiff::SignedDuration::from_secs(waited))
        .unwrap();
    let facts = pod("p")
        .created(&created.to_string())
        .status("Pending", 0)
        .facts();
    let found = evaluate(&facts, &policy, now());
    assert_eq!(found.len(), usize::from(fires), "{found:?}");
}

#[test]
fn a_pending_pod_created_in_the_future_is_not_flagged() {
    let facts = pod("p")
        .created("2026-06-02T00:00:00Z")
        .status("Pending", 0)
        .facts();
    assert_eq!(
        flagged(CheckId::LongPending, &facts),
        Vec::<Option<String>>::new()
    );
}

// ---------------------------------------------------------------------------------------
// Severities

#[test]
fn a_severity_override_changes_severity_and_penalty() {
    let policy = from_spec(DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        severity_overrides: Some([("latestTag".to_owned(), Severity::Critical)].into()),
        ..DevOpsPolicySpec::default()
    });
    let found = evaluate(&pod("p").image("nginx:latest").facts(), &policy, now());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Critical);
    // weight 5 x (3 / 2)
    assert_eq!(found[0].penalty.points(), 7.5);
}

#[test]
fn a_seed_key_override_changes_the_probe_severity() {
    let policy = from_spec(DevOpsPolicySpec {
        require_liveness_probe: Some(true),
        severity_overrides: Some([("missingLiveness".to_owned(), Severity::Low)].into()),
        ..DevOpsPolicySpec::default()
    });
    let found = evaluate(&pod("p").without_liveness().facts(), &policy, now());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Low);
    // weight 3 x (0.5 / 1)
    assert_eq!(found[0].penalty.points(), 1.5);
}

#[test]
fn a_severity_in_the_checks_map_changes_severity_and_penalty() {
    let policy = from_spec(DevOpsPolicySpec {
        checks: Some(
            [(
                "hostPortSet".to_owned(),
                CheckSettings {
                    severity: Some(Severity::High),
                },
            )]
            .into(),
        ),
        ..DevOpsPolicySpec::default()
    });
    let facts = pod("p")
        .main_field("ports", json!([{"containerPort": 80, "hostPort": 80}]))
        .facts();
    let found = evaluate(&facts, &policy, now());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::High);
    // weight 2 x (2 / 1)
    assert_eq!(found[0].penalty.points(), 4.0);
}

#[test]
fn an_override_of_a_check_that_is_off_produces_no_finding() {
    let policy = from_spec(DevOpsPolicySpec {
        severity_overrides: Some([("latestTag".to_owned(), Severity::Critical)].into()),
        ..DevOpsPolicySpec::default()
    });
    assert_eq!(
        evaluate(&pod("p").image("nginx:latest").facts(), &policy, now()),
        vec![]
    );
}

// ---------------------------------------------------------------------------------------
// Exemptions and pod scores

fn latest_pod() -> ObjectBuilder {
    pod("p").image("nginx:latest").without_liveness()
}

fn seed_policy() -> EffectivePolicy {
    EffectivePolicy::default()
}

#[test]
fn an_exempt_finding_is_skipped_with_its_reason() {
    let facts = latest_pod()
        .annotation(IGNORE, "latestTag")
        .annotation(IGNORE_REASON, "vendor image")
        .facts();
    let found = evaluate(&facts, &seed_policy(), now());
    let latest = found
        .iter()
        .find(|f| f.check == CheckId::LatestTag)
        .unwrap();
    assert_eq!(
        latest.status,
        FindingStatus::Skipped {
            reason: "exempt: vendor image".into()
        }
    );
    assert!(!latest.is_counted());
    let liveness = found
        .iter()
        .find(|f| f.check == CheckId::MissingLivenessProbe)
        .unwrap();
    assert!(liveness.is_counted());
}

#[test]
fn skipped_findings_are_not_counted_by_pod_score() {
    let facts = latest_pod().annotation(IGNORE, "latestTag").facts();
    let score = pod_score(&evaluate(&facts, &seed_policy(), now()));
    assert_eq!(score.penalty.points(), 3.0);
    assert!(!score.checks.contains(CheckId::LatestTag));
    assert!(score.checks.contains(CheckId::MissingLivenessProbe));
}

#[test]
fn a_star_exemption_skips_every_finding() {
    let facts = latest_pod().annotation(IGNORE, "*").facts();
    let found = evaluate(&facts, &seed_policy(), now());
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|f| !f.is_counted()));
    assert_eq!(pod_score(&found), crate::score::PodScore::default());
}

#[test]
fn a_lapsed_exemption_is_counted_and_says_so() {
    let facts = latest_pod()
        .annotation(IGNORE, "latestTag")
        .annotation(IGNORE_UNTIL, "2026-05-01")
        .facts();
    let found = evaluate(&facts, &seed_policy(), now());
    let latest = found
        .iter()
        .find(|f| f.check == CheckId::LatestTag)
        .unwrap();
    assert!(latest.is_counted());
    assert!(latest.message.contains("lapsed"), "{}", latest.message);
    assert_eq!(pod_score(&found).penalty.points(), 8.0);
}

#[test]
fn an_exemption_until_a_future_date_still_applies() {
    let facts = latest_pod()
        .annotation(IGNORE, "latestTag")
        .annotation(IGNORE_UNTIL, "2026-07-01")
        .facts();
    let found = evaluate(&facts, &seed_policy(), now());
    let latest = found
        .iter()
        .find(|f| f.check == CheckId::LatestTag)
        .unwrap();
    assert!(
        matches!(&latest.status, FindingStatus::Skipped { reason } if reason.contains("2026-07-01"))
    );
}

#[test]
fn an_exemption_on_a_pod_template_applies_to_the_workload() {
    let facts = deployment("d")
        .image("nginx:latest")
        .template_annotation(IGNORE, "latestTag")
        .facts();
    let found = evaluate(&facts, &seed_policy(), now());
    assert_eq!(found.len(), 1);
    assert!(!found[0].is_counted());
}

#[test]
fn pod_score_sums_counted_penalties_and_records_the_checks() {
    let facts = pod("p").image("nginx:latest").without_probes().facts();
    let score = pod_score(&evaluate(&facts, &seed_policy(), now()));
    assert_eq!(score.penalty.points(), 10.0);
    for id in [
        CheckId::LatestTag,
        CheckId::MissingLivenessProbe,
        CheckId::MissingReadinessProbe,
    ] {
        assert!(score.checks.contains(id), "{id}");
    }
    assert!(!score.checks.contains(CheckId::HighRestarts));
}

#[test]
fn a_host_path_finding_names_every_host_path_volume() {
    let facts = pod("p")
        .pod_field(
            "volumes",
            json!([
                {"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}},
                {"name": "tmp", "emptyDir": {}},
                {"name": "logs", "hostPath": {"path": "/var/log"}}
            ]),
        )
        .facts();
    let found = findings_of(CheckId::HostPathSet, &facts);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("sock, logs"),
        "{}",
        found[0].message
    );
    assert!(!found[0].message.contains("tmp"), "{}", found[0].message);
}

#[test]
fn a_dangerous_capability_finding_names_only_the_dangerous_ones() {
    let facts =
        with_security(json!({"capabilities": {"add": ["CHOWN", "CAP_NET_ADMIN", "sys_module"]}}));
    let found = findings_of(CheckId::DangerousCapabilities, &facts);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("CAP_NET_ADMIN, sys_module"),
        "{}",
        found[0].message
    );
    assert!(!found[0].message.contains("CHOWN"), "{}", found[0].message);
}

#[test]
fn an_exemption_for_a_check_that_is_off_produces_no_finding() {
    let facts = latest_pod().annotation(IGNORE, "hostNetworkSet").facts();
    let found = evaluate(&facts, &seed_policy(), now());
    assert!(
        found
            .iter()
            .all(|f| f.is_counted() && f.check != CheckId::HostNetworkSet)
    );
}

/// The written form of a finding: the fields the hand-written `Serialize` writes, as the
/// derived one with the status flattened wrote them (JSON and YAML alike).
#[test]
fn a_finding_serialises_as_the_flattened_derive_did() {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase", tag = "state")]
    enum Status {
        Counted,
        Skipped { reason: String },
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Derived {
        check: CheckId,
        severity: Severity,
        #[serde(skip_serializing_if = "Option::is_none")]
        container: Option<String>,
        message: String,
        penalty: Penalty,
        #[serde(flatten)]
        status: Status,
    }
    for (container, skipped) in [(None, None), (Some("app"), Some("exempt: \"x\"\n"))] {
        let ours = Finding {
            check: CheckId::LatestTag,
            severity: Severity::High,
            container: container.map(str::to_owned),
            message: "image \"nginx\" has no tag".to_owned(),
            penalty: Penalty(30),
            status: match skipped {
                Some(r) => FindingStatus::Skipped {
                    reason: r.to_owned(),
                },
                None => FindingStatus::Counted,
            },
        };
        let derived = Derived {
            check: ours.check,
            severity: ours.severity,
            container: ours.container.clone(),
            message: ours.message.clone(),
            penalty: ours.penalty,
            status: match skipped {
                Some(r) => Status::Skipped {
                    reason: r.to_owned(),
                },
                None => Status::Counted,
            },
        };
        assert_eq!(
            serde_json::to_string_pretty(&ours).unwrap(),
            serde_json::to_string_pretty(&derived).unwrap()
        );
        assert_eq!(
            serde_yaml_ng::to_string(&ours).unwrap(),
            serde_yaml_ng::to_string(&derived).unwrap()
        );
    }
}

#[rstest]
#[case::plain("web-1")]
#[case::every_printable_ascii_but_quotes(" !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~")]
#[case::quote("a\"b")]
#[case::backslash("a\\b")]
#[case::control("a\tb\n\u{1}\u{7f}")]
#[case::non_ascii("conteneur-é-😀")]
#[case::combining_mark("e\u{301}")]
#[case::empty("")]
fn a_message_about_a_container_quotes_its_name_as_debug_does(#[case] name: &str) {
    let message = super::about("init container", name, " has no livenessProbe");
    assert_eq!(
        message,
        format!("init container {name:?} has no livenessProbe")
    );
}
