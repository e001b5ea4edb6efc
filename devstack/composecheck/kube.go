package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// drain is how long a role may take to drain on SIGTERM (the sealer's
// batch, checkpoint and transaction; the requests in flight of ingest and
// query, then ingest's flush to Kafka), from its settings: a pod's grace
// period must be longer than its preStop hook and this, or the kubelet's
// SIGKILL cuts the drain.
func drain(role string, flags, env map[string]string) (time.Duration, error) {
	setting := func(flag, variable string, def time.Duration) (time.Duration, error) {
		v := flags[flag]
		if v == "" {
			v = env[variable]
		}
		if v == "" {
			return def, nil
		}
		return time.ParseDuration(v)
	}
	switch role {
	case "ingest":
		requests, err := setting("--shutdown-timeout", "AEGIS_SHUTDOWN_TIMEOUT", 30*time.Second)
		if err != nil {
			return 0, err
		}
		flush, err := setting("--timeout", "AEGIS_TIMEOUT", 10*time.Second)
		return requests + flush, err
	case "sealer", "indexer", "query":
		return 30 * time.Second, nil
	}
	return 0, nil
}

// kubeWorkload is a StatefulSet or a Deployment of the file.
type kubeWorkload struct {
	kind, name string
	selector   *metav1.LabelSelector
	labels     map[string]string
	replicas   int32
	pod        corev1.PodSpec
	claims     map[string]bool // the StatefulSet's volume claim templates
}

