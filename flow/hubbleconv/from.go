// Package hubbleconv converts between Hubble's flow (the Cilium Observer
// API's flow.Flow) and the project's flow record, so that Hubble captures
// can be audited and the auditor's flows served to Hubble clients.
package hubbleconv

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"

	"github.com/flow-auditor/flow-auditor/flow"
)

var (
	// ErrNotAFlow is returned for a GetFlowsResponse that carries no flow
	// (node_status or lost_events): callers skip it.
	ErrNotAFlow = errors.New("not a flow event")
	// ErrUnsupportedProtocol is returned for a flow whose L4 protocol
	// NetworkPolicy cannot name (VRRP, IGMP): callers may skip it.
	ErrUnsupportedProtocol = errors.New("unsupported protocol")
)

// FromResponse converts one GetFlowsResponse. The response's node_name and
// time fill in what the flow itself leaves empty.
func FromResponse(resp *observer.GetFlowsResponse) (flow.Record, error) {
	f := resp.GetFlow()
	if f == nil {
		return flow.Record{}, ErrNotAFlow
	}
	rec, err := FromHubble(f)
	if err != nil {
		return rec, err
	}
	if rec.Node == "" {
		rec.Node = resp.GetNodeName()
	}
	if rec.TimeFirst.IsZero() && resp.GetTime() != nil {
		rec.TimeFirst = resp.GetTime().AsTime().UTC()
		rec.TimeLast = rec.TimeFirst
	}
	return rec, nil
}

// FromHubble converts one Hubble flow into a flow record of one packet.
// Hubble does not report packet sizes, so Bytes is zero.
func FromHubble(f *flowpb.Flow) (flow.Record, error) {
	var rec flow.Record
	if f == nil {
		return rec, errors.New("empty flow")
	}
	if t := f.GetTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			return rec, fmt.Errorf("time: %w", err)
		}
		rec.TimeFirst = t.AsTime().UTC()
		rec.TimeLast = rec.TimeFirst
	}
	rec.Node = f.GetNodeName()
	rec.Interface = f.GetInterface().GetName()
	rec.Packets = 1

	var err error
	if rec.Src.IP, err = parseIP("source", f.GetIP().GetSource()); err != nil {
		return rec, err
	}
	if rec.Dst.IP, err = parseIP("destination", f.GetIP().GetDestination()); err != nil {
		return rec, err
	}
	if err := fromL4(f.GetL4(), &rec); err != nil {
		return rec, err
	}
	fromEndpoint(f.GetSource(), f.GetSourceService(), f.GetSourceNames(), rec.Node, &rec.Src)
	fromEndpoint(f.GetDestination(), f.GetDestinationService(), f.GetDestinationNames(), rec.Node, &rec.Dst)

	rec.Observed = observed(f.GetVerdict())
	rec.DropReason = dropReason(f)
	switch {
	case f.GetIsReply() != nil && f.GetIsReply().GetValue():
		rec.Initiator = "dst"
	case f.GetIsReply() != nil:
		rec.Initiator = "src"
	case f.GetReply(): // deprecated field, set by old agents
		rec.Initiator = "dst"
	}
	switch f.GetTrafficDirection() {
	case flowpb.TrafficDirection_INGRESS:
		rec.Direction = "ingress"
	case flowpb.TrafficDirection_EGRESS:
		rec.Direction = "egress"
	}
	return rec, nil
}

func parseIP(side, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("invalid %s IP %q", side, s)
	}
	return a.Unmap(), nil
}

