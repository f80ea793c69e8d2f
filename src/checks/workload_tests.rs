//! The workload checks of the second round, table by table: failing and passing objects,
//! boundaries, init, sidecar and ephemeral containers, and every workload kind.

use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::facts::{PodFacts, WorkloadKind};
use crate::testing::{ObjectBuilder, deployment, pod, policy_with, workload};

fn now() -> jiff::Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

/// The containers (`None` for the pod) that `check` alone flags.
fn flagged(check: CheckId, facts: &PodFacts) -> Vec<Option<String>> {
    evaluate(facts, &policy_with(&[check]), now())
        .into_iter()
        .inspect(|f| assert_eq!(f.check, check))
        .map(|f| f.container)
        .collect()
}

fn main_only() -> Vec<Option<String>> {
    vec![Some("app".to_owned())]
}

fn pod_level() -> Vec<Option<String>> {
    vec![None]
}

fn none() -> Vec<Option<String>> {
    Vec::new()
}

/// The builder's compliant container securityContext with `patch` merged in.
fn security(patch: Value) -> Value {
    let mut sc = json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false,
                        "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}});
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            sc.as_object_mut().unwrap().remove(k);
        } else {
            sc[k] = v.clone();
        }
    }
    sc
}

fn main_with(patch: Value) -> PodFacts {
    pod("p").container_security(security(patch)).facts()
}

/// A pod whose init container carries `patch` in its securityContext.
fn init_with(patch: Value) -> PodFacts {
    let mut c = json!({"name": "init", "image": "registry.example.com/init:1",
                       "resources": {"limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"}}});
    c["securityContext"] = security(patch);
    pod("p").push_init(c).facts()
}

/// A pod with an ephemeral container (what `kubectl debug` adds) carrying `patch`.
fn ephemeral_with(patch: Value) -> PodFacts {
    let mut c = json!({"name": "debug", "image": "registry.example.com/busybox:1.36",
                       "targetContainerName": "app"});
    c["securityContext"] = security(patch);
    pod("p").ephemeral(c).facts()
}

fn named(name: &str) -> Vec<Option<String>> {
    vec![Some(name.to_owned())]
}

// ---------------------------------------------------------------------------------------
// Container security checks, on every container role

#[rstest]
// hostProcess: container or inherited from the pod; false or absent passes.
#[case::host_process(CheckId::HostProcess, main_with(json!({"windowsOptions": {"hostProcess": true}})), main_only())]
#[case::host_process_from_pod(CheckId::HostProcess,
    pod("p").pod_field("securityContext", json!({"seccompProfile": {"type": "RuntimeDefault"}, "windowsOptions": {"hostProcess": true}})).facts(), main_only())]
#[case::host_process_overridden(CheckId::HostProcess,
    pod("p").pod_field("securityContext", json!({"windowsOptions": {"hostProcess": true}}))
        .container_security(security(json!({"windowsOptions": {"hostProcess": false}}))).facts(), none())]
#[case::host_process_false(CheckId::HostProcess, main_with(json!({"windowsOptions": {"hostProcess": false}})), none())]
#[case::host_process_init(CheckId::HostProcess, init_with(json!({"windowsOptions": {"hostProcess": true}})), named("init"))]
#[case::host_process_ephemeral(CheckId::HostProcess, ephemeral_with(json!({"windowsOptions": {"hostProcess": true}})), named("debug"))]
// procMount: anything but Default.
#[case::proc_mount_unmasked(CheckId::ProcMount, main_with(json!({"procMount": "Unmasked"})), main_only())]
#[case::proc_mount_default(CheckId::ProcMount, main_with(json!({"procMount": "Default"})), none())]
#[case::proc_mount_init(CheckId::ProcMount, init_with(json!({"procMount": "Unmasked"})), named("init"))]
#[case::proc_mount_ephemeral(CheckId::ProcMount, ephemeral_with(json!({"procMount": "Unmasked"})), named("debug"))]
// runAsUserZero: an explicit uid 0, inherited unless overridden.
#[case::uid_zero(CheckId::RunAsUserZero, main_with(json!({"runAsUser": 0})), main_only())]
#[case::uid_one(CheckId::RunAsUserZero, main_with(json!({"runAsUser": 1})), none())]
#[case::uid_unset(CheckId::RunAsUserZero, main_with(json!({"runAsUser": null})), none())]
#[case::uid_zero_from_pod(CheckId::RunAsUserZero,
    pod("p").pod_field("securityContext", json!({"runAsUser": 0})).facts(), main_only())]
