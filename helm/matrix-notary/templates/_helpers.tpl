{{/*
Names, labels, the image, and the environment every role shares.
*/}}

{{- define "matrix-notary.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-matrix-notary, or the release name when it already contains the chart name. */}}
{{- define "matrix-notary.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the release's pods; with a component, one role's pods. */}}
{{- define "matrix-notary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "matrix-notary.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* Every label of an object: call with (dict "root" $ "component" "api"). */}}
{{- define "matrix-notary.labels" -}}
{{ include "matrix-notary.selectorLabels" . }}
app.kubernetes.io/part-of: matrix-notary
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- with .root.Values.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "matrix-notary.image" -}}
{{- $image := .Values.image -}}
{{- $name := $image.repository -}}
{{- if $image.registry }}{{ $name = printf "%s/%s" $image.registry $image.repository }}{{ end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $name $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $name (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "matrix-notary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "matrix-notary.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Names of the Secrets the pods read, whether the chart makes them or the user does. */}}
{{- define "matrix-notary.signingKeySecret" -}}
{{- default (printf "%s-signing-key" (include "matrix-notary.fullname" .)) .Values.signingKey.existingSecret -}}
{{- end -}}
{{- define "matrix-notary.oldSigningKeysSecret" -}}
{{- default (printf "%s-old-signing-keys" (include "matrix-notary.fullname" .)) .Values.oldSigningKeys.existingSecret -}}
{{- end -}}
{{- define "matrix-notary.signerTokenSecret" -}}
{{- default (printf "%s-signer-token" (include "matrix-notary.fullname" .)) .Values.signerToken.existingSecret -}}
{{- end -}}
{{- define "matrix-notary.extraSigningKeysSecret" -}}
{{- printf "%s-extra-signing-keys" (include "matrix-notary.fullname" .) -}}
{{- end -}}
{{- define "matrix-notary.upstreamNotariesConfigMap" -}}
{{- printf "%s-upstream-notaries" (include "matrix-notary.fullname" .) -}}
{{- end -}}

{{/*
The extra signing keys of a rotation, one per entry of extraSigningKeys: the Secret it is in, the
key inside it, and where signer pods see it. Call with (dict "root" $ "index" $i "key" $entry).
*/}}
{{- define "matrix-notary.extraSigningKeyFile" -}}
{{- $name := .key.secretKey | default (printf "extra-%d.key" .index) -}}
/run/secrets/matrix-notary/extra-signing-keys/{{ .index }}/{{ $name }}
{{- end -}}
{{- define "matrix-notary.extraSigningKeyFiles" -}}
{{- $files := list -}}
{{- range $i, $key := .Values.extraSigningKeys -}}
{{- $files = append $files (include "matrix-notary.extraSigningKeyFile" (dict "root" $ "index" $i "key" $key)) -}}
{{- end -}}
{{- join "," $files -}}
{{- end -}}
{{- define "matrix-notary.hasInlineExtraSigningKeys" -}}
{{- range .Values.extraSigningKeys }}{{ if .value }}true{{ end }}{{ end -}}
{{- end -}}

{{- define "matrix-notary.hasOldSigningKeys" -}}
{{- if or .Values.oldSigningKeys.existingSecret .Values.oldSigningKeys.value }}true{{ end -}}
{{- end -}}

{{/* Fails the render with what to do, for values the schema cannot judge alone. */}}
{{- define "matrix-notary.validate" -}}
{{- if not .Values.serverName -}}
{{- fail "serverName is required: the name homeservers know this notary by, e.g. --set serverName=notary.example.org" -}}
{{- end -}}
{{- if not (or .Values.signingKey.existingSecret .Values.signingKey.value) -}}
{{- fail "a signing key is required and the chart cannot make an ed25519 key. Make one with `npx matrix-notary generate-key --out signing.key` (or `docker run --rm IMAGE generate-key > signing.key`), then pass it with --set-file signingKey.value=signing.key, or store it in a Secret and set signingKey.existingSecret (and signingKey.secretKey)" -}}
{{- end -}}
{{- if and (gt (len .Values.redis.sentinels) 0) (gt (len .Values.redis.clusterNodes) 0) -}}
{{- fail "redis.sentinels and redis.clusterNodes exclude each other: set one of them" -}}
{{- end -}}
{{- end -}}

{{/* An env entry when the value is set (0 and false count as set; null and "" do not). */}}
{{- define "matrix-notary.envIfSet" -}}
{{- $v := index . 1 -}}
{{- if not (or (kindIs "invalid" $v) (and (kindIs "string" $v) (eq $v ""))) }}
- name: {{ index . 0 }}
  value: {{ $v | toString | quote }}
{{- end -}}
{{- end -}}

{{/* An env entry joining a list with commas, when the list is not empty. */}}
{{- define "matrix-notary.envList" -}}
{{- $v := index . 1 -}}
{{- if $v }}
- name: {{ index . 0 }}
  value: {{ join "," $v | quote }}
{{- end -}}
{{- end -}}

{{/*
The environment of every role. The signer gets only these; api and worker pods add
"matrix-notary.env.clients". Extra variables come last, so they can override.
*/}}
{{- define "matrix-notary.env.common" -}}
- name: NOTARY_SERVER_NAME
  value: {{ .Values.serverName | quote }}
- name: NOTARY_METRICS_PORT
  value: {{ .Values.metrics.port | quote }}
- name: NOTARY_METRICS_BIND
  value: "0.0.0.0"
- name: NOTARY_SIGNER_TOKEN_FILE
  value: /run/secrets/matrix-notary/signer-token/{{ .Values.signerToken.secretKey }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_LOG_LEVEL" .Values.config.logLevel) }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_OWN_KEY_VALIDITY_S" .Values.config.ownKeyValiditySeconds) }}
{{- end -}}

{{/* What api and worker pods need beyond the common part: the signer, Redis and the policy. */}}
{{- define "matrix-notary.env.clients" -}}
{{- $c := .Values.config -}}
- name: NOTARY_SIGNER_URL
  value: {{ printf "http://%s-signer:%v" (include "matrix-notary.fullname" .) .Values.signer.port | quote }}
- name: REDIS_URL
  value: {{ .Values.redis.url | quote }}
- name: NOTARY_REDIS_PREFIX
  value: {{ .Values.redis.prefix | quote }}
{{- include "matrix-notary.envList" (list "REDIS_SENTINELS" .Values.redis.sentinels) }}
{{- if .Values.redis.sentinels }}
- name: REDIS_SENTINEL_MASTER
  value: {{ .Values.redis.sentinelMaster | quote }}
{{- end }}
{{- include "matrix-notary.envList" (list "REDIS_CLUSTER_NODES" .Values.redis.clusterNodes) }}
{{- if .Values.redis.existingSecret }}
- name: REDIS_PASSWORD_FILE
  value: /run/secrets/matrix-notary/redis/{{ .Values.redis.secretKey }}
{{- end }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_ORIGIN_MIN_INTERVAL_S" $c.originMinIntervalSeconds) }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_ORIGIN_MAX_BACKOFF_S" $c.originMaxBackoffSeconds) }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_MIN_KEY_VALIDITY_S" $c.minKeyValiditySeconds) }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_FETCH_WAIT_MS" $c.fetchWaitMs) }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_ORIGIN_CONNECT_TIMEOUT_MS" $c.originConnectTimeoutMs) }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_ORIGIN_TIMEOUT_MS" $c.originTimeoutMs) }}
{{- include "matrix-notary.envList" (list "NOTARY_DNS_SERVERS" $c.dnsServers) }}
{{- include "matrix-notary.envList" (list "NOTARY_ALLOWED_ADDRESSES" $c.allowedAddresses) }}
{{- include "matrix-notary.envList" (list "NOTARY_TRUSTED_PROXIES" $c.trustedProxies) }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_CLIENT_REQUESTS_PER_S" $c.clientRequestsPerSecond) }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_CLIENT_BURST" $c.clientBurst) }}
{{- include "matrix-notary.envIfSet" (list "NOTARY_CLIENT_NEW_ORIGINS_PER_MIN" $c.clientNewOriginsPerMinute) }}
{{- include "matrix-notary.envList" (list "NOTARY_UNLIMITED_CLIENTS" $c.unlimitedClients) }}
{{- end -}}

