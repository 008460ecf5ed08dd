{{/*
One GPU LLM server (vLLM or TGI): Deployment, Service and cache PVC.
Call with (dict "root" $ "component" "vllm" "cfg" .Values.vllm "port" 8000 "args" (list ...)
"cacheDir" "/root/.cache/huggingface" "probePath" "/v1/models").
*/}}
{{- define "h2ogpt.llmServer" -}}
{{- $name := include "h2ogpt.componentName" (dict "root" .root "component" .component) }}
{{- $cfg := .cfg }}
{{- if and $cfg.persistence.enabled (not $cfg.persistence.existingClaim) }}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ $name }}-cache
  labels:
    {{- include "h2ogpt.labels" (dict "root" .root "component" .component) | nindent 4 }}
  annotations:
    helm.sh/resource-policy: keep
spec:
  accessModes:
    - ReadWriteOnce
  {{- with $cfg.persistence.storageClass }}
  storageClassName: {{ . | quote }}
  {{- end }}
  resources:
    requests:
      storage: {{ $cfg.persistence.size }}
---
{{- end }}
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "h2ogpt.labels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "h2ogpt.selectorLabels" (dict "root" .root "component" .component) | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "h2ogpt.labels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  replicas: 1
  # the GPU and the cache volume are released before the new pod starts
  strategy:
    type: Recreate
  selector:
    matchLabels:
      {{- include "h2ogpt.selectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "h2ogpt.selectorLabels" (dict "root" .root "component" .component) | nindent 8 }}
    spec:
      automountServiceAccountToken: false
      {{- with .root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: {{ .component }}
          image: {{ printf "%s:%s" $cfg.image.repository $cfg.image.tag | quote }}
          imagePullPolicy: {{ $cfg.image.pullPolicy }}
          args:
            {{- toYaml (concat .args $cfg.extraArgs) | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
          ports:
            - name: http
              containerPort: {{ .port }}
              protocol: TCP
          env:
            - name: HF_HOME
              value: {{ .cacheDir }}
            {{- if $cfg.offline }}
            - name: HF_HUB_OFFLINE
              value: "1"
            {{- end }}
            {{- with $cfg.hfTokenSecret }}
            - name: HF_TOKEN
              valueFrom:
                secretKeyRef:
                  name: {{ . }}
                  key: HF_TOKEN
            {{- end }}
          startupProbe:
            httpGet:
              path: {{ .probePath }}
              port: http
            periodSeconds: 10
            # downloading and loading a model takes a while
            failureThreshold: 180
          readinessProbe:
            httpGet:
              path: {{ .probePath }}
              port: http
            periodSeconds: 10
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: {{ .probePath }}
              port: http
            periodSeconds: 30
            failureThreshold: 5
          resources:
            requests:
              {{- with $cfg.resources.requests }}
              {{- toYaml . | nindent 14 }}
              {{- end }}
              nvidia.com/gpu: {{ $cfg.gpus }}
            limits:
              {{- with $cfg.resources.limits }}
              {{- toYaml . | nindent 14 }}
              {{- end }}
              nvidia.com/gpu: {{ $cfg.gpus }}
          volumeMounts:
            - name: cache
              mountPath: {{ .cacheDir }}
            - name: shm
              mountPath: /dev/shm
      volumes:
        - name: cache
          {{- if $cfg.persistence.enabled }}
          persistentVolumeClaim:
            claimName: {{ default (printf "%s-cache" $name) $cfg.persistence.existingClaim }}
          {{- else }}
          emptyDir: {}
          {{- end }}
        - name: shm
          emptyDir:
            medium: Memory
            sizeLimit: {{ $cfg.shmSize }}
      {{- with $cfg.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $cfg.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
