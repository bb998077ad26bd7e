package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

// TestAuditAgainstClusterEqualsAuditOfItsListing puts the example
// snapshot's objects (and a Deployment with its ReplicaSet) into a real API
// server, then audits the example flows twice: reading the cluster through a
// kubeconfig, and reading what `kubectl get ... -o yaml` would print for the
// same objects. The outputs must be identical.
func TestAuditAgainstClusterEqualsAuditOfItsListing(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := c.Client(t)
	snap, err := correlate.LoadSnapshot(exampleSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	recreate(t, ctx, client, snap.Objects())
	// A workload whose controllers exist, so the owner chain is read from them.
	b := kubetest.Builder{T: t, Ctx: ctx, Client: client, NodeName: "node-1", NodeIP: "192.168.10.11"}
	labels := map[string]string{"app": "ai-agent", "role": "report-agent", "tier": "ai-agent"}
	rs := b.Deployment("ai-agents", "report-agent", "5c8d7f6b4", labels)
	b.Pod("ai-agents", "report-agent-5c8d7f6b4-q7r2t", "10.244.1.77", kubetest.WithLabel(labels, "pod-template-hash", "5c8d7f6b4"), &rs,
		corev1.ContainerPort{Name: "http", ContainerPort: 8000})

	flows, err := os.ReadFile(exampleFlows)
	if err != nil {
		t.Fatal(err)
	}
	flows = append(flows, `{"time_first":"2025-06-02T12:01:00Z","time_last":"2025-06-02T12:01:01Z","node":"node-1","src":{"ip":"10.244.1.77","port":40100},"dst":{"ip":"10.244.1.10","port":8000},"protocol":"TCP","packets":4,"bytes":400,"initiator":"src","observed":"forwarded"}`+"\n"...)
	flowFile := writeFile(t, "flows.jsonl", string(flows))
	listing := kubectlGetYAML(t, ctx, client)

	for _, format := range []string{"jsonl", "json"} {
		live := mustAudit(t, "--kubeconfig", c.Kubeconfig(), "--flows", flowFile, "-o", format)
		fromFile := mustAudit(t, "--snapshot", listing, "--flows", flowFile, "-o", format)
		if live.stdout != fromFile.stdout || live.stderr != fromFile.stderr {
			t.Fatalf("-o %s: the cluster and its listing audit differently\n--- cluster:\n%s%s\n--- listing:\n%s%s",
				format, live.stdout, live.stderr, fromFile.stdout, fromFile.stderr)
		}
	}

	// The cluster holds what the example snapshot describes, so it audits
	// the example flows as the snapshot file itself does.
	live := mustAudit(t, "--kubeconfig", c.Kubeconfig(), "--flows", exampleFlows, "-o", "jsonl")
	example := mustAudit(t, "--snapshot", exampleSnapshot, "--flows", exampleFlows, "-o", "jsonl")
	if live.stdout != example.stdout {
		t.Errorf("the cluster audits the example flows differently from %s\n--- cluster:\n%s\n--- file:\n%s", exampleSnapshot, live.stdout, example.stdout)
	}

	// The comparison means something: flows resolved to pods and workloads,
	// and policy judged them both ways.
	lines := parseJSONL(t, mustAudit(t, "--kubeconfig", c.Kubeconfig(), "--flows", flowFile, "-o", "jsonl").stdout)
	var pods, denied int
	var report bool
	for _, l := range lines {
		if l.Src.Pod != "" {
			pods++
		}
		if l.Verdict == "deny" {
			denied++
		}
		report = report || (l.Src.Workload == "Deployment/report-agent" && l.Src.Labels["role"] == "report-agent")
	}
	if len(lines) != 17 || pods < 10 || denied == 0 || !report {
		t.Errorf("%d lines, %d from pods, %d denied, report-agent resolved %v: want 17 lines, most from pods, some denied, report-agent's workload",
			len(lines), pods, denied, report)
	}
}

// recreate writes objs into the cluster as the controllers and kubelets of
// the cluster they were taken from had left them.
func recreate(t *testing.T, ctx context.Context, client kubernetes.Interface, objs correlate.Objects) {
	t.Helper()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range objs.Namespaces {
		existing, err := client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: ns.Labels}}, metav1.CreateOptions{})
		} else if err == nil {
			existing.Labels = ns.Labels
			_, err = client.CoreV1().Namespaces().Update(ctx, existing, metav1.UpdateOptions{})
		}
		check(err)
	}
	for _, n := range objs.Nodes {
		created, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: fresh(n.ObjectMeta), Spec: n.Spec}, metav1.CreateOptions{})
		check(err)
		created.Status = n.Status
		_, err = client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		check(err)
	}
	for _, p := range objs.Pods {
		created, err := client.CoreV1().Pods(p.Namespace).Create(ctx, &corev1.Pod{ObjectMeta: fresh(p.ObjectMeta), Spec: p.Spec}, metav1.CreateOptions{})
		check(err)
		created.Status = p.Status
		_, err = client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
		check(err)
	}
	for _, s := range objs.Services {
		if s.Namespace == "default" && s.Name == "kubernetes" {
			continue // the API server made its own
		}
		_, err := client.CoreV1().Services(s.Namespace).Create(ctx, &corev1.Service{ObjectMeta: fresh(s.ObjectMeta), Spec: s.Spec}, metav1.CreateOptions{})
		check(err)
	}
	for _, s := range objs.EndpointSlices {
		s = s.DeepCopy()
		s.ObjectMeta = fresh(s.ObjectMeta)
		_, err := client.DiscoveryV1().EndpointSlices(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		check(err)
	}
	for _, p := range objs.NetworkPolicies {
		p = p.DeepCopy()
		p.ObjectMeta = fresh(p.ObjectMeta)
		_, err := client.NetworkingV1().NetworkPolicies(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
		check(err)
	}
}

// fresh is m without what the API server assigns on create.
func fresh(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, Labels: m.Labels, Annotations: m.Annotations, OwnerReferences: m.OwnerReferences}
}

