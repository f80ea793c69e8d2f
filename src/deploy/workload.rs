//! The controller's Deployment, its two Services and its PodDisruptionBudget.
//!
//! In: the install settings. Out: the objects, shaped to pass the Pod Security
//! `restricted` profile and kube-devops's own `restricted` bundle.

use serde_json::{Value, json};

use super::InstallSettings;

/// Port of the ops HTTP server (/healthz, /readyz, /metrics).
pub const OPS_PORT: u16 = 8080;
/// Port of the HTTPS admission webhook.
pub const WEBHOOK_PORT: u16 = 8443;
/// Where the webhook's certificate and key are mounted (the binary's default paths).
pub const TLS_DIR: &str = "/etc/kube-devops/tls";
/// The image's numeric non-root user and group.
pub const RUN_AS: u32 = 65532;

fn container_args(s: &InstallSettings) -> Vec<String> {
    let mut args = vec![
        "run".to_owned(),
        "--log-format".to_owned(),
        "json".to_owned(),
        "--shutdown-delay".to_owned(),
        "5".to_owned(),
    ];
    for glob in &s.exclude_namespaces {
        args.push("--exclude-namespace".to_owned());
        args.push(glob.clone());
    }
    if s.manage_certificates {
        args.extend([
            "--manage-certificates".to_owned(),
            "--tls-secret".to_owned(),
            s.tls_secret(),
            "--webhook-service".to_owned(),
            s.webhook_service(),
            "--webhook-configuration".to_owned(),
            s.name.clone(),
        ]);
    }
    args
}

fn probe(path: &str) -> Value {
    json!({
        "httpGet": { "path": path, "port": "http" },
        "periodSeconds": 10,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    })
}

/// Checks the controller's own pods are exempt from, and why: the controller calls the
/// Kubernetes API with its service account's token, and the NetworkPolicy is optional
/// because the addresses the API server calls webhooks from differ per cluster.
const POD_EXEMPTIONS: &str = "automountServiceAccountToken,missingNetworkPolicy";
const POD_EXEMPTION_REASON: &str = "the controller calls the Kubernetes API with its token; the NetworkPolicy is optional (networkPolicy.enabled)";

fn deployment(s: &InstallSettings) -> Value {
    let selector = s.selector_labels();
    let env_from = |name: &str, path: &str| json!({ "name": name, "valueFrom": { "fieldRef": { "fieldPath": path } } });
    let container = json!({
        "name": "kube-devops",
        "image": s.image,
        "imagePullPolicy": "IfNotPresent",
        "args": container_args(s),
        "env": [
            env_from("POD_NAME", "metadata.name"),
            env_from("POD_NAMESPACE", "metadata.namespace"),
            { "name": "KUBE_DEVOPS_LOG_LEVEL", "value": "info" },
        ],
        "ports": [
            { "name": "http", "containerPort": OPS_PORT, "protocol": "TCP" },
            { "name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP" },
        ],
        "livenessProbe": probe("/healthz"),
        "readinessProbe": probe("/readyz"),
        "resources": {
            "requests": { "cpu": "100m", "memory": "128Mi" },
            "limits": { "cpu": "500m", "memory": "256Mi", "ephemeral-storage": "64Mi" },
        },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": { "drop": ["ALL"] },
            "privileged": false,
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "volumeMounts": [{ "name": "tls", "mountPath": TLS_DIR, "readOnly": true }],
    });
    let mut deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": s.metadata(&s.name, true),
        "spec": {
            "replicas": s.replicas,
            "revisionHistoryLimit": 5,
            "selector": { "matchLabels": selector },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": { "maxUnavailable": 0, "maxSurge": 1 },
            },
            "template": {
                "metadata": {
                    "labels": s.labels(),
                    "annotations": {
                        crate::policy::exemptions::IGNORE: POD_EXEMPTIONS,
                        crate::policy::exemptions::IGNORE_REASON: POD_EXEMPTION_REASON,
                    },
                },
                "spec": {
                    "serviceAccountName": s.name,
                    "automountServiceAccountToken": true,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "fsGroup": RUN_AS,
                        "seccompProfile": { "type": "RuntimeDefault" },
                    },
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [{
                                "weight": 100,
                                "podAffinityTerm": {
                                    "topologyKey": "kubernetes.io/hostname",
                                    "labelSelector": { "matchLabels": selector },
                                },
                            }],
                        },
                    },
                    "topologySpreadConstraints": [{
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": { "matchLabels": selector },
                    }],
                    "containers": [container],
                    "volumes": [{
                        "name": "tls",
                        "secret": { "secretName": s.tls_secret(), "defaultMode": 0o440 },
                    }],
                },
            },
        },
    });
    // Kept certificates are read from their Secret through the API, not mounted.
    if s.manage_certificates
        && let Some(pod) = deployment["spec"]["template"]["spec"].as_object_mut()
    {
        pod.remove("volumes");
        if let Some(c) = pod
            .get_mut("containers")
            .and_then(|c| c.get_mut(0))
            .and_then(Value::as_object_mut)
        {
            c.remove("volumeMounts");
        }
    }
    deployment
}

fn service(s: &InstallSettings, name: &str, port: u16, port_name: &str, target: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": s.metadata(name, true),
        "spec": {
            "type": "ClusterIP",
            "selector": s.selector_labels(),
            "ports": [{
                "name": port_name,
                "port": port,
                "targetPort": target,
                "protocol": "TCP",
            }],
        },
    })
}

/// The metrics Service, labelled `app.kubernetes.io/component: metrics` so the
/// ServiceMonitor of `observability generate-service-monitors` selects it.
fn metrics_service(s: &InstallSettings) -> Value {
    let mut service = service(
        s,
        &format!("{}-metrics", s.name),
        OPS_PORT,
        crate::observability::METRICS_PORT_NAME,
        "http",
    );
    service["metadata"]["labels"]["app.kubernetes.io/component"] = json!("metrics");
    service
}

/// Deployment, metrics Service, webhook Service and PodDisruptionBudget.
pub(super) fn objects(s: &InstallSettings) -> Vec<Value> {
    vec![
        deployment(s),
        metrics_service(s),
        service(s, &s.webhook_service(), 443, "https", "webhook"),
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": s.metadata(&s.name, true),
            "spec": {
                "minAvailable": 1,
                "selector": { "matchLabels": s.selector_labels() },
            },
        }),
    ]
}
