package pipeline

import (
	"context"
	"errors"
	"fmt"
)

// Sink consumes evaluated events: metrics, the Hubble ring, logs. Consume
// must not modify the events or keep the slice after it returns (copy what
// it keeps); it runs on the sink's own goroutine.
type Sink interface {
	// Name labels the sink's records and losses ("metrics", "hubble", ...).
	Name() string
	Consume(events []Event)
}

// SinkRunner feeds one sink from its own bounded queue, so that a slow sink
// loses its own copy of the events and slows nobody else.
type SinkRunner struct {
	Sink  Sink
	In    chan *Batch
	Meter Meter
}

// NewSinkRunner returns a runner with a queue of queueSize batches.
func NewSinkRunner(s Sink, queueSize int, m Meter) *SinkRunner {
	if queueSize <= 0 {
		queueSize = DefaultQueueSize
	}
	return &SinkRunner{Sink: s, In: make(chan *Batch, queueSize), Meter: meterOr(m)}
}

// Run consumes batches until In is closed (nil) or ctx ends: then the
// batches still queued are counted as lost at shutdown.
func (r *SinkRunner) Run(ctx context.Context) error {
	name := r.Sink.Name()
	for {
		select {
		case <-ctx.Done():
			dropQueued(r.In, name, r.Meter)
			return ctx.Err()
		case b, ok := <-r.In:
			if !ok {
				return nil
			}
			r.Meter.Entered(name, uint64(len(b.Events)))
			r.Sink.Consume(b.Events)
			b.Release()
		}
	}
}

// Fanout hands every evaluated batch to every sink's queue. It closes the
// sinks' queues when its input is closed.
type Fanout struct {
	In <-chan *Batch
	// Inline sinks are called by the fanout itself, in order, with every
	// batch: for sinks that cost little and must never lose a record (the
	// metrics that alerts read). They must not block.
	Inline []Sink
	Sinks  []*SinkRunner
	Meter  Meter
	// Wait makes the fanout wait for a full sink queue instead of dropping:
	// for benchmarks that charge every sink with every record, never for
	// the agent.
	Wait bool
}

// Run distributes until In is closed (nil) or ctx ends (ctx.Err()).
func (f *Fanout) Run(ctx context.Context) error {
	defer func() {
		for _, s := range f.Sinks {
			close(s.In)
		}
	}()
	m := meterOr(f.Meter)
	names := make([]string, len(f.Sinks))
	for i, s := range f.Sinks {
		names[i] = s.Sink.Name()
	}
	for {
		var b *Batch
		var ok bool
		select {
		case <-ctx.Done():
			dropQueued(f.In, StageSinks, m)
			return ctx.Err()
		case b, ok = <-f.In:
		}
		if !ok {
			return nil
		}
		for _, s := range f.Inline {
			m.Entered(s.Name(), uint64(len(b.Events)))
			s.Consume(b.Events)
		}
		if len(f.Sinks) == 0 {
			b.Release()
			continue
		}
		// One reference per sink; send drops the reference of a sink whose
		// queue is full.
		b.refs.Add(int32(len(f.Sinks) - 1))
		for i, s := range f.Sinks {
			forward(ctx, s.In, b, names[i], m, f.Wait)
		}
	}
}

// checkNames refuses two sinks of one name: their counts would merge.
func checkNames(inline []Sink, sinks []*SinkRunner) error {
	seen := make(map[string]bool)
	var errs []error
	names := make([]string, 0, len(inline)+len(sinks))
	for _, s := range inline {
		names = append(names, s.Name())
	}
	for _, s := range sinks {
		names = append(names, s.Sink.Name())
	}
	for _, n := range names {
		if seen[n] {
			errs = append(errs, fmt.Errorf("two sinks named %q", n))
		}
		seen[n] = true
	}
	return errors.Join(errs...)
}
