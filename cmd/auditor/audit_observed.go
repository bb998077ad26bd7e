package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// observedAudit is the agents' ObservedTraffic baseline as audit judges it
// without --flows: the peer entries merged into edges.
type observedAudit struct {
	edges []observedEdge
	// all is every entry read, for the --namespace report (which learns
	// from workload records as suggest does).
	all []baseline.Observation
	// entries counts the entries merged into edges; outside the flows of
	// those --namespace left out.
	entries, outside int
	// unresolved counts the edges with a workload that has no pod now.
	unresolved int
}

// observedEdge is one edge of the baseline: the entries of every node for
// the same two workloads (or addresses), protocol and port, added up. Each
// node's agent keeps its own pods' entries, so a workload on two nodes has
// two entries for one edge.
type observedEdge struct {
	rec   flow.Record // as recorded: pod sides name a workload, no pod
	flows int
	nodes []string
}

type edgeID struct {
	src, dst baseline.Dest
	proto    flow.Protocol
	port     uint16
}

// readObserved reads the cluster's ObservedTraffic for audit without
// --flows. It comes before the inventory so that a cluster with nothing
// observed says so before the inventory is loaded.
func readObserved(ctx context.Context, live inventoryLoader, o *auditOptions) (*observedAudit, error) {
	r, ok := live.(observationReader)
	switch {
	case !ok:
		return nil, usageError(errors.New("--flows is required: the flow files to audit (JSON lines; \"-\" reads stdin)"))
	case len(o.snapshots) > 0:
		// ObservedTraffic names the workloads of the cluster it is read
		// from; judging it against another inventory would mislead.
		return nil, usageError(errors.New("--flows is required with --snapshot: the flow files to audit (JSON lines; \"-\" reads stdin); without both, the agents' ObservedTraffic in the cluster is audited"))
	}
	all, err := r.observations(ctx, o.namespace)
	if err != nil {
		return nil, observedError(ctx, err)
	}
	return mergeObserved(all, o.namespace)
}

// observedError turns what keeps the ObservedTraffic from being read into
// one line; a cluster that cannot serve it is an unusable environment.
func observedError(ctx context.Context, err error) error {
	inner := err
	var ex *exitError
	if errors.As(err, &ex) {
		if ex.code == 2 {
			return usageError(fmt.Errorf("without --flows, audit reads the agents' ObservedTraffic through the kubeconfig: %w", ex.err))
		}
		inner = ex.err
	}
	var status apierrors.APIStatus
	switch {
	case apierrors.IsNotFound(err):
		return usageError(fmt.Errorf("%w (is the ObservedTraffic CRD installed? install the agents, or pass --flows)", inner))
	case apierrors.IsForbidden(err):
		return usageError(fmt.Errorf("%w (the credentials need list on observedtraffics; or pass --flows)", inner))
	case !errors.As(err, &status) && ctx.Err() == nil:
		return usageError(fmt.Errorf("cannot read ObservedTraffic from the cluster: %s (pass --flows to audit flow files)", apiReason(err)))
	}
	return err
}

// mergeObserved merges the entries of the namespace (all with "") into
// edges, sorted by source, destination, protocol and port so that the
// output does not depend on the order the API server lists objects in.
func mergeObserved(all []baseline.Observation, namespace string) (*observedAudit, error) {
	oa := &observedAudit{all: all}
	byID := make(map[edgeID]int)
	for i := range all {
		ob := &all[i]
		n := int(max(ob.Flows, 1))
		if namespace != "" && !touchesNamespace(ob, namespace) {
			oa.outside += n
			continue
		}
		oa.entries++
		id := edgeID{baseline.DestOf(&ob.Src), baseline.DestOf(&ob.Dst), ob.Protocol, ob.Dst.Port}
		if k, ok := byID[id]; ok {
			oa.edges[k].add(ob, n)
			continue
		}
		byID[id] = len(oa.edges)
		e := observedEdge{rec: ob.Record, flows: n, nodes: []string{ob.Node}}
		e.rec.Verdict = "" // judged again against today's policies
		oa.edges = append(oa.edges, e)
	}
	if len(oa.edges) == 0 {
		if namespace != "" {
			return nil, usageError(fmt.Errorf("no observed traffic for namespace %s in the cluster's ObservedTraffic objects; run the agents or pass --flows", namespace))
		}
		return nil, usageError(errors.New("no observed traffic in the cluster's ObservedTraffic objects; run the agents or pass --flows"))
	}
	for i := range oa.edges {
		e := &oa.edges[i]
		slices.Sort(e.nodes)
		e.nodes = slices.Compact(e.nodes)
		if len(e.nodes) > 1 {
			e.rec.Node = "" // "nodes" in the output names them all
		}
	}
	slices.SortFunc(oa.edges, func(a, b observedEdge) int {
		sa, sb, da, db := endOf(&a.rec.Src), endOf(&b.rec.Src), endOf(&a.rec.Dst), endOf(&b.rec.Dst)
		return cmp.Or(cmp.Compare(sa.name(), sb.name()), cmp.Compare(da.name(), db.name()),
			cmp.Compare(a.rec.Protocol, b.rec.Protocol), cmp.Compare(a.rec.Dst.Port, b.rec.Dst.Port))
	})
	return oa, nil
}

