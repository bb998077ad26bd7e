package correlate

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// recorder is a ChangeHandler that remembers what it was told.
type recorder struct {
	mu     sync.Mutex
	events []change
}

type change struct {
	op, kind, key string
	at            time.Time
}

func (r *recorder) Upsert(obj runtime.Object, at time.Time) { r.add("upsert", obj, at) }
func (r *recorder) Delete(obj runtime.Object, at time.Time) { r.add("delete", obj, at) }

func (r *recorder) add(op string, obj runtime.Object, at time.Time) {
	m := obj.(metav1.Object)
	kind := ""
	switch obj.(type) {
	case *corev1.Pod:
		kind = "Pod"
	case *corev1.Namespace:
		kind = "Namespace"
	case *networkingv1.NetworkPolicy:
		kind = "NetworkPolicy"
	case *appsv1.ReplicaSet:
		kind = "ReplicaSet"
	default:
		kind = "other"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, change{op, kind, m.GetNamespace() + "/" + m.GetName(), at})
}

func (r *recorder) find(op, kind, key string) (change, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.op == op && e.kind == kind && e.key == key {
			return e, true
		}
	}
	return change{}, false
}

// fakeClock is a settable clock for event times.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time       { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)      { c.ns.Store(t.UnixNano()) }
func newFakeClock(t time.Time) *fakeClock { c := &fakeClock{}; c.Set(t); return c }

