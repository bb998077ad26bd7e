package correlate

import (
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flow-auditor/flow-auditor/flow"
)

func at(d time.Duration) time.Time { return tBase.Add(d) }

func TestDeletedPodKeepsItsAddressForTheGraceWindow(t *testing.T) {
	ix := NewIndex(IndexOptions{}) // default grace: 2 minutes
	ix.UpsertPod(mkPod("ai", "a", []string{"10.244.1.5", "fd00::5"}), at(0))
	ix.DeletePod("ai", "a", at(10*time.Minute))

	cases := []struct {
		name string
		flow time.Duration // the flow's start time
		want string
	}{
		{"flow while the pod ran", 5 * time.Minute, "ai/a"},
		{"flow just after the delete", 10*time.Minute + time.Second, "ai/a"},
		{"flow at the end of the window", 11*time.Minute + 59*time.Second, "ai/a"},
		{"flow after the window", 12 * time.Minute, ""},
	}
	for _, c := range cases {
		for _, addr := range []string{"10.244.1.5", "fd00::5"} {
			if got := mustResolvePod(t, ix, addr, at(c.flow)); got != c.want {
				t.Errorf("%s (%s): resolved to %q, want %q", c.name, addr, got, c.want)
			}
		}
	}
	if tg := ix.ResolveName("ai", "a", at(11*time.Minute)); tg == nil {
		t.Error("name forgotten inside the grace window")
	}
	if tg := ix.ResolveName("ai", "a", at(13*time.Minute)); tg != nil {
		t.Error("name still resolves after the grace window")
	}

	// Pruning after the window frees the memory; before it, nothing goes.
	ix.Prune(at(11 * time.Minute))
	if st := ix.Stats(); st.Addresses != 2 || st.Names != 1 {
		t.Errorf("pruned inside the window: %+v", st)
	}
	ix.Prune(at(12 * time.Minute))
	if st := ix.Stats(); st.Addresses != 0 || st.Names != 0 {
		t.Errorf("not pruned after the window: %+v", st)
	}
}

func TestGraceWindowIsConfigurable(t *testing.T) {
	for _, c := range []struct {
		grace time.Duration
		flow  time.Duration // after the delete
		want  string
	}{
		{30 * time.Second, 20 * time.Second, "ai/a"},
		{30 * time.Second, 40 * time.Second, ""},
		{10 * time.Minute, 9 * time.Minute, "ai/a"},
		{-1, time.Nanosecond, ""}, // off
		{-1, -time.Nanosecond, "ai/a"},
	} {
		ix := NewIndex(IndexOptions{Grace: c.grace})
		ix.UpsertPod(mkPod("ai", "a", []string{"10.244.1.5"}), at(0))
		ix.DeletePod("ai", "a", at(time.Hour))
		if got := mustResolvePod(t, ix, "10.244.1.5", at(time.Hour+c.flow)); got != c.want {
			t.Errorf("grace %v, flow %v after delete: %q, want %q", c.grace, c.flow, got, c.want)
		}
	}
}

func TestReusedAddressResolvesByFlowStartTime(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	ix.UpsertPod(mkPod("ai", "old", []string{"10.244.1.5"}), at(0))
	ix.DeletePod("ai", "old", at(10*time.Minute))
	// The CNI hands the address to a new pod 30s later, inside old's window.
	ix.UpsertPod(mkPod("ai", "new", []string{"10.244.1.5"}), at(10*time.Minute+30*time.Second))

	for _, c := range []struct {
		flow time.Duration
		want string
	}{
		{-time.Minute, "ai/old"}, // before the inventory knew of old: the earliest holder
		{5 * time.Minute, "ai/old"},
		{10*time.Minute + 10*time.Second, "ai/old"}, // a late flow of old
		{10*time.Minute + 30*time.Second, "ai/new"}, // new from the moment it appeared
		{11 * time.Minute, "ai/new"},
		{time.Hour, "ai/new"},
	} {
		if got := mustResolvePod(t, ix, "10.244.1.5", at(c.flow)); got != c.want {
			t.Errorf("flow at +%v: %q, want %q", c.flow, got, c.want)
		}
	}
}

