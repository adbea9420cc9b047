{{/* Names: the release installs one service; objects are named after the service. */}}
{{- define "svc.name" -}}
{{- required "values: `service` names the service to install (identity, notifications, ...)" .Values.service -}}
{{- end -}}

{{- define "svc.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- include "svc.name" . | replace "_" "-" | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "svc.flotilla" -}}
{{- $global := (.Values.global | default dict) -}}
{{- toYaml ($global.flotilla | default dict) -}}
{{- end -}}

{{/* A value of the service's own, else the platform-wide one from global.flotilla. */}}
{{- define "svc.pick" -}}
{{- $own := index . 0 -}}
{{- $shared := index . 1 -}}
{{- if kindIs "invalid" $own -}}{{ $shared }}{{- else if eq (toString $own) "" -}}{{ $shared }}{{- else -}}{{ $own }}{{- end -}}
{{- end -}}

{{/* OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG from global.flotilla (the schema lists the
samplers). An argument only a ratio sampler reads is refused here for the others: the service
would refuse to start on it, later and in every pod. */}}
{{- define "svc.tracesSampler" -}}
{{- .tracesSampler | default "parentbased_always_on" -}}
{{- end -}}

{{- define "svc.tracesSamplerArg" -}}
{{- $arg := ternary (toString .tracesSamplerArg) "" (and (hasKey . "tracesSamplerArg") (not (kindIs "invalid" .tracesSamplerArg))) -}}
{{- $sampler := include "svc.tracesSampler" . -}}
{{- if and $arg (not (hasSuffix "traceidratio" $sampler)) -}}
{{- fail (printf "global.flotilla.tracesSamplerArg (%s) is only read by the traceidratio and parentbased_traceidratio samplers, not by %s: empty it, or choose a ratio sampler" $arg $sampler) -}}
{{- end -}}
{{- $arg -}}
{{- end -}}

{{- define "svc.version" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "svc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "svc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "svc.labels" -}}
{{ include "svc.selectorLabels" . }}
app.kubernetes.io/version: {{ include "svc.version" . | replace "@" "_" | replace ":" "_" | trunc 63 | quote }}
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* registry/repository:tag[@digest]; the repository defaults to flotilla/<service>. */}}
{{- define "svc.image" -}}
{{- $flotilla := fromYaml (include "svc.flotilla" .) -}}
{{- $registry := include "svc.pick" (list .Values.image.registry $flotilla.imageRegistry) -}}
{{- $repository := .Values.image.repository | default (printf "flotilla/%s" (include "svc.name" .)) -}}
{{- $ref := printf "%s:%s" $repository (include "svc.version" .) -}}
{{- if $registry }}{{ $ref = printf "%s/%s" $registry $ref }}{{ end -}}
{{- if .Values.image.digest }}{{ $ref = printf "%s@%s" $ref .Values.image.digest }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{- define "svc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "svc.fullname" .) -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "svc.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "flotilla-%s-db" (include "svc.name" . | replace "_" "-")) -}}
{{- end -}}

{{/* The restricted security context every container runs with. */}}
{{- define "svc.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "svc.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
How the service authenticates to Kafka, resolved from its values and the global ones:
protocol, and with SASL_* and a username, the Secrets of its password and of the brokers' CA.
*/}}
{{- define "svc.kafkaSecurity" -}}
{{- $global := (fromYaml (include "svc.flotilla" .)).kafka | default dict -}}
{{- $protocol := include "svc.pick" (list .Values.kafka.securityProtocol $global.securityProtocol) | default "PLAINTEXT" -}}
protocol: {{ $protocol }}
{{- if and (hasPrefix "SASL_" $protocol) .Values.kafka.username }}
username: {{ .Values.kafka.username }}
passwordSecret: {{ .Values.kafka.passwordSecret | default .Values.kafka.username }}
{{- if eq $protocol "SASL_SSL" }}
caSecret: {{ include "svc.pick" (list .Values.kafka.caSecret $global.caSecret) | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Secrets reach the service as files: one projected volume at /var/run/secrets/flotilla, read
through SECRETS_DIR (servicekit's settings read a file named after each field). Nothing secret
is ever rendered into a manifest: only references to Secrets that already exist.
*/}}
{{- define "svc.secretVolumes" -}}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "svc.databaseSecret" . }}
          items:
            - key: {{ .Values.database.secretKey }}
              path: database_url
      {{- range .Values.secretFiles }}
      - secret:
          name: {{ .secretName }}
          items:
            - key: {{ .key }}
              path: {{ .setting }}
      {{- end }}
      {{- $dbTls := (fromYaml (include "svc.flotilla" .)).databaseTls | default dict }}
      {{- if $dbTls.caSecret }}
      - secret:
          name: {{ $dbTls.caSecret }}
          items:
            - key: {{ $dbTls.caKey | default "ca.crt" }}
              path: postgres_ca.crt
      {{- end }}
      {{- $kafka := fromYaml (include "svc.kafkaSecurity" .) }}
      {{- if $kafka.username }}
      # Written by Strimzi's User Operator once the KafkaUser exists: until then the service
      # starts, says the password file is missing, and is restarted.
      - secret:
          name: {{ $kafka.passwordSecret }}
          optional: true
          items:
            - key: password
              path: kafka_password
      {{- end }}
      {{- if $kafka.caSecret }}
      - secret:
          name: {{ $kafka.caSecret }}
          optional: true
          items:
            - key: ca.crt
              path: kafka_ca.crt
      {{- end }}
{{- if .Values.jwtKeys.existingSecret }}
- name: jwt-keys
  secret:
    secretName: {{ .Values.jwtKeys.existingSecret }}
    defaultMode: 0440
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "svc.secretMounts" -}}
- name: secrets
  mountPath: /var/run/secrets/flotilla
  readOnly: true
{{- if .Values.jwtKeys.existingSecret }}
- name: jwt-keys
  mountPath: /var/run/secrets/flotilla-jwt
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "svc.configChecksum" -}}
{{- include (print $.Template.BasePath "/configmap.yaml") . | sha256sum | trunc 16 -}}
{{- end -}}