func testPod(ns, name, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, Labels: map[string]string{"app": name},
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{
			Name: "main", Image: "example/agent:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

// startLive runs a live inventory on client until the test ends.
func startLive(t *testing.T, cfg LiveConfig) *Live {
	t.Helper()
	l, err := NewLive(cfg)
	if err != nil {
		t.Fatalf("NewLive: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLiveFeedsHandlerWithEventTimes(t *testing.T) {
	existing := testPod("ai-agents", "triage", "10.244.1.10")
	client := fake.NewClientset(existing, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai-agents"}})
	clock := newFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rec := &recorder{}
	l := startLive(t, LiveConfig{Client: client, Handler: rec, Now: clock.Now})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}

	// Listed at start: stamped with its creation, not with the sync time.
	e, ok := rec.find("upsert", "Pod", "ai-agents/triage")
	if !ok || !e.at.Equal(existing.CreationTimestamp.Time) {
		t.Fatalf("initial pod upsert = %+v, %v; want at %v", e, ok, existing.CreationTimestamp.Time)
	}

	created := clock.Now().Add(time.Minute)
	clock.Set(created)
	if _, err := client.CoreV1().Pods("ai-agents").Create(ctx, testPod("ai-agents", "specialist", "10.244.1.11"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new pod's upsert", func() bool { _, ok := rec.find("upsert", "Pod", "ai-agents/specialist"); return ok })
	if e, _ := rec.find("upsert", "Pod", "ai-agents/specialist"); !e.at.Equal(created) {
		t.Errorf("watched pod stamped %v, want the observation time %v", e.at, created)
	}

	deleted := created.Add(time.Minute)
	clock.Set(deleted)
	if err := client.CoreV1().Pods("ai-agents").Delete(ctx, "triage", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pod's delete", func() bool { _, ok := rec.find("delete", "Pod", "ai-agents/triage"); return ok })
	if e, _ := rec.find("delete", "Pod", "ai-agents/triage"); !e.at.Equal(deleted) {
		t.Errorf("delete stamped %v, want %v", e.at, deleted)
	}

	objs := l.Objects()
	if len(objs.Pods) != 1 || objs.Pods[0].Name != "specialist" || len(objs.Namespaces) != 1 {
		t.Fatalf("Objects() = %d pods (%v), %d namespaces; want the specialist and ai-agents", len(objs.Pods), objs.Pods, len(objs.Namespaces))
	}
	if c := objs.Pods[0].Spec.Containers; len(c) != 1 || c[0].Image != "" || len(c[0].Ports) != 1 {
		t.Errorf("pod in the inventory not trimmed to its ports: %+v", c)
	}
}

func TestLiveNodeScopeWatchesOnlyThisNodesPods(t *testing.T) {
	here, there := testPod("ns", "here", "10.244.1.10"), testPod("ns", "there", "10.244.2.10")
	there.Spec.NodeName = "node-b"
	client := fake.NewClientset(here, there)
	var selectors []string
	var mu sync.Mutex
	client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		selectors = append(selectors, a.(k8stesting.ListAction).GetListRestrictions().Fields.String())
		mu.Unlock()
		return false, nil, nil
	})
	client.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watchInterface, error) {
		mu.Lock()
		selectors = append(selectors, a.(k8stesting.WatchAction).GetWatchRestrictions().Fields.String())
		mu.Unlock()
		return false, nil, nil
	})
	l := startLive(t, LiveConfig{Client: client, PodScope: PodsNode, NodeName: "node-a", SkipWorkloads: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(selectors) < 2 {
		t.Fatalf("pods listed and watched %d times, want a list and a watch", len(selectors))
	}
	for _, s := range selectors {
		if s != "spec.nodeName=node-a" {
			t.Fatalf("pods listed or watched with field selectors %q, want spec.nodeName=node-a each time", selectors)
		}
	}
}

func TestLiveForbiddenResourceDegradesAndRecovers(t *testing.T) {
	client := fake.NewClientset(
		testPod("ai-agents", "triage", "10.244.1.10"),
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "ai-agents", Name: "deny-all"}},
	)
	var forbid atomic.Bool
	forbid.Store(true)
	deny := func(k8stesting.Action) (bool, runtime.Object, error) {
		if forbid.Load() {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "networkpolicies"}, "", errors.New("RBAC: access denied"))
		}
		return false, nil, nil
	}
	client.PrependReactor("list", "networkpolicies", deny)
	client.PrependWatchReactor("networkpolicies", func(a k8stesting.Action) (bool, watchInterface, error) {
		handled, _, err := deny(a)
		return handled, nil, err
	})

	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	l := startLive(t, LiveConfig{Client: client, Handler: rec, Logger: zap.New(core), Registerer: reg, SkipWorkloads: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Ready without the forbidden resource: pods resolve, policies are degraded.
	if err := l.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.find("upsert", "Pod", "ai-agents/triage"); !ok {
		t.Error("pods not indexed while policies are forbidden")
	}
	if err := l.Degraded()["networkpolicies"]; !apierrors.IsForbidden(err) {
		t.Errorf("Degraded()[networkpolicies] = %v, want a forbidden error", err)
	}
	if len(l.Degraded()) != 1 {
		t.Errorf("Degraded() = %v, want only networkpolicies", l.Degraded())
	}
	if n := counterValue(t, reg, "auditor_inventory_errors_total", map[string]string{"resource": "networkpolicies", "reason": "forbidden"}); n < 1 {
		t.Errorf("auditor_inventory_errors_total{networkpolicies,forbidden} = %v, want >= 1", n)
	}
	if n := counterValue(t, reg, "auditor_inventory_degraded", map[string]string{"resource": "networkpolicies", "reason": "forbidden"}); n != 1 {
		t.Errorf("auditor_inventory_degraded{networkpolicies} = %v, want 1", n)
	}
	if got := logs.FilterField(zap.String("resource", "networkpolicies")).FilterMessageSnippet("cannot read").Len(); got != 1 {
		t.Errorf("%d error log lines for the forbidden resource, want exactly 1 however often it is retried", got)
	}

	// RBAC restored: the reflector's retry lists the policies.
	forbid.Store(false)
	waitFor(t, "the policy after RBAC returned", func() bool {
		_, ok := rec.find("upsert", "NetworkPolicy", "ai-agents/deny-all")
		return ok
	})
	waitFor(t, "the degraded state to clear", func() bool { return len(l.Degraded()) == 0 })
	if logs.FilterMessageSnippet("reads the resource again").Len() == 0 {
		t.Error("no log line when the resource became readable again")
	}
}

func TestLiveUnreachableAtStartIsNotFatal(t *testing.T) {
	client := fake.NewClientset(testPod("ns", "p", "10.244.1.10"))
	var down atomic.Bool
	down.Store(true)
	refuse := func(k8stesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, connRefused()
		}
		return false, nil, nil
	}
	client.PrependReactor("list", "*", refuse)
	reg := prometheus.NewRegistry()
	l := startLive(t, LiveConfig{Client: client, Registerer: reg, SkipWorkloads: true})

	waitFor(t, "an unreachable error to be counted", func() bool {
		return counterValue(t, reg, "auditor_inventory_errors_total", map[string]string{"resource": "pods", "reason": "unreachable"}) >= 1
	})
	if l.HasSynced() {
		t.Fatal("HasSynced while the API server cannot be reached")
	}
	if len(l.Objects().Pods) != 0 {
		t.Fatal("pods before any list succeeded")
	}
	down.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if len(l.Objects().Pods) != 1 {
		t.Errorf("after the API server came back: %d pods, want 1", len(l.Objects().Pods))
	}
}

func TestLiveOnResolvableReleasesParkedFlows(t *testing.T) {
	client := fake.NewClientset()
	released := make(chan []string, 4)
	pending := NewPending[string](16, time.Minute, func(items []string) { released <- items })
	l := startLive(t, LiveConfig{Client: client, OnResolvable: pending.Resolvable, SkipWorkloads: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pending.Park(netip.MustParseAddr("10.244.1.20"), "flow-1", now)
	pending.Park(netip.MustParseAddr("10.244.1.20"), "flow-2", now)
	pending.Park(netip.MustParseAddr("10.244.1.99"), "flow-other", now)

	// A pod without an IP yet releases nothing; its IP arriving does.
	p := testPod("ai-agents", "late", "")
	p.Status.PodIPs = nil
	if _, err := client.CoreV1().Pods("ai-agents").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p.Status.PodIP, p.Status.PodIPs = "10.244.1.20", []corev1.PodIP{{IP: "10.244.1.20"}}
	if _, err := client.CoreV1().Pods("ai-agents").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case items := <-released:
		if len(items) != 2 || items[0] != "flow-1" || items[1] != "flow-2" {
			t.Fatalf("released %q, want flow-1 and flow-2 in order", items)
		}
	case <-ctx.Done():
		t.Fatal("parked flows not released when their pod's IP arrived")
	}
	if pending.Len() != 1 {
		t.Errorf("%d items still parked, want the one for 10.244.1.99", pending.Len())
	}
}
