package hubble

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/hubble/server"
	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

func oneFlow() []*observer.GetFlowsResponse {
	return []*observer.GetFlowsResponse{resp(hubbleFlow(3000, 0, flowpb.Verdict_FORWARDED, false))}
}

// TestSourceTLS follows a Hubble server over TLS: with mutual TLS as Hubble
// Relay runs it, and refused when the client has no certificate or trusts
// another CA.
func TestSourceTLS(t *testing.T) {
	certs := testutil.NewTLSFiles(t, "relay.hubble-grpc.cilium.io")
	other := testutil.NewTLSFiles(t, "relay.hubble-grpc.cilium.io")
	mtlsAddr, _ := startFake(t, newFake(oneFlow()), "127.0.0.1:0", certs.ServerConfig(t, true))
	tlsAddr, _ := startFake(t, newFake(oneFlow()), "127.0.0.1:0", certs.ServerConfig(t, false))

	for _, tc := range []struct {
		name   string
		addr   string
		tls    TLSConfig
		refuse bool
	}{
		{"mutual TLS", mtlsAddr, TLSConfig{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey, ServerName: certs.ServerName}, false},
		{"server TLS by IP", tlsAddr, TLSConfig{CAFile: certs.CA}, false},
		{"insecure skip verify", tlsAddr, TLSConfig{InsecureSkipVerify: true}, false},
		{"no client certificate", mtlsAddr, TLSConfig{CAFile: certs.CA, ServerName: certs.ServerName}, true},
		{"untrusted server", tlsAddr, TLSConfig{CAFile: other.CA, ServerName: certs.ServerName}, true},
		{"wrong server name", tlsAddr, TLSConfig{CAFile: certs.CA, ServerName: "other.example"}, true},
		{"plaintext to a TLS server", tlsAddr, TLSConfig{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := New(Config{Server: tc.addr, TLS: tc.tls, BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			run(t, src)
			if !tc.refuse {
				if got := ports(receive(t, src, 1)); got[0] != 3000 {
					t.Errorf("got flow %v", got)
				}
				return
			}
			waitFor(t, "retries after the refused handshake", func() bool { return src.Stats().Reconnects >= 3 })
			if st := src.Stats(); st.Received != 0 {
				t.Errorf("received %d flows through a handshake that must fail", st.Received)
			}
		})
	}
}

// TestSourceReadsAnAuditorsObserverServer chains two auditors: one serves
// its evaluated flows over TLS, the other follows it as a Hubble source
// and gets the first one's violations and explanations back.
func TestSourceReadsAnAuditorsObserverServer(t *testing.T) {
	certs := testutil.NewTLSFiles(t, "node-a.flow-auditor")
	srv := server.New(server.Config{NodeName: "node-a", TLS: certs.ServerConfig(t, true)})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	src, err := New(Config{Server: lis.Addr().String(), TLS: TLSConfig{
		CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey, ServerName: certs.ServerName,
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	run(t, src)
	waitFor(t, "the source follows", func() bool { return srv.Stats().Followers == 1 })

	sent := flow.Record{
		TimeFirst: t0, TimeLast: t0, Node: "node-a", Protocol: flow.TCP, TCPFlags: "SYN", Packets: 1,
		Src:      flow.Endpoint{IP: netip.MustParseAddr("10.0.1.10"), Port: 41000, Kind: flow.KindPod, Namespace: "ai-agents", Pod: "triage-agent-7d9f", Labels: map[string]string{"app": "ai-agent"}},
		Dst:      flow.Endpoint{IP: netip.MustParseAddr("169.254.169.254"), Port: 80, Kind: flow.KindExternal},
		Observed: flow.Forwarded, Direction: "egress",
		Egress: "deny", Ingress: "none", Verdict: "deny", Violation: "would-deny",
		Explanation: "egress of ai-agents/triage-agent-7d9f: no rule allows 169.254.169.254:80",
	}
	srv.Add(sent)
	got := receive(t, src, 1)[0]
	if got.Violation != sent.Violation || got.Explanation != sent.Explanation || got.Verdict != sent.Verdict ||
		got.Egress != sent.Egress || got.Ingress != sent.Ingress || got.Observed != flow.Forwarded ||
		got.Src.Pod != sent.Src.Pod || got.Dst.IP != sent.Dst.IP || got.Dst.Port != 80 || !got.TimeFirst.Equal(t0) {
		t.Errorf("through an auditor's Observer API:\n got  %+v\n sent %+v", got, sent)
	}
}
