package suggest

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/flow-auditor/flow-auditor/flow"
)

func TestMergePorts(t *testing.T) {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	got := MergePorts([]ProtoPort{{tcp, 8002}, {tcp, 8000}, {udp, 8001}, {tcp, 8001}, {tcp, 8000}, {tcp, 8004}, {tcp, 443}, {udp, 8002}})
	want := []PortRange{
		{Protocol: tcp, Port: 443},
		{Protocol: tcp, Port: 8000, EndPort: 8002},
		{Protocol: tcp, Port: 8004},
		{Protocol: udp, Port: 8001, EndPort: 8002},
	}
	if !slices.Equal(got, want) {
		t.Errorf("MergePorts = %+v, want %+v", got, want)
	}
}

// TestQuoteRoundTrip: every string reads back as itself, whatever YAML
// would otherwise make of it.
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{
		"plain", "app.kubernetes.io/name", "true", "False", "yes", "on", "Off", "y", "N", "null", "~", "", " lead", "trail ",
		"123", "1e3", "0x1F", ".5", "-1", "1_000", "2026-01-01", "12:30", "a: b", "#x", "- x", "x\ny", "tab\there",
		"ünïcode", "a'b", `a"b`, `back\slash`, "{a}", "[a]", "*ref", "&anchor", "!tag", "%x", "@x", "`x", "|", ">", "0.0.0.0/0", "::/0",
	} {
		doc := "k: " + quote(s) + "\n"
		var m map[string]string
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if m["k"] != s {
			t.Errorf("quote(%q) = %s reads back as %q", s, quote(s), m["k"])
		}
	}
	if got := sanitizeComment("a\nb\rc\u2028d"); strings.ContainsAny(got, "\n\r\u2028") {
		t.Errorf("sanitizeComment kept a line break: %q", got)
	}
}

// small builds a hand-made cluster: namespace "app" plus a peer namespace.
type small struct{ w *world }