#[case::uid_zero_overridden(CheckId::RunAsUserZero,
    pod("p").pod_field("securityContext", json!({"runAsUser": 0})).container_security(security(json!({"runAsUser": 1000}))).facts(), none())]
#[case::uid_zero_init(CheckId::RunAsUserZero, init_with(json!({"runAsUser": 0})), named("init"))]
#[case::uid_zero_ephemeral(CheckId::RunAsUserZero, ephemeral_with(json!({"runAsUser": 0})), named("debug"))]
// seccompProfileUnconfined
#[case::seccomp_unconfined(CheckId::SeccompProfileUnconfined, main_with(json!({"seccompProfile": {"type": "Unconfined"}})), main_only())]
#[case::seccomp_unconfined_pod(CheckId::SeccompProfileUnconfined,
    pod("p").pod_field("securityContext", json!({"seccompProfile": {"type": "Unconfined"}})).facts(), main_only())]
#[case::seccomp_pod_unconfined_container_default(CheckId::SeccompProfileUnconfined,
    pod("p").pod_field("securityContext", json!({"seccompProfile": {"type": "Unconfined"}}))
        .container_security(security(json!({"seccompProfile": {"type": "RuntimeDefault"}}))).facts(), none())]
#[case::seccomp_unset(CheckId::SeccompProfileUnconfined, pod("p").pod_field("securityContext", json!({})).facts(), none())]
#[case::seccomp_unconfined_ephemeral(CheckId::SeccompProfileUnconfined, ephemeral_with(json!({"seccompProfile": {"type": "Unconfined"}})), named("debug"))]
// linuxHardening: any confining profile of seccomp, AppArmor or SELinux.
#[case::no_profile(CheckId::LinuxHardening, pod("p").pod_field("securityContext", json!({})).facts(), main_only())]
#[case::unconfined_is_no_profile(CheckId::LinuxHardening,
    pod("p").pod_field("securityContext", json!({"seccompProfile": {"type": "Unconfined"}})).facts(), main_only())]
#[case::container_seccomp(CheckId::LinuxHardening,
    pod("p").pod_field("securityContext", json!({})).container_security(security(json!({"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}))).facts(), none())]
#[case::pod_app_armor(CheckId::LinuxHardening,
    pod("p").pod_field("securityContext", json!({"appArmorProfile": {"type": "RuntimeDefault"}})).facts(), none())]
#[case::app_armor_annotation(CheckId::LinuxHardening,
    pod("p").pod_field("securityContext", json!({}))
        .annotation("container.apparmor.security.beta.kubernetes.io/app", "localhost/k8s-app").facts(), none())]
#[case::app_armor_annotation_unconfined(CheckId::LinuxHardening,
    pod("p").pod_field("securityContext", json!({}))
        .annotation("container.apparmor.security.beta.kubernetes.io/app", "unconfined").facts(), main_only())]
#[case::template_app_armor_annotation(CheckId::LinuxHardening,
    deployment("d").pod_field("securityContext", json!({}))
        .template_annotation("container.apparmor.security.beta.kubernetes.io/app", "runtime/default").facts(), none())]
#[case::se_linux(CheckId::LinuxHardening,
    pod("p").pod_field("securityContext", json!({"seLinuxOptions": {"type": "container_t"}})).facts(), none())]
#[case::empty_se_linux(CheckId::LinuxHardening,
    pod("p").pod_field("securityContext", json!({"seLinuxOptions": {}})).facts(), main_only())]
#[case::no_profile_ephemeral(CheckId::LinuxHardening,
    pod("p").pod_field("securityContext", json!({})).container_security(security(json!({"seccompProfile": {"type": "RuntimeDefault"}})))
        .ephemeral(json!({"name": "debug", "image": "registry.example.com/busybox:1"})).facts(), named("debug"))]