func TestReusedAddressBeforeTheOldPodsDeleteEvent(t *testing.T) {
	// Events of two pods need not arrive in the order things happened.
	ix := NewIndex(IndexOptions{})
	ix.UpsertPod(mkPod("ai", "old", []string{"10.244.1.5"}), at(0))
	ix.UpsertPod(mkPod("ai", "new", []string{"10.244.1.5"}), at(5*time.Minute))
	ix.DeletePod("ai", "old", at(6*time.Minute))
	for _, c := range []struct {
		flow time.Duration
		want string
	}{
		{4 * time.Minute, "ai/old"},
		{5 * time.Minute, "ai/new"},
		{7 * time.Minute, "ai/new"},
	} {
		if got := mustResolvePod(t, ix, "10.244.1.5", at(c.flow)); got != c.want {
			t.Errorf("flow at +%v: %q, want %q", c.flow, got, c.want)
		}
	}
}

func TestFinishedPodReleasesItsAddress(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	ix.UpsertPod(mkPod("ai", "job-x", []string{"10.244.1.5"}), at(0))
	ix.UpsertPod(mkPod("ai", "job-x", []string{"10.244.1.5"}, inPhase(corev1.PodSucceeded)), at(time.Minute))
	if got := mustResolvePod(t, ix, "10.244.1.5", at(2*time.Minute)); got != "ai/job-x" {
		t.Errorf("inside the window: %q", got)
	}
	if got := mustResolvePod(t, ix, "10.244.1.5", at(4*time.Minute)); got != "" {
		t.Errorf("after the window: %q, want nothing", got)
	}
	// It still exists, so it still resolves by name.
	if ix.ResolveName("ai", "job-x", at(4*time.Minute)) == nil {
		t.Error("finished pod no longer resolves by name")
	}
}

func TestRecreatedPodOfTheSameName(t *testing.T) {
	// A StatefulSet pod comes back under its name with a new UID and a new
	// address; a missed delete event must not leave the old one holding.
	ix := NewIndex(IndexOptions{})
	ix.UpsertPod(mkPod("db", "pg-0", []string{"10.244.2.30"}, withUID("u1"), withLabels("gen", "1")), at(0))
	ix.UpsertPod(mkPod("db", "pg-0", []string{"10.244.2.40"}, withUID("u2"), withLabels("gen", "2")), at(10*time.Minute))
	if got := mustResolvePod(t, ix, "10.244.2.30", at(11*time.Minute)); got != "db/pg-0" {
		t.Errorf("old address in its window: %q", got)
	}
	if got := mustResolvePod(t, ix, "10.244.2.30", at(13*time.Minute)); got != "" {
		t.Errorf("old address after its window: %q", got)
	}
	for _, c := range []struct {
		flow time.Duration
		gen  string
	}{{5 * time.Minute, "1"}, {10 * time.Minute, "2"}} {
		tg := ix.ResolveName("db", "pg-0", at(c.flow))
		if tg == nil || tg.Endpoint.Labels["gen"] != c.gen {
			t.Errorf("by name at +%v: %+v, want generation %s", c.flow, tg, c.gen)
		}
	}
}

func TestFlowBeforeThePodEventResolvesOnceItArrives(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	before := ix.Version()
	if got := mustResolvePod(t, ix, "10.244.1.5", at(0)); got != "" {
		t.Fatalf("resolved before any event: %q", got)
	}
	ix.UpsertPod(mkPod("ai", "a", []string{"10.244.1.5"}), at(2*time.Second))
	if ix.Version() == before {
		t.Error("Version did not move")
	}
	// The flow started 2s before the informer saw the pod.
	if got := mustResolvePod(t, ix, "10.244.1.5", at(0)); got != "ai/a" {
		t.Errorf("retried flow: %q, want ai/a", got)
	}
}

