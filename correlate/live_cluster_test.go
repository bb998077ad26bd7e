package correlate_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

var agentLabels = map[string]string{"app": "ai-agent", "role": "triage-agent", "tier": "ai-agent"}

// TestLiveIndexFollowsTheAPIServer drives a real kube-apiserver through
// creates, updates and deletes, and checks what the index resolves.
func TestLiveIndexFollowsTheAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := kubetest.Builder{T: t, Ctx: ctx, Client: c.Client(t)}

	b.Namespace("ai-agents", map[string]string{"name": "ai-agents"})
	b.Namespace("databases", map[string]string{"name": "databases"})
	b.Node()
	rs := b.Deployment("ai-agents", "triage-agent", "7d4b9c", agentLabels)
	triage := b.Pod("ai-agents", "triage-agent-7d4b9c-x1", "10.244.1.10", kubetest.WithLabel(agentLabels, "pod-template-hash", "7d4b9c"), &rs, httpPort)
	b.Pod("databases", "postgresql-0", "10.244.1.20", map[string]string{"app": "postgresql"}, nil)
	svc := b.Service("databases", "postgresql", map[string]string{"app": "postgresql"},
		[]corev1.ServicePort{{Name: "main", Port: 5432}}, map[string]string{"postgresql-0": "10.244.1.20"})
	b.NetworkPolicy("ai-agents", denyAll())

	clk := newClock(time.Now().Add(time.Minute).Truncate(time.Second))
	ix := correlate.NewIndex(correlate.IndexOptions{})
	released := make(chan []string, 4)
	pending := correlate.NewPending[string](64, time.Minute, func(items []string) { released <- items })
	live := runLive(t, correlate.LiveConfig{
		Client: c.Client(t), Handler: correlate.IndexHandler(ix), OnResolvable: pending.Resolvable, Now: clk.Now,
	})
	if err := live.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	now := clk.Now()

	// Pods, their workload identity, node and Service addresses.
	tg := ix.Resolve(mustAddr("10.244.1.10"), now)
	if tg == nil || tg.Endpoint.Pod != triage.Name || tg.Endpoint.Namespace != "ai-agents" {
		t.Fatalf("10.244.1.10 resolves to %+v, want pod ai-agents/%s", tg, triage.Name)
	}
	if tg.Endpoint.Workload != "Deployment/triage-agent" {
		t.Errorf("workload %q, want Deployment/triage-agent (pod -> ReplicaSet -> Deployment)", tg.Endpoint.Workload)
	}
	if tg.Workload == nil || len(tg.Workload.StableLabels) != 3 || tg.Workload.StableLabels["pod-template-hash"] != "" {
		t.Errorf("stable labels %v, want the Deployment template's three labels", tg.Workload)
	}
	if n := ix.Resolve(mustAddr("172.18.0.2"), now); n.Kind() != "node" || n.Endpoint.Node != "node-a" {
		t.Errorf("node address resolves to %+v, want node-a", n)
	}
	st := ix.Resolve(mustAddr(svc.Spec.ClusterIP), now)
	if st == nil || st.Service == nil || st.Service.Key != "databases/postgresql" {
		t.Fatalf("ClusterIP %s resolves to %+v, want Service databases/postgresql", svc.Spec.ClusterIP, st)
	}
	if p := st.Service.Port(5432, "TCP"); p == nil || len(p.Backends) != 1 || p.Backends[0].IP != mustAddr("10.244.1.20") {
		t.Errorf("Service port 5432 backends %+v, want 10.244.1.20 from the EndpointSlice", p)
	}
	if pol := live.Objects().NetworkPolicies; len(pol) != 1 || pol[0].Name != "deny-all" || len(pol[0].Spec.PolicyTypes) != 1 {
		t.Errorf("policies %v: want deny-all as the API server defaulted it", pol)
	}

	// Update: a label change reaches the index.
	tUpd := clk.advance(time.Second)
	patch := []byte(`{"metadata":{"labels":{"network-policy":"restricted"}}}`)
	if _, err := b.Client.CoreV1().Pods("ai-agents").Patch(ctx, triage.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the label update", func() bool {
		tg := ix.Resolve(mustAddr("10.244.1.10"), tUpd)
		return tg != nil && tg.Endpoint.Labels["network-policy"] == "restricted"
	})

	// Delete: the address keeps resolving to the deleted pod for the grace window.
	tDel := clk.advance(time.Minute)
	// Grace period 0: no kubelet runs to confirm the pod's termination.
	if err := b.Client.CoreV1().Pods("ai-agents").Delete(ctx, triage.Name, *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the delete", func() bool { return ix.Stats().Pods == 1 })
	if got := podAt(ix, "10.244.1.10", tDel.Add(time.Minute)); got != triage.Name {
		t.Errorf("a minute after the delete: %q, want %s (grace window)", got, triage.Name)
	}
	if got := podAt(ix, "10.244.1.10", tDel.Add(correlate.DefaultGrace+time.Second)); got != "" {
		t.Errorf("after the grace window: %q, want external", got)
	}

	// Reuse: a new pod gets the address; flows that started before it
	// appeared still belong to the old pod.
	tNew := clk.advance(30 * time.Second)
	b.Pod("ai-agents", "triage-agent-7d4b9c-x2", "10.244.1.10", kubetest.WithLabel(agentLabels, "pod-template-hash", "7d4b9c"), &rs, httpPort)
	eventually(t, 30*time.Second, "the new pod's address", func() bool {
		return podAt(ix, "10.244.1.10", tNew.Add(time.Second)) == "triage-agent-7d4b9c-x2"
	})
	if got := podAt(ix, "10.244.1.10", tNew.Add(-10*time.Second)); got != triage.Name {
		t.Errorf("flow from before the reuse: %q, want the old pod %s", got, triage.Name)
	}

	// A flow seen before its pod: parked, then released when the pod's IP arrives.
	pending.Park(mustAddr("10.244.1.30"), "early-flow", clk.Now())
	if ix.Resolve(mustAddr("10.244.1.30"), clk.Now()) != nil {
		t.Fatal("10.244.1.30 resolves before any pod has it")
	}
	clk.advance(time.Second)
	late := b.Pod("ai-agents", "late-agent", "", agentLabels, nil)
	b.SetPodIP(late, "10.244.1.30")
	select {
	case items := <-released:
		if len(items) != 1 || items[0] != "early-flow" {
			t.Fatalf("released %v, want [early-flow]", items)
		}
	case <-ctx.Done():
		t.Fatal("the parked flow was not released when its pod arrived")
	}
	// Released after the index knows the pod: resolving again succeeds,
	// also for the flow's own (earlier) time.
	if got := podAt(ix, "10.244.1.30", clk.Now().Add(-time.Second)); got != "late-agent" {
		t.Errorf("released flow resolves to %q, want late-agent", got)
	}

	// EndpointSlice update: the Service's backends follow.
	slice, err := b.Client.DiscoveryV1().EndpointSlices("databases").Get(ctx, "postgresql-abcde", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slice.Endpoints[0].Addresses = []string{"10.244.1.21"}
	clk.advance(time.Second)
	if _, err := b.Client.DiscoveryV1().EndpointSlices("databases").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the new backend", func() bool {
		st := ix.Resolve(mustAddr(svc.Spec.ClusterIP), clk.Now())
		p := st.Service.Port(5432, "TCP")
		return p != nil && len(p.Backends) == 1 && p.Backends[0].IP == mustAddr("10.244.1.21")
	})
}

