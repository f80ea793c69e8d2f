//! Defaults of pod specs, as `SetDefaults_PodSpec`, `SetDefaults_Container`,
//! `SetDefaults_Probe`, the volume source defaulters and the declarative `+default`
//! markers of core/v1 fill them in. In: a pod spec (of a Pod or of any pod template).
//! Out: the same spec with DNS and restart policy, scheduler, grace period, an empty
//! security context, image pull policy, termination message settings, port protocols,
//! probe timings and volume modes filled in. Pods (not templates) also get
//! `enableServiceLinks` and requests copied from limits.

use serde_json::{Map, Value, json};

use super::{Fill, Rule, When, existing, fill, items};

/// `SetDefaults_PodSpec`.
const POD_SPEC: &[Rule] = &[
    ("dnsPolicy", Fill::Str("ClusterFirst"), When::Zero),
    ("restartPolicy", Fill::Str("Always"), When::Zero),
    ("securityContext", Fill::Empty, When::Absent),
    ("terminationGracePeriodSeconds", Fill::Int(30), When::Absent),
    ("schedulerName", Fill::Str("default-scheduler"), When::Zero),
];

/// `SetDefaults_Container`, image pull policy aside.
const CONTAINER: &[Rule] = &[
    (
        "terminationMessagePath",
        Fill::Str("/dev/termination-log"),
        When::Zero,
    ),
    ("terminationMessagePolicy", Fill::Str("File"), When::Zero),
];

/// `SetDefaults_Probe`.
const PROBE: &[Rule] = &[
    ("timeoutSeconds", Fill::Int(1), When::Zero),
    ("periodSeconds", Fill::Int(10), When::Zero),
    ("successThreshold", Fill::Int(1), When::Zero),
    ("failureThreshold", Fill::Int(3), When::Zero),
];

/// `SetDefaults_HTTPGetAction`.
const HTTP_GET: &[Rule] = &[
    ("path", Fill::Str("/"), When::Zero),
    ("scheme", Fill::Str("HTTP"), When::Zero),
];

/// The declarative default of a port's protocol.
const PORT: &[Rule] = &[("protocol", Fill::Str("TCP"), When::Zero)];

/// `SetDefaults_ObjectFieldSelector`.
const FIELD_REF: &[Rule] = &[("apiVersion", Fill::Str("v1"), When::Zero)];

/// 0644, the default file mode of secret, config map, downward API and projected volumes.
const FILE_MODE: &[Rule] = &[("defaultMode", Fill::Int(420), When::Absent)];

/// Volume sources with defaults of their own.
const VOLUME_SOURCES: &[(&str, &[Rule])] = &[
    ("secret", FILE_MODE),
    ("configMap", FILE_MODE),
    ("downwardAPI", FILE_MODE),
    ("projected", FILE_MODE),
    ("hostPath", &[("type", Fill::Str(""), When::Absent)]),
    (
        "iscsi",
        &[("iscsiInterface", Fill::Str("default"), When::Zero)],
    ),
    (
        "rbd",
        &[
            ("pool", Fill::Str("rbd"), When::Zero),
            ("user", Fill::Str("admin"), When::Zero),
            ("keyring", Fill::Str("/etc/ceph/keyring"), When::Zero),
        ],
    ),
    (
        "azureDisk",
        &[
            ("cachingMode", Fill::Str("ReadWrite"), When::Absent),
            ("fsType", Fill::Str("ext4"), When::Absent),
            ("readOnly", Fill::Bool(false), When::Absent),
            ("kind", Fill::Str("Shared"), When::Absent),
        ],
    ),
];

/// The container lists of a pod spec.
const CONTAINER_LISTS: &[&str] = &["initContainers", "containers", "ephemeralContainers"];

