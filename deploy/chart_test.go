package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/flow-auditor/flow-auditor/agent"
	"github.com/flow-auditor/flow-auditor/internal/envflag"
)

const daemonSetName = "flow-auditor" // release "flow-auditor" + chart "flow-auditor"

// TestChartRendersEveryScenario renders the chart in each scenario and
// checks what every user of the chart relies on.
func TestChartRendersEveryScenario(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			r := render(t, sc.values, sc.apis...)
			ds := one[*appsv1.DaemonSet](t, r, "DaemonSet", daemonSetName)
			ebpf := agentSource(t, ds) == agent.SourceEBPF
			checkPodSecurity(t, ds, ebpf, valueAt(sc.values, "capabilities", "sysResource") == true)
			checkHostAccess(t, ds, ebpf)
			checkProbesAndPorts(t, r, ds)
			checkScheduling(t, ds)
			checkImages(t, r)
			checkServiceAccount(t, r, ds)
			checkRBAC(t, r, sc.values)
			if !strings.Contains(r.notes, "auditor suggest --namespace") {
				t.Errorf("NOTES.txt does not tell the next command (auditor suggest --namespace ...):\n%s", r.notes)
			}
			t.Logf("%d objects (%d hooks)", len(r.objects), countHooks(r))
		})
	}
}

func countHooks(r *rendered) int {
	n := 0
	for _, o := range r.objects {
		if o.hook {
			n++
		}
	}
	return n
}

func agentContainer(t *testing.T, ds *appsv1.DaemonSet) corev1.Container {
	t.Helper()
	cs := ds.Spec.Template.Spec.Containers
	if len(cs) != 1 || len(ds.Spec.Template.Spec.InitContainers) != 0 {
		t.Fatalf("want exactly one container and no init container, got %d and %d", len(cs), len(ds.Spec.Template.Spec.InitContainers))
	}
	return cs[0]
}

