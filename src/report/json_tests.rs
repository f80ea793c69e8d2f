use serde_json::json;

#[test]
fn the_bytes_are_serde_jsons_pretty_bytes() {
    let deep = (0..40).fold(
        json!("leaf"),
        |v, i| json!({ format!("k{i}"): [v, {}, []] }),
    );
    for value in [
        json!({}),
        json!([]),
        json!({"a": [1, {"b": null, "c": [true, "x\ny"]}], "d": {}, "e": [[]]}),
        deep,
        // Larger than a chunk, with a string larger than a chunk inside.
        json!({"items": (0..20_000).map(|i| json!({"n": i, "s": "x\"y"})).collect::<Vec<_>>(),
               "long": "z".repeat(3 * super::CHUNK)}),
    ] {
        let mut ours = Vec::new();
        super::to_writer_pretty(&mut ours, &value).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }
}

/// A report of `yaml` judged with every check on (`benches/every-check.yaml`).
fn every_check_report(yaml: &str) -> crate::audit::AuditReport {
    use crate::audit::{Auditor, audit_input};
    use crate::manifests::{Input, parse_bytes};
    use crate::policy::{EffectivePolicy, NamespaceExclusions, strict::policy_from_value};
    let mut policy = Input::default();
    parse_bytes(
        include_bytes!("../../benches/every-check.yaml"),
        "every-check.yaml",
        &mut policy,
    );
    let spec = policy_from_value(&policy.documents[0].value).unwrap().spec;
    let mut auditor = Auditor::new(
        EffectivePolicy::from_spec(&spec).unwrap(),
        "every \"check\"".into(),
        NamespaceExclusions::from_flags(None, &["excluded-*".to_owned()]).unwrap(),
        None,
        "2026-06-01T00:00:00Z".parse().unwrap(),
    );
    let mut input = Input::default();
    parse_bytes(yaml.as_bytes(), "odd \"dir\"\\ä/x.yaml", &mut input);
    audit_input(&mut auditor, input);
    auditor.finish()
}

#[test]
fn a_report_is_written_as_serde_json_writes_it() {
    // Quotes, backslashes, control characters and non-ASCII text in names, messages
    // and reasons; exempted findings; a List; RBAC and other cluster-scoped objects;
    // skipped objects, warnings and errors.
    let yaml = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: "we\"ird\\name"
  namespace: "ns\tä"
  annotations:
    devops.stochastic.io/ignore: "cpuLimitsMissing,noSuchCheck"
    devops.stochastic.io/ignore-reason: "ticket \"42\"\nline two"
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: "c\"1"
        image: "nginx:latest"
      initContainers:
      - name: iniét
        image: "reg.example.com/a\\b"
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: listed, namespace: excluded-x}
  spec: {containers: [{name: a, image: busybox}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: listed2}
  spec: {containers: [{name: a, image: busybox}], hostNetwork: true}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "admins\u0001"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: bob}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: everything, namespace: team}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: team}
spec: {selector: {app: nothing}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec: {containers: [{name: a, image: b, ports: [{containerPort: "x"}]}]}
---
bad: [
"#;
    for report in [every_check_report(yaml), every_check_report("a: b\n")] {
        let mut ours = Vec::new();
        super::write_report(&mut ours, &report).unwrap();
        let expected = serde_json::to_string_pretty(&report).unwrap();
        assert_eq!(String::from_utf8(ours).unwrap(), expected);
    }
    let report = every_check_report(yaml);
    let json = serde_json::to_string_pretty(&report).unwrap();
    for part in [
        "\"skipped\"",
        "\\u0001",
        "\\tä",
        "ticket \\\"42\\\"\\nline two",
        "listed2",
    ] {
        assert!(json.contains(part), "the test report holds {part}: {json}");
    }
    assert!(!report.errors.is_empty() && !report.skipped.is_empty());
    assert!(!report.warnings.is_empty() && report.exempted > 0);
}

#[test]
fn escapes_are_found_at_every_place_in_a_word() {
    for special in ['"', '\\', '\u{0}', '\u{1f}', ' ', '~', '\u{7f}', 'é'] {
        for len in 1..20 {
            for at in 0..len {
                let mut s: String = "a".repeat(len - 1);
                s.insert(at, special);
                let (quotes, others) = super::escapes(s.as_bytes());
                let serde = serde_json::to_string(&s).unwrap();
                let only_quotes = format!("\"{}\"", s.replace('"', "\\\""));
                assert_eq!(quotes, s.contains('"'), "{s:?}");
                assert_eq!(others, serde != only_quotes, "{s:?}");
            }
        }
    }
}
