//! Builders of test objects: `pod("web").image("nginx:latest").without_liveness()`.
//!
//! In: a few chained calls. Out: the object as JSON (what a manifest or the API server
//! holds) or its facts. The default object passes every check in the catalogue that
//! needs nothing but the object (with `allowedRegistries: [registry.example.com]`), so a
//! test states exactly the one thing it makes bad. Used by unit tests and benchmarks.

use serde_json::{Value, json};

use crate::facts::{PodFacts, WorkloadKind, facts_from_json};

/// A workload or pod under construction.
#[derive(Debug, Clone)]
pub struct ObjectBuilder {
    kind: WorkloadKind,
    name: String,
    namespace: Option<String>,
    annotations: Value,
    template_annotations: Value,
    owners: Vec<Value>,
    pod_spec: Value,
    status: Option<Value>,
    created: Option<String>,
    replicas: Option<i32>,
    labels: Value,
}

fn good_container(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "Always",
        "ports": [{"containerPort": 8080}],
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "1Gi"}
        },
        "securityContext": {
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]}
        }
    })
}

/// The registry every default image comes from.
pub const TEST_REGISTRY: &str = "registry.example.com";

fn builder(kind: WorkloadKind, name: &str) -> ObjectBuilder {
    ObjectBuilder {
        kind,
        name: name.to_owned(),
        namespace: Some("default".to_owned()),
        annotations: json!({}),
        template_annotations: json!({}),
        owners: Vec::new(),
        pod_spec: json!({
            "serviceAccountName": "app",
            "automountServiceAccountToken": false,
            "priorityClassName": "standard",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "topologySpreadConstraints": [{
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": name}}
            }],
            "containers": [good_container("app", "registry.example.com/app:1.0.0")]
        }),
        status: None,
        created: None,
        replicas: Some(3),
        labels: json!({"app": name}),
    }
}

/// A Pod.
pub fn pod(name: &str) -> ObjectBuilder {
    builder(WorkloadKind::Pod, name)
}
/// A Deployment.
pub fn deployment(name: &str) -> ObjectBuilder {
    builder(WorkloadKind::Deployment, name)
}
/// Any workload kind.
pub fn workload(kind: WorkloadKind, name: &str) -> ObjectBuilder {
    builder(kind, name)
}

impl ObjectBuilder {
    /// Sets the namespace (`None` leaves it out, as many manifests do).
    pub fn namespace(mut self, ns: Option<&str>) -> Self {
        self.namespace = ns.map(str::to_owned);
        self
    }

    /// Shortcut for `namespace(Some(ns))`.
    pub fn ns(self, ns: &str) -> Self {
        self.namespace(Some(ns))
    }

    fn main(&mut self) -> &mut Value {
        &mut self.pod_spec["containers"][0]
    }

    /// Sets the main container's image.
    pub fn image(mut self, image: &str) -> Self {
        self.main()["image"] = json!(image);
        self
    }

    /// Sets a field of the main container (`null` removes it).
    pub fn main_field(mut self, key: &str, value: Value) -> Self {
        if let Some(obj) = self.main().as_object_mut() {
            if value.is_null() {
                obj.remove(key);
            } else {
                obj.insert(key.to_owned(), value);
            }
        }
        self
    }

    /// Removes the main container's liveness probe.
    pub fn without_liveness(self) -> Self {
        self.main_field("livenessProbe", Value::Null)
    }

    /// Removes the main container's readiness probe.
    pub fn without_readiness(self) -> Self {
        self.main_field("readinessProbe", Value::Null)
    }

    /// Removes both probes from the main container.
    pub fn without_probes(self) -> Self {
        self.without_liveness().without_readiness()
    }

    /// Removes the main container's resources.
    pub fn without_resources(self) -> Self {
        self.main_field("resources", Value::Null)
    }

    /// Replaces the main container's securityContext.
    pub fn container_security(self, sc: Value) -> Self {
        self.main_field("securityContext", sc)
    }

