package agent

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observer "github.com/cilium/cilium/api/v1/observer"
	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap/zaptest"

	"github.com/flow-auditor/flow-auditor/collector/ebpf"
	"github.com/flow-auditor/flow-auditor/internal/netnstest"
	"github.com/flow-auditor/flow-auditor/internal/testutil"
	"github.com/flow-auditor/flow-auditor/metrics"
)

// The e2e test's pods live at addresses of their own: the kernel source
// reports drops in every network namespace, and other tests of the
// scenario (the demo's) use testdata's addresses.
const (
	e2ePods     = "10.213.7."
	e2eInternal = "10.213.99.5"
)

// e2eSnapshot is testdata/cluster.yaml at the e2e test's addresses.
func e2eSnapshot(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "10.244.1.", e2ePods)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// e2eNet is the scenario of testdata/cluster.yaml in network namespaces:
// the pods at the snapshot's addresses, plus hosts the snapshot does not
// know (LLM APIs, the metadata service, an internal host on a private
// address), which resolve as external.
type e2eNet struct {
	tp   *netnstest.Topology
	pods map[string]*netnstest.Pod
}

func buildE2ENet(t *testing.T) *e2eNet {
	t.Helper()
	testutil.RequirePrivileged(t, "loads eBPF programs and creates network namespaces")
	if err := ebpf.CheckSupport(); err != nil {
		testutil.Unavailable(t, err.Error())
	}
	n := &e2eNet{tp: netnstest.New(t, netnstest.Options{NoIPv6: true}), pods: map[string]*netnstest.Pod{}}
	for name, ip := range map[string]string{
		"triage": e2ePods + "10", "spec1": e2ePods + "11", "spec2": e2ePods + "12",
		"pg": e2ePods + "20", "dns": e2ePods + "2",
		"llm1": "203.0.113.10", "llm2": "198.51.100.20", "metadata": "169.254.169.254", "internal": e2eInternal,
	} {
		n.pods[name] = n.tp.AddPod(netnstest.PodOptions{IPv4: netip.MustParseAddr(ip)})
	}
	return n
}

// serveTCP accepts on pod:port and reads each connection to its end.
func (n *e2eNet) serveTCP(t *testing.T, pod string, port int) {
	t.Helper()
	p := n.pods[pod]
	var ln net.Listener
	err := p.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(p.IPv4, uint16(port)).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", pod, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
}

// serveUDP echoes datagrams on pod:port.
func (n *e2eNet) serveUDP(t *testing.T, pod string, port int) {
	t.Helper()
	p := n.pods[pod]
	var pc net.PacketConn
	err := p.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", netip.AddrPortFrom(p.IPv4, uint16(port)).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", pod, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:k], from)
		}
	}()
}

// connect opens one TCP connection from pod to dst, sends a little and
// closes it; it returns the dial's error (a dropped SYN times out).
func (n *e2eNet) connect(t *testing.T, pod, dst string, timeout time.Duration) error {
	t.Helper()
	var conn net.Conn
	err := n.pods[pod].Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", dst, timeout)
		return err
	})
	if err != nil {
		return err
	}
	_, err = conn.Write([]byte("hello"))
	conn.Close()
	return err
}

// query sends one datagram from pod to dst and waits for the echo.
func (n *e2eNet) query(t *testing.T, pod, dst string) {
	t.Helper()
	var conn net.Conn
	if err := n.pods[pod].Do(func() (err error) { conn, err = net.Dial("udp", dst); return err }); err != nil {
		t.Fatalf("dial %s from %s: %v", dst, pod, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("query")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 64)); err != nil {
		t.Fatalf("no answer from %s: %v", dst, err)
	}
}

