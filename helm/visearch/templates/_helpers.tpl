{{/* Names */}}
{{- define "visearch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "visearch.fullname" -}}
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

{{- define "visearch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "visearch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "visearch.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Labels: common ones, and the selector of one component (api | worker) */}}
{{- define "visearch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "visearch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: visearch
{{- end }}

{{- define "visearch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "visearch.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The chart's own Secret holds only what was given as plain values. */}}
{{- define "visearch.hasSecret" -}}
{{- if or .Values.qdrant.apiKey .Values.redis.password .Values.broker.password .Values.metrics.serviceMonitor.apiKey }}true{{ end }}
{{- end }}

{{/* The Secret holding the API keys file: an existing one, or the chart's <fullname>-api-keys. */}}
{{- define "visearch.apiKeysSecret" -}}
{{- default (printf "%s-api-keys" (include "visearch.fullname" .)) .Values.apiKeys.existingSecret }}
{{- end }}

{{/* A secretKeyRef: the chart's Secret when the plain value is set, else the named one. */}}
{{- define "visearch.secretRef" -}}
{{- if .value }}
secretKeyRef:
  name: {{ include "visearch.fullname" .root }}
  key: {{ .chartKey }}
{{- else }}
secretKeyRef:
  name: {{ .ref.name }}
  key: {{ .ref.key }}
{{- end }}
{{- end }}

{{/*
Environment shared by the API and the workers: the ConfigMap (non-secret settings), the
passwords and keys from Secrets, and the URLs that refer to them as $(NAME), which
Kubernetes expands because the referenced variables come first.
*/}}
{{- define "visearch.env" -}}
{{- $v := .Values }}
{{- if and (contains "$(REDIS_PASSWORD)" $v.redis.url) (not (or $v.redis.password $v.redis.passwordSecret.name)) }}
{{- fail "redis.url uses $(REDIS_PASSWORD): set redis.password or redis.passwordSecret.name" }}
{{- end }}
{{- if and (contains "$(BROKER_PASSWORD)" $v.broker.url) (not (or $v.broker.password $v.broker.passwordSecret.name)) }}
{{- fail "broker.url uses $(BROKER_PASSWORD): set broker.password or broker.passwordSecret.name" }}
{{- end }}
envFrom:
  - configMapRef:
      name: {{ include "visearch.fullname" . }}
env:
  {{- if or $v.redis.password $v.redis.passwordSecret.name }}
  - name: REDIS_PASSWORD
    valueFrom:
      {{- include "visearch.secretRef" (dict "root" . "value" $v.redis.password "chartKey" "redis-password" "ref" $v.redis.passwordSecret) | trim | nindent 6 }}
  {{- end }}
  {{- if or $v.broker.password $v.broker.passwordSecret.name }}
  - name: BROKER_PASSWORD
    valueFrom:
      {{- include "visearch.secretRef" (dict "root" . "value" $v.broker.password "chartKey" "broker-password" "ref" $v.broker.passwordSecret) | trim | nindent 6 }}
  {{- end }}
  {{- if or $v.qdrant.apiKey $v.qdrant.apiKeySecret.name }}
  - name: VISEARCH_QDRANT_API_KEY
    valueFrom:
      {{- include "visearch.secretRef" (dict "root" . "value" $v.qdrant.apiKey "chartKey" "qdrant-api-key" "ref" $v.qdrant.apiKeySecret) | trim | nindent 6 }}
  {{- end }}
  - name: VISEARCH_REDIS_URL
    value: {{ $v.redis.url | quote }}
  - name: VISEARCH_BROKER_URL
    value: {{ $v.broker.url | quote }}
{{- end }}

{{/* Pod-level pieces shared by both Deployments */}}
{{- define "visearch.volumes" -}}
- name: data
  {{- if .Values.persistence.data.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-data" (include "visearch.fullname" .)) .Values.persistence.data.existingClaim }}
  {{- else }}
  emptyDir: {}
  {{- end }}
- name: models
  {{- if .Values.persistence.models.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-models" (include "visearch.fullname" .)) .Values.persistence.models.existingClaim }}
  {{- else }}
  emptyDir: {}
  {{- end }}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "visearch.volumeMounts" -}}
- name: data
  mountPath: /data
- name: models
  mountPath: /models
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Restart pods when their configuration changes. */}}
{{- define "visearch.configChecksum" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