{{/* A peer of one namespace's pods: `{namespace, podLabels}` (both required). */}}
{{- define "svc.peer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ required "networkPolicy peers need a namespace" .namespace }}
  podSelector:
    matchLabels:
      {{- toYaml (required "networkPolicy peers need podLabels" .podLabels) | nindent 6 }}
{{- end -}}

{{/* DNS, to the cluster DNS only (`global.flotilla.networkPolicy.dns.to`). */}}
{{- define "svc.egressDns" -}}
- to:
    {{- toYaml (required "networkPolicy.dns needs `to` (the cluster DNS)" .to) | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/* One egress rule from `{ports: [...], to: [...]}`; a rule without `to` would allow any
destination, so it is refused. */}}
{{- define "svc.egressRule" -}}
- to:
    {{- toYaml (required "every networkPolicy egress destination needs `to` (selectors or CIDRs)" .to) | nindent 4 }}
  ports:
    {{- range .ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end -}}

{{/*
The migration container, `python -m <service> bootstrap` (role, schema, migrations; idempotent,
one at a time under a Postgres advisory lock): the Job's only container with `migration.mode:
hook`, every pod's init container with `initContainer`. It takes its settings from the same
template as the ConfigMap (which a pre-install hook runs before), waits a bounded time for a
database that does not answer yet, and alone gets the administrator's database URL.
*/}}
{{- define "svc.migrationContainer" -}}
{{- $flotilla := fromYaml (include "svc.flotilla" .) -}}
{{- $admin := $flotilla.databaseAdminSecret | default dict -}}
- name: bootstrap
  image: {{ include "svc.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["bootstrap", "--wait-for-database", {{ .Values.migration.waitForDatabaseSeconds | quote }}]
  env:
    {{- range $key, $value := (fromYaml (include (print $.Template.BasePath "/configmap.yaml") .)).data }}
    - name: {{ $key }}
      value: {{ $value | quote }}
    {{- end }}
    # The administrator's URL is a file of a mounted Secret, not a variable: the environment
    # shows in `kubectl describe`, /proc and crash reports.
    - name: ADMIN_DATABASE_URL_FILE
      value: /var/run/secrets/flotilla-admin/admin_database_url
  resources:
    {{- toYaml .Values.migration.resources | nindent 4 }}
  securityContext:
    {{- include "svc.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    {{- include "svc.secretMounts" . | nindent 4 }}
    - name: database-admin
      mountPath: /var/run/secrets/flotilla-admin
      readOnly: true
{{- end -}}

{{/* The admin Secret as a volume of the pod that migrates (the Job, or with
migration.mode=initContainer every pod, where only the init container mounts it). */}}
{{- define "svc.migrationVolume" -}}
{{- $flotilla := fromYaml (include "svc.flotilla" .) -}}
{{- $admin := $flotilla.databaseAdminSecret | default dict -}}
- name: database-admin
  secret:
    secretName: {{ .Values.migration.adminSecret.name | default $admin.name | default "flotilla-postgres-admin" }}
    defaultMode: 0440
    items:
      - key: {{ .Values.migration.adminSecret.key | default $admin.key | default "admin_database_url" }}
        path: admin_database_url
{{- end -}}

{{- define "svc.migrationMode" -}}
{{- $mode := .Values.migration.mode | default "hook" -}}
{{- if not (has $mode (list "hook" "initContainer")) -}}
{{- fail (printf "migration.mode must be hook or initContainer, not %s" $mode) -}}
{{- end -}}
{{- $mode -}}
{{- end -}}
