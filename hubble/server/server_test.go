package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"github.com/cilium/cilium/api/v1/relay"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/hubble/verdict"
)

func newScenarioServer(t *testing.T, capacity int) (*Server, observer.ObserverClient, string) {
	t.Helper()
	srv := New(Config{Capacity: capacity, NodeName: "node-a", Version: "v-test"})
	for _, r := range scenario() {
		srv.Add(r)
	}
	c, addr := serve(t, srv)
	return srv, c, addr
}

func TestGetFlowsLastFirstAndTimeRange(t *testing.T) {
	_, c, _ := newScenarioServer(t, 0)
	at := func(s int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(s) * time.Second)) }
	tcp := []*flowpb.FlowFilter{{Protocol: []string{"tcp"}}}
	for _, tc := range []struct {
		name string
		req  *observer.GetFlowsRequest
		want []int
	}{
		{"all", &observer.GetFlowsRequest{}, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"last 3", &observer.GetFlowsRequest{Number: 3}, []int{5, 6, 7}},
		{"last 2 tcp", &observer.GetFlowsRequest{Number: 2, Whitelist: tcp}, []int{4, 6}},
		{"last more than held", &observer.GetFlowsRequest{Number: 100}, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"first 2", &observer.GetFlowsRequest{Number: 2, First: true}, []int{0, 1}},
		{"first 2 not tcp", &observer.GetFlowsRequest{Number: 2, First: true, Blacklist: tcp}, []int{5, 7}},
		{"since until", &observer.GetFlowsRequest{Since: at(2), Until: at(4)}, []int{2, 3, 4}},
		{"since", &observer.GetFlowsRequest{Since: at(6)}, []int{6, 7}},
		{"since, first 2 after it", &observer.GetFlowsRequest{Since: at(1), Number: 2}, []int{1, 2}},
		{"until", &observer.GetFlowsRequest{Until: at(1)}, []int{0, 1}},
		{"until, last 1", &observer.GetFlowsRequest{Until: at(3), Number: 1}, []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(t, c, tc.req)
			if err != nil {
				t.Fatalf("GetFlows: %v", err)
			}
			if !slices.Equal(indexes(got), tc.want) {
				t.Errorf("got flows %v, want %v", indexes(got), tc.want)
			}
		})
	}
}