    /// Adds a compliant regular container.
    pub fn container(mut self, name: &str, image: &str) -> Self {
        if let Some(list) = self.pod_spec["containers"].as_array_mut() {
            list.push(good_container(name, image));
        }
        self
    }

    /// Adds an init container, compliant except for probes (init containers have none).
    pub fn init_container(self, name: &str, image: &str) -> Self {
        let mut c = good_container(name, image);
        if let Some(obj) = c.as_object_mut() {
            obj.remove("livenessProbe");
            obj.remove("readinessProbe");
            obj.remove("ports");
        }
        self.push_init(c)
    }

    /// Adds an init container given as JSON.
    pub fn push_init(mut self, c: Value) -> Self {
        let list = &mut self.pod_spec["initContainers"];
        if list.is_null() {
            *list = json!([]);
        }
        if let Some(list) = list.as_array_mut() {
            list.push(c);
        }
        self
    }

    /// Adds an ephemeral container given as JSON (what `kubectl debug` adds to a pod).
    pub fn ephemeral(mut self, c: Value) -> Self {
        let list = &mut self.pod_spec["ephemeralContainers"];
        if list.is_null() {
            *list = json!([]);
        }
        if let Some(list) = list.as_array_mut() {
            list.push(c);
        }
        self
    }

    /// Adds a compliant ephemeral container (no probes, ports or resources, which the
    /// API server refuses on ephemeral containers).
    pub fn ephemeral_container(self, name: &str, image: &str) -> Self {
        let mut c = good_container(name, image);
        if let Some(obj) = c.as_object_mut() {
            for key in ["livenessProbe", "readinessProbe", "ports", "resources"] {
                obj.remove(key);
            }
        }
        self.ephemeral(c)
    }

    /// Sets the workload's `spec.replicas` (`None` leaves it out).
    pub fn replicas(mut self, replicas: Option<i32>) -> Self {
        self.replicas = replicas;
        self
    }

