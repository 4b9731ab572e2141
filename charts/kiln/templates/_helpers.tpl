{{/* Names and labels shared by the templates. */}}

{{- define "kiln.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kiln.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kiln.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kiln.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kiln.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kiln.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kiln.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kiln.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kiln.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The namespaces the operator watches: the listed ones, the release's
     alone when namespaceScoped, else none (= every namespace). */}}
{{- define "kiln.watchNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- join "," .Values.watchNamespaces -}}
{{- else if .Values.namespaceScoped -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* What the operator may do with the resources of a watched namespace. */}}
{{- define "kiln.appRules" -}}
- apiGroups: ["kiln.dev"]
  resources: ["sparkapplications", "scheduledsparkapplications"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["kiln.dev"]
  resources: ["sparkapplications/status", "scheduledsparkapplications/status", "sparkapplications/finalizers", "scheduledsparkapplications/finalizers"]
  verbs: ["get", "update", "patch"]
- apiGroups: [""]
  resources: ["pods", "services", "configmaps", "serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
# Each application's Secret is written (created, or patched after a test of
# its owner), never read: no get, list or watch of Secrets.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch", "update"]
{{- end -}}

{{/* The history server: its selector labels, its base path (no trailing
     slash), the URL users reach it at, and the event-log folder. */}}
{{- define "kiln.historySelectorLabels" -}}
app.kubernetes.io/name: {{ include "kiln.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: history
{{- end -}}

{{- define "kiln.historyName" -}}
{{- printf "%s-history" (include "kiln.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kiln.historyBase" -}}
{{- trimSuffix "/" .Values.history.basePath -}}
{{- end -}}

{{- define "kiln.historyURL" -}}
{{- $h := .Values.history -}}
{{- if $h.url -}}
{{- trimSuffix "/" $h.url -}}
{{- else if and $h.ingress.enabled $h.ingress.host -}}
{{- printf "%s://%s%s" (ternary "https" "http" (not (empty $h.ingress.tlsSecret))) $h.ingress.host (include "kiln.historyBase" .) -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%d%s" (include "kiln.historyName" .) .Release.Namespace (int $h.port) (include "kiln.historyBase" .) -}}
{{- end -}}
{{- end -}}

{{- define "kiln.historyLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kiln.historySelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