// TestGetFlowsFilters checks each filter kind as a whitelist, and the same
// filter as a blacklist, which must give exactly the other flows.
func TestGetFlowsFilters(t *testing.T) {
	_, c, _ := newScenarioServer(t, 0)
	ns := func(n string) []*flowpb.FlowFilter {
		// What `hubble observe --namespace n` sends.
		return []*flowpb.FlowFilter{{SourcePod: []string{n + "/"}}, {DestinationPod: []string{n + "/"}}}
	}
	one := func(ff *flowpb.FlowFilter) []*flowpb.FlowFilter { return []*flowpb.FlowFilter{ff} }
	for _, tc := range []struct {
		name    string
		filters []*flowpb.FlowFilter
		want    []int
	}{
		{"namespace databases", ns("databases"), []int{2}},
		{"namespace kube-system", ns("kube-system"), []int{5}},
		{"namespace api-gateway", ns("api-gateway"), []int{0}},
		{"source pod prefix", one(&flowpb.FlowFilter{SourcePod: []string{"ai-agents/specialist-agent"}}), []int{2, 3}},
		{"destination pod", one(&flowpb.FlowFilter{DestinationPod: []string{"ai-agents/triage-agent-7d9f"}}), []int{0, 7}},
		{"pod in any namespace", one(&flowpb.FlowFilter{DestinationPod: []string{"/postgresql"}}), []int{2}},
		{"pod without namespace is in default", one(&flowpb.FlowFilter{DestinationPod: []string{"postgresql"}}), []int{}},
		{"source label with source", one(&flowpb.FlowFilter{SourceLabel: []string{"k8s:role=specialist-agent"}}), []int{2, 3}},
		{"destination label any source, set", one(&flowpb.FlowFilter{DestinationLabel: []string{"role in (specialist-agent)"}}), []int{1, 3}},
		{"label selector with two requirements", one(&flowpb.FlowFilter{SourceLabel: []string{"k8s:app=ai-agent, k8s:role!=triage-agent"}}), []int{2, 3}},
		{"reserved world label", one(&flowpb.FlowFilter{DestinationLabel: []string{"reserved:world"}}), []int{4, 6}},
		{"label key without source matches any source", one(&flowpb.FlowFilter{DestinationLabel: []string{"world"}}), []int{4, 6}},
		{"reserved host label", one(&flowpb.FlowFilter{SourceLabel: []string{"reserved:host"}}), []int{7}},
		{"two label selectors are alternatives", one(&flowpb.FlowFilter{DestinationLabel: []string{"k8s:app=postgresql", "k8s-app=kube-dns"}}), []int{2, 5}},
		{"verdict dropped", one(&flowpb.FlowFilter{Verdict: []flowpb.Verdict{flowpb.Verdict_DROPPED}}), []int{3}},
		{"verdict audit", one(&flowpb.FlowFilter{Verdict: []flowpb.Verdict{flowpb.Verdict_AUDIT}}), []int{4}},
		{"verdict forwarded", one(&flowpb.FlowFilter{Verdict: []flowpb.Verdict{flowpb.Verdict_FORWARDED}}), []int{0, 1, 2, 5, 6, 7}},
		{"drop reason", one(&flowpb.FlowFilter{DropReasonDesc: []flowpb.DropReason{flowpb.DropReason_POLICY_DENIED}}), []int{3}},
		{"destination port", one(&flowpb.FlowFilter{DestinationPort: []string{"5432"}}), []int{2}},
		{"destination ports", one(&flowpb.FlowFilter{DestinationPort: []string{"8000", "53"}}), []int{0, 1, 3, 5}},
		{"source port", one(&flowpb.FlowFilter{SourcePort: []string{"40005"}}), []int{5}},
		{"protocol udp", one(&flowpb.FlowFilter{Protocol: []string{"udp"}}), []int{5}},
		{"protocol icmp", one(&flowpb.FlowFilter{Protocol: []string{"ICMP"}}), []int{7}},
		{"protocol tcp", one(&flowpb.FlowFilter{Protocol: []string{"tcp"}}), []int{0, 1, 2, 3, 4, 6}},
		{"destination ip", one(&flowpb.FlowFilter{DestinationIp: []string{"169.254.169.254"}}), []int{4}},
		{"source cidr", one(&flowpb.FlowFilter{SourceIp: []string{"10.0.1.0/24"}}), []int{1, 2, 3, 4, 5, 6}},
		{"destination fqdn glob", one(&flowpb.FlowFilter{DestinationFqdn: []string{"*.llm.example.com"}}), []int{6}},
		{"destination workload kind", one(&flowpb.FlowFilter{DestinationWorkload: []*flowpb.Workload{{Kind: "StatefulSet"}}}), []int{2}},
		{"traffic direction", one(&flowpb.FlowFilter{TrafficDirection: []flowpb.TrafficDirection{flowpb.TrafficDirection_INGRESS}}), []int{7}},
		{"not a reply: unknown direction only when dropped", one(&flowpb.FlowFilter{Reply: []bool{false}}), []int{3}},
		{"fields of one filter must all match", one(&flowpb.FlowFilter{SourceLabel: []string{"k8s:role=triage-agent"}, Protocol: []string{"tcp"}}), []int{1, 4, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(t, c, &observer.GetFlowsRequest{Whitelist: tc.filters})
			if err != nil {
				t.Fatalf("GetFlows whitelist: %v", err)
			}
			if !slices.Equal(indexes(got), tc.want) {
				t.Errorf("whitelist: got flows %v, want %v", indexes(got), tc.want)
			}
			var rest []int
			for i := range 8 {
				if !slices.Contains(tc.want, i) {
					rest = append(rest, i)
				}
			}
			got, err = collect(t, c, &observer.GetFlowsRequest{Blacklist: tc.filters})
			if err != nil {
				t.Fatalf("GetFlows blacklist: %v", err)
			}
			if !slices.Equal(indexes(got), rest) {
				t.Errorf("blacklist: got flows %v, want %v", indexes(got), rest)
			}
		})
	}
	t.Run("whitelist and blacklist together", func(t *testing.T) {
		got, err := collect(t, c, &observer.GetFlowsRequest{
			Whitelist: []*flowpb.FlowFilter{{SourcePod: []string{"ai-agents/"}}},
			Blacklist: []*flowpb.FlowFilter{{Protocol: []string{"tcp"}}},
		})
		if err != nil {
			t.Fatalf("GetFlows: %v", err)
		}
		if want := []int{5}; !slices.Equal(indexes(got), want) {
			t.Errorf("got flows %v, want %v", indexes(got), want)
		}
	})
}

