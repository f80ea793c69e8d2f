//! The protobuf field tables of pods and the kinds that hold pod templates (Deployments,
//! Jobs, CronJobs) and of PodDisruptionBudgets: containers with their ports, env and
//! resources, pod specs, templates and the workload specs, as kubectl's `run` and
//! `create deployment|job|cronjob|pdb` write them.

use super::schema::{
    LABEL_SELECTOR, LOCAL_REFERENCE, Message, OBJECT_META, QUANTITY_MAP, STR_MAP, Ty, f, p, r,
};

static CONTAINER_PORT: Message = Message {
    name: "ContainerPort",
    fields: &[
        f(1, "name", Ty::Str),
        f(2, "hostPort", Ty::Int),
        p(3, "containerPort", Ty::Int),
        f(4, "protocol", Ty::Str),
        f(5, "hostIP", Ty::Str),
    ],
};

static FIELD_SELECTOR: Message = Message {
    name: "ObjectFieldSelector",
    fields: &[f(1, "apiVersion", Ty::Str), f(2, "fieldPath", Ty::Str)],
};

static KEY_SELECTOR: Message = Message {
    name: "KeySelector",
    fields: &[
        f(1, "", Ty::Inline(&LOCAL_REFERENCE)),
        f(2, "key", Ty::Str),
        p(3, "optional", Ty::Bool),
    ],
};

static ENV_SOURCE: Message = Message {
    name: "EnvVarSource",
    fields: &[
        f(1, "fieldRef", Ty::Msg(&FIELD_SELECTOR)),
        f(3, "configMapKeyRef", Ty::Msg(&KEY_SELECTOR)),
        f(4, "secretKeyRef", Ty::Msg(&KEY_SELECTOR)),
    ],
};

static ENV_VAR: Message = Message {
    name: "EnvVar",
    fields: &[
        f(1, "name", Ty::Str),
        f(2, "value", Ty::Str),
        f(3, "valueFrom", Ty::Msg(&ENV_SOURCE)),
    ],
};

static RESOURCES: Message = Message {
    name: "ResourceRequirements",
    fields: &[f(1, "limits", QUANTITY_MAP), f(2, "requests", QUANTITY_MAP)],
};

static CONTAINER: Message = Message {
    name: "Container",
    fields: &[
        p(1, "name", Ty::Str),
        f(2, "image", Ty::Str),
        r(3, "command", Ty::Str),
        r(4, "args", Ty::Str),
        f(5, "workingDir", Ty::Str),
        r(6, "ports", Ty::Msg(&CONTAINER_PORT)),
        r(7, "env", Ty::Msg(&ENV_VAR)),
        f(8, "resources", Ty::Msg(&RESOURCES)),
        f(13, "terminationMessagePath", Ty::Str),
        f(20, "terminationMessagePolicy", Ty::Str),
        f(14, "imagePullPolicy", Ty::Str),
        f(16, "stdin", Ty::Bool),
        f(17, "stdinOnce", Ty::Bool),
        f(18, "tty", Ty::Bool),
        p(24, "restartPolicy", Ty::Str),
    ],
};

static POD_SPEC: Message = Message {
    name: "PodSpec",
    fields: &[
        r(2, "containers", Ty::Msg(&CONTAINER)),
        r(20, "initContainers", Ty::Msg(&CONTAINER)),
        f(3, "restartPolicy", Ty::Str),
        p(4, "terminationGracePeriodSeconds", Ty::Int),
        p(5, "activeDeadlineSeconds", Ty::Int),
        f(6, "dnsPolicy", Ty::Str),
        f(7, "nodeSelector", STR_MAP),
        f(8, "serviceAccountName", Ty::Str),
        f(9, "serviceAccount", Ty::Str),
        p(21, "automountServiceAccountToken", Ty::Bool),
        f(10, "nodeName", Ty::Str),
        f(11, "hostNetwork", Ty::Bool),
        f(12, "hostPID", Ty::Bool),
        f(13, "hostIPC", Ty::Bool),
        r(15, "imagePullSecrets", Ty::Msg(&LOCAL_REFERENCE)),
        f(16, "hostname", Ty::Str),
        f(17, "subdomain", Ty::Str),
        f(19, "schedulerName", Ty::Str),
        f(24, "priorityClassName", Ty::Str),
        p(25, "priority", Ty::Int),
        p(30, "enableServiceLinks", Ty::Bool),
        p(31, "preemptionPolicy", Ty::Str),
        p(29, "runtimeClassName", Ty::Str),
        p(35, "setHostnameAsFQDN", Ty::Bool),
        p(37, "hostUsers", Ty::Bool),
    ],
};