// add merges another node's entry of the same edge.
func (e *observedEdge) add(ob *baseline.Observation, n int) {
	r := &e.rec
	e.flows += n
	r.Packets += ob.Packets
	r.Bytes += ob.Bytes
	if ob.TimeFirst.Before(r.TimeFirst) {
		r.TimeFirst = ob.TimeFirst
	}
	if ob.TimeLast.After(r.TimeLast) {
		r.TimeLast = ob.TimeLast
	}
	r.Src.FQDN = cmp.Or(r.Src.FQDN, ob.Src.FQDN)
	r.Dst.FQDN = cmp.Or(r.Dst.FQDN, ob.Dst.FQDN)
	if r.Src.Labels == nil {
		r.Src.Labels = ob.Src.Labels
	}
	if r.Dst.Labels == nil {
		r.Dst.Labels = ob.Dst.Labels
	}
	e.nodes = append(e.nodes, ob.Node)
}

// audit judges every edge as one flow against the inventory and policies of
// ac, writing the per-edge output to out (jsonl lines, or json array
// elements each preceded by a comma) and counting each edge as its flows.
func (oa *observedAudit) audit(ac *auditContext, format string, out io.Writer) (*auditStats, error) {
	pods := newWorkloadPods(ac.objs, ac.index)
	r := &observedResolver{ix: ac.index}
	a := newAuditor(ac)
	a.resolve = r.resolve
	counts := newCounter(true)
	var buf []byte
	for i := range oa.edges {
		e := &oa.edges[i]
		rec := e.rec // judging fills it in
		var note strings.Builder
		var gone []string
		// A target without a pod is one side made for a workload gone.
		r.src = pods.side(&rec.Src, false, &note)
		if r.src != nil && r.src.Endpoint.Pod == "" {
			gone = append(gone, "src")
		}
		self := isWorkload(&rec.Src) && isWorkload(&rec.Dst) && rec.Src.Namespace == rec.Dst.Namespace && rec.Src.Workload == rec.Dst.Workload
		r.dst = pods.side(&rec.Dst, self, &note)
		if r.dst != nil && r.dst.Endpoint.Pod == "" {
			gone = append(gone, "dst")
		}
		if len(gone) > 0 {
			oa.unresolved++
		}
		j := a.audit(&rec)
		if note.Len() > 0 {
			rec.Explanation = note.String() + rec.Explanation
		}
		counts.addN(&rec, j, e.flows)
		switch format {
		case formatJSONL:
			buf = appendObserved(a, buf, j, &rec, e, gone)
			buf = append(buf, '\n')
		case formatJSON:
			buf = append(buf, ",\n"...)
			buf = appendObserved(a, buf, j, &rec, e, gone)
		}
	}
	if p := ac.privilege; p != nil {
		for i := range oa.all {
			p.obs.AddWorkload(&oa.all[i].Record, int(oa.all[i].Flows))
		}
	}
	if _, err := out.Write(buf); err != nil {
		return nil, failure(fmt.Errorf("write output: %w", err))
	}
	stats := &auditStats{Outside: oa.outside}
	counts.into(stats)
	return stats, nil
}

func isWorkload(e *flow.Endpoint) bool { return e.Kind == flow.KindPod && e.Workload != "" }

// appendObserved writes the edge as audit writes a flow, plus what the
// entries said: the flows they add up, the nodes that observed them, and
// the sides whose workload has no pod now.
func appendObserved(a *auditor, buf []byte, j judged, rec *flow.Record, e *observedEdge, gone []string) []byte {
	buf = a.enc.AppendFlat(buf, j.wire, rec)
	buf = buf[:len(buf)-1] // reopen the object for the entry's own fields
	buf = append(buf, `,"observed_flows":`...)
	buf = strconv.AppendInt(buf, int64(e.flows), 10)
	nodes, _ := json.Marshal(e.nodes) // strings: cannot fail
	buf = append(buf, `,"nodes":`...)
	buf = append(buf, nodes...)
	if len(gone) > 0 {
		g, _ := json.Marshal(gone)
		buf = append(buf, `,"unresolved":`...)
		buf = append(buf, g...)
	}
	return append(buf, '}')
}

