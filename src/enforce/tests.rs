//! The enforcement plan, case by case.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::checks::CheckId;
use crate::policy::EffectivePolicy;
use crate::policy::crd::{DefaultProbe, DefaultResources, DevOpsPolicySpec};
use crate::testing::{ObjectBuilder, deployment, pod, workload};

const PROBES_AND_RESOURCES: &[CheckId] = &[
    CheckId::MissingLivenessProbe,
    CheckId::MissingReadinessProbe,
    CheckId::CpuRequestsMissing,
    CheckId::MemoryRequestsMissing,
    CheckId::CpuLimitsMissing,
    CheckId::MemoryLimitsMissing,
];

fn spec(probe: Option<DefaultProbe>, resources: bool) -> DevOpsPolicySpec {
    DevOpsPolicySpec {
        checks: Some(
            PROBES_AND_RESOURCES
                .iter()
                .map(|c| (c.as_str().to_owned(), Default::default()))
                .collect(),
        ),
        default_probe: probe,
        default_resources: resources.then(|| DefaultResources {
            cpu_request: Some("100m".into()),
            cpu_limit: Some("500m".into()),
            memory_request: Some("128Mi".into()),
            memory_limit: Some("256Mi".into()),
        }),
        ..DevOpsPolicySpec::default()
    }
}

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn decide(object: &ObjectBuilder, spec: &DevOpsPolicySpec) -> Decision {
    let policy = EffectivePolicy::from_spec(spec).unwrap();
    plan(
        &object.facts(),
        Enforcing {
            policy: &policy,
            spec,
        },
        now(),
    )
}

fn patch(d: Decision) -> RemediationPlan {
    match d {
        Decision::Patch(p) => p,
        other => panic!("expected a plan, got {other:?}"),
    }
}

fn skipped(d: Decision) -> SkipReason {
    match d {
        Decision::Skip(s) => s.reason,
        other => panic!("expected a skip, got {other:?}"),
    }
}

/// A compliant Deployment whose first container is `sidecar` (compliant) and whose second,
/// `app`, lacks probes and resources and declares one port.
fn two_containers_second_bad() -> ObjectBuilder {
    deployment("web")
        .ns("shop")
        .main_field("name", json!("sidecar"))
        .container("app", "registry.example.com/app:1.0.0")
        .edit_container(1, |c| {
            c.remove("livenessProbe");
            c.remove("readinessProbe");
            c.remove("resources");
            c.insert("ports".into(), json!([{"containerPort": 9000}]));
        })
}

