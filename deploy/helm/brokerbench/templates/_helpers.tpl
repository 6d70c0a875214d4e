{{/* Names: <release>-brokerbench unless the release name already holds the chart's name. */}}
{{- define "brokerbench.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "brokerbench.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The subscriber of middleware .mw: its Deployment's and Service's name. */}}
{{- define "brokerbench.subscriberName" -}}
{{- printf "%s-subscriber-%s" (include "brokerbench.fullname" .root | trunc 40 | trimSuffix "-") .mw }}
{{- end }}

{{- define "brokerbench.ingressName" -}}
{{- printf "%s-ingress" (include "brokerbench.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "brokerbench.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "brokerbench.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "brokerbench.selectorLabels" -}}
app.kubernetes.io/name: {{ include "brokerbench.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Refuses combinations the schema cannot express, with a message naming the value. */}}
{{- define "brokerbench.validate" -}}
{{- $mws := .Values.middlewares }}
{{- if and (eq .Values.ingress.routing "single") (ne (len $mws) 1) }}
{{- fail (printf "ingress.routing=single takes exactly one middleware, not %d (%s)" (len $mws) (join "," $mws)) }}
{{- end }}
{{- range $mw := list "nats" "rabbitmq" "redis" }}
{{- $cfg := index $.Values $mw }}
{{- if and (has $mw $mws) (not $cfg.url) (not $cfg.existingSecret) }}
{{- fail (printf "%s is chosen: set %s.url or %s.existingSecret" $mw $mw $mw) }}
{{- end }}
{{- end }}
{{- if and (eq .Values.subscribers.sink "mongodb") (not .Values.mongodb.uri) (not .Values.mongodb.existingSecret) }}
{{- fail "subscribers.sink=mongodb: set mongodb.uri or mongodb.existingSecret" }}
{{- end }}
{{- end }}

{{- define "brokerbench.routing" -}}
{{- if .Values.ingress.routing }}{{ .Values.ingress.routing }}
{{- else if eq (len .Values.middlewares) 1 }}single
{{- else }}all
{{- end }}
{{- end }}

{{/* One env entry read from a Secret: .name (variable), .cfg (a values block with
     existingSecret / existingSecretKey), .root. The chart's own Secret otherwise. */}}
{{- define "brokerbench.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .cfg.existingSecret | default (include "brokerbench.fullname" .root) }}
      key: {{ .cfg.existingSecretKey }}
{{- end }}

{{/* What every component gets: the control token, logging, the settings both sides share. */}}
{{- define "brokerbench.commonEnv" -}}
{{ include "brokerbench.secretEnv" (dict "name" "BB_CONTROL_TOKEN" "cfg" .Values.controlToken "root" .) }}
- name: RUST_LOG
  value: {{ .Values.rustLog | quote }}
- name: BB_DURABILITY
  value: {{ .Values.durability | quote }}
- name: BB_CONSUMER_WINDOW
  value: {{ .Values.consumerWindow | quote }}
{{- end }}

{{/* How to reach the broker of middleware .mw (both sides); gRPC's address is per side. */}}
{{- define "brokerbench.brokerEnv" -}}
{{- $v := .root.Values }}
{{- if eq .mw "nats" }}
{{ include "brokerbench.secretEnv" (dict "name" "NATS_URL" "cfg" $v.nats "root" .root) }}
- name: BB_NATS_MODE
  value: {{ $v.nats.mode | quote }}
{{- else if eq .mw "rabbitmq" }}
{{ include "brokerbench.secretEnv" (dict "name" "AMQP_URL" "cfg" $v.rabbitmq "root" .root) }}
{{- else if eq .mw "redis" }}
{{ include "brokerbench.secretEnv" (dict "name" "REDIS_URL" "cfg" $v.redis "root" .root) }}
{{- else if eq .mw "kafka" }}
- name: KAFKA_BROKERS
  value: {{ $v.kafka.brokers | quote }}
- name: BB_KAFKA_TOPIC
  value: {{ $v.kafka.topic | quote }}
- name: BB_KAFKA_GROUP
  value: {{ $v.kafka.group | quote }}
- name: BB_KAFKA_PARTITIONS
  value: {{ $v.kafka.partitions | quote }}
{{- else if eq .mw "pubsub" }}
- name: PUBSUB_PROJECT_ID
  value: {{ $v.pubsub.projectId | quote }}
{{- if $v.pubsub.emulatorHost }}
- name: PUBSUB_EMULATOR_HOST
  value: {{ $v.pubsub.emulatorHost | quote }}
{{- else if $v.pubsub.credentialsSecret }}
- name: GOOGLE_APPLICATION_CREDENTIALS
  value: /var/run/secrets/brokerbench/gcp/{{ $v.pubsub.credentialsSecretKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether a pod that talks to Pub/Sub mounts a service-account key ("true" or ""). */}}
{{- define "brokerbench.gcpKey" -}}
{{- if and (has "pubsub" .Values.middlewares) (not .Values.pubsub.emulatorHost) .Values.pubsub.credentialsSecret }}true{{ end }}
{{- end }}

{{- define "brokerbench.gcpVolume" -}}
- name: gcp-key
  secret:
    secretName: {{ .Values.pubsub.credentialsSecret }}
    items:
      - key: {{ .Values.pubsub.credentialsSecretKey }}
        path: {{ .Values.pubsub.credentialsSecretKey }}
{{- end }}

{{- define "brokerbench.gcpMount" -}}
- name: gcp-key
  mountPath: /var/run/secrets/brokerbench/gcp
  readOnly: true
{{- end }}

{{/* Readiness and liveness, both from /healthz on the container's port named http. */}}
{{- define "brokerbench.probes" -}}
readinessProbe:
  httpGet:
    path: /healthz
    port: http
  {{- toYaml .Values.probes.readiness | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  {{- toYaml .Values.probes.liveness | nindent 2 }}
{{- end }}

{{/* Pod-level settings every Deployment shares (under spec.template.spec). */}}
{{- define "brokerbench.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "brokerbench.image" -}}
{{ printf "%s:%s" .Values.image.repository (toString .Values.image.tag) }}
{{- end }}

{{/* Pod annotations: the user's, and a checksum of the Secret so pods restart when it changes. */}}
{{- define "brokerbench.podAnnotations" -}}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}
