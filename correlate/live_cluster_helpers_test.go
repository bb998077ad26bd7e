package correlate_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flow-auditor/flow-auditor/correlate"
)

func denyAll() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-all"}}
}

var httpPort = corev1.ContainerPort{Name: "http", ContainerPort: 8000}

// clock is a settable clock for the inventory's event times.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock                  { c := &clock{}; c.set(t); return c }
func (c *clock) Now() time.Time                    { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)                   { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) time.Time { t := c.Now().Add(d); c.set(t); return t }

// runLive runs a live inventory until the test ends.
func runLive(t *testing.T, cfg correlate.LiveConfig) *correlate.Live {
	t.Helper()
	l, err := correlate.NewLive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// podAt is the pod name ip resolves to at t, "" when external.
func podAt(ix *correlate.Index, ip string, t time.Time) string {
	tg := ix.Resolve(mustAddr(ip), t)
	if tg == nil {
		return ""
	}
	return tg.Endpoint.Pod
}

// setRole gives flow-auditor-agent read access to what the inventory
// watches, with or without networkpolicies.
func setRole(t *testing.T, ctx context.Context, admin kubernetes.Interface, policies bool) {
	t.Helper()
	verbs := []string{"get", "list", "watch"}
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "pods", "services", "nodes", "replicationcontrollers"}, Verbs: verbs},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: verbs},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments", "statefulsets", "daemonsets"}, Verbs: verbs},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: verbs},
	}
	if policies {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: verbs})
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "flow-auditor"}, Rules: rules}
	roles := admin.RbacV1().ClusterRoles()
	if old, err := roles.Get(ctx, role.Name, metav1.GetOptions{}); err == nil {
		role.ResourceVersion = old.ResourceVersion
		if _, err := roles.Update(ctx, role, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := roles.Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "flow-auditor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "flow-auditor"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "flow-auditor-agent"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// metricValue reads a sample labelled resource and reason from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name, resource, reason string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if got["resource"] == resource && got["reason"] == reason {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}
