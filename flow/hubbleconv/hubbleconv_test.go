package hubbleconv

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/flow-auditor/flow-auditor/flow"
)

// A line as `hubble observe -o jsonpb` prints it.
const jsonpbLine = `{"flow":{"time":"2025-03-04T10:11:12.123456789Z","uuid":"5c1f","verdict":"DROPPED","drop_reason":133,` +
	`"ethernet":{"source":"0a:58:0a:f4:01:0c","destination":"0a:58:0a:f4:01:01"},` +
	`"IP":{"source":"10.244.1.12","destination":"10.244.2.7","ipVersion":"IPv4"},` +
	`"l4":{"TCP":{"source_port":43512,"destination_port":8000,"flags":{"SYN":true}}},` +
	`"source":{"ID":1234,"identity":5678,"cluster_name":"default","namespace":"ai-agents",` +
	`"labels":["k8s:app=ai-agent","k8s:io.cilium.k8s.namespace.labels.name=ai-agents","k8s:io.cilium.k8s.policy.cluster=default",` +
	`"k8s:io.kubernetes.pod.namespace=ai-agents","k8s:role=specialist-agent"],"pod_name":"specialist-a-7d9f8-abcde",` +
	`"workloads":[{"name":"specialist-a","kind":"Deployment"}]},` +
	`"destination":{"ID":99,"identity":77,"namespace":"ai-agents","labels":["k8s:app=ai-agent","k8s:role=specialist-agent"],` +
	`"pod_name":"specialist-b-55c6-xyz12","workloads":[{"name":"specialist-b","kind":"Deployment"}]},` +
	`"Type":"L3_L4","node_name":"kind-worker","event_type":{"type":1,"sub_type":133},"traffic_direction":"INGRESS",` +
	`"drop_reason_desc":"POLICY_DENIED","is_reply":false,"interface":{"index":12,"name":"lxc1234"},"Summary":"TCP Flags: SYN"},` +
	`"node_name":"kind-worker","time":"2025-03-04T10:11:12.123456789Z"}`

func TestFromResponseJSONPB(t *testing.T) {
	var resp observer.GetFlowsResponse
	if err := protojson.Unmarshal([]byte(jsonpbLine), &resp); err != nil {
		t.Fatalf("protojson: %v", err)
	}
	got, err := FromResponse(&resp)
	if err != nil {
		t.Fatalf("FromResponse: %v", err)
	}
	want := flow.Record{
		TimeFirst: time.Date(2025, 3, 4, 10, 11, 12, 123456789, time.UTC),
		TimeLast:  time.Date(2025, 3, 4, 10, 11, 12, 123456789, time.UTC),
		Node:      "kind-worker",
		Interface: "lxc1234",
		Src: flow.Endpoint{IP: netip.MustParseAddr("10.244.1.12"), Port: 43512, Kind: flow.KindPod,
			Namespace: "ai-agents", Pod: "specialist-a-7d9f8-abcde", Workload: "Deployment/specialist-a",
			Labels: map[string]string{"app": "ai-agent", "role": "specialist-agent"}},
		Dst: flow.Endpoint{IP: netip.MustParseAddr("10.244.2.7"), Port: 8000, Kind: flow.KindPod,
			Namespace: "ai-agents", Pod: "specialist-b-55c6-xyz12", Workload: "Deployment/specialist-b",
			Labels: map[string]string{"app": "ai-agent", "role": "specialist-agent"}},
		Protocol:   flow.TCP,
		Packets:    1,
		TCPFlags:   "SYN",
		Initiator:  "src",
		Direction:  "ingress",
		Observed:   flow.Dropped,
		DropReason: "POLICY_DENIED",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromResponse:\n got %+v\nwant %+v", got, want)
	}
}