// kubectlGetYAML writes what `kubectl get namespaces,pods,services,
// endpointslices,networkpolicies,nodes,replicasets,deployments -A -o yaml`
// prints: one v1 List whose items carry apiVersion and kind, without
// managedFields (kubectl hides them).
func kubectlGetYAML(t *testing.T, ctx context.Context, client kubernetes.Interface) string {
	t.Helper()
	all := metav1.NamespaceAll
	var items []runtime.Object
	add := func(list runtime.Object, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		objs, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			gvks, _, err := scheme.Scheme.ObjectKinds(o)
			if err != nil {
				t.Fatal(err)
			}
			o.GetObjectKind().SetGroupVersionKind(gvks[0])
			if m, err := meta.Accessor(o); err == nil {
				m.SetManagedFields(nil)
			}
			items = append(items, o)
		}
	}
	opts := metav1.ListOptions{}
	add(client.CoreV1().Namespaces().List(ctx, opts))
	add(client.CoreV1().Pods(all).List(ctx, opts))
	add(client.CoreV1().Services(all).List(ctx, opts))
	add(client.DiscoveryV1().EndpointSlices(all).List(ctx, opts))
	add(client.NetworkingV1().NetworkPolicies(all).List(ctx, opts))
	add(client.CoreV1().Nodes().List(ctx, opts))
	add(client.AppsV1().ReplicaSets(all).List(ctx, opts))
	add(client.AppsV1().Deployments(all).List(ctx, opts))
	out, err := yaml.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "List", "items": items, "metadata": map[string]string{"resourceVersion": ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAuditUnreachableClusterIsOneLineExitTwo needs no API server: nothing
// listens on the kubeconfig's address.
func TestAuditUnreachableClusterIsOneLineExitTwo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	kc := writeKubeconfig(t, "https://"+addr)
	start := time.Now()
	r := runCLI(t, "", "audit", "--kubeconfig", kc, "--flows", exampleFlows)
	want := "auditor: cannot reach the cluster at https://" + addr + ": connection refused (use --snapshot to audit files)\n"
	if r.code != 2 || r.stderr != want || r.stdout != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q; want exit 2 and %q", r.code, r.stderr, r.stdout, want)
	}
	t.Logf("failed after %v", time.Since(start))
}

func TestAuditSilentClusterTimesOut(t *testing.T) {
	// A loopback listener that accepts and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	kc := writeKubeconfig(t, "https://"+l.Addr().String())
	r := runCLI(t, "", "audit", "--kubeconfig", kc, "--cluster-timeout", "1s", "--flows", exampleFlows)
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "no answer in time") {
		t.Fatalf("exit %d, stderr %q; want exit 2 and one line saying the cluster did not answer", r.code, r.stderr)
	}
}

func TestAuditWithoutAnyClusterConfigured(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	r := runCLI(t, "", "audit", "--flows", exampleFlows)
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "no cluster configured") {
		t.Fatalf("exit %d, stderr %q; want exit 2 and one line", r.code, r.stderr)
	}
}

func TestAuditForbiddenClusterIsOneLineExitTwo(t *testing.T) {
	c := kubetest.Start(t)
	kc := c.UserKubeconfig(t, "nobody")
	r := runCLI(t, "", "audit", "--kubeconfig", kc, "--flows", exampleFlows)
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "cannot read ") || !strings.Contains(r.stderr, "forbidden") {
		t.Fatalf("exit %d, stderr %q; want exit 2 and one line naming the forbidden resource", r.code, r.stderr)
	}
}

func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	return writeFile(t, "kubeconfig", `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "`+server+`", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: test}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
`)
}
