package agent

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/baseline/baselinetest"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
	"github.com/flow-auditor/flow-auditor/metrics"
)

// TestBaselineInCluster runs agents with the file source against a real
// API server: the ObservedTraffic objects are written (bounded, owned by
// the node, only when changed), read back as suggest reads them, approved,
// and honoured by the next agent.
func TestBaselineInCluster(t *testing.T) {
	cluster := kubetest.Start(t)
	baselinetest.InstallCRD(t, cluster.Config())
	ctx := context.Background()
	kube := cluster.Client(t)
	for _, ns := range []string{"ai-agents", "databases"} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	node, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config())
	if err != nil {
		t.Fatal(err)
	}

	cfg := testConfig()
	cfg.Source = SourceFile
	cfg.FlowsFiles = []string{writeFlows(t, scenarioFlows())}
	cfg.Baseline = BaselineCluster
	cfg.Kubeconfig = cluster.Kubeconfig()
	cfg.BaselineInterval = 200 * time.Millisecond
	cfg.BaselineMaxPeers = 3
	a, err := New(cfg, zaptest.NewLogger(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, a)
	triageName := "deployment.triage-agent.node-1"
	var objs []v1alpha1.ObservedTraffic
	waitFor(t, "the objects of four workloads", func() bool {
		objs, err = baseline.List(ctx, dyn, "")
		return err == nil && len(objs) == 4 && objsHavePeers(objs)
	})
	byName := map[string]v1alpha1.ObservedTraffic{}
	for _, o := range objs {
		byName[o.Namespace+"/"+o.Name] = o
		// Owned by the node: the garbage collector removes them with it.
		want := metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: "node-1", UID: node.UID}
		if len(o.OwnerReferences) != 1 || o.OwnerReferences[0] != want {
			t.Errorf("%s/%s owner references %+v, want %+v", o.Namespace, o.Name, o.OwnerReferences, want)
		}
		if o.Labels[v1alpha1.LabelNode] != "node-1" {
			t.Errorf("%s/%s node label %q", o.Namespace, o.Name, o.Labels[v1alpha1.LabelNode])
		}
	}
	for _, name := range []string{"ai-agents/" + triageName, "ai-agents/deployment.specialist-agent.node-1",
		"databases/statefulset.postgresql.node-1", "kube-system/deployment.coredns.node-1"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("no object %s; have %v", name, keys(byName))
		}
	}
	// Bounded: triage-agent sent to four destinations, three are kept, the
	// fourth is counted in the overflow.
	tri := byName["ai-agents/"+triageName]
	if len(tri.Status.Peers) != 3 || tri.Status.PeerCount != 3 || tri.Status.Overflow == nil || tri.Status.Overflow.Flows != 1 {
		t.Errorf("triage-agent: %d peers (count %d), overflow %+v; want 3 and 1 flow", len(tri.Status.Peers), tri.Status.PeerCount, tri.Status.Overflow)
	}
	if !tri.Status.LearningStarted.Time.Equal(t0) {
		t.Errorf("learning started %v, want %v", tri.Status.LearningStarted, t0)
	}

	// Written only when changed: with no new flows, nothing is written.
	versions := map[string]string{}
	for _, o := range objs {
		versions[o.Name] = o.ResourceVersion
	}
	writes := scrape(t, a.MetricsAddr())[series(metrics.BaselineWritesTotal, "result", "ok")]
	time.Sleep(5 * cfg.BaselineInterval)
	again, err := baseline.List(ctx, dyn, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range again {
		if versions[o.Name] != o.ResourceVersion {
			t.Errorf("%s written again without a change", o.Name)
		}
	}
	if now := scrape(t, a.MetricsAddr())[series(metrics.BaselineWritesTotal, "result", "ok")]; now != writes || writes < 4 {
		t.Errorf("baseline writes %v then %v; want at least 4 and no more", writes, now)
	}

	// Read back as suggest reads it: one observation per flow edge. The
	// specialist's ingress from itself is its own egress already.
	obs, err := baseline.Read(ctx, dyn, "ai-agents", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 6 {
		for _, o := range obs {
			t.Logf("%s %s -> %s %s:%d flows %d", o.Src.Workload, o.Src.IP, o.Dst.Workload, o.Dst.IP, o.Dst.Port, o.Flows)
		}
		t.Fatalf("Read: %d observations, want 6 (3 of triage-agent, 3 of specialist-agent)", len(obs))
	}
	var llm *baseline.Observation
	for i := range obs {
		if obs[i].Dst.IP.String() == "203.0.113.10" {
			llm = &obs[i]
		}
	}
	if llm == nil || llm.Flows != 2 || llm.Packets != 8 || llm.Src.Workload != "Deployment/triage-agent" ||
		llm.Dst.Port != 443 || llm.Dst.FQDN != "api.llm.example" || llm.Protocol != flow.TCP {
		t.Errorf("triage-agent to the LLM API: %+v", llm)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Approve triage-agent: the next agent no longer reports the new LLM.
	// The flows' timeline is the file's: approve as of just after the
	// attacks, as someone reviewing them then would.
	names, err := baseline.Approve(ctx, dyn, "ai-agents", "triage-agent", t0.Add(2*time.Hour+time.Minute))
	if err != nil || len(names) != 1 || names[0] != triageName {
		t.Fatalf("Approve: %v %v", names, err)
	}
	approved, err := baseline.List(ctx, dyn, "ai-agents")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range approved {
		if (o.Name == triageName) != (o.Spec.ApprovedAt != nil) {
			t.Errorf("%s approvedAt %v", o.Name, o.Spec.ApprovedAt)
		}
		if o.Name == triageName && len(o.Status.Peers) != 3 {
			t.Errorf("approval changed the agent's fields: %d peers", len(o.Status.Peers))
		}
	}
	later := t0.Add(3 * time.Hour)
	newLLM := ep("198.51.100.20", 443)
	newLLM.FQDN = "new-llm.example"
	unseen := ep("192.0.2.77", 443)
	cfg.FlowsFiles = []string{writeFlows(t, []flow.Record{
		{TimeFirst: later, TimeLast: later, Src: ep("10.244.1.10", 41000), Dst: newLLM, Protocol: flow.TCP, Observed: flow.Forwarded},
		{TimeFirst: later, TimeLast: later, Src: ep("10.244.1.10", 41001), Dst: unseen, Protocol: flow.TCP, Observed: flow.Forwarded},
	})}
	b, err := New(cfg, zaptest.NewLogger(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stopB := startAgent(t, b)
	sunk := series(metrics.RecordsTotal, "stage", "metrics")
	waitFor(t, "2 records at the metrics sink", func() bool { return scrape(t, b.MetricsAddr())[sunk] == 2 })
	got := scrape(t, b.MetricsAddr())
	newDest := series(metrics.EgressAnomaliesTotal, "namespace", "ai-agents", "workload", "Deployment/triage-agent", "class", "new-destination")
	newFQDN := series(metrics.EgressAnomaliesTotal, "namespace", "ai-agents", "workload", "Deployment/triage-agent", "class", "new-fqdn")
	if got[newDest] != 1 || got[newFQDN] != 0 {
		t.Errorf("after approval: new-destination %v (want 1: the unseen address), new-fqdn %v (want 0)", got[newDest], got[newFQDN])
	}
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	// The restarted agent adopted its node's objects and kept counting.
	final, err := baseline.List(ctx, dyn, "ai-agents")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range final {
		if o.Name != triageName {
			continue
		}
		for _, p := range o.Status.Peers {
			if p.IP == "198.51.100.20" && p.Flows != 2 {
				t.Errorf("new LLM peer: %d flows, want 2 (one per agent run)", p.Flows)
			}
		}
		if o.Spec.ApprovedAt == nil {
			t.Error("the agent's write removed the approval")
		}
	}

	// Deleting the node: this test runs no garbage collector, so nothing
	// removes the objects here; the owner references checked above (the
	// node's UID) are what it follows, and
	// baseline.TestBaselineCollectedWithNodeInCluster runs it.
	if err := kube.CoreV1().Nodes().Delete(ctx, "node-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func objsHavePeers(objs []v1alpha1.ObservedTraffic) bool {
	for _, o := range objs {
		if len(o.Status.Peers) == 0 {
			return false
		}
	}
	return true
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
