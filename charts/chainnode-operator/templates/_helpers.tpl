{{- define "chainnode-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "chainnode-operator.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "chainnode-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "chainnode-operator.serviceAccountName" -}}
{{- default (include "chainnode-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* What the operator does to the objects of the LedgerNetworks it reconciles (least privilege). */}}
{{- define "chainnode-operator.rules" -}}
- apiGroups: [ledger.chainnode.dev]
  resources: [ledgernetworks]
  verbs: [get, list, watch, update, patch]
- apiGroups: [ledger.chainnode.dev]
  resources: [ledgernetworks/status]
  verbs: [get, update, patch]
- apiGroups: [ledger.chainnode.dev]
  resources: [ledgernetworks/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: ['']
  resources: [services, configmaps, secrets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: ['']
  resources: [pods]
  verbs: [get, list, watch, delete]
- apiGroups: ['']
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