func fromL4(l4 *flowpb.Layer4, rec *flow.Record) error {
	switch p := l4.GetProtocol().(type) {
	case *flowpb.Layer4_TCP:
		rec.Protocol = flow.TCP
		rec.TCPFlags = FormatTCPFlags(p.TCP.GetFlags())
		return ports(p.TCP.GetSourcePort(), p.TCP.GetDestinationPort(), rec)
	case *flowpb.Layer4_UDP:
		rec.Protocol = flow.UDP
		return ports(p.UDP.GetSourcePort(), p.UDP.GetDestinationPort(), rec)
	case *flowpb.Layer4_SCTP:
		rec.Protocol = flow.SCTP
		return ports(p.SCTP.GetSourcePort(), p.SCTP.GetDestinationPort(), rec)
	case *flowpb.Layer4_ICMPv4:
		rec.Protocol = flow.ICMPv4
		return icmp(p.ICMPv4.GetType(), p.ICMPv4.GetCode(), rec)
	case *flowpb.Layer4_ICMPv6:
		rec.Protocol = flow.ICMPv6
		return icmp(p.ICMPv6.GetType(), p.ICMPv6.GetCode(), rec)
	case *flowpb.Layer4_VRRP:
		return fmt.Errorf("%w %q", ErrUnsupportedProtocol, "VRRP")
	case *flowpb.Layer4_IGMP:
		return fmt.Errorf("%w %q", ErrUnsupportedProtocol, "IGMP")
	default:
		return errors.New("flow has no L4 protocol (TCP, UDP, SCTP, ICMPv4 or ICMPv6)")
	}
}

func ports(src, dst uint32, rec *flow.Record) error {
	if src > 65535 || dst > 65535 {
		return fmt.Errorf("port out of range: %d -> %d", src, dst)
	}
	rec.Src.Port, rec.Dst.Port = uint16(src), uint16(dst)
	return nil
}

func icmp(typ, code uint32, rec *flow.Record) error {
	if typ > 255 || code > 255 {
		return fmt.Errorf("ICMP type %d code %d out of range", typ, code)
	}
	t, c := uint8(typ), uint8(code)
	rec.ICMPType, rec.ICMPCode = &t, &c
	return nil
}

func fromEndpoint(ep *flowpb.Endpoint, svc *flowpb.Service, names []string, node string, out *flow.Endpoint) {
	out.Namespace = ep.GetNamespace()
	out.Pod = ep.GetPodName()
	labels, kind := podLabels(ep.GetLabels())
	out.Labels = labels
	if w := ep.GetWorkloads(); len(w) > 0 && w[0].GetName() != "" {
		out.Workload = w[0].GetKind() + "/" + w[0].GetName()
	}
	switch {
	case out.Pod != "":
		out.Kind = flow.KindPod
	default:
		out.Kind = kind
	}
	if kind == flow.KindNode && hasReservedHost(ep.GetLabels()) {
		// reserved:host is the node that observed the flow.
		out.Node = node
	}
	if svc.GetName() != "" {
		out.Service = svc.GetNamespace() + "/" + svc.GetName()
	}
	if len(names) > 0 {
		out.FQDN = names[0]
	}
}

func hasReservedHost(labels []string) bool {
	for _, l := range labels {
		if s, k, _ := splitLabel(l); s == sourceReserved && k == reservedHost {
			return true
		}
	}
	return false
}

// observed maps Hubble's verdict to what the network did with the packet.
// AUDIT is policy audit mode: the packet would have been dropped but was
// let through. An unknown verdict stays empty rather than guessed.
func observed(v flowpb.Verdict) flow.Observed {
	switch v {
	case flowpb.Verdict_FORWARDED, flowpb.Verdict_AUDIT, flowpb.Verdict_REDIRECTED,
		flowpb.Verdict_TRACED, flowpb.Verdict_TRANSLATED:
		return flow.Forwarded
	case flowpb.Verdict_DROPPED, flowpb.Verdict_ERROR:
		return flow.Dropped
	default:
		return ""
	}
}

func dropReason(f *flowpb.Flow) string {
	if d := f.GetDropReasonDesc(); d != flowpb.DropReason_DROP_REASON_UNKNOWN {
		return d.String()
	}
	if d := f.GetDropReason(); d != 0 { // deprecated numeric field
		if name, ok := flowpb.DropReason_name[int32(d)]; ok {
			return name
		}
		return strconv.FormatUint(uint64(d), 10)
	}
	return ""
}