// agentConfig parses the container's arguments with `auditor agent`'s own
// flag set (agent.Config.Flags, which cmd/auditor's agent command uses),
// after the kubelet's $(VAR) expansion, and validates the result as the
// agent does at start.
func agentConfig(c corev1.Container) (agent.Config, error) {
	cfg := agent.Defaults()
	if len(c.Command) != 0 {
		return cfg, fmt.Errorf("command %q overrides the image's entrypoint (/usr/bin/auditor)", c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "agent" {
		return cfg, fmt.Errorf("args %q: want the agent subcommand first", c.Args)
	}
	fs := pflag.NewFlagSet("auditor agent", pflag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	cfg.Flags(fs)
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName":
			env[e.Name] = "node-a"
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.hostIP":
			env[e.Name] = "172.18.0.2"
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		}
		// An AUDITOR_* variable sets the flag of that name (envflag).
		if name, ok := strings.CutPrefix(e.Name, "AUDITOR_"); ok {
			flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
			if fs.Lookup(flag) == nil || envflag.Name(flag) != e.Name {
				return cfg, fmt.Errorf("env %s names no flag of auditor agent", e.Name)
			}
		}
	}
	args := make([]string, 0, len(c.Args)-1)
	for _, a := range c.Args[1:] {
		if !strings.HasPrefix(a, "--") {
			return cfg, fmt.Errorf("argument %q is not a --flag", a)
		}
		args = append(args, expandEnv(a, env))
	}
	if err := fs.Parse(args); err != nil {
		return cfg, fmt.Errorf("auditor agent rejects the chart's arguments: %w", err)
	}
	if fs.NArg() != 0 {
		return cfg, fmt.Errorf("positional arguments %q: auditor agent takes none", fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("auditor agent refuses the configuration: %w", err)
	}
	return cfg, nil
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandEnv does the kubelet's $(VAR) expansion of container arguments.
func expandEnv(s string, env map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

func agentSource(t *testing.T, ds *appsv1.DaemonSet) string {
	t.Helper()
	cfg, err := agentConfig(agentContainer(t, ds))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "node-a" {
		t.Errorf("--node-name = %q: want the pod's node (downward API)", cfg.NodeName)
	}
	return cfg.Source
}

func checkPodSecurity(t *testing.T, ds *appsv1.DaemonSet, ebpf, sysResource bool) {
	t.Helper()
	pod := ds.Spec.Template.Spec
	c := agentContainer(t, ds)
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("agent container has no securityContext")
	}
	if sc.Privileged == nil || *sc.Privileged {
		t.Error("privileged must be set to false")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && pod.SecurityContext != nil {
		seccomp = pod.SecurityContext.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp profile %v: want RuntimeDefault", seccomp)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Fatalf("capabilities %+v: want drop [ALL]", sc.Capabilities)
	}
	var want []corev1.Capability
	if ebpf {
		// BPF loads programs and maps, PERFMON lets the tp_btf program read
		// the skb, NET_ADMIN attaches TCX; SYS_RESOURCE only when asked for.
		want = []corev1.Capability{"BPF", "NET_ADMIN", "PERFMON"}
		if sysResource {
			want = append(want, "SYS_RESOURCE")
		}
	}
	got := slices.Clone(sc.Capabilities.Add)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("capabilities added %v: want exactly %v", got, want)
	}
	for _, forbidden := range []corev1.Capability{"SYS_ADMIN", "ALL", "SYS_PTRACE", "SYS_MODULE", "NET_RAW"} {
		if slices.Contains(sc.Capabilities.Add, forbidden) {
			t.Errorf("capability %s added", forbidden)
		}
	}
	if !ebpf && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
		t.Error("without the ebpf source the agent needs no root: want runAsNonRoot")
	}
	if pod.HostPID || pod.HostIPC {
		t.Error("hostPID and hostIPC must stay off")
	}
}

// hostPathsAllowed are the only host paths the agent may see: the kernel's
// BTF. No tracefs or debugfs (the programs attach with tp_btf and TCX
// links), no bpffs (nothing is pinned).
var hostPathsAllowed = []string{"/sys/kernel/btf"}

func checkHostAccess(t *testing.T, ds *appsv1.DaemonSet, ebpf bool) {
	t.Helper()
	pod := ds.Spec.Template.Spec
	if pod.HostNetwork != ebpf {
		t.Errorf("hostNetwork = %v: want it exactly when the ebpf source reads the node's veths", pod.HostNetwork)
	}
	if ebpf && pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("dnsPolicy %q: a hostNetwork pod needs ClusterFirstWithHostNet to resolve Services", pod.DNSPolicy)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range agentContainer(t, ds).VolumeMounts {
		mounts[m.Name] = m
	}
	var paths []string
	for _, v := range pod.Volumes {
		m, mounted := mounts[v.Name]
		if !mounted {
			t.Errorf("volume %s is not mounted", v.Name)
			continue
		}
		if !m.ReadOnly {
			t.Errorf("volume %s is mounted read-write", v.Name)
		}
		if v.HostPath == nil {
			continue
		}
		paths = append(paths, v.HostPath.Path)
		if !slices.Contains(hostPathsAllowed, v.HostPath.Path) {
			t.Errorf("host path %s: only %v are needed", v.HostPath.Path, hostPathsAllowed)
		}
		if m.MountPath != v.HostPath.Path {
			t.Errorf("host path %s mounted at %s: the loader reads it at its host location", v.HostPath.Path, m.MountPath)
		}
	}
	if ebpf && !slices.Equal(paths, hostPathsAllowed) {
		t.Errorf("host paths %v: the ebpf source needs %v", paths, hostPathsAllowed)
	}
	if !ebpf && len(paths) != 0 {
		t.Errorf("host paths %v: the hubble source needs none", paths)
	}
}

func checkProbesAndPorts(t *testing.T, r *rendered, ds *appsv1.DaemonSet) {
	t.Helper()
	c := agentContainer(t, ds)
	cfg, err := agentConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if want := addrPort(t, cfg.MetricsAddr); ports["metrics"] != want {
		t.Errorf("container port metrics = %d, but the agent serves on %q", ports["metrics"], cfg.MetricsAddr)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET of %s", p.name, p.path)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe GET %s on port %s: want %s on the metrics port", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}
	if ds.Spec.Template.Spec.TerminationGracePeriodSeconds == nil ||
		float64(*ds.Spec.Template.Spec.TerminationGracePeriodSeconds) <= cfg.ShutdownTimeout.Seconds() {
		t.Errorf("terminationGracePeriodSeconds must exceed --shutdown-timeout %v", cfg.ShutdownTimeout)
	}

	svc := one[*corev1.Service](t, r, "Service", daemonSetName)
	for k, v := range svc.Spec.Selector {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not select the agents", k, v)
		}
	}
	svcPorts := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = true
		if _, ok := ports[p.TargetPort.String()]; !ok {
			t.Errorf("Service port %s targets %s, which the agent does not expose", p.Name, p.TargetPort.String())
		}
	}
	if !svcPorts["metrics"] {
		t.Error("Service has no metrics port")
	}
	if cfg.HubbleAddr != "" {
		if want := addrPort(t, cfg.HubbleAddr); ports["hubble"] != want || !svcPorts["hubble"] {
			t.Errorf("the agent serves Hubble on %q: want container port and Service port hubble (%d)", cfg.HubbleAddr, ports["hubble"])
		}
	} else if svcPorts["hubble"] {
		t.Error("Service has a hubble port but the agent serves no Hubble API")
	}
}