func TestFromHubbleFields(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name  string
		in    string // bare Flow JSON
		check func(t *testing.T, r flow.Record)
	}{
		{"udp dns to service with names", `{"verdict":"FORWARDED","IP":{"source":"10.244.1.12","destination":"10.96.0.10"},` +
			`"l4":{"UDP":{"source_port":5353,"destination_port":53}},"destination_service":{"name":"kube-dns","namespace":"kube-system"},` +
			`"destination_names":["kube-dns.kube-system.svc.cluster.local"]}`,
			func(t *testing.T, r flow.Record) {
				if r.Protocol != flow.UDP || r.Dst.Port != 53 || r.Src.Port != 5353 {
					t.Errorf("L4 = %s %d->%d", r.Protocol, r.Src.Port, r.Dst.Port)
				}
				if r.Dst.Service != "kube-system/kube-dns" || r.Dst.FQDN != "kube-dns.kube-system.svc.cluster.local" {
					t.Errorf("service %q fqdn %q", r.Dst.Service, r.Dst.FQDN)
				}
				if r.Observed != flow.Forwarded {
					t.Errorf("observed %q", r.Observed)
				}
			}},
		{"icmpv6 from world", `{"verdict":"AUDIT","IP":{"source":"2001:db8::1","destination":"fd00::5","ipVersion":"IPv6"},` +
			`"l4":{"ICMPv6":{"type":128,"code":0}},"source":{"labels":["reserved:world-ipv6"]},"source_names":["llm.example.com"]}`,
			func(t *testing.T, r flow.Record) {
				if r.Protocol != flow.ICMPv6 || r.ICMPType == nil || *r.ICMPType != 128 || r.ICMPCode == nil || *r.ICMPCode != 0 {
					t.Errorf("ICMP = %s %v %v", r.Protocol, r.ICMPType, r.ICMPCode)
				}
				if r.Src.Kind != flow.KindExternal || r.Src.FQDN != "llm.example.com" {
					t.Errorf("src kind %q fqdn %q", r.Src.Kind, r.Src.FQDN)
				}
				if r.Observed != flow.Forwarded { // audit mode lets the packet through
					t.Errorf("observed %q for AUDIT", r.Observed)
				}
			}},
		{"sctp from host, reply", `{"time":"2025-01-02T03:04:05Z","verdict":"FORWARDED","node_name":"n1","IP":{"source":"172.18.0.2","destination":"10.244.0.9"},` +
			`"l4":{"SCTP":{"source_port":1,"destination_port":2}},"source":{"labels":["reserved:host"]},"is_reply":true,"traffic_direction":"EGRESS"}`,
			func(t *testing.T, r flow.Record) {
				if !r.TimeFirst.Equal(ts) || !r.TimeLast.Equal(ts) {
					t.Errorf("times %v %v", r.TimeFirst, r.TimeLast)
				}
				if r.Src.Kind != flow.KindNode || r.Src.Node != "n1" {
					t.Errorf("src kind %q node %q", r.Src.Kind, r.Src.Node)
				}
				if r.Protocol != flow.SCTP || r.Initiator != "dst" || r.Direction != "egress" {
					t.Errorf("proto %s initiator %q direction %q", r.Protocol, r.Initiator, r.Direction)
				}
			}},
		{"icmpv4 error verdict, numeric drop reason", `{"verdict":"ERROR","drop_reason":181,"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"ICMPv4":{"type":8}}}`,
			func(t *testing.T, r flow.Record) {
				if r.Observed != flow.Dropped || r.DropReason != flowpb.DropReason(181).String() {
					t.Errorf("observed %q drop %q", r.Observed, r.DropReason)
				}
			}},
		{"tcp flags in header order", `{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"TCP":{"flags":{"ACK":true,"SYN":true,"NS":true,"FIN":true}}}}`,
			func(t *testing.T, r flow.Record) {
				if r.TCPFlags != "FIN,SYN,ACK,NS" {
					t.Errorf("flags %q", r.TCPFlags)
				}
				if r.Observed != "" {
					t.Errorf("observed %q for an unknown verdict, want empty", r.Observed)
				}
			}},
		{"ipv4-mapped address is unmapped", `{"IP":{"source":"::ffff:10.0.0.1","destination":"10.0.0.2"},"l4":{"UDP":{}}}`,
			func(t *testing.T, r flow.Record) {
				if r.Src.IP != netip.MustParseAddr("10.0.0.1") {
					t.Errorf("src %v", r.Src.IP)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f flowpb.Flow
			if err := protojson.Unmarshal([]byte(tc.in), &f); err != nil {
				t.Fatalf("protojson: %v", err)
			}
			r, err := FromHubble(&f)
			if err != nil {
				t.Fatalf("FromHubble: %v", err)
			}
			tc.check(t, r)
		})
	}
}

