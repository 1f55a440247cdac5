{{- /* Helm template, not YAML until rendered; named .yaml.tpl so YAML formatters leave it alone. */ -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "chainnode-operator.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "chainnode-operator.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "chainnode-operator.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "chainnode-operator.selectorLabels" . | nindent 8 }}
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "chainnode-operator.serviceAccountName" . }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.podSecurityContext | nindent 8 }}
      containers:
        - name: operator
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          command: ["node", "dist/operator/main.js"]
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: WATCH_NAMESPACES
              value: {{ join "," .Values.watchNamespaces | quote }}
            - name: LEADER_ELECTION_ID
              value: {{ .Values.leaderElection.leaseName | quote }}
            - name: LEASE_DURATION_MS
              value: {{ .Values.leaderElection.leaseDurationMs | quote }}
            - name: RENEW_DEADLINE_MS
              value: {{ .Values.leaderElection.renewDeadlineMs | quote }}
            - name: RETRY_PERIOD_MS
              value: {{ .Values.leaderElection.retryPeriodMs | quote }}
            - name: METRICS_PORT
              value: {{ .Values.metrics.port | quote }}
            - name: LOG_LEVEL
              value: {{ .Values.logLevel | quote }}
          ports:
            - name: metrics
              containerPort: {{ .Values.metrics.port }}
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /healthz
              port: metrics
            periodSeconds: 10
          readinessProbe:
            httpGet:
              path: /readyz
              port: metrics
            periodSeconds: 5
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      affinity:
        {{- if .Values.affinity }}
        {{- toYaml .Values.affinity | nindent 8 }}
        {{- else }}
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- include "chainnode-operator.selectorLabels" . | nindent 20 }}
        {{- end }}