func TestIncrementalPodUpdates(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	ix.UpsertPod(mkPod("ai", "a", nil, withLabels("v", "1")), at(0))
	if got := mustResolvePod(t, ix, "10.244.1.5", at(time.Second)); got != "" {
		t.Errorf("pending pod without address resolved: %q", got)
	}
	if tg := ix.ResolveName("ai", "a", at(0)); tg == nil || tg.Endpoint.IP.IsValid() {
		t.Errorf("pending pod by name: %+v", tg)
	}
	ix.UpsertPod(mkPod("ai", "a", []string{"10.244.1.5"}, withLabels("v", "1")), at(time.Second))
	ix.UpsertPod(mkPod("ai", "a", []string{"10.244.1.5"}, withLabels("v", "2")), at(2*time.Second))
	tg := ix.Resolve(ip("10.244.1.5"), at(3*time.Second))
	if tg == nil || tg.Endpoint.Labels["v"] != "2" || tg.Peer.Labels["v"] != "2" {
		t.Fatalf("labels not updated: %+v", tg)
	}
	// A label change is not a new holder: earlier flows see the pod too.
	if got := mustResolvePod(t, ix, "10.244.1.5", at(1500*time.Millisecond)); got != "ai/a" {
		t.Errorf("flow between the updates: %q", got)
	}
}

func TestStatusOnlyPodUpdatesKeepTheTarget(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	p := mkPod("ai", "a", []string{"10.244.1.5"}, withLabels("app", "a"))
	ix.UpsertPod(p, at(0))
	before := ix.Resolve(ip("10.244.1.5"), at(time.Second))
	noise := p.DeepCopy()
	noise.Status.Conditions = append(noise.Status.Conditions, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue})
	ix.UpsertPod(noise, at(time.Second))
	if ix.Resolve(ip("10.244.1.5"), at(2*time.Second)) != before {
		t.Error("a status-only update rebuilt the pod's target")
	}
	notReady := noise.DeepCopy()
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	ix.UpsertPod(notReady, at(2*time.Second))
	if ix.Resolve(ip("10.244.1.5"), at(3*time.Second)) == before {
		t.Error("a readiness change was ignored")
	}
}

func TestOwnerUpdatesReachOnlyTheirPods(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	ix.UpsertOwner(OwnerObject{Kind: "ReplicaSet", Namespace: "ai", Name: "a-rs", Owner: &OwnerRef{Kind: "Deployment", Name: "a"}}, at(0))
	ix.UpsertOwner(OwnerObject{Kind: "ReplicaSet", Namespace: "ai", Name: "b-rs", Owner: &OwnerRef{Kind: "Deployment", Name: "b"}}, at(0))
	ix.UpsertPod(mkPod("ai", "a-1", []string{"10.244.1.5"}, ownedBy("ReplicaSet", "a-rs", ""), withLabels("app", "a", "x", "1")), at(0))
	ix.UpsertPod(mkPod("ai", "b-1", []string{"10.244.1.6"}, ownedBy("ReplicaSet", "b-rs", ""), withLabels("app", "b")), at(0))
	bBefore := ix.Resolve(ip("10.244.1.6"), at(time.Second))
	ix.UpsertOwner(OwnerObject{Kind: "Deployment", Namespace: "ai", Name: "a", TemplateLabels: map[string]string{"app": "a"}}, at(time.Second))
	a := ix.Resolve(ip("10.244.1.5"), at(2*time.Second))
	if a.Endpoint.Workload != "Deployment/a" || len(a.Workload.StableLabels) != 1 {
		t.Errorf("a's pod after its Deployment arrived: %s %v", a.Endpoint.Workload, a.Workload.StableLabels)
	}
	if ix.Resolve(ip("10.244.1.6"), at(2*time.Second)) != bBefore {
		t.Error("another Deployment's pod was rebuilt")
	}
}