trait EditContainer {
    fn edit_container(self, i: usize, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Self;
}

impl EditContainer for ObjectBuilder {
    fn edit_container(self, i: usize, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Self {
        let mut obj = self.build();
        if let Some(c) = obj
            .pointer_mut(&format!("/spec/template/spec/containers/{i}"))
            .and_then(Value::as_object_mut)
        {
            f(c);
        }
        let containers = obj["spec"]["template"]["spec"]["containers"].clone();
        self.pod_field("containers", containers)
    }
}

#[test]
fn the_container_is_found_by_name_not_by_position() {
    let p = patch(decide(&two_containers_second_bad(), &spec(None, true)));
    assert_eq!(p.containers.len(), 1, "{p:?}");
    let c = &p.containers[0];
    assert_eq!(c.name, "app");
    assert!(!c.init);
    let tcp = ProbeAction::TcpSocket { port: 9000 };
    assert_eq!(c.liveness_probe.as_ref().unwrap().action, tcp);
    assert_eq!(c.readiness_probe.as_ref().unwrap().action, tcp);
    assert_eq!(
        c.resources,
        vec![
            (ResourceField::CpuRequest, "100m".to_owned()),
            (ResourceField::MemoryRequest, "128Mi".to_owned()),
            (ResourceField::CpuLimit, "500m".to_owned()),
            (ResourceField::MemoryLimit, "256Mi".to_owned()),
        ]
    );
    assert_eq!(p.fixes, PROBES_AND_RESOURCES);
    assert_eq!(p.workload(), "Deployment/web");
    assert_eq!(p.namespace, "shop");
}

#[test]
fn only_missing_resource_fields_are_filled_and_existing_values_kept() {
    let object = deployment("web").main_field(
        "resources",
        json!({"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}),
    );
    let p = patch(decide(&object, &spec(None, true)));
    assert_eq!(
        p.containers[0].resources,
        vec![
            (ResourceField::MemoryRequest, "128Mi".to_owned()),
            (ResourceField::CpuLimit, "500m".to_owned()),
        ]
    );
    assert!(p.containers[0].liveness_probe.is_none());
}

#[test]
fn probes_come_only_from_the_default_or_exactly_one_port() {
    let default_tcp = DefaultProbe {
        tcp_port: Some(7000),
        initial_delay_seconds: Some(1),
        period_seconds: Some(3),
        ..DefaultProbe::default()
    };
    let default_http_no_port = DefaultProbe {
        http_get_path: Some("/healthz".into()),
        ..DefaultProbe::default()
    };
    let ports = |p: Value| deployment("web").without_probes().main_field("ports", p);
    let cases: Vec<(
        &str,
        ObjectBuilder,
        Option<DefaultProbe>,
        Option<ProbeIntent>,
    )> = vec![
        (
            "one port, no default",
            ports(json!([{"containerPort": 80}])),
            None,
            Some(ProbeIntent {
                action: ProbeAction::TcpSocket { port: 80 },
                initial_delay_seconds: 5,
                period_seconds: 10,
            }),
        ),
        (
            "two ports, no default",
            ports(json!([{"containerPort": 80}, {"containerPort": 81}])),
            None,
            None,
        ),
        ("no port, no default", ports(Value::Null), None, None),
        (
            "no port, default tcp",
            ports(Value::Null),
            Some(default_tcp.clone()),
            Some(ProbeIntent {
                action: ProbeAction::TcpSocket { port: 7000 },
                initial_delay_seconds: 1,
                period_seconds: 3,
            }),
        ),
        (
            "two ports, default http path: the first port",
            ports(json!([{"containerPort": 80}, {"containerPort": 81}])),
            Some(default_http_no_port.clone()),
            Some(ProbeIntent {
                action: ProbeAction::HttpGet {
                    path: "/healthz".into(),
                    port: 80,
                },
                initial_delay_seconds: 5,
                period_seconds: 10,
            }),
        ),
        (
            "no port, default http path without port",
            ports(Value::Null),
            Some(default_http_no_port),
            None,
        ),
    ];
    for (name, object, probe, want) in cases {
        let decision = decide(&object, &spec(probe, true));
        match want {
            Some(want) => {
                let p = patch(decision);
                assert_eq!(
                    p.containers[0].liveness_probe.as_ref(),
                    Some(&want),
                    "{name}"
                );
                assert_eq!(
                    p.containers[0].readiness_probe.as_ref(),
                    Some(&want),
                    "{name}"
                );
            }
            None => assert_eq!(skipped(decision), SkipReason::NothingDerivable, "{name}"),
        }
    }
}

#[test]
fn what_cannot_be_derived_is_recorded_beside_what_can() {
    let object = deployment("web")
        .without_probes()
        .without_resources()
        .main_field("ports", Value::Null);
    let p = patch(decide(&object, &spec(None, true)));
    assert!(p.containers[0].liveness_probe.is_none());
    assert_eq!(p.containers[0].resources.len(), 4);
    assert_eq!(p.not_derivable.len(), 2, "{:?}", p.not_derivable);
    assert!(p.not_derivable[0].contains("missingLivenessProbe"));
}

#[test]
fn checks_that_are_off_are_not_remediated() {
    let object = deployment("web").without_probes().without_resources();
    let mut only_liveness = spec(None, true);
    only_liveness.checks = Some(
        [("missingLivenessProbe".to_owned(), Default::default())]
            .into_iter()
            .collect(),
    );
    let p = patch(decide(&object, &only_liveness));
    assert!(p.containers[0].liveness_probe.is_some());
    assert!(p.containers[0].readiness_probe.is_none());
    assert!(p.containers[0].resources.is_empty());
    assert_eq!(p.fixes, vec![CheckId::MissingLivenessProbe]);
}

#[test]
fn a_compliant_workload_needs_nothing() {
    assert_eq!(
        decide(&deployment("web"), &spec(None, true)),
        Decision::Compliant
    );
}

#[test]
fn kinds_that_are_reported_not_patched() {
    let bad = |b: ObjectBuilder| b.without_probes().without_resources();
    let cases = [
        (bad(pod("p")), SkipReason::BarePod),
        (bad(workload(WorkloadKind::Job, "j")), SkipReason::Batch),
        (bad(workload(WorkloadKind::CronJob, "c")), SkipReason::Batch),
        (
            bad(workload(WorkloadKind::ReplicaSet, "r")),
            SkipReason::UnsupportedOwner,
        ),
        (
            bad(workload(WorkloadKind::ReplicationController, "rc")),
            SkipReason::UnsupportedOwner,
        ),
    ];
    for (object, want) in cases {
        assert_eq!(
            skipped(decide(&object, &spec(None, true))),
            want,
            "{object:?}"
        );
    }
    for kind in [WorkloadKind::StatefulSet, WorkloadKind::DaemonSet] {
        let p = patch(decide(&bad(workload(kind, "w")), &spec(None, true)));
        assert_eq!(p.kind, kind);
    }
}

#[test]
fn exemptions_are_honoured_until_they_lapse() {
    let object = deployment("web")
        .without_probes()
        .annotation("devops.stochastic.io/ignore", "*");
    assert_eq!(
        skipped(decide(&object, &spec(None, true))),
        SkipReason::Exempt
    );
    let partly = deployment("web")
        .without_probes()
        .without_resources()
        .annotation("devops.stochastic.io/ignore", "missingLivenessProbe");
    let p = patch(decide(&partly, &spec(None, true)));
    assert!(p.containers[0].liveness_probe.is_none());
    assert!(p.containers[0].readiness_probe.is_some());
    let lapsed = deployment("web")
        .without_probes()
        .annotation("devops.stochastic.io/ignore", "*")
        .annotation("devops.stochastic.io/ignore-until", "2026-01-01T00:00:00Z");
    assert!(matches!(
        decide(&lapsed, &spec(None, true)),
        Decision::Patch(_)
    ));
}

#[test]
fn init_containers_get_resources_and_sidecars_get_probes_too() {
    let object = deployment("web")
        .push_init(json!({"name": "setup", "image": "registry.example.com/s:1"}))
        .sidecar("proxy", "registry.example.com/p:1");
    let p = patch(decide(&object, &spec(None, true)));
    let setup = p.containers.iter().find(|c| c.name == "setup").unwrap();
    assert!(setup.init);
    assert!(
        setup.liveness_probe.is_none(),
        "init containers take no probes"
    );
    assert_eq!(setup.resources.len(), 4);
    let proxy = p.containers.iter().find(|c| c.name == "proxy").unwrap();
    assert!(proxy.init);
    assert!(proxy.liveness_probe.is_some());
}

#[test]
fn descriptions_name_the_container_and_the_value() {
    let p = patch(decide(&two_containers_second_bad(), &spec(None, true)));
    let lines = p.describe();
    assert_eq!(
        lines[0],
        "container app: livenessProbe tcpSocket port 9000 (initialDelaySeconds 5, periodSeconds 10)"
    );
    assert!(lines.contains(&"container app: resources.limits.memory 256Mi".to_owned()));
    let reasons: Vec<&str> = SkipReason::ALL.iter().map(|r| r.as_str()).collect();
    let mut unique = reasons.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), reasons.len());
}
