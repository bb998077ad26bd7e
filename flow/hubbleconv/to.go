package hubbleconv

import (
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flow-auditor/flow-auditor/flow"
)

// ToResponse wraps ToHubble's flow as the Observer API streams it (and as
// `hubble observe -o jsonpb` prints it).
func ToResponse(rec flow.Record) *observer.GetFlowsResponse {
	f := ToHubble(rec)
	return &observer.GetFlowsResponse{
		ResponseTypes: &observer.GetFlowsResponse_Flow{Flow: f},
		NodeName:      f.GetNodeName(),
		Time:          f.GetTime(),
	}
}

// ToHubble converts a flow record into a Hubble flow. What Hubble has no
// field for (packet and byte counts, the last-seen time, policy results,
// the service port) is left out; a tcp_flags value that does not parse is
// dropped rather than failing the conversion.
func ToHubble(rec flow.Record) *flowpb.Flow {
	f := &flowpb.Flow{
		NodeName: rec.Node,
		Type:     flowpb.FlowType_L3_L4,
	}
	if !rec.TimeFirst.IsZero() {
		f.Time = timestamppb.New(rec.TimeFirst)
	}
	if rec.Interface != "" {
		f.Interface = &flowpb.NetworkInterface{Name: rec.Interface}
	}
	if rec.Src.IP.IsValid() || rec.Dst.IP.IsValid() {
		f.IP = &flowpb.IP{IpVersion: flowpb.IPVersion_IPv4}
		if rec.Src.IP.Is6() || rec.Dst.IP.Is6() {
			f.IP.IpVersion = flowpb.IPVersion_IPv6
		}
		if rec.Src.IP.IsValid() {
			f.IP.Source = rec.Src.IP.String()
		}
		if rec.Dst.IP.IsValid() {
			f.IP.Destination = rec.Dst.IP.String()
		}
	}
	f.L4 = toL4(rec)
	f.Source, f.SourceService, f.SourceNames = toEndpoint(rec.Src, rec.Node)
	f.Destination, f.DestinationService, f.DestinationNames = toEndpoint(rec.Dst, rec.Node)

	switch rec.Observed {
	case flow.Forwarded:
		f.Verdict = flowpb.Verdict_FORWARDED
	case flow.Dropped:
		f.Verdict = flowpb.Verdict_DROPPED
	}
	if v, ok := flowpb.DropReason_value[rec.DropReason]; ok && rec.DropReason != "" {
		f.DropReasonDesc = flowpb.DropReason(v)
		f.DropReason = uint32(v)
	}
	switch rec.Initiator {
	case "src":
		f.IsReply = wrapperspb.Bool(false)
	case "dst":
		f.IsReply = wrapperspb.Bool(true)
		f.Reply = true
	}
	switch rec.Direction {
	case "ingress":
		f.TrafficDirection = flowpb.TrafficDirection_INGRESS
	case "egress":
		f.TrafficDirection = flowpb.TrafficDirection_EGRESS
	}
	return f
}

func toL4(rec flow.Record) *flowpb.Layer4 {
	sp, dp := uint32(rec.Src.Port), uint32(rec.Dst.Port)
	switch rec.Protocol {
	case flow.TCP:
		flags, _ := ParseTCPFlags(rec.TCPFlags)
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: sp, DestinationPort: dp, Flags: flags}}}
	case flow.UDP:
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{SourcePort: sp, DestinationPort: dp}}}
	case flow.SCTP:
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_SCTP{SCTP: &flowpb.SCTP{SourcePort: sp, DestinationPort: dp}}}
	case flow.ICMPv4:
		t, c := icmpTypeCode(rec)
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv4{ICMPv4: &flowpb.ICMPv4{Type: t, Code: c}}}
	case flow.ICMPv6:
		t, c := icmpTypeCode(rec)
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv6{ICMPv6: &flowpb.ICMPv6{Type: t, Code: c}}}
	}
	return nil
}

func icmpTypeCode(rec flow.Record) (t, c uint32) {
	if rec.ICMPType != nil {
		t = uint32(*rec.ICMPType)
	}
	if rec.ICMPCode != nil {
		c = uint32(*rec.ICMPCode)
	}
	return t, c
}

func toEndpoint(ep flow.Endpoint, node string) (*flowpb.Endpoint, *flowpb.Service, []string) {
	out := &flowpb.Endpoint{
		Namespace: ep.Namespace,
		PodName:   ep.Pod,
		Labels:    ciliumLabels(ep.Labels),
	}
	switch ep.Kind {
	case flow.KindPod:
		if ep.Namespace != "" {
			out.Labels = append(out.Labels, sourceK8s+":"+namespaceLabel+"="+ep.Namespace)
		}
	case flow.KindNode:
		if ep.Node != "" && ep.Node == node {
			out.Labels = append(out.Labels, sourceReserved+":"+reservedHost)
		} else {
			out.Labels = append(out.Labels, sourceReserved+":"+reservedRemoteNode)
		}
	case flow.KindExternal:
		out.Labels = append(out.Labels, sourceReserved+":"+reservedWorld)
	}
	if kind, name, ok := strings.Cut(ep.Workload, "/"); ok {
		out.Workloads = []*flowpb.Workload{{Kind: kind, Name: name}}
	}
	var svc *flowpb.Service
	if ns, name, ok := strings.Cut(ep.Service, "/"); ok {
		svc = &flowpb.Service{Namespace: ns, Name: name}
	}
	var names []string
	if ep.FQDN != "" {
		names = []string{ep.FQDN}
	}
	return out, svc, names
}