func TestOwnersArrivingLaterChangeTheWorkload(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	// A ReplicaSet whose name does not end in the hash cannot be inferred.
	ix.UpsertPod(mkPod("ai", "w-1", []string{"10.244.1.5"}, withLabels("app", "w"),
		ownedBy("ReplicaSet", "w-rs", "rs-uid")), at(0))
	if tg := ix.Resolve(ip("10.244.1.5"), at(0)); tg.Endpoint.Workload != "ReplicaSet/w-rs" {
		t.Fatalf("before owners: %q", tg.Endpoint.Workload)
	}
	ix.UpsertOwner(OwnerObject{Kind: "ReplicaSet", Namespace: "ai", Name: "w-rs", UID: "rs-uid",
		Owner: &OwnerRef{Kind: "Deployment", Name: "w"}}, at(time.Second))
	ix.UpsertOwner(OwnerObject{Kind: "Deployment", Namespace: "ai", Name: "w",
		TemplateLabels: map[string]string{"app": "w", "tier": "web"}}, at(2*time.Second))
	tg := ix.Resolve(ip("10.244.1.5"), at(3*time.Second))
	if tg.Endpoint.Workload != "Deployment/w" || tg.Workload.StableLabels["tier"] != "web" {
		t.Errorf("after owners: %q %v", tg.Endpoint.Workload, tg.Workload.StableLabels)
	}
	ix.DeleteOwner("ReplicaSet", "ai", "w-rs", at(4*time.Second))
	if tg := ix.Resolve(ip("10.244.1.5"), at(5*time.Second)); tg.Endpoint.Workload != "ReplicaSet/w-rs" {
		t.Errorf("after the ReplicaSet went: %q", tg.Endpoint.Workload)
	}
}

func TestIncrementalServiceAndSliceUpdates(t *testing.T) {
	tcp := corev1.ProtocolTCP
	v4 := discoveryv1.AddressTypeIPv4
	ix := NewIndex(IndexOptions{})
	ix.UpsertPod(mkPod("ai", "a", []string{"10.244.1.5"}), at(0))
	ix.UpsertPod(mkPod("ai", "b", []string{"10.244.1.6"}), at(0))
	backends := func(when time.Duration) []string {
		var res Resolution
		r := flow.Record{TimeFirst: at(when), Src: flow.Endpoint{IP: ip("10.244.1.5")},
			Dst: flow.Endpoint{IP: ip("10.96.0.40"), Port: 80}, Protocol: flow.TCP}
		ix.ResolveRecord(&r, &res)
		var out []string
		for _, c := range res.Dst {
			out = append(out, candString(c))
		}
		return out
	}
	// The slice comes before its Service: it waits.
	ix.UpsertEndpointSlice(mkSlice("ai", "s-1", "s", v4, []discoveryv1.EndpointPort{slicePortOf("http", 8080, tcp)},
		sliceEP("10.244.1.5", "a")), at(time.Second))
	if got := backends(time.Second); len(got) != 1 || got[0] != "external 10.96.0.40:80" {
		t.Errorf("before the Service: %v", got)
	}
	ix.UpsertService(mkService("ai", "s", []string{"10.96.0.40"}, nil, sport("http", 80, tcp, intstr.FromString("http"))), at(2*time.Second))
	assertStrings(t, "with the Service", backends(2*time.Second), "ai/a:8080")

	ix.UpsertEndpointSlice(mkSlice("ai", "s-2", "s", v4, []discoveryv1.EndpointPort{slicePortOf("http", 8081, tcp)},
		sliceEP("10.244.1.6", "b")), at(3*time.Second))
	assertStrings(t, "second slice", backends(3*time.Second), "ai/a:8080", "ai/b:8081")

	ix.UpsertEndpointSlice(mkSlice("ai", "s-1", "s", v4, []discoveryv1.EndpointPort{slicePortOf("http", 8080, tcp)},
		sliceEP("10.244.1.5", "a", notReady())), at(4*time.Second))
	assertStrings(t, "a not ready", backends(4*time.Second), "ai/b:8081")

	// The slice moves to another Service.
	other := mkSlice("ai", "s-2", "other", v4, []discoveryv1.EndpointPort{slicePortOf("http", 8081, tcp)}, sliceEP("10.244.1.6", "b"))
	ix.UpsertEndpointSlice(other, at(5*time.Second))
	assertStrings(t, "slice moved away", backends(5*time.Second), "ai/a:8080")

	ix.DeleteEndpointSlice("ai", "s-1", at(6*time.Second))
	assertStrings(t, "no slices", backends(6*time.Second), "external 10.96.0.40:80")

	// A Service's new ClusterIP (type change) takes over; the old one keeps
	// its window.
	ix.UpsertService(mkService("ai", "s", []string{"10.96.0.41"}, nil, sport("http", 80, tcp, intstr.FromString("http"))), at(7*time.Second))
	if got := mustResolvePod(t, ix, "10.96.0.41", at(8*time.Second)); got != "service ai/s" {
		t.Errorf("new ClusterIP: %q", got)
	}
	if got := mustResolvePod(t, ix, "10.96.0.40", at(8*time.Second)); got != "service ai/s" {
		t.Errorf("old ClusterIP inside its window: %q", got)
	}
	ix.DeleteService("ai", "s", at(10*time.Second))
	if got := mustResolvePod(t, ix, "10.96.0.41", at(10*time.Second+3*time.Minute)); got != "" {
		t.Errorf("deleted Service after its window: %q", got)
	}
}