// CheckKube validates the Kubernetes manifests at path (objects separated
// by ---) where no cluster runs: each object is decoded strictly with the
// Kubernetes API types (an unknown or misplaced field is an error), then
// what the API server would not check but a broken deployment shows only
// when it runs: every image pinned, pods and containers not root and
// read-only, each aegis container's command, flags and variables known to
// aegis, its probes on an address it serves them on, every file it is
// given under a mount (the spool on a volume that outlives the pod), the
// sealer and the indexers with stable identities, grace periods longer
// than the drain, and every selector of a service or a disruption budget
// matching a workload.
func CheckKube(ctx context.Context, file, aegis string) (string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	bin, err := newAegisBinary(ctx, aegis)
	if err != nil {
		return "", err
	}
	var errs []error
	configMaps := map[string]map[string]string{}
	accounts := map[string]bool{}
	var workloads []*kubeWorkload
	var services []corev1.Service
	var budgets []policyv1.PodDisruptionBudget
	kinds := map[string]int{}
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s: object %d: %w", file, n, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || isComments(doc) {
			n--
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return "", fmt.Errorf("%s: object %d: %w", file, n, err)
		}
		strict := func(apiVersion string, into any) error {
			if tm.APIVersion != apiVersion {
				return fmt.Errorf("%s: apiVersion %q, want %q", tm.Kind, tm.APIVersion, apiVersion)
			}
			return yaml.UnmarshalStrict(doc, into)
		}
		kinds[tm.Kind]++
		switch tm.Kind {
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err = strict("v1", &cm); err == nil {
				configMaps[cm.Name] = cm.Data
			}
		case "ServiceAccount":
			var sa corev1.ServiceAccount
			if err = strict("v1", &sa); err == nil {
				accounts[sa.Name] = true
			}
		case "Service":
			var s corev1.Service
			if err = strict("v1", &s); err == nil {
				services = append(services, s)
			}
		case "PodDisruptionBudget":
			var b policyv1.PodDisruptionBudget
			if err = strict("policy/v1", &b); err == nil {
				budgets = append(budgets, b)
			}
		case "StatefulSet":
			var s appsv1.StatefulSet
			if err = strict("apps/v1", &s); err == nil {
				w := &kubeWorkload{kind: "StatefulSet", name: s.Name, selector: s.Spec.Selector, labels: s.Spec.Template.Labels, replicas: replicasOf(s.Spec.Replicas),
					pod: s.Spec.Template.Spec, claims: map[string]bool{}}
				for _, c := range s.Spec.VolumeClaimTemplates {
					w.claims[c.Name] = true
				}
				workloads = append(workloads, w)
			}
		case "Deployment":
			var d appsv1.Deployment
			if err = strict("apps/v1", &d); err == nil {
				workloads = append(workloads, &kubeWorkload{kind: "Deployment", name: d.Name, selector: d.Spec.Selector, labels: d.Spec.Template.Labels,
					replicas: replicasOf(d.Spec.Replicas), pod: d.Spec.Template.Spec})
			}
		default:
			err = fmt.Errorf("kind %q: not one this checker knows (ConfigMap, ServiceAccount, Service, PodDisruptionBudget, StatefulSet, Deployment)", tm.Kind)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("object %d: %w", n, err))
		}
	}
	external := map[string]bool{}
	var roles []string
	for _, w := range workloads {
		role, err := checkWorkload(ctx, bin, w, configMaps, accounts, external)
		errs = append(errs, err)
		if role != "" {
			roles = append(roles, role)
		}
	}
	for _, s := range services {
		w := selected(workloads, labels.SelectorFromSet(s.Spec.Selector))
		if w == nil {
			errs = append(errs, fmt.Errorf("Service %s: its selector %v matches no workload of the file", s.Name, s.Spec.Selector))
			continue
		}
		for _, p := range s.Spec.Ports {
			if _, ok := containerPort(w.pod, p.TargetPort); !ok {
				errs = append(errs, fmt.Errorf("Service %s: port %s: targetPort %s is no container port of %s %s", s.Name, p.Name, p.TargetPort.String(), w.kind, w.name))
			}
		}
	}
	for _, b := range budgets {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		w := (*kubeWorkload)(nil)
		if err == nil {
			w = selected(workloads, sel)
		}
		switch {
		case w == nil:
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: its selector matches no workload of the file", b.Name))
		case b.Spec.MinAvailable != nil && b.Spec.MinAvailable.Type == intstr.Int && b.Spec.MinAvailable.IntVal >= w.replicas,
			b.Spec.MaxUnavailable != nil && b.Spec.MaxUnavailable.Type == intstr.Int && b.Spec.MaxUnavailable.IntVal < 1:
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: allows no eviction of %s %s's %d pods: a node drain would wait for ever", b.Name, w.kind, w.name, w.replicas))
		case b.Spec.UnhealthyPodEvictionPolicy == nil || *b.Spec.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow:
			errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: unhealthyPodEvictionPolicy must be AlwaysAllow: pods not ready in an outage (the sealers' /readyz) would stall every node drain", b.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	var kindList, externals []string
	for k, n := range kinds {
		kindList = append(kindList, fmt.Sprintf("%d %s", n, k))
	}
	for e := range external {
		externals = append(externals, e)
	}
	sort.Strings(kindList)
	sort.Strings(externals)
	return fmt.Sprintf("%s: valid; %s; aegis roles checked against %s: %s; created outside the file: %s\n",
		file, strings.Join(kindList, ", "), aegis, strings.Join(roles, ", "), strings.Join(externals, ", ")), nil
}

// replicasOf is a workload's replicas (Kubernetes' default 1).
func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// isComments reports a document of comments alone (the file's header).
func isComments(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// selected is the workload whose pods sel selects, if any.
func selected(ws []*kubeWorkload, sel labels.Selector) *kubeWorkload {
	if sel.Empty() {
		return nil
	}
	for _, w := range ws {
		if sel.Matches(labels.Set(w.labels)) {
			return w
		}
	}
	return nil
}

// containerPort resolves a port by name or number to a container port of
// the pod.
func containerPort(pod corev1.PodSpec, p intstr.IntOrString) (int32, bool) {
	for _, c := range pod.Containers {
		for _, cp := range c.Ports {
			if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// checkWorkload checks one workload's pod, and returns its aegis role
// ("" when none of its containers runs aegis). Secrets and ConfigMaps its
// volumes name that the file does not hold are added to external.
func checkWorkload(ctx context.Context, bin *aegisBinary, w *kubeWorkload, configMaps map[string]map[string]string, accounts, external map[string]bool) (string, error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s %s: %s", w.kind, w.name, fmt.Sprintf(format, args...)))
	}
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.labels)) {
		fail("its selector does not select its own pods")
	}
	if w.pod.ServiceAccountName != "" && !accounts[w.pod.ServiceAccountName] {
		fail("service account %s is not in the file", w.pod.ServiceAccountName)
	}
	if sc := w.pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		fail("the pod must run as a numeric non-root user (securityContext runAsNonRoot and runAsUser)")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range w.pod.Volumes {
		volumes[v.Name] = v
		switch {
		case v.Secret != nil:
			external["Secret "+v.Secret.SecretName] = true
			// A secret's files are root's; their group is the pod's fsGroup:
			// a mode without "other" read needs it, or the non-root user
			// cannot read the key (the sealer exits at start).
			if mode := v.Secret.DefaultMode; mode != nil && *mode&0o004 == 0 &&
				(w.pod.SecurityContext == nil || w.pod.SecurityContext.FSGroup == nil || *mode&0o040 == 0) {
				fail("secret volume %s: mode %#o is readable by root and the pod's fsGroup alone: set securityContext fsGroup and a group-readable mode", v.Name, *mode)
			}
		case v.ConfigMap != nil && configMaps[v.ConfigMap.Name] == nil:
			external["ConfigMap "+v.ConfigMap.Name] = true
		}
	}
	role := ""
	for _, c := range w.pod.Containers {
		if err := pinned(c.Image); err != nil {
			fail("container %s: image %s: %v", c.Name, c.Image, err)
		}
		if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			fail("container %s: securityContext must set allowPrivilegeEscalation false and readOnlyRootFilesystem true", c.Name)
		}
		mounts := map[string]corev1.VolumeMount{}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok && !w.claims[m.Name] {
				fail("container %s: mount %s names no volume of the pod", c.Name, m.Name)
			}
			mounts[m.MountPath] = m
		}
		if !strings.Contains(c.Image, "aegis") && (len(c.Command) > 0 || len(c.Args) == 0 || !bin.commands[c.Args[0]]) {
			continue // not aegis: by its image's name, nor by what it runs (a command of aegis's)
		}
		if len(c.Command) > 0 || len(c.Args) == 0 {
			fail("container %s: an aegis container gives its role in args (the image's entrypoint is aegis), not command", c.Name)
			continue
		}
		role = c.Args[0]
		env := map[string]string{} // the value "" stands for one from a field or a secret
		for _, f := range c.EnvFrom {
			if f.ConfigMapRef == nil || configMaps[f.ConfigMapRef.Name] == nil {
				fail("container %s: envFrom names a ConfigMap the file does not hold", c.Name)
				continue
			}
			for k, v := range configMaps[f.ConfigMapRef.Name] {
				env[f.Prefix+k] = v
			}
		}
		for _, e := range c.Env {
			env[e.Name] = e.Value
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				external["Secret "+e.ValueFrom.SecretKeyRef.Name] = true
			}
		}
		// Its command and flags with its variables, as the role checks
		// them at start (a value from a field or a secret stands in as
		// one that is well formed).
		run := []string{}
		for k, v := range env {
			if v == "" {
				v = "from-the-cluster"
			}
			run = append(run, k+"="+v)
		}
		if err := bin.settings(ctx, c.Args, run); err != nil {
			fail("container %s: %v", c.Name, err)
		}
		names := make([]string, 0, len(env))
		for k := range env {
			names = append(names, k)
		}
		if err := bin.variables(names); err != nil {
			fail("container %s: %v", c.Name, err)
		}
		flags := flagValues(c.Args)
		// The sealer and the indexers keep their identity across restarts
		// (a StatefulSet's pod name): one restarted after a crash takes
		// over at once, where a new identity waits for the dead one's
		// session to end.
		if role == "sealer" || role == "indexer" {
			identity := flags["--identity"] != ""
			for _, e := range c.Env {
				if e.Name == "AEGIS_IDENTITY" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
					identity = true
				}
			}
			if w.kind != "StatefulSet" || !identity {
				fail("the %s runs as a StatefulSet with AEGIS_IDENTITY from metadata.name (a stable identity per pod)", role)
			}
		}
		d, err := drain(role, flags, env)
		if err != nil {
			fail("container %s: %v", c.Name, err)
		}
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			d += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
		if g := w.pod.TerminationGracePeriodSeconds; d > 0 && (g == nil || time.Duration(*g)*time.Second <= d) {
			fail("terminationGracePeriodSeconds must be over the %s the %s takes to drain on SIGTERM (its preStop hook, --shutdown-timeout, --timeout)", d, role)
		}
		// Files and folders it is given: under a mount; the spool on a
		// writable volume that outlives the pod.
		for _, s := range fileSettings(flags, env) {
			m, ok := mountOf(mounts, s.path)
			switch {
			case !ok:
				fail("container %s: %s %s is under no mount (the root file system is read-only and holds no key)", c.Name, s.name, s.path)
			case s.writable && m.ReadOnly:
				fail("container %s: %s %s is on a read-only mount", c.Name, s.name, s.path)
			case s.writable && !w.claims[m.Name]:
				fail("container %s: %s %s is not on a volume claim template: the escalations spooled there would go with the pod", c.Name, s.name, s.path)
			}
		}
		// Probes: on a port the role serves /healthz and /readyz on.
		served := map[int32]bool{}
		for _, addr := range []string{env["AEGIS_METRICS_ADDR"], flags["--metrics-addr"], flags["--listen"], flags["--addr"], env["AEGIS_LISTEN"], env["AEGIS_ADDR"]} {
			if _, p, err := net.SplitHostPort(addr); err == nil {
				if n, err := strconv.Atoi(p); err == nil {
					served[int32(n)] = true
				}
			}
		}
		for what, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
			switch {
			case p == nil:
				fail("container %s: no %s", c.Name, what)
			case p.HTTPGet == nil:
				fail("container %s: %s is not an HTTP GET of /healthz or /readyz", c.Name, what)
			case p.HTTPGet.Path != "/healthz" && p.HTTPGet.Path != "/readyz":
				fail("container %s: %s asks %s, which aegis does not serve (/healthz, /readyz)", c.Name, what, p.HTTPGet.Path)
			case what == "livenessProbe" && p.HTTPGet.Path != "/healthz":
				fail("container %s: livenessProbe asks %s: it is 503 in an outage of Kafka or S3, and the kubelet would restart every pod then; ask /healthz", c.Name, p.HTTPGet.Path)
			case what == "readinessProbe" && role == "ingest" && p.HTTPGet.Path != "/healthz":
				fail("container %s: ingest's readinessProbe asks %s: out of the endpoints while Kafka is down, it could neither give callers the fail-safe answer nor spool the escalation; ask /healthz", c.Name, p.HTTPGet.Path)
			case p.HTTPGet.Path == "/readyz" && p.TimeoutSeconds < 6:
				fail("container %s: %s of /readyz times out after %d s: it asks the servers, 5 s each at most; give it 6", c.Name, what, max(p.TimeoutSeconds, 1))
			default:
				if n, ok := containerPort(w.pod, p.HTTPGet.Port); !ok || !served[n] {
					fail("container %s: %s asks port %s, on which %s serves no health (its addresses: --metrics-addr, --listen, --addr)", c.Name, what, p.HTTPGet.Port.String(), role)
				}
			}
		}
	}
	return role, errors.Join(errs...)
}

