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
	for _, tc := range []mistake{
		{"a misspelt field", "terminationGracePeriodSeconds: 40\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "terminationGracePeriodSecond: 40\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "terminationGracePeriodSecond"},
		{"a field out of place", "podManagementPolicy: Parallel\n  selector:\n    matchLabels: {app.kubernetes.io/name: aegis-sealer}", "podManagementPolicy: Parallel\n  replicas: 2\n  selector:\n    matchLabels: {app.kubernetes.io/name: aegis-sealer}", "replicas"},
		{"an unpinned image", "image: registry.example.com/aegis-audit:0.1.0\n          args: [query", "image: registry.example.com/aegis-audit:latest\n          args: [query", "tag latest moves"},
		{"an unknown flag", "args: [ingest, --tokens-file", "args: [ingest, --token-flie, x, --tokens-file", "--token-flie"},
		{"an unknown variable", "AEGIS_TABLE: aegis-audit", "AEGIS_TABEL: aegis-audit", "AEGIS_TABEL"},
		{"a probe on a port without health", "readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 5, timeoutSeconds: 6, failureThreshold: 3}",
			"readinessProbe: {httpGet: {path: /readyz, port: 9200}, periodSeconds: 5, timeoutSeconds: 6, failureThreshold: 3}", "port 9200"},
		{"a probe of a path aegis does not serve", "livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 500m, memory: 256Mi}", "livenessProbe: {httpGet: {path: /health, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 500m, memory: 256Mi}", "asks /health,"},
		{"a key under no mount", "args: [sealer, --signer-key-file, /secrets/signer/signer.key,", "args: [sealer, --signer-key-file, /etc/signer.key,", "/etc/signer.key is under no mount"},
		{"the spool on the pod's own disk", "            - {name: spool, mountPath: /spool}\n", "            - {name: spool2, mountPath: /spool}\n", "mount spool2 names no volume"},
		{"the sealer as a Deployment", "kind: StatefulSet\nmetadata:\n  name: aegis-sealer", "kind: Deployment\nmetadata:\n  name: aegis-sealer", `unknown field "podManagementPolicy"`},
		{"a sealer without a stable identity", "            - name: AEGIS_IDENTITY\n              valueFrom: {fieldRef: {fieldPath: metadata.name}}\n            - {name: AEGIS_KAFKA_TLS, value: \"true\"}\n            - {name: AEGIS_KAFKA_SASL_MECHANISM, value: SCRAM-SHA-512}\n            - {name: AEGIS_KAFKA_SASL_USERNAME, value: aegis-sealer}",
			"            - {name: AEGIS_KAFKA_TLS, value: \"true\"}\n            - {name: AEGIS_KAFKA_SASL_MECHANISM, value: SCRAM-SHA-512}\n            - {name: AEGIS_KAFKA_SASL_USERNAME, value: aegis-sealer}", "stable identity"},
		{"a grace period shorter than the drain", "terminationGracePeriodSeconds: 40\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "terminationGracePeriodSeconds: 30\n      securityContext:\n        runAsNonRoot: true\n        runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "over the 30s the sealer takes to drain"},
		{"root", "runAsUser: 65532\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "runAsUser: 0\n        runAsGroup: 65532\n        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity", "non-root user"},
		{"a writable root file system", "readOnlyRootFilesystem: true\n            capabilities: {drop: [ALL]}\n          volumeMounts:\n            - {name: signer", "readOnlyRootFilesystem: false\n            capabilities: {drop: [ALL]}\n          volumeMounts:\n            - {name: signer", "readOnlyRootFilesystem true"},
		{"a service that selects nothing", "  selector: {app.kubernetes.io/name: aegis-query}\n  ports:", "  selector: {app.kubernetes.io/name: aegis-qurey}\n  ports:", "Service aegis-query: its selector"},
		{"a service to a port no container has", "    - {name: http, port: 80, targetPort: http}\n    - {name: metrics, port: 9100, targetPort: metrics}\n---\n# Voluntary", "    - {name: http, port: 80, targetPort: https}\n    - {name: metrics, port: 9100, targetPort: metrics}\n---\n# Voluntary", "targetPort https"},
		{"a budget that selects nothing", "    matchLabels: {app.kubernetes.io/name: aegis-indexer}\n---\napiVersion: policy/v1", "    matchLabels: {app.kubernetes.io/name: aegis-indexers}\n---\napiVersion: policy/v1", "PodDisruptionBudget aegis-indexer"},
		{"ingest ready only while Kafka answers", "readinessProbe: {httpGet: {path: /healthz, port: http}", "readinessProbe: {httpGet: {path: /readyz, port: http}", "fail-safe answer"},
		{"a readiness probe that gives up before the servers answer", "readinessProbe: {httpGet: {path: /readyz, port: metrics}, periodSeconds: 5, timeoutSeconds: 6, failureThreshold: 3}\n          livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 250m",
			"readinessProbe: {httpGet: {path: /readyz, port: metrics}, periodSeconds: 5, failureThreshold: 3}\n          livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 250m", "times out after 1 s"},
		{"a budget that stalls drains in an outage", "  maxUnavailable: 1\n  unhealthyPodEvictionPolicy: AlwaysAllow\n", "  maxUnavailable: 1\n", "unhealthyPodEvictionPolicy must be AlwaysAllow"},
		{"an unknown kind", "kind: ServiceAccount\nmetadata:\n  name: aegis-query", "kind: ServiceAcount\nmetadata:\n  name: aegis-query", "ServiceAcount"},
	} {
		kubeMistake(t, bin, good, tc)
	}
}