    /// Adds a label to the pod (a workload's pod template).
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels[key] = json!(value);
        self
    }

    /// Adds a native sidecar (an init container with `restartPolicy: Always`) without probes.
    pub fn sidecar(self, name: &str, image: &str) -> Self {
        let mut c = good_container(name, image);
        if let Some(obj) = c.as_object_mut() {
            obj.remove("livenessProbe");
            obj.remove("readinessProbe");
            obj.insert("restartPolicy".into(), json!("Always"));
        }
        self.push_init(c)
    }

    /// Sets a pod spec field (`hostNetwork`, `securityContext`, `volumes`, ...).
    pub fn pod_field(mut self, key: &str, value: Value) -> Self {
        self.pod_spec[key] = value;
        self
    }

    /// Adds an annotation on the object itself.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations[key] = json!(value);
        self
    }

    /// Adds an annotation on the pod template (workloads only).
    pub fn template_annotation(mut self, key: &str, value: &str) -> Self {
        self.template_annotations[key] = json!(value);
        self
    }

    /// Adds a controller ownerReference.
    pub fn owned_by(mut self, kind: &str, name: &str) -> Self {
        self.owners.push(json!({
            "apiVersion": "apps/v1", "kind": kind, "name": name,
            "uid": format!("uid-{name}"), "controller": true
        }));
        self
    }

    /// Live status: phase and, for the main container, its restart count.
    pub fn status(mut self, phase: &str, restarts: i32) -> Self {
        self.status = Some(json!({
            "phase": phase,
            "containerStatuses": [{
                "name": "app", "image": "x", "imageID": "", "ready": phase == "Running",
                "restartCount": restarts
            }]
        }));
        self
    }

    /// Creation time (RFC 3339).
    pub fn created(mut self, at: &str) -> Self {
        self.created = Some(at.to_owned());
        self
    }

    /// The object as JSON.
    pub fn build(&self) -> Value {
        let mut meta = json!({"name": self.name, "annotations": self.annotations});
        if self.kind == WorkloadKind::Pod {
            meta["labels"] = self.labels.clone();
        }
        if let Some(ns) = &self.namespace {
            meta["namespace"] = json!(ns);
        }
        if !self.owners.is_empty() {
            meta["ownerReferences"] = json!(self.owners);
        }
        if let Some(at) = &self.created {
            meta["creationTimestamp"] = json!(at);
        }
        let template = json!({
            "metadata": {"labels": self.labels, "annotations": self.template_annotations},
            "spec": self.pod_spec,
        });
        let selector = json!({"matchLabels": {"app": self.name}});
        let (api, spec) = match self.kind {
            WorkloadKind::Pod => ("v1", self.pod_spec.clone()),
            WorkloadKind::Deployment
            | WorkloadKind::StatefulSet
            | WorkloadKind::DaemonSet
            | WorkloadKind::ReplicaSet => (
                "apps/v1",
                json!({"selector": selector, "template": template, "serviceName": self.name}),
            ),
            WorkloadKind::ReplicationController => ("v1", json!({"template": template})),
            WorkloadKind::Job => ("batch/v1", json!({"template": template})),
            WorkloadKind::CronJob => (
                "batch/v1",
                json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}),
            ),
        };
        let mut obj =
            json!({"apiVersion": api, "kind": self.kind.as_str(), "metadata": meta, "spec": spec});
        if self.kind == WorkloadKind::StatefulSet {
            // serviceName is optional; keep the object minimal but valid for every kind.
        } else if let Some(spec) = obj["spec"].as_object_mut() {
            spec.remove("serviceName");
        }
        let scalable = matches!(
            self.kind,
            WorkloadKind::Deployment
                | WorkloadKind::StatefulSet
                | WorkloadKind::ReplicaSet
                | WorkloadKind::ReplicationController
        );
        if let (true, Some(replicas)) = (scalable, self.replicas) {
            obj["spec"]["replicas"] = json!(replicas);
        }
        if let Some(status) = &self.status {
            obj["status"] = status.clone();
        }
        obj
    }

    /// The object's facts.
    pub fn facts(&self) -> PodFacts {
        match facts_from_json(self.build()) {
            Ok(Some(f)) => f,
            other => panic!("test object did not yield facts: {other:?}"),
        }
    }
}

/// A policy that turns on exactly these checks through the `checks` map (with
/// `allowedRegistries: [registry.example.com]` when `imageRegistryNotAllowed` is one).
pub fn policy_with(ids: &[crate::checks::CheckId]) -> crate::policy::EffectivePolicy {
    use crate::checks::CheckId;
    use crate::policy::crd::CheckSettings;
    use crate::policy::{DevOpsPolicySpec, EffectivePolicy};
    let checks = ids
        .iter()
        .map(|id| (id.as_str().to_owned(), CheckSettings::default()))
        .collect();
    let registries = ids
        .contains(&CheckId::ImageRegistryNotAllowed)
        .then(|| vec![TEST_REGISTRY.to_owned()]);
    let spec = DevOpsPolicySpec {
        checks: Some(checks),
        allowed_registries: registries,
        ..DevOpsPolicySpec::default()
    };
    match EffectivePolicy::from_spec(&spec) {
        Ok(p) => p,
        Err(e) => panic!("a policy of catalogue checks resolves: {e}"),
    }
}

/// Facts as a cluster lists them: with a uid and, optionally, a controlling owner
/// `(kind, name)` whose uid is `uid-<name>`.
pub fn with_uid(mut f: PodFacts, uid: &str, controller: Option<(&str, &str)>) -> PodFacts {
    f.uid = Some(uid.into());
    if let Some((kind, name)) = controller {
        f.owners = vec![crate::facts::OwnerRef {
            kind: kind.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            controller: true,
        }];
    }
    f
}
