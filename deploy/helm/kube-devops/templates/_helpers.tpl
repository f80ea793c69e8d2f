{{/* Labels that select the controller's pods. */}}
{{- define "kube-devops.selectorLabels" -}}
app.kubernetes.io/name: kube-devops
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "kube-devops.labels" -}}
{{ include "kube-devops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Name of the webhook Service. */}}
{{- define "kube-devops.webhookService" -}}
{{ .Release.Name }}-webhook
{{- end }}

{{/* Name of the webhook's TLS Secret. */}}
{{- define "kube-devops.tlsSecret" -}}
{{ .Values.webhook.tlsSecretName | default (printf "%s-webhook-tls" .Release.Name) }}
{{- end }}

{{/* Excluded namespace globs (the binary's defaults when the list is empty). */}}
{{- define "kube-devops.excludeNamespaces" -}}
{{ toJson (.Values.excludeNamespaces | default (list "*-system" "cert-manager")) }}
{{- end }}

{{- /* Whether the controller keeps its own webhook certificates: the webhook is on and
neither cert-manager nor a caBundle provides them. */}}
{{- define "kube-devops.manageCertificates" -}}
{{- if and .Values.webhook.enabled (not .Values.certManager.enabled) (not .Values.webhook.caBundle) }}true{{ end }}
{{- end }}
