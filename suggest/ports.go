package suggest

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/flow-auditor/flow-auditor/policy"
)

// protoOrder fixes the order protocols are printed in.
func protoOrder(p corev1.Protocol) int {
	switch p {
	case corev1.ProtocolTCP:
		return 0
	case corev1.ProtocolUDP:
		return 1
	case corev1.ProtocolSCTP:
		return 2
	default:
		return 3
	}
}

// ProtoPort is one observed destination port.
type ProtoPort struct {
	Protocol corev1.Protocol
	Port     int32
}

func compareProtoPort(a, b ProtoPort) int {
	if c := cmp.Compare(protoOrder(a.Protocol), protoOrder(b.Protocol)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

// MergePorts turns observed ports into the fewest port entries that allow
// exactly them: runs of consecutive ports of one protocol become a range
// (endPort); nothing that was not observed is ever covered. The input may
// hold duplicates and any order; the output is sorted.
func MergePorts(ports []ProtoPort) []PortRange {
	sorted := slices.Clone(ports)
	slices.SortFunc(sorted, compareProtoPort)
	sorted = slices.Compact(sorted)
	var out []PortRange
	for _, p := range sorted {
		if n := len(out); n > 0 {
			last := &out[n-1]
			end := last.Port
			if last.EndPort != 0 {
				end = last.EndPort
			}
			if last.Protocol == p.Protocol && p.Port == end+1 {
				last.EndPort = p.Port
				continue
			}
		}
		out = append(out, PortRange{Protocol: p.Protocol, Port: p.Port})
	}
	return out
}

// namable reports whether a NetworkPolicy port can name pp: not ICMP, and
// not port 0 (a flow source that could not tell the port).
func namable(pp ProtoPort) bool {
	return pp.Protocol != policy.ProtocolICMP && pp.Port > 0
}
