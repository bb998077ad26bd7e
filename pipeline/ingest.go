package pipeline

import (
	"context"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Ingest batches a source's records for the correlate stage and marks each
// one's connection (repeat, reply). It takes what the source has ready
// without waiting for more, so batching adds no latency, and it never
// blocks the source: a full queue loses the batch (unless Wait).
type Ingest struct {
	// In is a source's output of single records, or InBatches of slices
	// (the kernel source's drains); Ingest ends when the one given is
	// closed.
	In        <-chan flow.Record
	InBatches <-chan []flow.Record
	// Out is the correlate stage's queue; Ingest closes it when it ends.
	Out   chan<- *Batch
	Pool  *BatchPool
	Meter Meter
	// Wait makes a full queue wait instead of dropping: for sources that
	// can be slowed down (a file), never for the kernel.
	Wait bool

	conns *conns
}

// Run forwards batches until the input is closed (it then closes Out and
// returns nil) or ctx ends (ctx.Err()).
func (s *Ingest) Run(ctx context.Context) error {
	defer close(s.Out)
	if s.conns == nil {
		s.conns = newConns(0, 0, nil)
	}
	if s.InBatches != nil {
		return s.runBatches(ctx)
	}
	for {
		var rec flow.Record
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case rec, ok = <-s.In:
		}
		if !ok {
			return nil
		}
		b := s.Pool.Get()
		s.add(b, &rec)
		open := true
	more:
		for len(b.Events) < s.Pool.Size() {
			select {
			case rec, open = <-s.In:
				if !open {
					break more
				}
				s.add(b, &rec)
			default:
				break more
			}
		}
		s.emit(ctx, b)
		if !open {
			return nil
		}
	}
}

func (s *Ingest) runBatches(ctx context.Context) error {
	for {
		var recs []flow.Record
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case recs, ok = <-s.InBatches:
		}
		if !ok {
			return nil
		}
		for len(recs) > 0 {
			b := s.Pool.Get()
			n := min(len(recs), s.Pool.Size())
			s.conns.warm(recs[:n])
			for i := range n {
				s.add(b, &recs[i])
			}
			recs = recs[n:]
			s.emit(ctx, b)
		}
	}
}

func (s *Ingest) add(b *Batch, rec *flow.Record) {
	e := b.Add(rec)
	e.conn, e.Repeat, e.Reply = s.conns.track(&e.Record)
	e.judged = &s.conns.judged
}

func (s *Ingest) emit(ctx context.Context, b *Batch) {
	m := meterOr(s.Meter)
	m.Entered(StageIngest, uint64(len(b.Events)))
	forward(ctx, s.Out, b, StageCorrelate, m, s.Wait)
}

// Stage names, as the auditor_pipeline_records_total and
// auditor_lost_events_total labels spell them. Sinks are named by their own
// Name.
const (
	StageIngest    = "ingest"
	StageCorrelate = "correlate"
	StageEvaluate  = "evaluate"
)