// TestLiveSurvivesAPIServerOutages starts the inventory while the API server
// is down, then stops the server mid-run: resolution resumes each time it
// returns, without a restart of the inventory.
func TestLiveSurvivesAPIServerOutages(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b := kubetest.Builder{T: t, Ctx: ctx, Client: c.Client(t)}
	b.Namespace("ai-agents", map[string]string{"name": "ai-agents"})
	b.Pod("ai-agents", "before", "10.244.1.10", agentLabels, nil)

	c.StopAPIServer()
	ix := correlate.NewIndex(correlate.IndexOptions{})
	reg := prometheus.NewRegistry()
	live := runLive(t, correlate.LiveConfig{Client: c.Client(t), Handler: correlate.IndexHandler(ix), Registerer: reg, SkipWorkloads: true})

	// Down at start: running, not ready, nothing resolves.
	eventually(t, 30*time.Second, "an unreachable error", func() bool {
		return metricValue(t, reg, "auditor_inventory_errors_total", "pods", "unreachable") >= 1
	})
	if live.HasSynced() || ix.Resolve(mustAddr("10.244.1.10"), time.Time{}) != nil {
		t.Fatal("synced or resolving while the API server has never answered")
	}
	if err := c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := live.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := podAt(ix, "10.244.1.10", time.Time{}); got != "before" {
		t.Fatalf("after the API server came up: %q, want before", got)
	}

	// Down mid-run: the watches break, the reflectors retry.
	before := metricValue(t, reg, "auditor_inventory_errors_total", "pods", "unreachable")
	c.StopAPIServer()
	eventually(t, 60*time.Second, "the broken watch to be noticed", func() bool {
		return metricValue(t, reg, "auditor_inventory_errors_total", "pods", "unreachable") > before
	})
	if podAt(ix, "10.244.1.10", time.Time{}) != "before" {
		t.Error("the index forgot what it knew while the API server was down")
	}
	if err := c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	b.Pod("ai-agents", "after", "10.244.1.11", agentLabels, nil)
	eventually(t, 90*time.Second, "a pod created after the restart to resolve", func() bool {
		return podAt(ix, "10.244.1.11", time.Time{}) == "after"
	})
	eventually(t, 30*time.Second, "the degraded state to clear", func() bool { return len(live.Degraded()) == 0 })
}