// insecureCapabilities: drop exactly ALL, add at most NET_BIND_SERVICE.
#[case::no_drop(CheckId::InsecureCapabilities, main_with(json!({"capabilities": null})), main_only())]
#[case::drop_some(CheckId::InsecureCapabilities, main_with(json!({"capabilities": {"drop": ["NET_RAW", "CHOWN"]}})), main_only())]
#[case::drop_all_lower_case(CheckId::InsecureCapabilities, main_with(json!({"capabilities": {"drop": ["all"]}})), main_only())]
#[case::drop_all_add_net_bind(CheckId::InsecureCapabilities, main_with(json!({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})), none())]
#[case::drop_all_add_chown(CheckId::InsecureCapabilities, main_with(json!({"capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}})), main_only())]
#[case::drop_all_add_prefixed(CheckId::InsecureCapabilities, main_with(json!({"capabilities": {"drop": ["ALL"], "add": ["CAP_NET_BIND_SERVICE"]}})), main_only())]
#[case::insecure_init(CheckId::InsecureCapabilities, init_with(json!({"capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}})), named("init"))]
#[case::insecure_ephemeral(CheckId::InsecureCapabilities, ephemeral_with(json!({"capabilities": {"add": ["SYS_PTRACE"]}})), named("debug"))]
// The first-round security checks reach ephemeral containers too.
#[case::privileged_ephemeral(CheckId::RunAsPrivileged, ephemeral_with(json!({"privileged": true})), named("debug"))]
#[case::root_ephemeral(CheckId::RunAsRootAllowed, ephemeral_with(json!({"runAsNonRoot": null})), named("debug"))]
#[case::dangerous_ephemeral(CheckId::DangerousCapabilities, ephemeral_with(json!({"capabilities": {"add": ["SYS_ADMIN"]}})), named("debug"))]
#[case::escalation_ephemeral(CheckId::PrivilegeEscalationAllowed, ephemeral_with(json!({"allowPrivilegeEscalation": null})), named("debug"))]
fn container_security_checks(
    #[case] check: CheckId,
    #[case] facts: PodFacts,
    #[case] want: Vec<Option<String>>,
) {
    assert_eq!(flagged(check, &facts), want);
}

// ---------------------------------------------------------------------------------------
// Images and environment

fn env(entries: Value) -> PodFacts {
    pod("p").main_field("env", entries).facts()
}

#[rstest]
#[case::password_literal(CheckId::SensitiveContainerEnvVar, env(json!([{"name": "DB_PASSWORD", "value": "hunter2"}])), main_only())]
#[case::token_literal(CheckId::SensitiveContainerEnvVar, env(json!([{"name": "github_token", "value": "ghp_x"}])), main_only())]
#[case::private_key_value(CheckId::SensitiveContainerEnvVar, env(json!([{"name": "TLS", "value": "-----BEGIN EC PRIVATE KEY-----\nMHc"}])), main_only())]
#[case::password_from_secret(CheckId::SensitiveContainerEnvVar,
    env(json!([{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}])), none())]
#[case::empty_password(CheckId::SensitiveContainerEnvVar, env(json!([{"name": "DB_PASSWORD", "value": ""}])), none())]
#[case::harmless(CheckId::SensitiveContainerEnvVar, env(json!([{"name": "LOG_LEVEL", "value": "debug"}])), none())]
#[case::credentials_file_path(CheckId::SensitiveContainerEnvVar, env(json!([{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/var/secrets/key.json"}])), none())]
#[case::secret_in_ephemeral(CheckId::SensitiveContainerEnvVar,
    pod("p").ephemeral(json!({"name": "debug", "image": "registry.example.com/busybox:1", "env": [{"name": "API_KEY", "value": "k"}]})).facts(), named("debug"))]
#[case::secret_in_init(CheckId::SensitiveContainerEnvVar,
    pod("p").push_init(json!({"name": "init", "image": "registry.example.com/init:1", "env": [{"name": "ROOT_PASSWORD", "value": "r"}]})).facts(), named("init"))]
// imageRegistryNotAllowed (allowedRegistries: [registry.example.com])
#[case::hub_image(CheckId::ImageRegistryNotAllowed, pod("p").image("nginx:1.27").facts(), main_only())]
#[case::lookalike_registry(CheckId::ImageRegistryNotAllowed, pod("p").image("registry.example.com.evil.io/app:1").facts(), main_only())]
#[case::allowed_registry(CheckId::ImageRegistryNotAllowed, pod("p").image("registry.example.com/team/app@sha256:0123").facts(), none())]
#[case::allowed_registry_case(CheckId::ImageRegistryNotAllowed, pod("p").image("Registry.Example.com/app:1").facts(), none())]
#[case::registry_of_ephemeral(CheckId::ImageRegistryNotAllowed, pod("p").ephemeral_container("debug", "busybox:latest").facts(), named("debug"))]
#[case::registry_of_init(CheckId::ImageRegistryNotAllowed, pod("p").init_container("init", "quay.io/x/y:1").facts(), named("init"))]
// The image checks of the first round reach ephemeral containers.
#[case::latest_ephemeral(CheckId::LatestTag, pod("p").ephemeral_container("debug", "registry.example.com/busybox:latest").facts(), named("debug"))]
#[case::pull_policy_ephemeral(CheckId::PullPolicyNotAlways,
    pod("p").ephemeral(json!({"name": "debug", "image": "registry.example.com/busybox:1", "imagePullPolicy": "IfNotPresent"})).facts(), named("debug"))]
