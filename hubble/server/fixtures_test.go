package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flow-auditor/flow-auditor/flow"
)

// t0 is the time of the first scenario flow; flow i is i seconds later.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	triage      = flow.Endpoint{IP: netip.MustParseAddr("10.0.1.10"), Kind: flow.KindPod, Namespace: "ai-agents", Pod: "triage-agent-7d9f", Workload: "Deployment/triage-agent", Labels: map[string]string{"app": "ai-agent", "role": "triage-agent"}}
	specialist  = flow.Endpoint{IP: netip.MustParseAddr("10.0.1.11"), Kind: flow.KindPod, Namespace: "ai-agents", Pod: "specialist-agent-a", Workload: "Deployment/specialist-agent", Labels: map[string]string{"app": "ai-agent", "role": "specialist-agent"}}
	specialist2 = flow.Endpoint{IP: netip.MustParseAddr("10.0.1.12"), Kind: flow.KindPod, Namespace: "ai-agents", Pod: "specialist-agent-b", Workload: "Deployment/specialist-agent", Labels: map[string]string{"app": "ai-agent", "role": "specialist-agent"}}
	postgres    = flow.Endpoint{IP: netip.MustParseAddr("10.0.2.20"), Kind: flow.KindPod, Namespace: "databases", Pod: "postgresql-0", Workload: "StatefulSet/postgresql", Labels: map[string]string{"app": "postgresql"}}
	coredns     = flow.Endpoint{IP: netip.MustParseAddr("10.0.3.30"), Kind: flow.KindPod, Namespace: "kube-system", Pod: "coredns-5d78", Workload: "Deployment/coredns", Labels: map[string]string{"k8s-app": "kube-dns"}}
	gateway     = flow.Endpoint{IP: netip.MustParseAddr("10.0.4.40"), Kind: flow.KindPod, Namespace: "api-gateway", Pod: "gateway-6c5b", Workload: "Deployment/gateway", Labels: map[string]string{"app": "gateway"}}
	metadata    = flow.Endpoint{IP: netip.MustParseAddr("169.254.169.254"), Kind: flow.KindExternal}
	llm         = flow.Endpoint{IP: netip.MustParseAddr("203.0.113.7"), Kind: flow.KindExternal, FQDN: "api.llm.example.com"}
	node        = flow.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Kind: flow.KindNode, Node: "node-a"}
)

// scenario is the AI-agents scenario as evaluated records. Each record's
// source port is 40000 + its index, so that tests can tell them apart in
// what a client receives.
func scenario() []flow.Record {
	rec := func(i int, src, dst flow.Endpoint, proto flow.Protocol, dport uint16, obs flow.Observed, verdict, violation, why string) flow.Record {
		src.Port, dst.Port = uint16(40000+i), dport
		r := flow.Record{
			TimeFirst: t0.Add(time.Duration(i) * time.Second), TimeLast: t0.Add(time.Duration(i)*time.Second + 500*time.Millisecond),
			Node: "node-a", Src: src, Dst: dst, Protocol: proto, Packets: 3, Bytes: 180,
			Observed: obs, Verdict: verdict, Violation: violation, Explanation: why, Direction: "egress",
		}
		if proto == flow.TCP {
			r.TCPFlags = "SYN"
		}
		if obs == flow.Dropped {
			r.DropReason = "NETFILTER_DROP"
		}
		return r
	}
	recs := []flow.Record{
		rec(0, gateway, triage, flow.TCP, 8000, flow.Forwarded, "allow", "", "ingress allowed by ai-agents/allow-gateway"),
		rec(1, triage, specialist, flow.TCP, 8000, flow.Forwarded, "allow", "", "allowed"),
		rec(2, specialist, postgres, flow.TCP, 5432, flow.Forwarded, "allow", "", "allowed"),
		rec(3, specialist, specialist2, flow.TCP, 8000, flow.Dropped, "deny", "denied", "ingress of ai-agents/specialist-agent-b: only the triage agent on 8000"),
		rec(4, triage, metadata, flow.TCP, 80, flow.Forwarded, "deny", "would-deny", "egress of ai-agents/triage-agent-7d9f: no rule allows 169.254.169.254:80"),
		rec(5, triage, coredns, flow.UDP, 53, flow.Forwarded, "allow", "", "allowed"),
		rec(6, triage, llm, flow.TCP, 443, flow.Forwarded, "allow", "anomalous-egress", "new FQDN api.llm.example.com"),
	}
	icmp := rec(7, node, triage, flow.ICMPv4, 0, flow.Forwarded, "allow", "", "node to its pod")
	icmp.Src.Port, icmp.Dst.Port = 0, 0
	typ, code := uint8(8), uint8(0)
	icmp.ICMPType, icmp.ICMPCode = &typ, &code
	icmp.Direction = "ingress"
	return append(recs, icmp)
}

// scenarioIndex identifies a received flow by the scenario index its
// source port encodes (-1 for ICMP, which has no port: index 7).
func scenarioIndex(f *flowpb.Flow) int {
	switch p := f.GetL4().GetProtocol().(type) {
	case *flowpb.Layer4_TCP:
		return int(p.TCP.GetSourcePort()) - 40000
	case *flowpb.Layer4_UDP:
		return int(p.UDP.GetSourcePort()) - 40000
	case *flowpb.Layer4_ICMPv4:
		return 7
	}
	return -1
}

// serve starts srv on a loopback port and returns a client for it.
func serve(t testing.TB, srv *Server) (observer.ObserverClient, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return observer.NewObserverClient(conn), lis.Addr().String()
}

// collect reads a non-follow GetFlows to its end.
func collect(t testing.TB, c observer.ObserverClient, req *observer.GetFlowsRequest) ([]*flowpb.Flow, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.GetFlows(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []*flowpb.Flow
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if f := resp.GetFlow(); f != nil {
			out = append(out, f)
		}
	}
}

func indexes(fs []*flowpb.Flow) []int {
	out := make([]int, 0, len(fs))
	for _, f := range fs {
		out = append(out, scenarioIndex(f))
	}
	return out
}
