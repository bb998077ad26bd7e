package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/baseline/baselinetest"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

func TestBaselineApprove(t *testing.T) {
	cluster := kubetest.Start(t)
	baselinetest.InstallCRD(t, cluster.Config())
	ctx := context.Background()
	if _, err := cluster.Client(t).CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai-agents"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Deployment/triage-agent", "Deployment/specialist-agent"} {
		for _, node := range []string{"node-1", "node-2"} {
			name := baseline.ObjectName(baseline.Key{Namespace: "ai-agents", Workload: w, Node: node})
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": v1alpha1.GroupVersion.String(), "kind": v1alpha1.Kind,
				"metadata": map[string]any{"name": name, "namespace": "ai-agents"},
				"spec":     map[string]any{"workload": w, "node": node},
			}}
			if _, err := dyn.Resource(v1alpha1.GroupVersionResource()).Namespace("ai-agents").Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	kubeconfig := cluster.Kubeconfig()

	before := time.Now().Truncate(time.Second)
	res := runCLI(t, "", "baseline", "approve", "--namespace", "ai-agents", "--workload", "triage-agent", "--kubeconfig", kubeconfig)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	want := "approved ai-agents/deployment.triage-agent.node-1\napproved ai-agents/deployment.triage-agent.node-2\n"
	if res.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, want)
	}
	objs, err := baseline.List(ctx, dyn, "ai-agents")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		triage := strings.Contains(o.Name, "triage")
		if triage != (o.Spec.ApprovedAt != nil) {
			t.Errorf("%s: approvedAt %v", o.Name, o.Spec.ApprovedAt)
		}
		if triage && o.Spec.ApprovedAt.Time.Before(before) {
			t.Errorf("%s approved at %v, before the command ran (%v)", o.Name, o.Spec.ApprovedAt, before)
		}
		if o.Spec.Workload == "" || o.Spec.Node == "" {
			t.Errorf("%s: the approval removed the agent's spec fields: %+v", o.Name, o.Spec)
		}
	}

	// Nothing learned for that workload: exit 2, one clear line.
	res = runCLI(t, "", "baseline", "approve", "-n", "ai-agents", "--workload", "gateway", "--kubeconfig", kubeconfig)
	if res.code != 2 || !strings.Contains(res.stderr, "no ObservedTraffic object for workload gateway") {
		t.Errorf("unknown workload: exit %d, %q", res.code, res.stderr)
	}
	res = runCLI(t, "", "baseline", "approve", "--kubeconfig", kubeconfig)
	if res.code != 2 || !strings.Contains(res.stderr, "--namespace is required") {
		t.Errorf("no namespace: exit %d, %q", res.code, res.stderr)
	}
	// The whole namespace.
	res = runCLI(t, "", "baseline", "approve", "-n", "ai-agents", "--kubeconfig", kubeconfig)
	if res.code != 0 || strings.Count(res.stdout, "approved ") != 4 {
		t.Errorf("namespace: exit %d, stdout %q", res.code, res.stdout)
	}
}
