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
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
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

{{/*
Where the gateway's policysync volume is mounted. Enterprise: Felix's CSI volume at policySync.mountPath.
OSS: the agent's host folder at /var/run/nodeagent, so the daemon's default socket path finds it.
*/}}
{{- define "egress-gateway.policySyncMount" -}}
{{- if eq .Values.mode "oss" -}}/var/run/nodeagent{{- else -}}{{ .Values.policySync.mountPath | trimSuffix "/" }}{{- end -}}
{{- end -}}

{{/* Where the daemon finds the PolicySync socket, given where the volume is mounted. */}}
{{- define "egress-gateway.socketPath" -}}
{{- if eq .Values.mode "oss" -}}
{{- printf "%s/socket" (include "egress-gateway.policySyncMount" .) -}}
{{- else -}}
{{- printf "%s/nodeagent/socket" (include "egress-gateway.policySyncMount" .) -}}
{{- end -}}
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

{{/*
The label every gateway pod carries in both modes (the agent's AGENT_GATEWAY_SELECTOR default). The OSS agent finds
gateways by it; it is not a value, so the agent and the gateways cannot disagree.
*/}}
{{- define "egress-gateway.gatewayLabelKey" -}}egress-gateway.io/gateway{{- end -}}
{{- define "egress-gateway.gatewaySelector" -}}
{{- printf "%s=true" (include "egress-gateway.gatewayLabelKey" .) -}}
{{- end -}}

{{- define "egress-gateway.agentName" -}}
{{- printf "%s-agent" (include "egress-gateway.fullname" . | trunc 57 | trimSuffix "-") -}}
{{- end -}}

{{/*
The agent's pods. Another app.kubernetes.io/name, so that the gateways' selector (and with it their PDB and
spread constraints) never matches agent pods; the gateways' selector stays as it was before mode oss existed.
*/}}
{{- define "egress-gateway.agentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "egress-gateway.name" . | trunc 57 | trimSuffix "-" }}-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The host folder the OSS agent serves PolicySync in, and the socket in it. */}}
{{- define "egress-gateway.agentSocket" -}}
{{- printf "%s/socket" .Values.agent.socketDir -}}
{{- end -}}

{{/* Pod-level hardening shared by the gateway and the agent. */}}
{{- define "egress-gateway.podSecurityContext" -}}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Root with NET_ADMIN and NET_RAW only (docs/image.md says why root). */}}
{{- define "egress-gateway.netAdminSecurityContext" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
  add: ["NET_ADMIN", "NET_RAW"]
{{- end -}}
