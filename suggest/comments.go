package suggest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flow-auditor/flow-auditor/policy"
)

// The comments printed above policies and rules: what was observed.

// describe names a peer in a comment, relative to the subject.
func (o *Observer) describe(subject, peer *entity) string {
	switch peer.key.kind {
	case entWorkload:
		if peer.key.namespace != subject.key.namespace {
			return peer.key.workload + " in " + peer.key.namespace
		}
		return peer.key.workload
	case entNode:
		if len(peer.hostPods) > 0 {
			return "node " + peer.key.ip.String() + " (hostNetwork " + strings.Join(sortedKeys(peer.hostPods), ", ") + ")"
		}
		return "node " + peer.key.ip.String()
	default:
		return describeAddress(peer)
	}
}

func describeAddress(e *entity) string {
	s := e.key.ip.String()
	if len(e.fqdns) > 0 {
		s += " (" + strings.Join(sortedKeys(e.fqdns), ", ") + ")"
	}
	return s
}

func ruleComment(egress bool, peer string, ports map[ProtoPort]*stats, st *stats) []string {
	dir := "from"
	if egress {
		dir = "to"
	}
	keys := make([]ProtoPort, 0, len(ports))
	for pp := range ports {
		keys = append(keys, pp)
	}
	slices.SortFunc(keys, compareProtoPort)
	var on []string
	for _, pp := range keys {
		if len(keys) == 1 {
			on = append(on, fmtPort(pp))
		} else {
			on = append(on, fmt.Sprintf("%s (%d)", fmtPort(pp), ports[pp].flows))
		}
	}
	lines := []string{fmt.Sprintf("%s %s on %s: %s", dir, peer, strings.Join(on, ", "), statLine(st))}
	if ex := exampleLine(st); ex != "" {
		lines = append(lines, ex)
	}
	return lines
}

func statLine(st *stats) string {
	flows := "flows"
	if st.flows == 1 {
		flows = "flow"
	}
	return fmt.Sprintf("%d %s, first %s, last %s", st.flows, flows, fmtTime(st.first), fmtTime(st.last))
}

func exampleLine(st *stats) string {
	if len(st.examples) == 0 {
		return ""
	}
	parts := make([]string, len(st.examples))
	for i, ex := range st.examples {
		parts[i] = ex.src.String() + " -> " + ex.dst.String()
	}
	return "e.g. " + strings.Join(parts, ", ")
}

func fmtPort(pp ProtoPort) string {
	if pp.Protocol == policy.ProtocolICMP {
		return "ICMP"
	}
	if pp.Port == 0 {
		return string(pp.Protocol) + " (no port)"
	}
	return string(pp.Protocol) + "/" + strconv.Itoa(int(pp.Port))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}
