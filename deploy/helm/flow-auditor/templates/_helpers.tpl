{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "flow-auditor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless it already holds it. */}}
{{- define "flow-auditor.fullname" -}}
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

{{/* Labels every object carries. */}}
{{- define "flow-auditor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flow-auditor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flow-auditor
{{- end }}

{{/* Labels that select the agents' pods. */}}
{{- define "flow-auditor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flow-auditor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "flow-auditor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flow-auditor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The agent's image: repository@digest, or repository:tag (default appVersion). */}}
{{- define "flow-auditor.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whether the agent reads this node's kernel (and so needs BPF). */}}
{{- define "flow-auditor.ebpf" -}}
{{- if eq .Values.agent.source "ebpf" }}true{{ end }}
{{- end }}

{{- define "flow-auditor.hubbleTLSDir" -}}/etc/flow-auditor/hubble-tls{{- end }}

{{/*
The agent's arguments: one --flag=value per setting, so that each is a flag
`auditor agent` accepts (the chart's tests parse them with the agent's own
flag set). Built as a list and rendered with toYaml, so that no value can
break the YAML.
*/}}
{{- define "flow-auditor.args" -}}
{{- $a := .Values.agent -}}
{{- if not (has $a.source (list "ebpf" "hubble")) }}
{{- fail (printf "agent.source %q: want ebpf or hubble" $a.source) }}
{{- end }}
{{- if not (has $a.baseline (list "cluster" "memory")) }}
{{- fail (printf "agent.baseline %q: want cluster or memory" $a.baseline) }}
{{- end }}
{{- $args := list "agent"
  (printf "--source=%s" $a.source)
  "--node-name=$(NODE_NAME)"
  (printf "--pod-scope=%s" $a.podScope)
  (printf "--metrics-addr=:%d" (int .Values.metrics.port)) }}
{{- if .Values.hubbleApi.enabled }}
{{- $args = concat $args (list (printf "--hubble-addr=:%d" (int .Values.hubbleApi.port)) (printf "--ring-size=%d" (int $a.ringSize))) }}
{{- else }}
{{- $args = append $args "--hubble-addr=" }}
{{- end }}
{{- if eq $a.source "ebpf" }}
{{- with $a.interfaces }}
{{- $args = append $args (printf "--interfaces=%s" .) }}
{{- end }}
{{- $args = concat $args (list (printf "--interval=%s" $a.interval) (printf "--map-size=%d" (int $a.mapSize))) }}
{{- else }}
{{- if not $a.hubble.server }}
{{- fail "agent.source hubble needs agent.hubble.server" }}
{{- end }}
{{- $args = append $args (printf "--hubble-server=%s" $a.hubble.server) }}
{{- $tls := $a.hubble.tls }}
{{- if or $tls.enabled $tls.secretName }}
{{- $args = append $args "--hubble-tls" }}
{{- end }}
{{- if $tls.secretName }}
{{- $dir := include "flow-auditor.hubbleTLSDir" . }}
{{- $args = append $args (printf "--hubble-tls-ca=%s/ca.crt" $dir) }}
{{- if $tls.mutual }}
{{- $args = concat $args (list (printf "--hubble-tls-cert=%s/tls.crt" $dir) (printf "--hubble-tls-key=%s/tls.key" $dir)) }}
{{- end }}
{{- end }}
{{- with $tls.serverName }}
{{- $args = append $args (printf "--hubble-tls-server-name=%s" .) }}
{{- end }}
{{- end }}
{{- $args = concat $args (list (printf "--learning-period=%s" $a.learningPeriod) (printf "--baseline=%s" $a.baseline)) }}
{{- if eq $a.baseline "cluster" }}
{{- $args = concat $args (list (printf "--baseline-interval=%s" $a.baselineInterval) (printf "--baseline-max-peers=%d" (int $a.baselineMaxPeers))) }}
{{- end }}
{{- $args = concat $args (list
  (printf "--cardinality-cap=%d" (int $a.cardinalityCap))
  (printf "--shutdown-timeout=%s" $a.shutdownTimeout)
  (printf "--log-level=%s" $a.logLevel)
  (printf "--log-format=%s" $a.logFormat)) }}
{{- $args = concat $args $a.extraArgs }}
{{- toYaml $args }}
{{- end }}