static POD_TEMPLATE: Message = Message {
    name: "PodTemplateSpec",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&POD_SPEC)),
    ],
};

pub(super) static POD: Message = Message {
    name: "Pod",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&POD_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static ROLLING_UPDATE: Message = Message {
    name: "RollingUpdateDeployment",
    fields: &[
        p(1, "maxUnavailable", Ty::IntOrString),
        p(2, "maxSurge", Ty::IntOrString),
    ],
};

static STRATEGY: Message = Message {
    name: "DeploymentStrategy",
    fields: &[
        f(1, "type", Ty::Str),
        f(2, "rollingUpdate", Ty::Msg(&ROLLING_UPDATE)),
    ],
};

static DEPLOYMENT_SPEC: Message = Message {
    name: "DeploymentSpec",
    fields: &[
        p(1, "replicas", Ty::Int),
        f(2, "selector", Ty::Msg(&LABEL_SELECTOR)),
        f(3, "template", Ty::Msg(&POD_TEMPLATE)),
        f(4, "strategy", Ty::Msg(&STRATEGY)),
        f(5, "minReadySeconds", Ty::Int),
        p(6, "revisionHistoryLimit", Ty::Int),
        f(7, "paused", Ty::Bool),
        p(9, "progressDeadlineSeconds", Ty::Int),
    ],
};

pub(super) static DEPLOYMENT: Message = Message {
    name: "Deployment",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&DEPLOYMENT_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static JOB_SPEC: Message = Message {
    name: "JobSpec",
    fields: &[
        p(1, "parallelism", Ty::Int),
        p(2, "completions", Ty::Int),
        p(3, "activeDeadlineSeconds", Ty::Int),
        p(7, "backoffLimit", Ty::Int),
        p(12, "backoffLimitPerIndex", Ty::Int),
        p(13, "maxFailedIndexes", Ty::Int),
        f(4, "selector", Ty::Msg(&LABEL_SELECTOR)),
        p(5, "manualSelector", Ty::Bool),
        f(6, "template", Ty::Msg(&POD_TEMPLATE)),
        p(8, "ttlSecondsAfterFinished", Ty::Int),
        p(9, "completionMode", Ty::Str),
        p(10, "suspend", Ty::Bool),
        p(14, "podReplacementPolicy", Ty::Str),
        p(15, "managedBy", Ty::Str),
    ],
};

pub(super) static JOB: Message = Message {
    name: "Job",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&JOB_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static JOB_TEMPLATE: Message = Message {
    name: "JobTemplateSpec",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&JOB_SPEC)),
    ],
};

static CRON_JOB_SPEC: Message = Message {
    name: "CronJobSpec",
    fields: &[
        f(1, "schedule", Ty::Str),
        p(8, "timeZone", Ty::Str),
        p(2, "startingDeadlineSeconds", Ty::Int),
        f(3, "concurrencyPolicy", Ty::Str),
        p(4, "suspend", Ty::Bool),
        f(5, "jobTemplate", Ty::Msg(&JOB_TEMPLATE)),
        p(6, "successfulJobsHistoryLimit", Ty::Int),
        p(7, "failedJobsHistoryLimit", Ty::Int),
    ],
};

pub(super) static CRON_JOB: Message = Message {
    name: "CronJob",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&CRON_JOB_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};

static DISRUPTION_BUDGET_SPEC: Message = Message {
    name: "PodDisruptionBudgetSpec",
    fields: &[
        p(1, "minAvailable", Ty::IntOrString),
        f(2, "selector", Ty::Msg(&LABEL_SELECTOR)),
        p(3, "maxUnavailable", Ty::IntOrString),
        p(4, "unhealthyPodEvictionPolicy", Ty::Str),
    ],
};

pub(super) static DISRUPTION_BUDGET: Message = Message {
    name: "PodDisruptionBudget",
    fields: &[
        f(1, "metadata", Ty::Msg(&OBJECT_META)),
        f(2, "spec", Ty::Msg(&DISRUPTION_BUDGET_SPEC)),
        f(3, "status", Ty::Skip),
    ],
};