func newSmall() *small {
	w := &world{rng: rand.New(rand.NewPCG(1, 2)), byNS: map[string][]*genPod{}, base: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	w.nodes = []genNode{{name: "node-0", ip: netip.MustParseAddr("10.0.0.10")}}
	w.objs.Nodes = append(w.objs.Nodes, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-0"},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.10"}}},
	})
	for _, ns := range []string{"app", "peer"} {
		w.objs.Namespaces = append(w.objs.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	return &small{w: w}
}

func (s *small) pod(ns, name string, labels map[string]string, ip string, ports ...ProtoPort) *genPod {
	return s.w.addPod(ns, name, labels, nil, netip.MustParseAddr(ip), ports, false)
}

func rec(src, dst *genPod, port int32, at time.Time) flow.Record {
	return flow.Record{
		TimeFirst: at, TimeLast: at.Add(time.Second), Protocol: flow.TCP, Initiator: "src", Observed: flow.Forwarded,
		Src: flow.Endpoint{IP: src.ip, Port: 40000}, Dst: flow.Endpoint{IP: dst.ip, Port: uint16(port)},
	}
}

func (s *small) run(t *testing.T, recs []flow.Record, mutate func(*Input)) (*Suggestion, *Report, error) {
	t.Helper()
	c := newCluster(s.w.objs)
	in := c.input("app", ExternalExact)
	if mutate != nil {
		mutate(&in)
	}
	o := NewObserver(in)
	c.feed(o, recs)
	sg, err := o.Suggest()
	if err != nil {
		return nil, nil, err
	}
	r, err := o.Replay(sg, c.objs.NetworkPolicies, c.objs.Namespaces)
	if err != nil {
		t.Fatal(err)
	}
	return sg, r, nil
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestBadInput(t *testing.T) {
	s := newSmall()
	a := s.pod("app", "a", map[string]string{"app": "a"}, "10.1.0.1", ProtoPort{"TCP", 80})
	p := s.pod("peer", "p", map[string]string{"app": "p"}, "10.2.0.1", ProtoPort{"TCP", 80})
	q := s.pod("peer", "q", map[string]string{"app": "q"}, "10.2.0.2", ProtoPort{"TCP", 80})
	dropped := rec(p, a, 80, t0)
	dropped.Observed = flow.Dropped
	for name, tc := range map[string]struct {
		recs   []flow.Record
		mutate func(*Input)
		want   string
	}{
		"no records":      {nil, nil, "no flow records"},
		"empty window":    {[]flow.Record{rec(p, a, 80, t0)}, func(in *Input) { in.From = t0.Add(time.Hour) }, "empty window"},
		"other namespace": {[]flow.Record{rec(p, q, 80, t0)}, nil, `names a pod of namespace "app"`},
		"only dropped":    {[]flow.Record{dropped}, nil, "were dropped"},
		"no pods":         {[]flow.Record{rec(p, q, 80, t0)}, func(in *Input) { in.Namespace = "empty" }, `namespace "empty" has no pods`},
	} {
		_, _, err := s.run(t, tc.recs, tc.mutate)
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrBadInput saying %q", name, err, tc.want)
		}
	}
}

// TestSelectorExcludesSupersets: {app: a} must not select the pods of a
// workload labelled {app: a, tier: b}.
func TestSelectorExcludesSupersets(t *testing.T) {
	s := newSmall()
	a := s.pod("app", "a", map[string]string{"app": "a"}, "10.1.0.1", ProtoPort{"TCP", 80})
	ab := s.pod("app", "ab", map[string]string{"app": "a", "tier": "b"}, "10.1.0.2", ProtoPort{"TCP", 80})
	p := s.pod("peer", "p", map[string]string{"app": "p"}, "10.2.0.1", ProtoPort{"TCP", 80})
	sg, r, err := s.run(t, []flow.Record{rec(p, a, 80, t0), rec(ab, p, 80, t0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sel *metav1.LabelSelector
	for i := range sg.Policies {
		if sg.Policies[i].Workload == "Pod/a" {
			sel = &sg.Policies[i].Selector
		}
	}
	if sel == nil || len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != "tier" || sel.MatchExpressions[0].Operator != metav1.LabelSelectorOpDoesNotExist {
		t.Fatalf("selector of Pod/a = %+v, want app=a and tier DoesNotExist", sel)
	}
	if r.Edges.AllowedUnobserved != 0 || r.Flows.NotAllowed != 0 {
		t.Errorf("replay: %+v %+v %+v", r.Flows, r.Edges, r.Unobserved)
	}
}

// TestUnstableSelectionIsReported: a bare pod without labels, two
// workloads with the same labels, a pod gone from the inventory and ICMP
// are each reported with what was done instead.
func TestUnstableSelectionIsReported(t *testing.T) {
	s := newSmall()
	bare := s.pod("app", "bare", nil, "10.1.0.1", ProtoPort{"TCP", 80})
	x := s.pod("app", "x", map[string]string{"app": "same"}, "10.1.0.2", ProtoPort{"TCP", 80})
	s.pod("app", "y", map[string]string{"app": "same"}, "10.1.0.3", ProtoPort{"TCP", 80})
	p := s.pod("peer", "p", map[string]string{"app": "p"}, "10.2.0.1", ProtoPort{"TCP", 80})
	ping := rec(p, x, 0, t0)
	typ := uint8(8)
	ping.Protocol, ping.ICMPType, ping.Initiator, ping.Src.Port = flow.ICMPv4, &typ, "", 0
	// A pod the flow source named (as Hubble does) that the inventory no
	// longer has: it resolves as its address.
	gone := rec(&genPod{ip: netip.MustParseAddr("10.2.9.9")}, x, 80, t0)
	gone.Src.Namespace, gone.Src.Pod = "peer", "gone-7f8d9-abcde"
	noPort := rec(x, p, 0, t0) // a source that could not tell the port
	sg, r, err := s.run(t, []flow.Record{rec(p, bare, 80, t0), rec(p, x, 80, t0), ping, gone, noPort}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[NoteKind]string{}
	for _, n := range sg.Notes {
		kinds[n.Kind] += n.Subject + ": " + n.Detail + "\n"
	}
	for _, k := range []NoteKind{NoteUnlabeledPod, NoteSharedSelector, NoteICMP, NotePodGone} {
		if kinds[k] == "" {
			t.Errorf("no %s note; notes: %+v", k, sg.Notes)
		}
	}
	if !strings.Contains(kinds[NotePodGone], "peer/gone-7f8d9-abcde") || !strings.Contains(kinds[NotePodGone], "10.2.9.9/32") {
		t.Errorf("pod-gone note does not say what was done: %s", kinds[NotePodGone])
	}
	if !strings.Contains(kinds[NoteICMP], "flows without a port") {
		t.Errorf("port 0 not reported: %s", kinds[NoteICMP])
	}
	if !strings.Contains(kinds[NoteSharedSelector], "Pod/y") {
		t.Errorf("shared-selector note does not name Pod/y: %s", kinds[NoteSharedSelector])
	}
	if r.Flows.NotAllowed != 0 {
		t.Errorf("replay: %+v", r.NotAllowed)
	}
	// Pod/x and Pod/y cannot be told apart: the replay counts what that
	// costs instead of hiding it.
	if r.Edges.AllowedUnobserved == 0 {
		t.Errorf("shared selector cost no unobserved edge: %+v", r.Edges)
	}
}

func TestSinceWindow(t *testing.T) {
	s := newSmall()
	a := s.pod("app", "a", map[string]string{"app": "a"}, "10.1.0.1", ProtoPort{"TCP", 80}, ProtoPort{"TCP", 81})
	p := s.pod("peer", "p", map[string]string{"app": "p"}, "10.2.0.1", ProtoPort{"TCP", 80})
	old, recent := rec(p, a, 81, t0.Add(-48*time.Hour)), rec(p, a, 80, t0)
	sg, r, err := s.run(t, []flow.Record{old, recent}, func(in *Input) { in.From = t0.Add(-time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	out := string(sg.RenderYAML())
	if strings.Contains(out, "port: 81") || !strings.Contains(out, "port: 80") {
		t.Errorf("window not applied:\n%s", out)
	}
	if r.Records.BeforeWindow != 1 || !sg.Window.Start.Equal(t0) {
		t.Errorf("records %+v, window %+v", r.Records, sg.Window)
	}
}

// TestDNSReachedDirectly: a node-local cache and the DNS service address
// reached without translation (here: a port the Service does not serve)
// join the DNS rule as ipBlocks, beside the kube-dns pods.
func TestDNSReachedDirectly(t *testing.T) {
	s := newSmall()
	s.w.addDNS() // kube-dns Service 10.96.0.10 serves UDP 53 only
	a := s.pod("app", "a", map[string]string{"app": "a"}, "10.1.0.1", ProtoPort{"TCP", 80})
	toSvcUDP := rec(a, s.w.dnsPod, 53, t0)
	toSvcUDP.Dst.IP, toSvcUDP.Protocol, toSvcUDP.Initiator = s.w.dnsIP, flow.UDP, ""
	toSvcTCP := rec(a, s.w.dnsPod, 53, t0)
	toSvcTCP.Dst.IP = s.w.dnsIP // no TCP port on the Service: untranslated
	cache := rec(a, s.w.dnsPod, 53, t0)
	cache.Dst.IP, cache.Protocol, cache.Initiator = netip.MustParseAddr("169.254.20.10"), flow.UDP, ""
	sg, r, err := s.run(t, []flow.Record{toSvcUDP, toSvcTCP, cache}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dns *Rule
	for i := range sg.Policies {
		for j := range sg.Policies[i].Egress {
			if sg.Policies[i].Egress[j].DNS {
				dns = &sg.Policies[i].Egress[j]
			}
		}
	}
	if dns == nil {
		t.Fatalf("no DNS rule:\n%s", sg.RenderYAML())
	}
	var got []string
	for _, p := range dns.Peers {
		if p.IPBlock != nil {
			got = append(got, p.IPBlock.CIDR)
		} else {
			got = append(got, p.Namespace+":"+formatLabels(p.Pods.MatchLabels))
		}
	}
	want := []string{"kube-system:{k8s-app=kube-dns}", "10.96.0.10/32", "169.254.20.10/32"}
	if !slices.Equal(got, want) {
		t.Errorf("DNS peers %v, want %v", got, want)
	}
	if r.Flows.NotAllowed != 0 {
		t.Errorf("replay %+v", r.Flows)
	}
}

// TestHostNetwork: a hostNetwork pod of the namespace gets no policy (none
// can isolate it) and is reported; one reached as a peer is its node's
// address.
func TestHostNetwork(t *testing.T) {
	s := newSmall()
	a := s.pod("app", "a", map[string]string{"app": "a"}, "10.1.0.1", ProtoPort{"TCP", 80})
	agent := s.w.addPod("app", "node-agent", map[string]string{"app": "node-agent"}, nil, netip.Addr{}, []ProtoPort{{"TCP", 9100}}, true)
	exporter := s.w.addPod("peer", "exporter", map[string]string{"app": "exporter"}, nil, netip.Addr{}, []ProtoPort{{"TCP", 9100}}, true)
	sg, r, err := s.run(t, []flow.Record{rec(a, exporter, 9100, t0), rec(agent, a, 80, t0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	notes := ""
	for _, n := range sg.Notes {
		notes += string(n.Kind) + " " + n.Subject + ": " + n.Detail + "\n"
	}
	if !strings.Contains(notes, "host-network app/node-agent") || !strings.Contains(notes, "node-peer node 10.0.0.10") {
		t.Errorf("notes:\n%s", notes)
	}
	for _, p := range sg.Policies {
		if strings.Contains(p.Workload, "node-agent") {
			t.Errorf("policy written for a hostNetwork workload: %s", p.Name)
		}
	}
	out := string(sg.RenderYAML())
	if !strings.Contains(out, `cidr: "10.0.0.10/32"`) {
		t.Errorf("node address not allowed by ipBlock:\n%s", out)
	}
	if r.Flows.NotAllowed != 0 || r.Flows.Observed != 2 {
		t.Errorf("replay: %+v", r.Flows)
	}
}