func TestGetFlowsRefusesWhatItCannotAnswer(t *testing.T) {
	_, c, _ := newScenarioServer(t, 0)
	for _, tc := range []struct {
		name string
		req  *observer.GetFlowsRequest
		want string
	}{
		{"unsupported field", &observer.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{{HttpStatusCode: []string{"404"}}}}, "http_status_code"},
		{"bad port", &observer.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{{DestinationPort: []string{"http"}}}}, "invalid port"},
		{"bad protocol", &observer.GetFlowsRequest{Blacklist: []*flowpb.FlowFilter{{Protocol: []string{"quic"}}}}, "unknown protocol"},
		{"bad selector", &observer.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{{SourceLabel: []string{"app in ("}}}}, "label selector"},
		{"bad cidr", &observer.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{{SourceIp: []string{"10.0.0.0/33"}}}}, "CIDR"},
		{"empty pod", &observer.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{{SourcePod: []string{""}}}}, "empty name"},
		{"first and follow", &observer.GetFlowsRequest{First: true, Follow: true}, "first cannot be specified with follow"},
		{"bad field mask", &observer.GetFlowsRequest{FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"source.nope"}}}, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := collect(t, c, tc.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want InvalidArgument mentioning %q", err, tc.want)
			}
		})
	}
}

func TestServedFlowsCarryTheAuditorsVerdict(t *testing.T) {
	_, c, _ := newScenarioServer(t, 0)
	got, err := collect(t, c, &observer.GetFlowsRequest{})
	if err != nil {
		t.Fatalf("GetFlows: %v", err)
	}
	byIndex := map[int]*flowpb.Flow{}
	for _, f := range got {
		byIndex[scenarioIndex(f)] = f
	}
	denied, wouldDeny, fwd := byIndex[3], byIndex[4], byIndex[2]
	if denied.GetVerdict() != flowpb.Verdict_DROPPED || denied.GetDropReasonDesc() != flowpb.DropReason_POLICY_DENIED {
		t.Errorf("denied flow: verdict %v drop reason %v, want DROPPED POLICY_DENIED", denied.GetVerdict(), denied.GetDropReasonDesc())
	}
	if wouldDeny.GetVerdict() != flowpb.Verdict_AUDIT {
		t.Errorf("would-deny flow: verdict %v, want AUDIT", wouldDeny.GetVerdict())
	}
	if fwd.GetVerdict() != flowpb.Verdict_FORWARDED {
		t.Errorf("allowed flow: verdict %v, want FORWARDED", fwd.GetVerdict())
	}
	var ext structpb.Struct
	if err := wouldDeny.GetExtensions().UnmarshalTo(&ext); err != nil {
		t.Fatalf("would-deny flow extensions: %v", err)
	}
	ours := ext.GetFields()[verdict.ExtensionKey].GetStructValue().GetFields()
	if ours["violation"].GetStringValue() != "would-deny" || !strings.Contains(ours["explanation"].GetStringValue(), "169.254.169.254") {
		t.Errorf("would-deny extensions = %v, want violation and explanation", ours)
	}
	if f := byIndex[6]; !slices.Equal(f.GetDestinationNames(), []string{"api.llm.example.com"}) {
		t.Errorf("destination names = %v", f.GetDestinationNames())
	}
}

func TestGetFlowsFieldMask(t *testing.T) {
	_, c, _ := newScenarioServer(t, 0)
	got, err := collect(t, c, &observer.GetFlowsRequest{
		Whitelist: []*flowpb.FlowFilter{{Protocol: []string{"udp"}}},
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"time", "verdict", "source.pod_name", "source.namespace", "l4"}},
	})
	if err != nil || len(got) != 1 {
		t.Fatalf("GetFlows: %d flows, %v", len(got), err)
	}
	f := got[0]
	if f.GetSource().GetPodName() != "triage-agent-7d9f" || f.GetSource().GetNamespace() != "ai-agents" {
		t.Errorf("source = %v, want the triage pod's name and namespace", f.GetSource())
	}
	if f.GetTime() == nil || f.GetL4().GetUDP().GetDestinationPort() != 53 || f.GetVerdict() != flowpb.Verdict_FORWARDED {
		t.Errorf("masked flow lost requested fields: %v", f)
	}
	if f.GetDestination() != nil || f.GetIP() != nil || len(f.GetSource().GetLabels()) != 0 || f.GetNodeName() != "" {
		t.Errorf("masked flow has fields not asked for: %v", f)
	}
}

