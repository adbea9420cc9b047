{{- define "flotilla.platform" -}}
{{- .Files.Get "files/platform.yaml" | required "files/platform.yaml is missing: run `make deploy-generate`" -}}
{{- end -}}

{{- define "flotilla.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "flotilla.kafkaBootstrap" -}}
{{- .Values.topics.job.bootstrapServers | default .Values.global.flotilla.kafka.bootstrapServers -}}
{{- end -}}

{{- define "flotilla.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- /* The dashboards, data sources and rules: not a service's objects (the kustomize overlays
leave them out of their service ConfigMap patches by this component label). */ -}}
{{- define "flotilla.observabilityLabels" -}}
{{ include "flotilla.labels" . }}
app.kubernetes.io/component: observability
{{- end -}}