func TestFromHubbleErrors(t *testing.T) {
	cases := []struct {
		in, want string
		is       error
	}{
		{`{"IP":{"source":"10.0.0.300","destination":"10.0.0.2"},"l4":{"TCP":{}}}`, `invalid source IP "10.0.0.300"`, nil},
		{`{"IP":{"source":"10.0.0.1","destination":"x"},"l4":{"TCP":{}}}`, `invalid destination IP "x"`, nil},
		{`{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"}}`, "no L4 protocol", nil},
		{`{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"VRRP":{}}}`, `unsupported protocol "VRRP"`, ErrUnsupportedProtocol},
		{`{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"IGMP":{}}}`, `unsupported protocol "IGMP"`, ErrUnsupportedProtocol},
		{`{"l4":{"TCP":{"source_port":70000}}}`, "port out of range", nil},
		{`{"l4":{"ICMPv4":{"type":256}}}`, "out of range", nil},
	}
	for _, tc := range cases {
		var f flowpb.Flow
		if err := protojson.Unmarshal([]byte(tc.in), &f); err != nil {
			t.Fatalf("protojson %s: %v", tc.in, err)
		}
		_, err := FromHubble(&f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FromHubble(%s) = %v, want error containing %q", tc.in, err, tc.want)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("FromHubble(%s) = %v, want errors.Is %v", tc.in, err, tc.is)
		}
	}
	if _, err := FromResponse(&observer.GetFlowsResponse{ResponseTypes: &observer.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{NumEventsLost: 3}}}); !errors.Is(err, ErrNotAFlow) {
		t.Errorf("lost_events: %v, want ErrNotAFlow", err)
	}
}

func u8(v uint8) *uint8 { return &v }

// Records that Hubble can represent come back unchanged from a round trip.
func TestRecordRoundTrip(t *testing.T) {
	t0 := time.Date(2025, 6, 7, 8, 9, 10, 11, time.UTC)
	recs := []flow.Record{
		{TimeFirst: t0, TimeLast: t0, Node: "node-a", Interface: "lxc9",
			Src: flow.Endpoint{IP: netip.MustParseAddr("10.244.1.5"), Port: 40000, Kind: flow.KindPod, Namespace: "api-gateway",
				Pod: "gateway-1", Workload: "Deployment/gateway", Labels: map[string]string{"app": "gateway"}},
			Dst: flow.Endpoint{IP: netip.MustParseAddr("10.244.2.6"), Port: 8000, Kind: flow.KindPod, Namespace: "ai-agents",
				Pod: "triage-0", Workload: "StatefulSet/triage", Labels: map[string]string{"app": "ai-agent", "role": "triage-agent"}},
			Protocol: flow.TCP, Packets: 1, TCPFlags: "SYN,ACK", Initiator: "dst", Direction: "egress", Observed: flow.Forwarded},
		{Src: flow.Endpoint{IP: netip.MustParseAddr("10.244.1.5"), Port: 5353, Kind: flow.KindPod, Namespace: "ai-agents", Pod: "p"},
			Dst:      flow.Endpoint{IP: netip.MustParseAddr("10.96.0.10"), Port: 53, Service: "kube-system/kube-dns", FQDN: "kube-dns.kube-system.svc"},
			Protocol: flow.UDP, Packets: 1, Observed: flow.Dropped, DropReason: "POLICY_DENIED", Initiator: "src"},
		{TimeFirst: t0, TimeLast: t0, Node: "n1",
			Src:      flow.Endpoint{IP: netip.MustParseAddr("fd00::1"), Kind: flow.KindNode, Node: "n1"},
			Dst:      flow.Endpoint{IP: netip.MustParseAddr("2001:db8::9"), Kind: flow.KindExternal, FQDN: "api.llm.example"},
			Protocol: flow.ICMPv6, ICMPType: u8(128), ICMPCode: u8(0), Packets: 1, Observed: flow.Forwarded, Direction: "ingress"},
		{Src: flow.Endpoint{IP: netip.MustParseAddr("192.168.1.1"), Kind: flow.KindNode},
			Dst:      flow.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 9, Kind: flow.KindPod, Namespace: "x", Pod: "y"},
			Protocol: flow.SCTP, Packets: 1},
		{Src: flow.Endpoint{IP: netip.MustParseAddr("10.0.0.1")}, Dst: flow.Endpoint{IP: netip.MustParseAddr("10.0.0.2")},
			Protocol: flow.ICMPv4, ICMPType: u8(3), ICMPCode: u8(13), Packets: 1, Observed: flow.Dropped},
	}
	for i, rec := range recs {
		// Through the JSON that `hubble observe -o jsonpb` would print.
		b, err := protojson.Marshal(ToResponse(rec))
		if err != nil {
			t.Fatalf("record %d: marshal: %v", i, err)
		}
		var resp observer.GetFlowsResponse
		if err := protojson.Unmarshal(b, &resp); err != nil {
			t.Fatalf("record %d: unmarshal: %v", i, err)
		}
		got, err := FromResponse(&resp)
		if err != nil {
			t.Fatalf("record %d: FromResponse: %v", i, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Errorf("record %d round trip:\n got %+v\nwant %+v\njson %s", i, got, rec, b)
		}
	}
}

