{{/* The name of everything this release makes: the release name, which is a DNS label. */}}
{{- define "refinery.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "refinery.labels" -}}
app.kubernetes.io/name: refinery
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* What selects the hub's pod (stable across upgrades). */}}
{{- define "refinery.hubSelector" -}}
app.kubernetes.io/name: refinery
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: hub
{{- end -}}

{{/* Refinery's configuration: the values' config with what only the chart knows filled in. */}}
{{- define "refinery.config" -}}
{{- $fixed := dict "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) "data_dir" "/srv/refinery/data" -}}
{{- if .Values.database.existingSecret -}}
{{- $_ := set $fixed "database" (dict "env" "REFINERY_DATABASE_URL") -}}
{{- end -}}
{{- $config := mustMergeOverwrite (deepCopy .Values.config) $fixed -}}
{{- if eq (dig "spawner" "type" "local" $config) "kubernetes" -}}
{{- $kube := dict "namespace" .Release.Namespace "hub_name" .Release.Name "hub_connect_url" (printf "http://%s.%s.svc:%d" (include "refinery.fullname" .) .Release.Namespace (int .Values.service.port)) -}}
{{- $_ := set $config.spawner "kubernetes" (mustMergeOverwrite $kube (default (dict) $config.spawner.kubernetes)) -}}
{{- end -}}
{{- if eq (dig "auth" "type" "local" $config) "openshift" -}}
{{- $client := dict "client_id" (printf "system:serviceaccount:%s:%s" .Release.Namespace .Values.serviceAccount.name) -}}
{{- $_ := set $config.auth "openshift" (mustMergeOverwrite $client (default (dict) $config.auth.openshift)) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
