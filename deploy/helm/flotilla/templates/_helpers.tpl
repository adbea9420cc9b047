{{- define "flotilla.platform" -}}
{{- .Files.Get "files/platform.yaml" | required "files/platform.yaml is missing: run `make deploy-generate`" -}}
{{- end -}}

{{- /* The topics of files/platform.yaml (declared, retry and DLQ), as `topics: [...]`, with the
cluster's replication from values: the topic file's replication suits the local stack's single
broker, while the replication a cluster can give depends on its broker count, a deployment fact. */ -}}
{{- define "flotilla.topics" -}}
{{- $platform := fromYaml (include "flotilla.platform" .) }}
{{- $replicas := int .Values.topics.replicas }}
{{- $minInsync := int .Values.topics.minInsyncReplicas }}
{{- if gt $minInsync $replicas }}
{{- fail (printf "topics.minInsyncReplicas (%d) exceeds topics.replicas (%d): no write could ever be acknowledged" $minInsync $replicas) }}
{{- end }}
{{- range $platform.topics }}
{{- $_ := set . "replicas" $replicas }}
{{- $_ := set .config "min.insync.replicas" (toString $minInsync) }}
{{- end }}
{{- toYaml (dict "topics" $platform.topics) }}
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

{{/* Egress to the cluster DNS only (`global.flotilla.networkPolicy.dns.to`). */}}
{{- define "flotilla.egressDns" -}}
- to:
    {{- toYaml .Values.global.flotilla.networkPolicy.dns.to | nindent 4 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end -}}