func TestSelectorBackendsFollowPods(t *testing.T) {
	tcp := corev1.ProtocolTCP
	ix := NewIndex(IndexOptions{})
	ix.UpsertService(mkService("ai", "s", []string{"10.96.0.40"}, map[string]string{"app": "w"},
		sport("", 80, tcp, intstr.FromInt32(8080))), at(0))
	cands := func() []string {
		tg := ix.Resolve(ip("10.96.0.40"), at(time.Hour))
		var out []string
		for _, c := range ix.Translate(tg, ip("10.96.0.40"), 80, flow.TCP, at(time.Hour), nil) {
			out = append(out, candString(c))
		}
		return out
	}
	assertStrings(t, "no pods", cands(), "external 10.96.0.40:80")
	ix.UpsertPod(mkPod("ai", "w-1", []string{"10.244.1.5"}, withLabels("app", "w")), at(time.Second))
	ix.UpsertPod(mkPod("ai", "x-1", []string{"10.244.1.6"}, withLabels("app", "x")), at(time.Second))
	assertStrings(t, "one selected pod", cands(), "ai/w-1:8080")
	ix.DeletePod("ai", "w-1", at(2*time.Second))
	assertStrings(t, "selected pod deleted", cands(), "external 10.96.0.40:80")
	// Once an EndpointSlice names the Service, it is the authority.
	ix.UpsertPod(mkPod("ai", "w-2", []string{"10.244.1.7"}, withLabels("app", "w")), at(3*time.Second))
	ix.UpsertEndpointSlice(mkSlice("ai", "s-1", "s", discoveryv1.AddressTypeIPv4,
		[]discoveryv1.EndpointPort{slicePortOf("", 8080, tcp)}, sliceEP("10.244.1.6", "x-1")), at(4*time.Second))
	assertStrings(t, "slice arrived", cands(), "ai/x-1:8080")
}

func TestNodeUpdatesAndDeletes(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	ix.UpsertPod(mkPod("kube-system", "proxy", []string{"172.18.0.5"}, hostNetwork(), onNode("node-5")), at(0))
	if got := mustResolvePod(t, ix, "172.18.0.5", at(0)); got != "node node-5" {
		t.Errorf("hostNetwork pod before its Node: %q", got)
	}
	ix.UpsertNode(mkNode("node-5", internalIP("172.18.0.5")), at(time.Second))
	ix.UpsertNode(mkNode("node-5", internalIP("172.18.0.5"), internalIP("fc00::5")), at(2*time.Second))
	if got := mustResolvePod(t, ix, "fc00::5", at(3*time.Second)); got != "node node-5" {
		t.Errorf("added node address: %q", got)
	}
	ix.DeletePod("kube-system", "proxy", at(4*time.Second))
	ix.DeleteNode("node-5", at(5*time.Second))
	if got := mustResolvePod(t, ix, "172.18.0.5", at(6*time.Second)); got != "node node-5" {
		t.Errorf("deleted node inside its window: %q", got)
	}
	if got := mustResolvePod(t, ix, "172.18.0.5", at(5*time.Second+3*time.Minute)); got != "" {
		t.Errorf("deleted node after its window: %q", got)
	}
}

func TestNamespaceLabels(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	ns := &corev1.Namespace{}
	ns.Name, ns.Labels = "ai", map[string]string{"name": "ai"}
	ix.UpsertNamespace(ns, at(0))
	if got := ix.NamespaceLabels("ai"); got["name"] != "ai" || got[NamespaceNameLabel] != "ai" {
		t.Errorf("labels = %v", got)
	}
	if ns.Labels[NamespaceNameLabel] != "" {
		t.Error("the caller's namespace was modified")
	}
	ix.DeleteNamespace("ai", at(time.Second))
	if got := ix.NamespaceLabels("ai"); got != nil {
		t.Errorf("deleted namespace: %v", got)
	}
}