// TestLiveRBACLossDegradesOneResource runs the inventory as a user whose
// ClusterRole lacks networkpolicies, then grants them, then takes them away
// again mid-run.
func TestLiveRBACLossDegradesOneResource(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	admin := c.Client(t)
	b := kubetest.Builder{T: t, Ctx: ctx, Client: admin}
	b.Namespace("ai-agents", map[string]string{"name": "ai-agents"})
	b.Pod("ai-agents", "triage", "10.244.1.10", agentLabels, nil)
	b.NetworkPolicy("ai-agents", denyAll())

	setRole(t, ctx, admin, false)
	cfg, err := c.UserConfig("flow-auditor-agent")
	if err != nil {
		t.Fatal(err)
	}
	ix := correlate.NewIndex(correlate.IndexOptions{})
	reg := prometheus.NewRegistry()
	live := runLive(t, correlate.LiveConfig{
		Client: kubernetes.NewForConfigOrDie(cfg), Handler: correlate.IndexHandler(ix), Registerer: reg, SkipWorkloads: true,
	})
	if err := live.WaitForSync(ctx); err != nil {
		t.Fatalf("not ready without networkpolicies: %v", err)
	}
	if got := podAt(ix, "10.244.1.10", time.Time{}); got != "triage" {
		t.Errorf("pods resolve to %q with policies forbidden, want triage", got)
	}
	if err := live.Degraded()["networkpolicies"]; !apierrors.IsForbidden(err) || len(live.Degraded()) != 1 {
		t.Fatalf("Degraded() = %v, want networkpolicies forbidden only", live.Degraded())
	}
	if metricValue(t, reg, "auditor_inventory_errors_total", "networkpolicies", "forbidden") < 1 {
		t.Error("no auditor_inventory_errors_total{resource=networkpolicies,reason=forbidden}")
	}

	setRole(t, ctx, admin, true)
	eventually(t, 90*time.Second, "policies once RBAC allows them", func() bool {
		return len(live.Objects().NetworkPolicies) == 1 && len(live.Degraded()) == 0
	})

	// Taken away mid-run: established watches outlive RBAC changes, so
	// restart the API server to make every watch start over.
	setRole(t, ctx, admin, false)
	c.StopAPIServer()
	if err := c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "networkpolicies to be degraded again", func() bool {
		return apierrors.IsForbidden(live.Degraded()["networkpolicies"])
	})
	b.Pod("ai-agents", "specialist", "10.244.1.11", agentLabels, nil)
	eventually(t, 90*time.Second, "pods to keep resolving", func() bool {
		return podAt(ix, "10.244.1.11", time.Time{}) == "specialist"
	})
	if !live.HasSynced() {
		t.Error("not ready after losing one resource")
	}
}
