package pipeline

import (
	"context"
	"sync/atomic"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/enrich"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// Resolver resolves both sides of a record; *correlate.Index is one.
type Resolver interface {
	ResolveRecord(r *flow.Record, res *correlate.Resolution)
}

// Correlate resolves every record's endpoints to cluster objects, except
// for a repeat of a connection whose judgement it can reuse (connEval).
type Correlate struct {
	In       <-chan *Batch
	Out      chan<- *Batch
	Resolver Resolver
	// Policies is the current policy set, which a reused judgement must
	// have been made with.
	Policies *atomic.Pointer[Policies]
	Meter    Meter
	// Wait: see Ingest.Wait.
	Wait bool

	sibs siblings
}

// Run resolves until In is closed (then closes Out and returns nil) or ctx
// ends.
func (s *Correlate) Run(ctx context.Context) error {
	defer close(s.Out)
	m := meterOr(s.Meter)
	for {
		var b *Batch
		var ok bool
		select {
		case <-ctx.Done():
			dropQueued(s.In, StageCorrelate, m)
			return ctx.Err()
		case b, ok = <-s.In:
		}
		if !ok {
			return nil
		}
		m.Entered(StageCorrelate, uint64(len(b.Events)))
		var current *Policies
		if s.Policies != nil {
			current = s.Policies.Load()
		}
		var inventory uint64
		if v, ok := s.Resolver.(versioned); ok {
			inventory = v.Version()
		}
		for i := range b.Events {
			e := &b.Events[i]
			e.inventory = inventory
			// A reply is resolved and judged as its connection; the
			// evaluate stage turns it back.
			if e.Reply {
				e.Record.Src, e.Record.Dst = e.Record.Dst, e.Record.Src
			}
			if e.cached = e.reusable(current); e.cached != nil {
				continue
			}
			k, ok := siblingKey(&e.Record)
			if ok {
				at := e.Record.TimeFirst.UnixNano()
				if e.sib = s.sibs.find(&k, inventory, at); e.sib != nil {
					if e.cached = e.sib.judgement(current, at); e.cached != nil {
						continue
					}
				}
			}
			s.Resolver.ResolveRecord(&e.Record, &e.Res)
			e.Unresolved = e.Record.Src.Kind != flow.KindPod && e.Record.Dst.Kind != flow.KindPod
			if ok && e.sib == nil {
				e.sib = s.sibs.add(&k, inventory, &e.Res)
			}
		}
		forward(ctx, s.Out, b, StageEvaluate, m, s.Wait)
	}
}

// versioned is a resolver whose inventory has a version that changes with
// every change of the inventory (*correlate.Index is one): a connection
// judged with a side outside the cluster is resolved again once it changes,
// so that a flow seen before its pod arrived is not external for good.
type versioned interface {
	Version() uint64
}

// Policies is one compiled set of NetworkPolicies: the engine, and the
// ipBlock index that anomaly detection reads. The agent swaps it when the
// cluster's policies change.
type Policies struct {
	Engine enrich.Engine
	Blocks *anomaly.Blocks
}

// Inspector records flows in the baseline and says what is new about them;
// *anomaly.Detector is one. The classes that do not depend on the baseline
// come from anomaly.Static.
type Inspector interface {
	NovelConn(rec *flow.Record, h *baseline.Handle, repeat bool) anomaly.Class
}

// Evaluate judges every record against the current policies, finds
// anomalous egress (recording the flow in the baseline on the way) and
// sets the record's violation.
type Evaluate struct {
	In  <-chan *Batch
	Out chan<- *Batch
	// Policies is read for every batch: store a new set to swap it.
	Policies *atomic.Pointer[Policies]
	// Inspector may be nil: no anomaly detection.
	Inspector Inspector
	// Explain sets explanations on allowed flows too.
	Explain bool
	Meter   Meter
	// Wait: see Ingest.Wait.
	Wait bool

	judge   enrich.Judge
	verdict policy.Verdict
	handle  baseline.Handle // for events without a connection
}

// Run evaluates until In is closed (then closes Out and returns nil) or ctx
// ends.
func (s *Evaluate) Run(ctx context.Context) error {
	defer close(s.Out)
	m := meterOr(s.Meter)
	s.judge.Explain = s.Explain
	var current *Policies
	for {
		var b *Batch
		var ok bool
		select {
		case <-ctx.Done():
			dropQueued(s.In, StageEvaluate, m)
			return ctx.Err()
		case b, ok = <-s.In:
		}
		if !ok {
			return nil
		}
		m.Entered(StageEvaluate, uint64(len(b.Events)))
		if p := s.Policies.Load(); p != current {
			current = p
			s.judge = enrich.Judge{Explain: s.Explain}
			if p != nil {
				s.judge.Engine = p.Engine
			}
		}
		for i := range b.Events {
			s.evaluate(&b.Events[i], current)
		}
		forward(ctx, s.Out, b, StageSinks, m, s.Wait)
	}
}

func (s *Evaluate) evaluate(e *Event, current *Policies) {
	r := &e.Record
	var static anomaly.Class
	if c := e.cached; c != nil {
		c.apply(r, s.Explain)
		e.Unresolved, static = c.unresolved, c.static
		if e.sib != nil && e.conn != nil {
			e.conn.eval.Store(c) // a sibling's: the connection's own from now on
		}
	} else {
		v := &s.verdict
		picked := s.judge.Evaluate(r, &e.Res, v)
		var blocks *anomaly.Blocks
		if current != nil {
			blocks = current.Blocks
		}
		static = anomaly.Static(r, v, blocks)
		if c := e.remember(current, picked, static); c != nil && e.sib != nil {
			e.sib.eval.Store(c)
		}
	}
	e.Anomaly = static
	if s.Inspector != nil {
		h := &s.handle
		if e.conn != nil {
			h = &e.conn.base
		} else {
			*h = baseline.Handle{}
		}
		if e.sib != nil && *h == (baseline.Handle{}) {
			*h = e.sib.base // the same peer entries as its siblings'
		}
		e.Anomaly |= s.Inspector.NovelConn(r, h, e.Repeat)
		if e.sib != nil {
			e.sib.base = *h
		}
	}
	anomaly.Mark(r, e.Anomaly)
	if e.Reply {
		r.Src, r.Dst = r.Dst, r.Src
	}
}

// StageSinks names the fanout's queue in loss counts.
const StageSinks = "fanout"