// ephemeralStorageLimitsMissing: every container that may declare resources.
#[case::no_storage_limit(CheckId::EphemeralStorageLimitsMissing,
    pod("p").main_field("resources", json!({"limits": {"cpu": "1", "memory": "1Gi"}})).facts(), main_only())]
#[case::storage_request_only(CheckId::EphemeralStorageLimitsMissing,
    pod("p").main_field("resources", json!({"requests": {"ephemeral-storage": "1Gi"}})).facts(), main_only())]
#[case::storage_limit(CheckId::EphemeralStorageLimitsMissing,
    pod("p").main_field("resources", json!({"limits": {"ephemeral-storage": "2Gi"}})).facts(), none())]
#[case::storage_limit_missing_on_init(CheckId::EphemeralStorageLimitsMissing,
    pod("p").push_init(json!({"name": "init", "image": "registry.example.com/init:1"})).facts(), named("init"))]
#[case::ephemeral_containers_have_no_resources(CheckId::EphemeralStorageLimitsMissing,
    pod("p").ephemeral_container("debug", "registry.example.com/busybox:1").facts(), none())]
#[case::ephemeral_containers_have_no_cpu(CheckId::CpuLimitsMissing,
    pod("p").ephemeral_container("debug", "registry.example.com/busybox:1").facts(), none())]
#[case::ephemeral_containers_have_no_probes(CheckId::MissingLivenessProbe,
    pod("p").ephemeral_container("debug", "registry.example.com/busybox:1").facts(), none())]
fn image_environment_and_resource_checks(
    #[case] check: CheckId,
    #[case] facts: PodFacts,
    #[case] want: Vec<Option<String>>,
) {
    assert_eq!(flagged(check, &facts), want);
}

// ---------------------------------------------------------------------------------------
// Pod checks, on every workload kind

fn every_kind() -> [WorkloadKind; 8] {
    WorkloadKind::ALL
}

#[rstest]
fn pod_checks_fire_on_every_workload_kind(#[values(0, 1, 2, 3, 4, 5, 6, 7)] k: usize) {
    let kind = every_kind()[k];
    let b = workload(kind, "w");
    let cases: Vec<(CheckId, ObjectBuilder)> = vec![
        (
            CheckId::AutomountServiceAccountToken,
            b.clone()
                .pod_field("automountServiceAccountToken", Value::Null),
        ),
        (
            CheckId::AutomountServiceAccountToken,
            b.clone()
                .pod_field("automountServiceAccountToken", json!(true)),
        ),
        (
            CheckId::ServiceAccountDefault,
            b.clone().pod_field("serviceAccountName", Value::Null),
        ),
        (
            CheckId::ServiceAccountDefault,
            b.clone().pod_field("serviceAccountName", json!("default")),
        ),
        (
            CheckId::PriorityClassNotSet,
            b.clone().pod_field("priorityClassName", json!("")),
        ),
        (
            CheckId::HostPathSensitive,
            b.clone().pod_field(
                "volumes",
                json!([{"name": "sock", "hostPath": {"path": "/run/containerd/containerd.sock"}}]),
            ),
        ),
    ];
    for (check, bad) in cases {
        assert_eq!(
            flagged(check, &bad.facts()),
            pod_level(),
            "{check} on {kind}"
        );
        assert_eq!(
            flagged(check, &b.facts()),
            none(),
            "{check} on a clean {kind}"
        );
    }
}

#[rstest]
#[case::deployment(WorkloadKind::Deployment, true)]
#[case::statefulset(WorkloadKind::StatefulSet, true)]
#[case::replicaset(WorkloadKind::ReplicaSet, true)]
#[case::replication_controller(WorkloadKind::ReplicationController, true)]
#[case::daemonset(WorkloadKind::DaemonSet, false)]
#[case::job(WorkloadKind::Job, false)]
#[case::cronjob(WorkloadKind::CronJob, false)]
#[case::bare_pod(WorkloadKind::Pod, false)]
fn topology_spread_is_asked_of_replicated_workloads(
    #[case] kind: WorkloadKind,
    #[case] asked: bool,
) {
    let without = workload(kind, "w").pod_field("topologySpreadConstraints", Value::Null);
    let want = if asked { pod_level() } else { none() };
    assert_eq!(
        flagged(CheckId::TopologySpreadConstraint, &without.facts()),
        want
    );
}

