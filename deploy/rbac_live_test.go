package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flow-auditor/flow-auditor/agent"
	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

// The agent's identity in the cluster, as the API server authenticates a
// pod's ServiceAccount token.
var (
	agentUser   = "system:serviceaccount:" + releaseNS + ":" + daemonSetName
	nobodyUser  = "system:serviceaccount:" + releaseNS + ":nobody"
	agentGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNS, "system:authenticated"}
)

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

func fastConfig(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	return cfg
}

// rbacMatrix asks the API server's authorizer about every verb on every
// resource it serves (subresources included), cluster-wide and in one
// namespace, for the agent's ServiceAccount; what it grants beyond what an
// unbound ServiceAccount may do must be exactly what the agent calls.
func rbacMatrix(t *testing.T, ctx context.Context, c *kubetest.Cluster) {
	admin := kubernetes.NewForConfigOrDie(fastConfig(c.Config()))
	// Every version of every group, subresources included (the preferred
	// list leaves subresources out).
	_, lists, err := admin.Discovery().ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		t.Fatal(err)
	}
	namespaced := map[grant]bool{} // group/resource, verb unset
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
		"impersonate", "escalate", "bind", "approve", "sign", "use"}
	allowed := func(user, ns string, gv schema.GroupVersion, resource, verb string) bool {
		res, sub, _ := strings.Cut(resource, "/")
		sar, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: agentGroups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ns, Verb: verb, Group: gv.Group, Version: gv.Version, Resource: res, Subresource: sub,
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SubjectAccessReview: %v", err)
		}
		return sar.Status.Allowed
	}
	want := readGrants(true)
	for g := range baselineWrites() {
		want[g] = true
	}
	for _, ns := range []string{"", "ai-agents"} {
		granted, asked, seen := map[grant]bool{}, 0, map[grant]bool{}
		for _, l := range lists {
			gv, err := schema.ParseGroupVersion(l.GroupVersion)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range l.APIResources {
				gr := grant{group: gv.Group, resource: r.Name}
				if r.Namespaced {
					namespaced[gr] = true
				}
				if seen[gr] || (ns != "" && !r.Namespaced) {
					continue // another version of a resource already asked about
				}
				seen[gr] = true
				for _, v := range verbs {
					asked++
					if allowed(agentUser, ns, gv, r.Name, v) && !allowed(nobodyUser, ns, gv, r.Name, v) {
						granted[grant{gv.Group, r.Name, v}] = true
					}
				}
			}
		}
		where, wantHere := "cluster-wide", want
		if ns != "" {
			where, wantHere = "in namespace "+ns, map[grant]bool{}
			for g := range want {
				if namespaced[grant{group: g.group, resource: g.resource}] {
					wantHere[g] = true
				}
			}
		}
		t.Logf("%s: %d permissions asked, %d granted", where, asked, len(granted))
		diffGrants(t, where, granted, wantHere)
	}
}

// agentWithChartRBAC runs the real agent, configured by the chart's
// arguments, with the chart's ServiceAccount's identity: its inventory
// syncs (it reports ready) and it writes its baseline; what the chart does
// not grant stays forbidden.
func agentWithChartRBAC(t *testing.T, ctx context.Context, c *kubetest.Cluster, r *rendered) {
	admin := kubernetes.NewForConfigOrDie(fastConfig(c.Config()))
	b := kubetest.Builder{T: t, Ctx: ctx, Client: admin}
	b.Node()
	labels := map[string]string{"app": "ai-agent", "role": "triage-agent"}
	owner := b.Deployment("ai-agents", "triage-agent", "7d9f8b6c5d", labels)
	b.Pod("ai-agents", "triage-agent-7d9f8b6c5d-x2k4p", "10.244.1.10", kubetest.WithLabel(labels, "pod-template-hash", "7d9f8b6c5d"), &owner)

	ds := one[*appsv1.DaemonSet](t, r, "DaemonSet", daemonSetName)
	cfg, err := agentConfig(agentContainer(t, ds))
	if err != nil {
		t.Fatal(err)
	}
	// What the test changes: flows from a file instead of the kernel, on
	// loopback, and a baseline written without waiting a minute.
	cfg.Source = agent.SourceFile
	cfg.FlowsFiles = []string{writeFlow(t)}
	cfg.MetricsAddr, cfg.HubbleAddr = "127.0.0.1:0", ""
	cfg.BaselineInterval = 200 * time.Millisecond
	if cfg.Baseline != agent.BaselineCluster || cfg.NodeName != "node-a" {
		t.Fatalf("chart's agent: baseline %q on node %q", cfg.Baseline, cfg.NodeName)
	}
	saCfg, err := c.UserConfig(agentUser, agentGroups...)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, zaptest.NewLogger(t), agent.Options{RESTConfig: saCfg})
	if err != nil {
		t.Fatalf("agent.New as %s: %v", agentUser, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	}()

	dyn := dynamic.NewForConfigOrDie(c.Config())
	gvr := v1alpha1.GroupVersionResource()
	var name string
	waitUntil(t, 60*time.Second, "the agent's ObservedTraffic object", func() bool {
		list, err := dyn.Resource(gvr).Namespace("ai-agents").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			if o.Object["spec"].(map[string]any)["workload"] == "Deployment/triage-agent" {
				name = o.GetName()
				return true
			}
		}
		return false
	})
	// auditor_ready follows /readyz once a second.
	var got map[string]string
	waitUntil(t, 15*time.Second, "auditor_ready 1 (the inventory synced with the chart's RBAC)", func() bool {
		got = scrapeLines(t, a.MetricsAddr())
		return got["auditor_ready"] == "1"
	})
	if v := got[`auditor_baseline_writes_total{result="error"}`]; v != "" && v != "0" {
		t.Errorf("baseline writes failed %s times with the chart's RBAC", v)
	}

	// Beyond its grants the agent's identity is refused.
	saDyn := dynamic.NewForConfigOrDie(saCfg)
	if err := saDyn.Resource(gvr).Namespace("ai-agents").Delete(ctx, name, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("agent deletes ObservedTraffic %s: %v, want forbidden", name, err)
	}
	sa := kubernetes.NewForConfigOrDie(saCfg)
	if _, err := sa.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("agent lists secrets: %v, want forbidden", err)
	}
	if err := sa.CoreV1().Pods("ai-agents").Delete(ctx, "triage-agent-7d9f8b6c5d-x2k4p", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("agent deletes a pod: %v, want forbidden", err)
	}
}

// writeFlow writes one egress flow of the triage agent to an LLM API.
func writeFlow(t *testing.T) string {
	t.Helper()
	now := time.Now().UTC()
	rec := flow.Record{
		TimeFirst: now, TimeLast: now.Add(time.Second), Node: "node-a",
		Src:      flow.Endpoint{IP: netip.MustParseAddr("10.244.1.10"), Port: 40001},
		Dst:      flow.Endpoint{IP: netip.MustParseAddr("203.0.113.10"), Port: 443},
		Protocol: flow.TCP, Packets: 4, Bytes: 400, Initiator: "src", Observed: flow.Forwarded,
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flows.jsonl")
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// scrapeLines reads /metrics into series -> value text.
func scrapeLines(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
