package server

import (
	"fmt"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Cilium monitor message types and trace points (its pkg/monitor/api),
// which Hubble clients read from event_type to name where a flow was seen.
const (
	messageTypeDrop   = 1
	messageTypeTrace  = 4
	traceToEndpoint   = 0 // "to-endpoint": entering the pod
	traceFromEndpoint = 5 // "from-endpoint": leaving the pod
)

// present fills what Hubble clients print and the record has no field for:
// the event type (drop, or a trace point from the direction) and the
// summary ("TCP Flags: SYN", and the auditor's violation).
func present(rec flow.Record, f *flowpb.Flow) {
	switch {
	case f.GetVerdict() == flowpb.Verdict_DROPPED && f.GetDropReasonDesc() != flowpb.DropReason_DROP_REASON_UNKNOWN:
		f.EventType = &flowpb.CiliumEventType{Type: messageTypeDrop, SubType: int32(f.GetDropReasonDesc())}
	case f.GetTrafficDirection() == flowpb.TrafficDirection_INGRESS:
		f.EventType = &flowpb.CiliumEventType{Type: messageTypeTrace, SubType: traceToEndpoint}
	case f.GetTrafficDirection() == flowpb.TrafficDirection_EGRESS:
		f.EventType = &flowpb.CiliumEventType{Type: messageTypeTrace, SubType: traceFromEndpoint}
	}
	if f.GetSummary() == "" {
		f.Summary = summary(rec)
	}
}

func summary(rec flow.Record) string {
	var parts []string
	switch rec.Protocol {
	case flow.TCP:
		if rec.TCPFlags != "" {
			parts = append(parts, "TCP Flags: "+strings.ReplaceAll(rec.TCPFlags, ",", ", "))
		} else {
			parts = append(parts, "TCP")
		}
	case flow.ICMPv4, flow.ICMPv6:
		s := string(rec.Protocol)
		if rec.ICMPType != nil {
			s += fmt.Sprintf(" type %d", *rec.ICMPType)
		}
		if rec.ICMPCode != nil {
			s += fmt.Sprintf(" code %d", *rec.ICMPCode)
		}
		parts = append(parts, s)
	case "":
	default:
		parts = append(parts, string(rec.Protocol))
	}
	if rec.Observed == flow.Dropped && rec.DropReason != "" {
		parts = append(parts, "kernel drop reason "+rec.DropReason)
	}
	if rec.Violation != "" {
		parts = append(parts, "flow-auditor: "+rec.Violation)
	}
	return strings.Join(parts, "; ")
}
