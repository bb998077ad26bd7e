package suggest

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/flow-auditor/flow-auditor/policy"
)

// Report is the proof by replay: every observed flow of the namespace
// judged against the suggested policies plus the current policies of the
// other namespaces. Its JSON form is what --report writes.
type Report struct {
	Namespace string       `json:"namespace"`
	External  ExternalMode `json:"external"`
	Window    ReportWindow `json:"window"`
	// Policies counts the suggested policies, the default deny included.
	Policies int         `json:"policies"`
	Records  Counts      `json:"records"`
	Flows    FlowSummary `json:"flows"`
	Edges    EdgeSummary `json:"edges"`
	// NotAllowed are observed flows the suggestion does not allow: bugs.
	NotAllowed []Finding `json:"not_allowed"`
	// BlockedElsewhere are observed flows the suggestion allows but the
	// current policies of the peer's namespace deny: a rule to add there.
	BlockedElsewhere []Finding `json:"blocked_elsewhere"`
	// DroppedAllowed are flows the network dropped (or that were excluded
	// from learning) that the suggestion would allow: they share an edge
	// with allowed traffic.
	DroppedAllowed []Finding `json:"dropped_allowed"`
	// Unobserved are edges the suggestion allows that no flow showed, at
	// most MaxFindings of them; Edges has the full counts.
	Unobserved []Finding `json:"unobserved_edges"`
	Notes      []Note    `json:"notes"`
}

// ReportWindow is the time range of the flows replayed.
type ReportWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// FlowSummary counts flow records (not distinct flows) by outcome.
type FlowSummary struct {
	// Observed are the forwarded records touching the namespace.
	Observed int `json:"observed"`
	// Distinct counts distinct (source, destination, protocol, port).
	Distinct int `json:"distinct"`
	// Allowed must equal Observed: the namespace's side allows each.
	Allowed int `json:"allowed"`
	// NotAllowed is what the suggestion fails to allow (a bug: exit 1).
	NotAllowed int `json:"not_allowed"`
	// BlockedElsewhere are allowed by the suggestion but denied by the
	// other side's current policies; they are part of Allowed.
	BlockedElsewhere int `json:"blocked_elsewhere"`
	// Dropped are the records the network dropped; DroppedDenied of them
	// stay denied, DroppedAllowed would now pass.
	Dropped        int `json:"dropped"`
	DroppedDenied  int `json:"dropped_denied"`
	DroppedAllowed int `json:"dropped_allowed"`
	// Excluded are forwarded records to the metadata service that were not
	// learned; ExcludedAllowed of them the suggestion allows anyway.
	Excluded        int `json:"excluded"`
	ExcludedAllowed int `json:"excluded_allowed"`
}

// EdgeSummary counts edges: (source, destination, protocol, port) where
// each side is a workload, a node address or an external address.
type EdgeSummary struct {
	// Observed edges carried forwarded traffic (implicit ones excluded).
	Observed int `json:"observed"`
	// Probed are the candidate edges tried: the namespace's workloads
	// against every known workload and observed address, on the ports the
	// destination declares or was reached on.
	Probed int `json:"probed"`
	// AllowedUnobserved are workload-to-workload edges the suggestion
	// allows although no flow showed them; the goal is zero.
	AllowedUnobserved int `json:"allowed_unobserved"`
	// AllowedUnobservedAddress are such edges to or from node and external
	// addresses (expected with --external public).
	AllowedUnobservedAddress int `json:"allowed_unobserved_address"`
	// DNSFallback are the TCP (or UDP) twins of observed DNS traffic that
	// the DNS rule allows on purpose.
	DNSFallback int `json:"dns_fallback"`
}

// Finding is one flow or edge of the report.
type Finding struct {
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	Protocol string `json:"protocol"`
	Port     int32  `json:"port,omitempty"`
	// Records counts the flow records behind it (zero for unobserved edges).
	Records int `json:"records,omitempty"`
	// Side is the direction whose policies decide: "egress" (the source's)
	// or "ingress" (the destination's); both when both do.
	Side        string `json:"side,omitempty"`
	Explanation string `json:"explanation"`
}

// MaxFindings bounds each list of findings in a report.
const MaxFindings = 200

// Replay judges every distinct observed flow, and probes unobserved edges,
// against the suggestion plus the current policies of the other
// namespaces (current holds the cluster's policies; the namespace's own are
// replaced by the suggestion).
func (o *Observer) Replay(s *Suggestion, current []*networkingv1.NetworkPolicy, namespaces []*corev1.Namespace) (*Report, error) {
	pols := make([]*networkingv1.NetworkPolicy, 0, len(current)+len(s.Policies))
	for _, np := range current {
		if np.Namespace != o.in.Namespace {
			pols = append(pols, np)
		}
	}
	pols = append(pols, s.NetworkPolicies()...)
	eng, err := policy.New(pols, namespaces)
	if err != nil {
		return nil, fmt.Errorf("replay: compile policies: %w", err)
	}
	r := &Report{
		Namespace:  s.Namespace,
		External:   s.External,
		Window:     ReportWindow{Start: s.Window.Start, End: s.Window.End},
		Policies:   len(s.Policies),
		Records:    o.counts,
		Notes:      append([]Note{}, s.Notes...),
		NotAllowed: []Finding{}, BlockedElsewhere: []Finding{}, DroppedAllowed: []Finding{}, Unobserved: []Finding{},
	}
	o.replayFlows(eng, r)
	o.probeEdges(eng, r)
	return r, nil
}