#[rstest]
#[case::replicaset_pod("ReplicaSet", true)]
#[case::statefulset_pod("StatefulSet", true)]
#[case::daemonset_pod("DaemonSet", false)]
#[case::job_pod("Job", false)]
fn topology_spread_follows_a_pods_controller(#[case] owner: &str, #[case] asked: bool) {
    let p = pod("p")
        .owned_by(owner, "o")
        .pod_field("topologySpreadConstraints", Value::Null);
    let want = if asked { pod_level() } else { none() };
    assert_eq!(flagged(CheckId::TopologySpreadConstraint, &p.facts()), want);
}

#[rstest]
#[case::node_key("kubernetes.io/hostname", false)]
#[case::zone_key("topology.kubernetes.io/zone", false)]
#[case::custom_key_only("example.com/rack", true)]
fn topology_spread_needs_a_node_or_zone_key(#[case] key: &str, #[case] fires: bool) {
    let d = deployment("d").pod_field(
        "topologySpreadConstraints",
        json!([{"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway"}]),
    );
    let want = if fires { pod_level() } else { none() };
    assert_eq!(flagged(CheckId::TopologySpreadConstraint, &d.facts()), want);
}

#[rstest]
#[case::absent(None, true)]
#[case::zero(Some(0), true)]
#[case::one(Some(1), true)]
#[case::two(Some(2), false)]
#[case::ten(Some(10), false)]
fn deployments_need_two_replicas(#[case] replicas: Option<i32>, #[case] fires: bool) {
    let d = deployment("d").replicas(replicas);
    let want = if fires { pod_level() } else { none() };
    assert_eq!(
        flagged(CheckId::DeploymentMissingReplicas, &d.facts()),
        want
    );
}

#[rstest]
#[case::statefulset(WorkloadKind::StatefulSet)]
#[case::replicaset(WorkloadKind::ReplicaSet)]
#[case::pod(WorkloadKind::Pod)]
#[case::daemonset(WorkloadKind::DaemonSet)]
fn only_deployments_are_asked_for_replicas(#[case] kind: WorkloadKind) {
    let w = workload(kind, "w").replicas(Some(1));
    assert_eq!(
        flagged(CheckId::DeploymentMissingReplicas, &w.facts()),
        none()
    );
}

#[rstest]
#[case::root("/", true)]
#[case::etc("/etc", true)]
#[case::under_proc("/proc/sys", true)]
#[case::docker_socket("/var/run/docker.sock", true)]
#[case::logs("/var/log/pods", false)]
#[case::data("/data", false)]
fn host_path_sensitive_reads_the_path(#[case] path: &str, #[case] fires: bool) {
    let p = pod("p").pod_field(
        "volumes",
        json!([{"name": "h", "hostPath": {"path": path}}]),
    );
    let want = if fires { pod_level() } else { none() };
    assert_eq!(flagged(CheckId::HostPathSensitive, &p.facts()), want);
    // Any hostPath is still a hostPathSet finding.
    assert_eq!(flagged(CheckId::HostPathSet, &p.facts()), pod_level());
}

#[test]
fn a_debug_container_like_kubectl_debug_sysadmin_fails_the_restricted_security_checks() {
    let p = pod("p").ephemeral(json!({
        "name": "debugger-x7k2p", "image": "busybox:latest", "targetContainerName": "app",
        "securityContext": {"privileged": true, "runAsUser": 0}
    }));
    let findings = evaluate(&p.facts(), &policy_with(CheckId::ALL), now());
    let mut checks: Vec<CheckId> = findings
        .iter()
        .filter(|f| f.container.as_deref() == Some("debugger-x7k2p"))
        .map(|f| f.check)
        .collect();
    checks.sort();
    checks.dedup();
    for want in [
        CheckId::LatestTag,
        CheckId::RunAsRootAllowed,
        CheckId::RunAsPrivileged,
        CheckId::PrivilegeEscalationAllowed,
        CheckId::NotReadOnlyRootFilesystem,
        CheckId::InsecureCapabilities,
        CheckId::RunAsUserZero,
        CheckId::ImageRegistryNotAllowed,
    ] {
        assert!(checks.contains(&want), "{want} missing from {checks:?}");
    }
    for never in [
        CheckId::MissingLivenessProbe,
        CheckId::MissingReadinessProbe,
        CheckId::CpuRequestsMissing,
        CheckId::MemoryLimitsMissing,
        CheckId::EphemeralStorageLimitsMissing,
        CheckId::HostPortSet,
    ] {
        assert!(
            !checks.contains(&never),
            "{never} judged an ephemeral container"
        );
    }
}