// workloadPods are each workload's pods in the inventory, running ones
// first, then by name: an entry names a workload, and policy selects its
// pods by their labels, so it is judged as one of them.
type workloadPods map[workloadKey][]*correlate.Target

type workloadKey struct{ namespace, workload string }

func newWorkloadPods(objs correlate.Objects, ix *correlate.Index) workloadPods {
	pods := slices.Clone(objs.Pods)
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		return cmp.Or(compareBool(finished(a), finished(b)), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	m := make(workloadPods)
	for _, p := range pods {
		t := ix.ResolveName(p.Namespace, p.Name, time.Time{})
		if t == nil {
			continue
		}
		w := "Pod/" + p.Name
		if t.Workload != nil {
			w = t.Workload.String()
		}
		k := workloadKey{p.Namespace, w}
		if len(m[k]) < 2 { // a workload calling itself needs two
			m[k] = append(m[k], t)
		}
	}
	return m
}

// finished reports whether a pod has run to completion: policy no longer
// matters to it, so it stands for its workload only when nothing runs.
func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// side returns what a workload end of an edge is judged as, nil for an
// address (the index resolves it). second picks the workload's second pod:
// an edge from a workload to itself is between two of its pods, and a pod
// may always reach itself. Notes for the explanation go to note.
func (w workloadPods) side(e *flow.Endpoint, second bool, note *strings.Builder) *correlate.Target {
	if !isWorkload(e) {
		return nil
	}
	name := e.Namespace + "/" + e.Workload
	pods := w[workloadKey{e.Namespace, e.Workload}]
	switch {
	case !second && len(pods) > 0:
		return pods[0]
	case second && len(pods) > 1:
		return pods[1]
	case second && len(pods) == 1:
		fmt.Fprintf(note, "%s has one pod now, judged as a flow between two of its pods: ", name)
		t := *pods[0]
		t.Peer.Name += "/peer" // "/" is in no pod's name: not the same pod
		return &t
	}
	// Not silently dropped: the labels its agent recorded are what
	// selected it when the traffic was seen.
	fmt.Fprintf(note, "%s has no pod in the inventory, judged by the labels its agent recorded: ", name)
	peerName := e.Workload
	if second {
		peerName += "/peer"
	}
	return &correlate.Target{
		Endpoint: flow.Endpoint{Kind: flow.KindPod, Namespace: e.Namespace, Workload: e.Workload, Labels: e.Labels},
		Peer:     policy.Peer{Kind: policy.Pod, Namespace: e.Namespace, Name: peerName, Labels: e.Labels},
	}
}

// observedResolver resolves the edge being judged: its address sides
// through the index, its workload sides as side chose.
type observedResolver struct {
	ix       *correlate.Index
	src, dst *correlate.Target
}

func (r *observedResolver) resolve(rec *flow.Record, res *correlate.Resolution) {
	// Workload sides carry no address: the index leaves them unresolved.
	r.ix.ResolveRecord(rec, res)
	if r.src != nil {
		res.Src = correlate.Candidate{Target: r.src, IP: r.src.Endpoint.IP, Port: rec.Src.Port}
		res.Src.Fill(&rec.Src)
	}
	if r.dst != nil {
		res.Service, res.ServicePort = nil, nil
		res.Dst = append(res.Dst[:0], correlate.Candidate{Target: r.dst, IP: r.dst.Endpoint.IP, Port: rec.Dst.Port})
		res.FillDst(&rec.Dst, 0)
	}
}

// observedSummary is what -o json's summary adds about the entries.
type observedSummary struct {
	Entries    int `json:"entries"`
	Edges      int `json:"edges"`
	Unresolved int `json:"unresolved_edges"`
}

// jsonSummary is audit's summary plus "observed".
func (oa *observedAudit) jsonSummary(s *auditStats) any {
	return struct {
		jsonSummary
		Observed observedSummary `json:"observed"`
	}{s.jsonSummary(), observedSummary{oa.entries, len(oa.edges), oa.unresolved}}
}

// summaryNote ends the stderr summary line.
func (oa *observedAudit) summaryNote() string {
	return fmt.Sprintf("; from the cluster's ObservedTraffic: %d %s merged into %d %s, %d unresolved (a workload with no pod left, judged by its recorded labels)",
		oa.entries, plural(oa.entries, "entry", "entries"), len(oa.edges), plural(len(oa.edges), "edge", "edges"), oa.unresolved)
}
