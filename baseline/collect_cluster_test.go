package baseline_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/baseline/baselinetest"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

// collectDeadline bounds how long the garbage collector may take to remove
// a deleted node's objects. It is a deadline, not a measurement.
const collectDeadline = 60 * time.Second

// TestBaselineCollectedWithNodeInCluster runs a real API server and
// kube-controller-manager's garbage collector: the writers of two nodes'
// agents write their ObservedTraffic objects, each owned by its Node;
// deleting one Node makes the garbage collector delete that node's objects,
// and only those.
func TestBaselineCollectedWithNodeInCluster(t *testing.T) {
	cluster := kubetest.Start(t)
	// Before the garbage collector starts, so that it watches the resource
	// from its first discovery on.
	baselinetest.InstallCRD(t, cluster.Config())
	cluster.StartGarbageCollector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kube := cluster.Client(t)
	dyn, err := dynamic.NewForConfig(cluster.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai-agents"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Each node's agent writes the profiles of two workloads' pods there.
	nodes := []string{"node-1", "node-2"}
	uids := map[string]types.UID{}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, node := range nodes {
		n, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids[node] = n.UID
		store := baseline.NewStore(baseline.Options{Node: node})
		for j, workload := range []string{"Deployment/triage-agent", "Deployment/specialist-agent"} {
			src := flow.Endpoint{Kind: flow.KindPod, Namespace: "ai-agents", Workload: workload, Pod: "p",
				IP: netip.AddrFrom4([4]byte{10, 244, byte(i), byte(10 + j)}), Node: node, Port: 41000}
			dst := flow.Endpoint{Kind: flow.KindExternal, IP: netip.MustParseAddr("203.0.113.10"), FQDN: "api.llm.example", Port: 443}
			store.Observe(&flow.Record{TimeFirst: at, TimeLast: at.Add(time.Second), Src: src, Dst: dst,
				Protocol: flow.TCP, Packets: 4, Bytes: 400}, false)
		}
		w := &baseline.Writer{Store: store, Client: dyn}
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("%s: write: %v", node, err)
		}
	}

	objs, err := baseline.List(ctx, dyn, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"node-1": {"deployment.specialist-agent.node-1", "deployment.triage-agent.node-1"},
		"node-2": {"deployment.specialist-agent.node-2", "deployment.triage-agent.node-2"},
	}
	if got := namesByNode(objs); !equalNames(got, want) {
		t.Fatalf("written: %v, want %v", got, want)
	}
	node2 := map[string]types.UID{} // the surviving node's objects by name
	for _, o := range objs {
		node := o.Labels[v1alpha1.LabelNode]
		owner := metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: node, UID: uids[node]}
		if len(o.OwnerReferences) != 1 || o.OwnerReferences[0] != owner {
			t.Fatalf("%s/%s owner references %+v, want %+v", o.Namespace, o.Name, o.OwnerReferences, owner)
		}
		if node == "node-2" {
			node2[o.Name] = o.UID
		}
	}

	// Delete node-1 as a cloud provider or an operator would: the garbage
	// collector removes its objects.
	if err := kube.CoreV1().Nodes().Delete(ctx, "node-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(collectDeadline)
	for {
		objs, err = baseline.List(ctx, dyn, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(namesByNode(objs)["node-1"]) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node-1's objects not collected within %v: %v", collectDeadline, namesByNode(objs))
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Exactly node-2's objects remain: the same objects, not written again.
	if got := namesByNode(objs); !equalNames(got, map[string][]string{"node-2": want["node-2"]}) {
		t.Fatalf("after deleting node-1: %v, want only %v", got, want["node-2"])
	}
	for _, o := range objs {
		if node2[o.Name] != o.UID {
			t.Errorf("%s/%s has UID %s, want %s (the object written before)", o.Namespace, o.Name, o.UID, node2[o.Name])
		}
		if o.DeletionTimestamp != nil {
			t.Errorf("%s/%s is being deleted", o.Namespace, o.Name)
		}
	}
	if _, err := kube.CoreV1().Nodes().Get(ctx, "node-2", metav1.GetOptions{}); err != nil {
		t.Errorf("node-2: %v", err)
	}
}

// namesByNode groups the objects' names by their node label, sorted.
func namesByNode(objs []v1alpha1.ObservedTraffic) map[string][]string {
	out := map[string][]string{}
	for _, o := range objs {
		node := o.Labels[v1alpha1.LabelNode]
		out[node] = append(out[node], o.Name)
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out
}

func equalNames(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