// The Hubble fields the auditor reads survive Hubble -> record -> Hubble.
func TestHubbleRoundTrip(t *testing.T) {
	var in observer.GetFlowsResponse
	if err := protojson.Unmarshal([]byte(jsonpbLine), &in); err != nil {
		t.Fatal(err)
	}
	rec, err := FromResponse(&in)
	if err != nil {
		t.Fatal(err)
	}
	out := ToHubble(rec)
	want := proto.Clone(in.GetFlow()).(*flowpb.Flow)
	// Fields outside the record: identities, MAC addresses, event metadata,
	// Cilium-derived labels, the summary and the interface index.
	want.Uuid, want.Ethernet, want.EventType, want.Summary = "", nil, nil, ""
	want.TraceObservationPoint = 0
	want.Interface.Index = 0
	for _, ep := range []*flowpb.Endpoint{want.Source, want.Destination} {
		ep.ID, ep.Identity, ep.ClusterName = 0, 0, ""
		ep.Labels = []string{"k8s:app=ai-agent", "k8s:role=specialist-agent", "k8s:io.kubernetes.pod.namespace=ai-agents"}
	}
	if !proto.Equal(out, want) {
		t.Errorf("Hubble round trip:\n got %v\nwant %v", out, want)
	}
}

func TestTCPFlags(t *testing.T) {
	f, err := ParseTCPFlags("ack, syn,Rst")
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatTCPFlags(f); got != "SYN,RST,ACK" {
		t.Errorf("format = %q", got)
	}
	if _, err := ParseTCPFlags("SYN,XMAS"); err == nil || !strings.Contains(err.Error(), `"XMAS"`) {
		t.Errorf("bad flag: %v", err)
	}
}

func TestSplitLabel(t *testing.T) {
	cases := []struct{ in, src, key, val string }{
		{"k8s:app=gateway", "k8s", "app", "gateway"},
		{"reserved:world", "reserved", "world", ""},
		{"app=x:y", "k8s", "app", "x:y"},
		{"k8s:app.kubernetes.io/name=a=b", "k8s", "app.kubernetes.io/name", "a=b"},
	}
	for _, c := range cases {
		s, k, v := splitLabel(c.in)
		if s != c.src || k != c.key || v != c.val {
			t.Errorf("splitLabel(%q) = %q %q %q", c.in, s, k, v)
		}
	}
}