func TestServerStatusNodesAndNamespaces(t *testing.T) {
	// A ring of 5 given 8 flows holds the newest 5.
	srv, c, addr := newScenarioServer(t, 5)
	ctx := context.Background()

	got, err := collect(t, c, &observer.GetFlowsRequest{})
	if err != nil {
		t.Fatalf("GetFlows: %v", err)
	}
	if want := []int{3, 4, 5, 6, 7}; !slices.Equal(indexes(got), want) {
		t.Errorf("ring of 5: got flows %v, want %v", indexes(got), want)
	}

	st, err := c.ServerStatus(ctx, &observer.ServerStatusRequest{})
	if err != nil {
		t.Fatalf("ServerStatus: %v", err)
	}
	if st.GetNumFlows() != 5 || st.GetMaxFlows() != 5 || st.GetSeenFlows() != 8 {
		t.Errorf("ServerStatus flows num/max/seen = %d/%d/%d, want 5/5/8", st.GetNumFlows(), st.GetMaxFlows(), st.GetSeenFlows())
	}
	if st.GetNumConnectedNodes().GetValue() != 1 || st.GetNumUnavailableNodes().GetValue() != 0 || st.GetVersion() != "v-test" || st.GetUptimeNs() == 0 {
		t.Errorf("ServerStatus = %v", st)
	}
	// The 8 flows were added within the last minute.
	if st.GetFlowsRate() != 5.0/60 {
		t.Errorf("flows rate = %v, want %v (5 held flows over a minute)", st.GetFlowsRate(), 5.0/60)
	}
	if s := srv.Stats(); s.Seen != 8 || s.Held != 5 || s.Capacity != 5 {
		t.Errorf("Stats = %+v", s)
	}

	nodes, err := c.GetNodes(ctx, &observer.GetNodesRequest{})
	if err != nil {
		t.Fatalf("GetNodes: %v", err)
	}
	if len(nodes.GetNodes()) != 1 {
		t.Fatalf("GetNodes: %v", nodes)
	}
	n := nodes.GetNodes()[0]
	if n.GetName() != "node-a" || n.GetAddress() != addr || n.GetState() != relay.NodeState_NODE_CONNECTED ||
		n.GetNumFlows() != 5 || n.GetMaxFlows() != 5 || n.GetSeenFlows() != 8 || n.GetTls().GetEnabled() {
		t.Errorf("node = %v", n)
	}

	nss, err := c.GetNamespaces(ctx, &observer.GetNamespacesRequest{})
	if err != nil {
		t.Fatalf("GetNamespaces: %v", err)
	}
	var names []string
	for _, ns := range nss.GetNamespaces() {
		names = append(names, ns.GetNamespace())
	}
	// Flows 3..7 touch ai-agents and kube-system; databases left with flow 2.
	if want := []string{"ai-agents", "kube-system"}; !slices.Equal(names, want) {
		t.Errorf("namespaces = %v, want %v", names, want)
	}
}

func TestOtherObserverCallsAreUnimplemented(t *testing.T) {
	_, c, _ := newScenarioServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agent, err := c.GetAgentEvents(ctx, &observer.GetAgentEventsRequest{})
	if err == nil {
		_, err = agent.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("GetAgentEvents: %v, want Unimplemented", err)
	}
	debug, err := c.GetDebugEvents(ctx, &observer.GetDebugEventsRequest{})
	if err == nil {
		_, err = debug.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("GetDebugEvents: %v, want Unimplemented", err)
	}
}

// TestAddEachAddsABatchInOrder adds the scenario as one batch, its records
// without a node, into a ring smaller than the batch: the newest flows are
// served, in order, named after the server's node.
func TestAddEachAddsABatchInOrder(t *testing.T) {
	srv := New(Config{Capacity: 5, NodeName: "node-b"})
	recs := scenario()
	for i := range recs {
		recs[i].Node = ""
	}
	srv.AddEach(len(recs), func(i int) *flow.Record { return &recs[i] })
	c, _ := serve(t, srv)
	got, err := collect(t, c, &observer.GetFlowsRequest{})
	if err != nil {
		t.Fatalf("GetFlows: %v", err)
	}
	if !slices.Equal(indexes(got), []int{3, 4, 5, 6, 7}) {
		t.Errorf("got flows %v, want the last five in order", indexes(got))
	}
	for _, f := range got {
		if f.GetNodeName() != "node-b" {
			t.Errorf("flow %d on node %q, want node-b", scenarioIndex(f), f.GetNodeName())
		}
	}
}