{{/* Extra variables: the release-wide ones, then the component's. Call with (dict "root" $ "values" .Values.api). */}}
{{- define "matrix-notary.env.extra" -}}
{{- $extra := concat (.root.Values.extraEnv | default list) (.values.extraEnv | default list) -}}
{{- if $extra }}{{ toYaml $extra }}{{ end -}}
{{- end -}}

{{/* Volumes of every pod: a writable /tmp and the signer token; api and worker add the Redis password. */}}
{{- define "matrix-notary.commonVolumes" -}}
{{- $root := .root -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: signer-token
  secret:
    secretName: {{ include "matrix-notary.signerTokenSecret" $root }}
    defaultMode: 0440
    items:
      - key: {{ $root.Values.signerToken.secretKey }}
        path: {{ $root.Values.signerToken.secretKey }}
{{- if and .redis $root.Values.redis.existingSecret }}
- name: redis-password
  secret:
    secretName: {{ $root.Values.redis.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $root.Values.redis.secretKey }}
        path: {{ $root.Values.redis.secretKey }}
{{- end }}
{{- end -}}

{{- define "matrix-notary.commonVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: signer-token
  mountPath: /run/secrets/matrix-notary/signer-token
  readOnly: true
{{- if and .redis .root.Values.redis.existingSecret }}
- name: redis-password
  mountPath: /run/secrets/matrix-notary/redis
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The parts of a pod spec every role shares. Call with (dict "root" $ "component" "api" "values" .Values.api).
*/}}
{{- define "matrix-notary.podSpecCommon" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "matrix-notary.serviceAccountName" $root }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml .values.topologySpreadConstraints | nindent 2 }}
{{- else }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "matrix-notary.selectorLabels" (dict "root" $root "component" .component) | nindent 8 }}
{{- end }}
{{- end -}}