// Ok reports whether the suggestion allows every observed flow.
func (r *Report) Ok() bool { return r.Flows.NotAllowed == 0 }

// findingAgg aggregates flow findings by edge, so that one missing rule is
// one finding however many pods it touched.
type findingAgg struct {
	byEdge map[edgeKey]*aggFinding
	order  []edgeKey
}

// aggFinding keeps the explanation of the edge's smallest flow, so that the
// report does not depend on map order.
type aggFinding struct {
	Finding
	key replayKey
}

func (a *findingAgg) add(it *replayItem, v *policy.Verdict) {
	if a.byEdge == nil {
		a.byEdge = map[edgeKey]*aggFinding{}
	}
	f := a.byEdge[it.edge]
	if f == nil {
		f = &aggFinding{Finding: Finding{
			Src: it.edge.src.name(), Dst: it.edge.dst.name(),
			Protocol: string(it.edge.port.Protocol), Port: it.edge.port.Port,
			Side: denyingSide(v), Explanation: v.Explain(),
		}, key: it.key}
		a.byEdge[it.edge] = f
		a.order = append(a.order, it.edge)
	} else if compareReplayKeys(it.key, f.key) < 0 {
		f.key, f.Explanation = it.key, v.Explain()
	}
	f.Records += it.records
}

// denyingSide names the side(s) that deny, or that allow when none does.
func denyingSide(v *policy.Verdict) string {
	e, i := v.Egress.Decision == policy.Deny, v.Ingress.Decision == policy.Deny
	switch {
	case e && i:
		return "egress+ingress"
	case e:
		return "egress"
	case i:
		return "ingress"
	}
	return ""
}

func comparePeerKeys(a, b peerKey) int {
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	if c := cmp.Compare(a.namespace, b.namespace); c != 0 {
		return c
	}
	if c := cmp.Compare(a.name, b.name); c != 0 {
		return c
	}
	return a.ip.Compare(b.ip)
}

func compareReplayKeys(a, b replayKey) int {
	if c := comparePeerKeys(a.src, b.src); c != 0 {
		return c
	}
	if c := comparePeerKeys(a.dst, b.dst); c != 0 {
		return c
	}
	return compareProtoPort(a.port, b.port)
}

func (a *findingAgg) list() []Finding {
	out := make([]Finding, 0, len(a.order))
	for _, k := range a.order {
		out = append(out, a.byEdge[k].Finding)
	}
	sortFindings(out)
	if len(out) > MaxFindings {
		out = out[:MaxFindings]
	}
	return out
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		if c := cmp.Compare(b.Records, a.Records); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Src, b.Src); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Dst, b.Dst); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
}

func (o *Observer) replayFlows(eng *policy.Engine, r *Report) {
	var notAllowed, elsewhere, droppedAllowed findingAgg
	for _, it := range o.replay {
		v := eng.Evaluate(&it.flow)
		nsOK := o.namespaceSideAllows(&it.flow, &v)
		switch it.class {
		case classDropped:
			r.Flows.Dropped += it.records
			if nsOK && v.Allowed() {
				r.Flows.DroppedAllowed += it.records
				droppedAllowed.add(it, &v)
			} else {
				r.Flows.DroppedDenied += it.records
			}
			continue
		case classExcluded:
			r.Flows.Excluded += it.records
			if nsOK && v.Allowed() {
				r.Flows.ExcludedAllowed += it.records
				droppedAllowed.add(it, &v)
			}
			continue
		}
		r.Flows.Distinct++
		r.Flows.Observed += it.records
		switch {
		case !nsOK:
			r.Flows.NotAllowed += it.records
			notAllowed.add(it, &v)
		case !v.Allowed():
			r.Flows.Allowed += it.records
			r.Flows.BlockedElsewhere += it.records
			elsewhere.add(it, &v)
		default:
			r.Flows.Allowed += it.records
		}
	}
	r.NotAllowed = notAllowed.list()
	r.BlockedElsewhere = elsewhere.list()
	r.DroppedAllowed = droppedAllowed.list()
}

// namespaceSideAllows reports whether the sides of a flow that belong to
// the namespace (its source's egress, its destination's ingress) allow it.
func (o *Observer) namespaceSideAllows(f *policy.Flow, v *policy.Verdict) bool {
	if f.Src.Kind == policy.Pod && f.Src.Namespace == o.in.Namespace && v.Egress.Decision == policy.Deny {
		return false
	}
	if f.Dst.Kind == policy.Pod && f.Dst.Namespace == o.in.Namespace && v.Ingress.Decision == policy.Deny {
		return false
	}
	return true
}
