package agent

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
	"github.com/flow-auditor/flow-auditor/metrics"
)

// applyCluster creates the objects of a snapshot file in the API server,
// pod addresses included (through the status subresource).
func applyCluster(t *testing.T, kube kubernetes.Interface, path string) {
	t.Helper()
	snap, err := correlate.LoadSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := snap.Objects()
	create := metav1.CreateOptions{}
	for _, x := range o.Namespaces {
		x = x.DeepCopy()
		x.ResourceVersion = ""
		if _, err := kube.CoreV1().Namespaces().Create(ctx, x, create); err != nil && x.Name != "kube-system" {
			t.Fatalf("create namespace %s: %v", x.Name, err)
		}
	}
	for _, x := range o.Nodes {
		if _, err := kube.CoreV1().Nodes().Create(ctx, x.DeepCopy(), create); err != nil {
			t.Fatalf("create node %s: %v", x.Name, err)
		}
	}
	for _, x := range o.Pods {
		created, err := kube.CoreV1().Pods(x.Namespace).Create(ctx, x.DeepCopy(), create)
		if err != nil {
			t.Fatalf("create pod %s/%s: %v", x.Namespace, x.Name, err)
		}
		created.Status = x.Status
		if _, err := kube.CoreV1().Pods(x.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("pod %s/%s status: %v", x.Namespace, x.Name, err)
		}
	}
	for _, x := range o.NetworkPolicies {
		if _, err := kube.NetworkingV1().NetworkPolicies(x.Namespace).Create(ctx, x.DeepCopy(), create); err != nil {
			t.Fatalf("create policy %s/%s: %v", x.Namespace, x.Name, err)
		}
	}
}

// TestLiveInventory runs the agent without a snapshot, against a real API
// server holding the scenario's objects: it becomes ready once the caches
// have synced, and judges the flows as with the snapshot.
func TestLiveInventory(t *testing.T) {
	cluster := kubetest.Start(t)
	kube := cluster.Client(t)
	applyCluster(t, kube, "testdata/cluster.yaml")
	// The flows start after the pods were created: the live index holds
	// an address from its pod's creation on.
	base := time.Now().Add(time.Minute).Truncate(time.Second)

	cfg := testConfig()
	cfg.Snapshots = nil
	cfg.Kubeconfig = cluster.Kubeconfig()
	cfg.Baseline = BaselineMemory
	cfg.Source = SourceFile
	cfg.FlowsFiles = []string{writeFlows(t, scenarioFlowsAt(base))}
	a, err := New(cfg, zaptest.NewLogger(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, a)
	addr := a.MetricsAddr()
	sunk := series(metrics.RecordsTotal, "stage", "metrics")
	waitFor(t, "8 records at the metrics sink", func() bool { return scrape(t, addr)[sunk] == 8 })
	waitFor(t, "the agent to be ready", func() bool { return scrape(t, addr)[series(metrics.Ready)] == 1 })
	got := scrape(t, addr)
	const ai, triage, spec = "ai-agents", "Deployment/triage-agent", "Deployment/specialist-agent"
	for k, v := range map[string]float64{
		series(metrics.ViolationsTotal, "namespace", ai, "workload", triage, "kind", "anomalous-egress"):           1,
		series(metrics.ViolationsTotal, "namespace", ai, "workload", triage, "kind", "denied"):                     1,
		series(metrics.ViolationsTotal, "namespace", ai, "workload", spec, "kind", "would-deny"):                   2,
		series(metrics.FlowsTotal, "namespace", ai, "workload", triage, "direction", "egress", "verdict", "allow"): 4,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", spec, "class", "metadata"):               1,
		series(metrics.UnresolvedFlowsTotal): 0,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
