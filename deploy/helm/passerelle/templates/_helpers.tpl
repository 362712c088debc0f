{{- define "passerelle.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "passerelle.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
V8 heap limit in MiB: heap.maxOldSpaceSize, or 5/8 of resources.limits.memory (Mi, Gi, M or G);
empty without either. See docs/operations.md, "Memory".
*/}}
{{- define "passerelle.maxOldSpaceSize" -}}
{{- $limit := toString (dig "limits" "memory" "" .Values.resources) -}}
{{- if .Values.heap.maxOldSpaceSize -}}
{{- .Values.heap.maxOldSpaceSize -}}
{{- else if hasSuffix "Gi" $limit -}}
{{- div (mul (trimSuffix "Gi" $limit | atoi) 1024 5) 8 -}}
{{- else if hasSuffix "Mi" $limit -}}
{{- div (mul (trimSuffix "Mi" $limit | atoi) 5) 8 -}}
{{- else if hasSuffix "G" $limit -}}
{{- div (mul (trimSuffix "G" $limit | atoi) 1000000000 5) (mul 8 1048576) -}}
{{- else if hasSuffix "M" $limit -}}
{{- div (mul (trimSuffix "M" $limit | atoi) 1000000 5) (mul 8 1048576) -}}
{{- end -}}
{{- end -}}

{{- define "passerelle.labels" -}}
{{ include "passerelle.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
