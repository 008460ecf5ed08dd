{{/* Names */}}
{{- define "h2ogpt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "h2ogpt.fullname" -}}
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

{{/* The name of a component's objects: <fullname>-<component>, at most 63 characters. */}}
{{- define "h2ogpt.componentName" -}}
{{- printf "%s-%s" (include "h2ogpt.fullname" .root | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "h2ogpt.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: call with (dict "root" $ "component" "app") */}}
{{- define "h2ogpt.labels" -}}
helm.sh/chart: {{ include "h2ogpt.chart" .root }}
{{ include "h2ogpt.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "h2ogpt.selectorLabels" -}}
app.kubernetes.io/name: {{ include "h2ogpt.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "h2ogpt.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "h2ogpt.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "h2ogpt.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding API keys, logins and the database URL. */}}
{{- define "h2ogpt.secretName" -}}
{{- default (include "h2ogpt.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "h2ogpt.postgresSecretName" -}}
{{- default (include "h2ogpt.componentName" (dict "root" . "component" "postgres")) .Values.postgres.auth.existingSecret }}
{{- end }}

{{/* Backends: URLs of the in-release servers. */}}
{{- define "h2ogpt.inferenceServer" -}}
{{- if .Values.vllm.enabled }}
{{- printf "vllm_chat:http://%s:8000/v1" (include "h2ogpt.componentName" (dict "root" . "component" "vllm")) }}
{{- else if .Values.tgi.enabled }}
{{- printf "tgi:http://%s:8080/v1" (include "h2ogpt.componentName" (dict "root" . "component" "tgi")) }}
{{- end }}
{{- end }}

{{- define "h2ogpt.chromaUrl" -}}
{{- if .Values.chroma.enabled }}
{{- printf "http://%s:8000" (include "h2ogpt.componentName" (dict "root" . "component" "chroma")) }}
{{- else }}
{{- .Values.chroma.externalUrl }}
{{- end }}
{{- end }}

{{- define "h2ogpt.hasDatabase" -}}
{{- if or .Values.postgres.enabled .Values.database.externalUrl .Values.database.existingSecret }}true{{- end }}
{{- end }}

{{- define "h2ogpt.hasExternalBackend" -}}
{{- if or (get .Values.settings "inference_server") .Values.chroma.externalUrl .Values.database.externalUrl .Values.database.existingSecret }}true{{- end }}
{{- end }}

{{/*
Checks of combinations the schema cannot express; each fails the render with one clear line.
*/}}
{{- define "h2ogpt.validate" -}}
{{- $backends := list }}
{{- if .Values.vllm.enabled }}{{- $backends = append $backends "vllm.enabled" }}{{- end }}
{{- if .Values.tgi.enabled }}{{- $backends = append $backends "tgi.enabled" }}{{- end }}
{{- if get .Values.settings "inference_server" }}{{- $backends = append $backends "settings.inference_server" }}{{- end }}
{{- if gt (len $backends) 1 }}
{{- fail (printf "h2ogpt: choose one LLM backend, not %s: the app talks to one inference server (disable the others)" (join " + " $backends)) }}
{{- end }}
{{- $managed := list "server_name" "server_port" "openai_server" "openai_port" "data_dir" "api_keys" "auth" "auth_access" "database_url" }}
{{- range $key := $managed }}
{{- if hasKey $.Values.settings $key }}
{{- fail (printf "h2ogpt: settings.%s is set by the chart; use service.*, persistence.*, auth.* or database.* instead" $key) }}
{{- end }}
{{- end }}
{{- if and (hasKey .Values.settings "chroma_url") (or .Values.chroma.enabled .Values.chroma.externalUrl) }}
{{- fail "h2ogpt: settings.chroma_url conflicts with chroma.enabled/chroma.externalUrl; keep only chroma.*" }}
{{- end }}
{{- if and .Values.chroma.enabled .Values.chroma.externalUrl }}
{{- fail "h2ogpt: chroma.enabled and chroma.externalUrl are both set; choose the in-release server or the external one" }}
{{- end }}
{{- if and .Values.database.externalUrl .Values.database.existingSecret }}
{{- fail "h2ogpt: database.externalUrl and database.existingSecret are both set; give the URL once" }}
{{- end }}
{{- if and .Values.postgres.enabled (or .Values.database.externalUrl .Values.database.existingSecret) }}
{{- fail "h2ogpt: postgres.enabled and database.externalUrl/existingSecret are both set; choose the in-release PostgreSQL or the external one" }}
{{- end }}
{{- if and .Values.postgres.enabled (not .Values.postgres.auth.password) (not .Values.postgres.auth.existingSecret) }}
{{- fail "h2ogpt: postgres.enabled needs postgres.auth.password or postgres.auth.existingSecret" }}
{{- end }}
{{- if and .Values.auth.existingSecret (or .Values.auth.apiKeys .Values.auth.logins) }}
{{- fail "h2ogpt: auth.existingSecret is set, so auth.apiKeys and auth.logins must be empty (put them in that Secret)" }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- if not (include "h2ogpt.hasDatabase" .) }}
{{- fail (printf "h2ogpt: replicaCount=%d needs a shared database for chats and accounts: set postgres.enabled=true or database.externalUrl / database.existingSecret (SQLite under /data is one pod's)" (int .Values.replicaCount)) }}
{{- end }}
{{- if not (include "h2ogpt.chromaUrl" .) }}
{{- fail (printf "h2ogpt: replicaCount=%d needs a Chroma server for collections: set chroma.enabled=true or chroma.externalUrl" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.persistence.enabled (not .Values.persistence.existingClaim) (not (has "ReadWriteMany" .Values.persistence.accessModes)) }}
{{- fail (printf "h2ogpt: replicaCount=%d cannot share a ReadWriteOnce volume: set persistence.accessModes=[ReadWriteMany] (a shared file system) or persistence.enabled=false (per-pod data)" (int .Values.replicaCount)) }}
{{- end }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (include "h2ogpt.hasExternalBackend" .) (not .Values.networkPolicy.egressTo) }}
{{- fail "h2ogpt: a backend outside the release is configured (settings.inference_server, chroma.externalUrl or database.*) but networkPolicy.egressTo is empty: list its CIDR and port there, or set networkPolicy.enabled=false" }}
{{- end }}
{{- end }}