// settings runs `aegis <args> --check-settings` with env alone as its
// environment: the command and its flags must parse, and its settings
// (flags and variables) pass the check the role makes at start.
func (b *aegisBinary) settings(ctx context.Context, args, env []string) error {
	cmd := exec.CommandContext(ctx, b.path, append(append([]string(nil), args...), "--check-settings")...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("aegis %s --check-settings: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// flagValues maps each --flag of args to its value (--flag value or
// --flag=value; "true" for a flag followed by another flag or nothing).
func flagValues(args []string) map[string]string {
	out := map[string]string{}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			continue
		}
		if k, v, ok := strings.Cut(a, "="); ok {
			out[k] = v
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			out[a] = args[i+1]
			i++
		} else {
			out[a] = "true"
		}
	}
	return out
}

// fileSetting is a file or a folder a container is given.
type fileSetting struct {
	name, path string
	writable   bool
}

// fileSettings are the files (flags ending in -file, variables in _FILE)
// and the spool folder set by flags or variables.
func fileSettings(flags, env map[string]string) []fileSetting {
	var out []fileSetting
	for k, v := range flags {
		if strings.HasSuffix(k, "-file") || k == "--spool-dir" || k == "--temp-dir" {
			out = append(out, fileSetting{name: k, path: v, writable: k == "--spool-dir"})
		}
	}
	for k, v := range env {
		if v != "" && (strings.HasSuffix(k, "_FILE") || k == "AEGIS_SPOOL_DIR" || k == "AEGIS_TEMP_DIR") {
			out = append(out, fileSetting{name: k, path: v, writable: k == "AEGIS_SPOOL_DIR"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// mountOf is the mount that holds p (the longest mount path above it).
func mountOf(mounts map[string]corev1.VolumeMount, p string) (corev1.VolumeMount, bool) {
	var best corev1.VolumeMount
	found := false
	p = path.Clean(p)
	for mp, m := range mounts {
		mp = path.Clean(mp)
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && (!found || len(mp) > len(path.Clean(best.MountPath))) {
			best, found = m, true
		}
	}
	return best, found
}