// Mistakes that break the roles on a cluster and that the check lets
// through today (review of deploy/kubernetes/aegis.yaml). Each is made
// once in the repository's own manifests and must be named.
func TestKubernetesMistakesTheCheckMisses(t *testing.T) {
	bin := aegisBin(t)
	good, err := os.ReadFile("../../deploy/kubernetes/aegis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []mistake{
		// The header says to set the image to one pushed to your
		// registry; an ECR name without "aegis" in it turns every aegis
		// check of that container off (kube.go: strings.Contains(c.Image,
		// "aegis")), so a misspelt flag passes and the pod crash-loops.
		{"an image named without aegis, with a misspelt flag",
			"image: registry.example.com/aegis-audit:0.1.0\n          args: [query, --token-file",
			"image: 111122223333.dkr.ecr.eu-central-1.amazonaws.com/audit/core:0.1.0\n          args: [query, --token-flie", "--token-flie"},
		// /readyz is 503 while S3 or Kafka fail for 10 s (sealer/health.go):
		// as a liveness probe it restarts every sealer in an outage.
		{"a liveness probe on /readyz",
			"livenessProbe: {httpGet: {path: /healthz, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 500m, memory: 256Mi}",
			"livenessProbe: {httpGet: {path: /readyz, port: metrics}, periodSeconds: 10, failureThreshold: 6}\n          resources:\n            requests: {cpu: 500m, memory: 256Mi}", "livenessProbe"},
		// Without fsGroup the secret's files are root:root 0440: user 65532
		// cannot read the signer key and the sealer exits at start
		// ("--signer-key-file ... cannot be read: permission denied").
		{"a 0440 secret without the pod's fsGroup",
			"        fsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      affinity",
			"        seccompProfile: {type: RuntimeDefault}\n      affinity", "fsGroup"},
		// minAvailable equal to the replicas: no eviction is ever allowed,
		// and every node drain that holds a sealer waits forever.
		{"a disruption budget that allows no eviction",
			"  minAvailable: 1\n  unhealthyPodEvictionPolicy: AlwaysAllow\n  selector:\n    matchLabels: {app.kubernetes.io/name: aegis-sealer}",
			"  minAvailable: 2\n  unhealthyPodEvictionPolicy: AlwaysAllow\n  selector:\n    matchLabels: {app.kubernetes.io/name: aegis-sealer}", "PodDisruptionBudget aegis-sealer"},
		// Names are checked, values are not: every role refuses to start
		// with `--log-format (AEGIS_LOG_FORMAT) "jsonl": want json or console`.
		{"a ConfigMap value every role refuses",
			"AEGIS_LOG_FORMAT: json", "AEGIS_LOG_FORMAT: jsonl", "AEGIS_LOG_FORMAT"},
		// The drain is the role's own setting, not a constant 30 s: ingest
		// waits --shutdown-timeout for its requests, then flushes; a grace
		// period of 40 s SIGKILLs a 60 s drain.
		{"an ingest drain longer than the grace period",
			"--spool-dir, /spool]", "--spool-dir, /spool, --shutdown-timeout, 60s]", "shutdown-timeout"},
	} {
		kubeMistake(t, bin, good, tc)
	}
}

// A mistake is the repository's manifests with old replaced by new, and
// what the check must name.
type mistake struct{ name, old, new, want string }

// kubeMistake makes one mistake in the manifests good (old must be in
// them once) and expects the check to name it.
func kubeMistake(t *testing.T, bin string, good []byte, tc mistake) {
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