// TestEndToEnd runs the agent with the kernel source on a node namespace:
// real programs observe real traffic between the scenario's pods; the test
// checks the exact counters, then reads the flows back through the Hubble
// Observer API with cilium's own client.
func TestEndToEnd(t *testing.T) {
	n := buildE2ENet(t)
	for _, s := range []struct {
		pod  string
		port int
	}{{"llm1", 443}, {"llm2", 443}, {"pg", 5432}, {"spec2", 8000}, {"metadata", 80}, {"internal", 443}} {
		n.serveTCP(t, s.pod, s.port)
	}
	n.serveUDP(t, "dns", 53)
	// The node enforces one thing: nothing reaches the internal host.
	if out, err := netnstest.Exec(n.tp.NodeName, "iptables", "-A", "FORWARD", "-d", e2eInternal, "-j", "DROP"); err != nil {
		t.Fatalf("iptables: %v: %s", err, out)
	}

	cfg := testConfig()
	cfg.Snapshots = []string{e2eSnapshot(t)}
	cfg.Source = SourceEBPF
	cfg.Netns = "/run/netns/" + n.tp.NodeName
	cfg.Interfaces = "^" + n.tp.Prefix()
	cfg.Interval = 500 * time.Millisecond
	const learning = 3 * time.Second
	cfg.LearningPeriod = learning
	a, err := New(cfg, zaptest.NewLogger(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, a)
	addr := a.MetricsAddr()
	waitFor(t, "the agent to be ready", func() bool { return scrape(t, addr)[series(metrics.Ready)] == 1 })

	// Learning: what the agents normally do.
	if err := n.connect(t, "triage", "203.0.113.10:443", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.connect(t, "spec1", e2ePods+"20:5432", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	n.query(t, "triage", e2ePods+"2:53")
	sunk := series(metrics.RecordsTotal, "stage", "metrics")
	flowsSeen := func() float64 {
		got, sum := scrape(t, addr), 0.0
		for k, v := range got {
			if len(k) > len(metrics.FlowsTotal) && k[:len(metrics.FlowsTotal)+1] == metrics.FlowsTotal+"{" {
				sum += v
			}
		}
		return sum
	}
	// Each connection between two pods counts on both sides.
	waitForOr(t, "the learning flows", func() bool { return flowsSeen() == 5 }, func() {
		got := scrape(t, addr)
		for _, name := range []string{metrics.FlowsTotal, metrics.RecordsTotal, metrics.LostEventsTotal} {
			t.Logf("%s", family(got, name))
		}
	})
	time.Sleep(learning + time.Second)

	// After learning: one known flow and the attacks.
	if err := n.connect(t, "triage", "203.0.113.10:443", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.connect(t, "triage", "198.51.100.20:443", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.connect(t, "spec1", e2ePods+"12:8000", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.connect(t, "spec1", "169.254.169.254:80", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var nerr net.Error
	if err := n.connect(t, "triage", e2eInternal+":443", 1500*time.Millisecond); !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("connection to the blocked host: %v, want a timeout", err)
	}
	dropSeries := series(metrics.DropsTotal, "namespace", "ai-agents", "reason", "NETFILTER_DROP")
	waitForOr(t, "every flow counted", func() bool { return flowsSeen() == 11 && scrape(t, addr)[dropSeries] == 1 }, func() {
		got := scrape(t, addr)
		for _, name := range []string{metrics.FlowsTotal, metrics.ViolationsTotal, metrics.DropsTotal, metrics.RecordsTotal} {
			t.Logf("%s", family(got, name))
		}
	})
	// Two more drains: late repeats of the same connections must not count.
	time.Sleep(2 * cfg.Interval)
	got := scrape(t, addr)

	const ai, triage, spec = "ai-agents", "Deployment/triage-agent", "Deployment/specialist-agent"
	want := map[string]float64{
		series(metrics.FlowsTotal, "namespace", ai, "workload", triage, "direction", "egress", "verdict", "allow"):                             4,
		series(metrics.FlowsTotal, "namespace", ai, "workload", triage, "direction", "egress", "verdict", "deny"):                              1,
		series(metrics.FlowsTotal, "namespace", ai, "workload", spec, "direction", "egress", "verdict", "allow"):                               1,
		series(metrics.FlowsTotal, "namespace", ai, "workload", spec, "direction", "egress", "verdict", "deny"):                                2,
		series(metrics.FlowsTotal, "namespace", ai, "workload", spec, "direction", "ingress", "verdict", "deny"):                               1,
		series(metrics.FlowsTotal, "namespace", "databases", "workload", "StatefulSet/postgresql", "direction", "ingress", "verdict", "allow"): 1,
		series(metrics.FlowsTotal, "namespace", "kube-system", "workload", "Deployment/coredns", "direction", "ingress", "verdict", "allow"):   1,
		series(metrics.ViolationsTotal, "namespace", ai, "workload", triage, "kind", "anomalous-egress"):                                       1,
		series(metrics.ViolationsTotal, "namespace", ai, "workload", triage, "kind", "denied"):                                                 1,
		series(metrics.ViolationsTotal, "namespace", ai, "workload", spec, "kind", "would-deny"):                                               2,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", triage, "class", "new-destination"):                                  2,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", triage, "class", "private-range"):                                    1,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", spec, "class", "new-destination"):                                    2,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", spec, "class", "metadata"):                                           1,
		dropSeries: 1,
	}
	// The kernel source records the drops of every network namespace
	// (outside the watched one without an interface): packets that other
	// tests running at the same time drop show as unresolved drops with no
	// namespace. They are not this test's flows, so they are left out.
	for k := range got {
		if strings.HasPrefix(k, metrics.DropsTotal+"{namespace=,") {
			t.Logf("drops from other namespaces: %s %v", k, got[k])
			delete(got, k)
		}
	}
	for _, name := range []string{metrics.FlowsTotal, metrics.ViolationsTotal, metrics.EgressAnomaliesTotal, metrics.DropsTotal} {
		n := 0
		for k := range want {
			if len(k) > len(name) && k[:len(name)+1] == name+"{" {
				n++
			}
		}
		if have := countSeries(got, name); have != n {
			t.Errorf("%s has %d series, want %d:\n%s", name, have, n, family(got, name))
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k, v := range got {
		if len(k) > len(metrics.LostEventsTotal) && k[:len(metrics.LostEventsTotal)+1] == metrics.LostEventsTotal+"{" && v != 0 {
			t.Errorf("%s = %v, want nothing lost", k, v)
		}
	}
	if got[series(metrics.BPFMapCapacity, "map", "flows")] != float64(cfg.MapSize) {
		t.Errorf("flow map capacity = %v, want %d", got[series(metrics.BPFMapCapacity, "map", "flows")], cfg.MapSize)
	}
	t.Logf("records through the metrics sink: %v (connections are counted once)", got[sunk])

	// The flows through the Observer API, filtered as `hubble observe` does.
	blocked := getFlows(t, a.HubbleAddr(), &observer.GetFlowsRequest{
		Number:    1000,
		Whitelist: []*flowpb.FlowFilter{{DestinationIp: []string{e2eInternal}}},
	})
	if len(blocked) == 0 {
		t.Fatal("GetFlows to the blocked host: no flow")
	}
	for _, f := range blocked {
		if f.GetVerdict() != flowpb.Verdict_DROPPED || f.GetSource().GetNamespace() != ai || f.GetSource().GetPodName() != "triage-agent-7d9f8b6c5d-x2k4p" {
			t.Errorf("flow to the blocked host: verdict %s from %s/%s", f.GetVerdict(), f.GetSource().GetNamespace(), f.GetSource().GetPodName())
		}
	}
	metadata := getFlows(t, a.HubbleAddr(), &observer.GetFlowsRequest{
		Number:    1000,
		Whitelist: []*flowpb.FlowFilter{{SourceIp: []string{e2ePods + "11"}, DestinationIp: []string{"169.254.169.254"}}},
	})
	if len(metadata) == 0 {
		t.Error("GetFlows to the metadata service: no flow")
	}
	// Forwarded although policy denies it: Hubble's AUDIT verdict.
	for _, f := range metadata {
		if f.GetVerdict() != flowpb.Verdict_AUDIT {
			t.Errorf("flow to the metadata service: verdict %s, want AUDIT", f.GetVerdict())
		}
	}
	all := getFlows(t, a.HubbleAddr(), &observer.GetFlowsRequest{Number: 1000})
	t.Logf("the ring holds %d flows", len(all))

	// Before querying, every interface carries the programs.
	if k := attachedPrograms(t, n); k == 0 {
		t.Fatal("no program attached while the agent runs: the check below proves nothing")
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if k := attachedPrograms(t, n); k != 0 {
		t.Errorf("%d programs still attached to the pod interfaces after shutdown", k)
	}
}

// attachedPrograms counts the programs on the pods' host interfaces in the
// node namespace: TCX links, and cls_bpf filters (the fallback).
func attachedPrograms(t *testing.T, n *e2eNet) int {
	t.Helper()
	total := 0
	for name, p := range n.pods {
		err := n.tp.NodeDo(func() error {
			for _, at := range []cebpf.AttachType{cebpf.AttachTCXIngress, cebpf.AttachTCXEgress} {
				res, err := link.QueryPrograms(link.QueryOptions{Target: p.HostIndex, Attach: at})
				if err != nil {
					return err
				}
				total += len(res.Programs)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("query programs on %s's interface: %v", name, err)
		}
		l, err := n.tp.NodeHandle().LinkByIndex(p.HostIndex)
		if err != nil {
			t.Fatal(err)
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			filters, err := n.tp.NodeHandle().FilterList(l, parent)
			if err == nil {
				total += len(filters)
			}
		}
	}
	return total
}

// waitForOr is waitFor that reports what it saw when it gives up.
func waitForOr(t *testing.T, what string, cond func() bool, report func()) {
	t.Helper()
	for limit := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(limit) {
			report()
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
