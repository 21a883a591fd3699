{{/* The chart's name, shortened to what a label value allows. */}}
{{- define "egress-gateway.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object names: the release name, suffixed with the chart name unless it already says it. */}}
{{- define "egress-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "egress-gateway.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select this release's pods; they never change after install (selectors are immutable). */}}
{{- define "egress-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "egress-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "egress-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "egress-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "egress-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The pod's grace period: the kubelet kills the pod when it ends, so it must outlast the drain (readiness
503 for DRAIN_DELAY, then shutdown), or clients would keep sending to a gateway that is gone.
*/}}
{{- define "egress-gateway.terminationGracePeriodSeconds" -}}
{{- $drain := int .Values.drainDelaySeconds -}}
{{- $grace := add $drain 10 -}}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) -}}
{{- $grace = int .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- if le (int $grace) $drain -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be longer than drainDelaySeconds (%d): the kubelet kills the gateway when the grace period ends, cutting the drain short" (int $grace) $drain) -}}
{{- end -}}
{{- int $grace -}}
{{- end -}}

{{/* Where the daemon finds Felix's socket, given where the policysync volume is mounted. */}}
{{- define "egress-gateway.socketPath" -}}
{{- printf "%s/nodeagent/socket" (.Values.policySync.mountPath | trimSuffix "/") -}}
{{- end -}}

{{/* The pod's addresses from the downward API; both containers need them. */}}
{{- define "egress-gateway.podIPEnv" -}}
- name: EGRESS_POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- if .Values.podIPsEnv }}
# The kubelet renders status.podIPs as one comma-separated string ("100.64.0.5,2001:db8::5").
- name: EGRESS_POD_IPS
  valueFrom:
    fieldRef:
      fieldPath: status.podIPs
{{- end }}
- name: LOG_SEVERITY
  value: {{ .Values.logSeverity | quote }}
{{- with .Values.auditLog }}
# Both containers: init turns on conntrack accounting, which the unprivileged daemon cannot.
- name: AUDIT_LOG
  value: {{ . | quote }}
{{- end }}
{{- end -}}
