package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/collector/file"
	"github.com/flow-auditor/flow-auditor/enrich"
)

// noNamespace is the table's section for flows between non-pods (nodes,
// external addresses) that touch no namespace.
const noNamespace = "(none)"

// auditStats counts audited flows for the summary and the table.
type auditStats struct {
	Flows, Allowed, Denied int
	// Violation kinds.
	WouldDeny, DeniedViolation, Anomalous int
	// Outside counts flows left out by --namespace.
	Outside int
	Skipped file.Skipped
	byNS    map[string]*nsStats
}

type nsStats struct {
	Flows, Allowed, Denied int
	edges                  map[edgeNames]int
}

// edgeNames is a denied edge as the output names it.
type edgeNames struct {
	Src, Dst, Port, Service, Violation, DeniedBy string
}

func (s *auditStats) ns(name string) *nsStats {
	if s.byNS == nil {
		s.byNS = make(map[string]*nsStats)
	}
	n := s.byNS[name]
	if n == nil {
		n = &nsStats{edges: make(map[edgeNames]int)}
		s.byNS[name] = n
	}
	return n
}

// edge is a denied edge, named, and its count.
type edge struct {
	edgeNames
	Flows int
}

// sortedEdges returns a namespace's denied edges, most frequent first, ties
// in name order so that output is deterministic.
func (n *nsStats) sortedEdges() []edge {
	out := make([]edge, 0, len(n.edges))
	for k, c := range n.edges {
		out = append(out, edge{k, c})
	}
	slices.SortFunc(out, func(a, b edge) int {
		if c := cmp.Compare(b.Flows, a.Flows); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Src, b.Src), cmp.Compare(a.Dst, b.Dst), cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Service, b.Service), cmp.Compare(a.Violation, b.Violation), cmp.Compare(a.DeniedBy, b.DeniedBy))
	})
	return out
}

// namespaces returns the namespaces seen, sorted, the no-namespace section
// last.
func (s *auditStats) namespaces() []string {
	out := make([]string, 0, len(s.byNS))
	for ns := range s.byNS {
		if ns != noNamespace {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	if _, ok := s.byNS[noNamespace]; ok {
		out = append(out, noNamespace)
	}
	return out
}

// writeTable renders the table: flows per namespace, then each namespace's
// denied edges by workload, most frequent first (at most top, 0: all).
func writeTable(w io.Writer, s *auditStats, top int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if s.Flows == 0 {
		fmt.Fprintln(tw, "no flows audited")
		return tw.Flush()
	}
	fmt.Fprintln(tw, "NAMESPACE\tFLOWS\tALLOWED\tDENIED")
	for _, ns := range s.namespaces() {
		n := s.byNS[ns]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", ns, n.Flows, n.Allowed, n.Denied)
	}
	for _, ns := range s.namespaces() {
		n := s.byNS[ns]
		if n.Denied == 0 {
			continue
		}
		edges := n.sortedEdges()
		fmt.Fprintf(tw, "\n%s: %d denied %s, by workload\n", ns, n.Denied, plural(n.Denied, "flow", "flows"))
		fmt.Fprintln(tw, "  FLOWS\tSOURCE\tDESTINATION\tPORT\tDENIED BY\tVIOLATION")
		for i, e := range edges {
			if top > 0 && i == top {
				fmt.Fprintf(tw, "  ... %d more denied %s (see -o jsonl)\n", len(edges)-top, plural(len(edges)-top, "edge", "edges"))
				break
			}
			port := e.Port
			if e.Service != "" {
				port += " (service " + shortName(e.Service, ns) + ")"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", e.Flows, shortName(e.Src, ns), shortName(e.Dst, ns), port, e.DeniedBy, cmp.Or(e.Violation, "-"))
		}
	}
	return tw.Flush()
}

// shortName drops the section's own namespace from a workload name.
func shortName(name, ns string) string {
	if rest, ok := strings.CutPrefix(name, ns+"/"); ok {
		return rest
	}
	return name
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// summaryLine is the one line on stderr: counts per verdict and violation.
func summaryLine(s *auditStats, namespace string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "audited %d %s: %d allowed, %d denied", s.Flows, plural(s.Flows, "flow", "flows"), s.Allowed, s.Denied)
	fmt.Fprintf(&b, " (violations: %d would-deny, %d denied, %d anomalous-egress)", s.WouldDeny, s.DeniedViolation, s.Anomalous)
	if namespace != "" {
		fmt.Fprintf(&b, "; %d %s not touching namespace %s left out", s.Outside, plural(s.Outside, "flow", "flows"), namespace)
	}
	if k := s.Skipped; k.NotFlow+k.Unsupported > 0 {
		fmt.Fprintf(&b, "; skipped %d Hubble %s without a flow and %d %s of protocols NetworkPolicy cannot name",
			k.NotFlow, plural(k.NotFlow, "event", "events"), k.Unsupported, plural(k.Unsupported, "flow", "flows"))
	}
	return b.String()
}

// jsonSummary is the summary object of -o json.
type jsonSummary struct {
	Flows      int             `json:"flows"`
	Allowed    int             `json:"allowed"`
	Denied     int             `json:"denied"`
	Violations map[string]int  `json:"violations"`
	Outside    int             `json:"outside_namespace,omitempty"`
	Skipped    map[string]int  `json:"skipped,omitempty"`
	Namespaces []jsonNamespace `json:"namespaces"`
}

type jsonNamespace struct {
	Namespace   string     `json:"namespace"`
	Flows       int        `json:"flows"`
	Allowed     int        `json:"allowed"`
	Denied      int        `json:"denied"`
	DeniedEdges []jsonEdge `json:"denied_edges,omitempty"`
}

type jsonEdge struct {
	Src       string `json:"src"`
	Dst       string `json:"dst"`
	Port      string `json:"port"`
	Service   string `json:"service,omitempty"`
	DeniedBy  string `json:"denied_by"`
	Violation string `json:"violation,omitempty"`
	Flows     int    `json:"flows"`
}

func (s *auditStats) jsonSummary() jsonSummary {
	out := jsonSummary{
		Flows: s.Flows, Allowed: s.Allowed, Denied: s.Denied, Outside: s.Outside,
		Violations: map[string]int{enrich.WouldDeny: s.WouldDeny, enrich.Denied: s.DeniedViolation, anomaly.ViolationKind: s.Anomalous},
		Namespaces: []jsonNamespace{},
	}
	if k := s.Skipped; k.NotFlow+k.Unsupported > 0 {
		out.Skipped = map[string]int{"not_a_flow": k.NotFlow, "unsupported_protocol": k.Unsupported}
	}
	for _, ns := range s.namespaces() {
		n := s.byNS[ns]
		jn := jsonNamespace{Namespace: ns, Flows: n.Flows, Allowed: n.Allowed, Denied: n.Denied}
		for _, e := range n.sortedEdges() {
			jn.DeniedEdges = append(jn.DeniedEdges, jsonEdge{Src: e.Src, Dst: e.Dst, Port: e.Port, Service: e.Service, DeniedBy: e.DeniedBy, Violation: e.Violation, Flows: e.Flows})
		}
		out.Namespaces = append(out.Namespaces, jn)
	}
	return out
}