/// A Pod: the spec defaults plus what only materialises in Pods.
pub fn pod(map: &mut Map<String, Value>) {
    let Some(spec) = existing(map, "spec") else {
        return;
    };
    for list in ["containers", "initContainers"] {
        for container in items(spec, list) {
            requests_from_limits(container);
        }
    }
    fill(
        spec,
        &[("enableServiceLinks", Fill::Bool(true), When::Absent)],
    );
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for list in ["containers", "initContainers"] {
            for container in items(spec, list) {
                for port in items(container, "ports") {
                    if super::unset(port, "hostPort", When::Zero)
                        && let Some(number) = port.get("containerPort").cloned()
                    {
                        port.insert("hostPort".into(), number);
                    }
                }
            }
        }
    }
    pod_spec(spec);
}

/// A pod spec, of a Pod or a template.
pub fn pod_spec(spec: &mut Map<String, Value>) {
    fill(spec, POD_SPEC);
    for list in CONTAINER_LISTS {
        for container in items(spec, list) {
            self::container(container);
        }
    }
    for volume in items(spec, "volumes") {
        self::volume(volume);
    }
}

fn container(container: &mut Map<String, Value>) {
    if super::unset(container, "imagePullPolicy", When::Zero) {
        let image = container.get("image").and_then(Value::as_str).unwrap_or("");
        let policy = if image_tag(image).as_deref() == Some("latest") {
            "Always"
        } else {
            "IfNotPresent"
        };
        container.insert("imagePullPolicy".into(), json!(policy));
    }
    fill(container, CONTAINER);
    for port in items(container, "ports") {
        fill(port, PORT);
    }
    for env in items(container, "env") {
        if let Some(field_ref) = existing(env, "valueFrom").and_then(|v| existing(v, "fieldRef")) {
            fill(field_ref, FIELD_REF);
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = existing(container, probe) {
            fill(probe, PROBE);
            handler(probe);
        }
    }
    if let Some(lifecycle) = existing(container, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(hook) = existing(lifecycle, hook) {
                handler(hook);
            }
        }
    }
}

/// The defaults inside a probe or lifecycle handler.
fn handler(handler: &mut Map<String, Value>) {
    if let Some(get) = existing(handler, "httpGet") {
        fill(get, HTTP_GET);
    }
    if let Some(grpc) = existing(handler, "grpc") {
        fill(grpc, &[("service", Fill::Str(""), When::Absent)]);
    }
}

fn volume(volume: &mut Map<String, Value>) {
    let has_source = volume.keys().any(|k| k != "name");
    if !has_source {
        volume.insert("emptyDir".into(), json!({}));
    }
    for (source, rules) in VOLUME_SOURCES {
        if let Some(source) = existing(volume, source) {
            fill(source, rules);
        }
    }
    if let Some(downward) = existing(volume, "downwardAPI") {
        field_refs(downward);
    }
    if let Some(projected) = existing(volume, "projected") {
        for source in items(projected, "sources") {
            if let Some(downward) = existing(source, "downwardAPI") {
                field_refs(downward);
            }
            if let Some(token) = existing(source, "serviceAccountToken") {
                fill(
                    token,
                    &[("expirationSeconds", Fill::Int(3600), When::Absent)],
                );
            }
        }
    }
    if let Some(spec) = existing(volume, "ephemeral")
        .and_then(|e| existing(e, "volumeClaimTemplate"))
        .and_then(|t| existing(t, "spec"))
    {
        super::workloads::claim_spec(spec);
    }
}

fn field_refs(downward: &mut Map<String, Value>) {
    for item in items(downward, "items") {
        if let Some(field_ref) = existing(item, "fieldRef") {
            fill(field_ref, FIELD_REF);
        }
    }
}

/// Limits without a matching request become the request too (Pods only).
fn requests_from_limits(container: &mut Map<String, Value>) {
    let Some(resources) = existing(container, "resources") else {
        return;
    };
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    let Some(requests) = super::child(resources, "requests") else {
        return;
    };
    for (name, quantity) in limits {
        requests.entry(name).or_insert(quantity);
    }
}

/// The tag the kubelet would pull: the image's tag, `latest` when it names neither a tag
/// nor a digest, `None` when it names only a digest.
pub fn image_tag(image: &str) -> Option<String> {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => Some(tag.to_string()),
        None if digest.is_some() => None,
        None => Some("latest".to_string()),
    }
}