func TestSnapshotIndexHasNoTimeline(t *testing.T) {
	objs := Objects{Pods: []*corev1.Pod{
		// A finished Job pod whose address a running pod reuses: the
		// running pod holds it; the finished one keeps it only for flows
		// from before the running pod existed.
		mkPod("ai", "job-1", []string{"10.244.1.5"}, inPhase(corev1.PodSucceeded), createdAt(at(0))),
		mkPod("ai", "web-1", []string{"10.244.1.5"}, createdAt(at(time.Hour))),
		// A finished pod alone keeps its address.
		mkPod("ai", "job-2", []string{"10.244.1.6"}, inPhase(corev1.PodFailed), createdAt(at(0))),
		// A running pod resolves before its creation too (clocks differ).
		mkPod("ai", "web-2", []string{"10.244.1.7"}, createdAt(at(time.Hour))),
	}}
	ix := BuildIndex(objs, IndexOptions{})
	for _, c := range []struct {
		addr string
		when time.Time
		want string
	}{
		{"10.244.1.5", time.Time{}, "ai/web-1"},
		{"10.244.1.5", at(2 * time.Hour), "ai/web-1"},
		{"10.244.1.5", at(30 * time.Minute), "ai/job-1"},
		{"10.244.1.6", at(24 * time.Hour), "ai/job-2"},
		{"10.244.1.7", at(-24 * time.Hour), "ai/web-2"},
	} {
		if got := mustResolvePod(t, ix, c.addr, c.when); got != c.want {
			t.Errorf("%s at %v: %q, want %q", c.addr, c.when, got, c.want)
		}
	}
}

// TestConcurrentReadersSeeConsistentTargets runs readers against a writer
// churning pods (meant for -race): a reader gets nothing or a whole target
// for the address it asked about, never a torn one.
func TestConcurrentReadersSeeConsistentTargets(t *testing.T) {
	ix := NewIndex(IndexOptions{Grace: time.Second})
	addrs := []string{"10.244.1.5", "10.244.1.6", "fd00::7"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res Resolution
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a := ip(addrs[i%len(addrs)])
				if tg := ix.Resolve(a, time.Time{}); tg != nil && (tg.Endpoint.IP != a || tg.Peer.IP != a || tg.Workload == nil) {
					t.Errorf("torn target for %v: %+v", a, tg)
					return
				}
				r := flow.Record{Src: flow.Endpoint{IP: a}, Dst: flow.Endpoint{IP: ip("10.96.0.40"), Port: 80}, Protocol: flow.TCP}
				ix.ResolveRecord(&r, &res)
			}
		}()
	}
	tcp := corev1.ProtocolTCP
	for i := range 300 {
		now := at(time.Duration(i) * 100 * time.Millisecond)
		name := []string{"a", "b", "c"}[i%3]
		ix.UpsertPod(mkPod("ai", name, []string{addrs[i%3]}, withLabels("app", "w"), withUID(name+string(rune('0'+i%7)))), now)
		if i%5 == 0 {
			ix.DeletePod("ai", name, now)
		}
		if i%50 == 0 {
			ix.UpsertService(mkService("ai", "s", []string{"10.96.0.40"}, map[string]string{"app": "w"},
				sport("", 80, tcp, intstr.FromInt32(8080))), now)
		}
	}
	close(stop)
	wg.Wait()
}

// candString renders a candidate as "ns/pod:port" or
// "external ip:port".
func candString(c Candidate) string {
	if c.Target != nil && c.Target.Kind() == flow.KindPod {
		return c.Target.Endpoint.Namespace + "/" + c.Target.Endpoint.Pod + ":" + strconv.Itoa(int(c.Port))
	}
	return "external " + c.IP.String() + ":" + strconv.Itoa(int(c.Port))
}

func assertStrings(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %v, want %v", what, got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: %v, want %v", what, got, want)
			return
		}
	}
}
