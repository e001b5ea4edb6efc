package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The repository's manifests pass, and the report names each role.
func TestRepositoryKubernetesManifests(t *testing.T) {
	rep, err := CheckKube(context.Background(), "../../deploy/kubernetes/aegis.yaml", aegisBin(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"4 PodDisruptionBudget", "3 StatefulSet", "1 Deployment", "sealer", "indexer", "ingest", "query",
		"Secret aegis-signer", "Secret aegis-tokens", "ConfigMap aegis-verifier"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q: %s", want, rep)
		}
	}
	t.Log(rep)
}

// Each mistake the Kubernetes check exists for, made in the repository's
// own manifests, is found and named.
func TestKubernetesMistakesAreFound(t *testing.T) {
	bin := aegisBin(t)
	good, err := os.ReadFile("../../deploy/kubernetes/aegis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"a misspelt field", "terminationGracePeriodSeconds: 40\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "terminationGracePeriodSecond: 40\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "terminationGracePeriodSecond"},
		{"a field out of place", "podManagementPolicy: Parallel\n  selector:\n    matchLabels: {app.kubernetes.io/name: aegis-sealer}", "podManagementPolicy: Parallel\n  replicas: 2\n  selector:\n    matchLabels: {app.kubernetes.io/name: aegis-sealer}", "replicas"},
		{"an unpinned image", "image: registry.example.com/aegis-audit:0.1.0\n          args: [query", "image: registry.example.com/aegis-audit:latest\n          args: [query", "tag latest moves"},
		{"an unknown flag", "args: [ingest, --tokens-file", "args: [ingest, --token-flie, x, --tokens-file", "--token-flie"},
		{"an unknown variable", "AEGIS_TABLE: aegis-audit", "AEGIS_TABEL: aegis-audit", "AEGIS_TABEL"},
		{"a probe on a port without health", "readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 5, failureThreshold: 3}\n          livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 250m",
			"readinessProbe: {httpGet: {path: /readyz, port: 9200}, periodSeconds: 5, failureThreshold: 3}\n          livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 250m", "port 9200"},
		{"a probe of a path aegis does not serve", "livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 500m, memory: 256Mi}", "livenessProbe: {httpGet: {path: /health, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 500m, memory: 256Mi}", "asks /health,"},
		{"a key under no mount", "args: [sealer, --signer-key-file, /secrets/signer/signer.key]", "args: [sealer, --signer-key-file, /etc/signer.key]", "/etc/signer.key is under no mount"},
		{"the spool on the pod's own disk", "            - {name: spool, mountPath: /spool}\n", "            - {name: spool2, mountPath: /spool}\n", "mount spool2 names no volume"},
		{"the sealer as a Deployment", "kind: StatefulSet\nmetadata:\n  name: aegis-sealer", "kind: Deployment\nmetadata:\n  name: aegis-sealer", `unknown field "podManagementPolicy"`},
		{"a sealer without a stable identity", "          env:\n            - name: AEGIS_IDENTITY\n              valueFrom: {fieldRef: {fieldPath: metadata.name}}\n          ports: [{name: metrics, containerPort: 9100}]\n          readinessProbe: {httpGet: {path: /readyz, port: metrics}, periodSeconds: 5, failureThreshold: 3}\n          livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 500m",
			"          ports: [{name: metrics, containerPort: 9100}]\n          readinessProbe: {httpGet: {path: /readyz, port: metrics}, periodSeconds: 5, failureThreshold: 3}\n          livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 500m", "stable identity"},
		{"a grace period shorter than the drain", "terminationGracePeriodSeconds: 40\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "terminationGracePeriodSeconds: 30\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "over the 30 s"},
		{"root", "runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "runAsUser: 0\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "non-root user"},
		{"a writable root file system", "readOnlyRootFilesystem: true\n            capabilities: {drop: [ALL]}\n          volumeMounts:\n            - {name: signer", "readOnlyRootFilesystem: false\n            capabilities: {drop: [ALL]}\n          volumeMounts:\n            - {name: signer", "readOnlyRootFilesystem true"},
		{"a service that selects nothing", "  selector: {app.kubernetes.io/name: aegis-query}\n  ports:", "  selector: {app.kubernetes.io/name: aegis-qurey}\n  ports:", "Service aegis-query: its selector"},
		{"a service to a port no container has", "    - {name: http, port: 80, targetPort: http}\n    - {name: metrics, port: 9100, targetPort: metrics}\n---\n# Voluntary", "    - {name: http, port: 80, targetPort: https}\n    - {name: metrics, port: 9100, targetPort: metrics}\n---\n# Voluntary", "targetPort https"},
		{"a budget that selects nothing", "  maxUnavailable: 1\n  selector:\n    matchLabels: {app.kubernetes.io/name: aegis-indexer}", "  maxUnavailable: 1\n  selector:\n    matchLabels: {app.kubernetes.io/name: aegis-indexers}", "PodDisruptionBudget aegis-indexer"},
		{"an unknown kind", "kind: ServiceAccount\nmetadata:\n  name: aegis-query", "kind: ServiceAcount\nmetadata:\n  name: aegis-query", "ServiceAcount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(string(good), tc.old) != 1 {
				t.Fatalf("the manifests hold %q %d times, want once", tc.old, strings.Count(string(good), tc.old))
			}
			path := filepath.Join(t.TempDir(), "aegis.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(good), tc.old, tc.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := CheckKube(context.Background(), path, bin)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