func addrPort(t *testing.T, addr string) int32 {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("address %q has no port", addr)
	}
	return int32(p)
}

func checkScheduling(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	pod := ds.Spec.Template.Spec
	everyTaint := slices.ContainsFunc(pod.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Key == "" && tl.Operator == corev1.TolerationOpExists && tl.Effect == ""
	})
	if !everyTaint {
		t.Errorf("tolerations %v: want one tolerating every taint, so that every node is audited", pod.Tolerations)
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ds.Spec.UpdateStrategy.RollingUpdate == nil {
		t.Errorf("update strategy %+v: want RollingUpdate", ds.Spec.UpdateStrategy)
	}
	res := agentContainer(t, ds).Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := res.Requests[name]; !ok {
			t.Errorf("no %s request", name)
		}
	}
	if _, ok := res.Limits[corev1.ResourceMemory]; !ok {
		t.Error("no memory limit")
	}
}

// checkImages: every image is a reference without a registry host.
func checkImages(t *testing.T, r *rendered) {
	t.Helper()
	for _, o := range r.objects {
		var spec *corev1.PodSpec
		switch v := o.obj.(type) {
		case *appsv1.DaemonSet:
			spec = &v.Spec.Template.Spec
		case *corev1.Pod:
			spec = &v.Spec
		default:
			continue
		}
		for _, c := range spec.Containers {
			first, _, hasPath := strings.Cut(c.Image, "/")
			if hasPath && (strings.ContainsAny(first, ".:") || first == "localhost") {
				t.Errorf("%s: image %q names a registry host", o.source, c.Image)
			}
		}
	}
}

func checkServiceAccount(t *testing.T, r *rendered, ds *appsv1.DaemonSet) {
	t.Helper()
	name := ds.Spec.Template.Spec.ServiceAccountName
	sa := one[*corev1.ServiceAccount](t, r, "ServiceAccount", name)
	if sa.Namespace != releaseNS {
		t.Errorf("ServiceAccount in %q, want the release namespace", sa.Namespace)
	}
}

// valueAt returns values[k0][k1]..., nil when absent.
func valueAt(values map[string]any, keys ...string) any {
	var v any = values
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
