package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Config assembles a pipeline.
type Config struct {
	// In is the source's output (or InBatches, for a source that emits
	// slices). Closing it drains the pipeline: Run returns once every sink
	// has consumed what was in flight.
	In        <-chan flow.Record
	InBatches <-chan []flow.Record
	// ConnIdle and ConnTable bound the table that counts each connection
	// once (defaults DefaultConnIdle, DefaultConnTable).
	ConnIdle  time.Duration
	ConnTable int
	Resolver  Resolver
	Policies  *atomic.Pointer[Policies]
	Inspector Inspector
	// Inline sinks see every record, on the fanout's goroutine (see
	// Fanout.Inline); Sinks each run on their own, behind a queue.
	Inline []Sink
	Sinks  []Sink
	// QueueSize is each stage's queue capacity in batches; BatchSize the
	// records per batch.
	QueueSize, BatchSize int
	// Explain sets explanations on allowed flows too.
	Explain bool
	// Wait makes the stages before the sinks wait for each other instead of
	// dropping, for a source that can be slowed down (a file). Sinks always
	// drop when they fall behind.
	Wait bool
	// WaitSinks makes the sinks' queues wait too, so that every record
	// reaches every sink: for sources that can wait (a file, where the
	// whole replay matters more than a stuck sink) and benchmarks; never
	// for the kernel or Hubble.
	WaitSinks bool
	Meter     Meter
}

// Pipeline is the stages of one agent, joined.
type Pipeline struct {
	ingest    *Ingest
	correlate *Correlate
	evaluate  *Evaluate
	fanout    *Fanout
	sinks     []*SinkRunner
}

// New joins the stages.
func New(cfg Config) (*Pipeline, error) {
	if (cfg.In == nil) == (cfg.InBatches == nil) || cfg.Resolver == nil || cfg.Policies == nil {
		return nil, errors.New("pipeline: one input, a resolver and policies are required")
	}
	q := cfg.QueueSize
	if q <= 0 {
		q = DefaultQueueSize
	}
	pool := NewBatchPool(cfg.BatchSize)
	m := meterOr(cfg.Meter)
	toCorrelate := make(chan *Batch, q)
	toEvaluate := make(chan *Batch, q)
	toFanout := make(chan *Batch, q)
	p := &Pipeline{
		ingest: &Ingest{In: cfg.In, InBatches: cfg.InBatches, Out: toCorrelate, Pool: pool, Meter: m, Wait: cfg.Wait,
			conns: newConns(cfg.ConnIdle, cfg.ConnTable, nil)},
		correlate: &Correlate{In: toCorrelate, Out: toEvaluate, Resolver: cfg.Resolver, Policies: cfg.Policies, Meter: m, Wait: cfg.Wait},
		evaluate: &Evaluate{In: toEvaluate, Out: toFanout, Policies: cfg.Policies,
			Inspector: cfg.Inspector, Explain: cfg.Explain, Meter: m, Wait: cfg.Wait},
	}
	for _, s := range cfg.Sinks {
		p.sinks = append(p.sinks, NewSinkRunner(s, q, m))
	}
	if err := checkNames(cfg.Inline, p.sinks); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p.fanout = &Fanout{In: toFanout, Inline: cfg.Inline, Sinks: p.sinks, Meter: m, Wait: cfg.WaitSinks}
	return p, nil
}

// Run runs every stage until the input is closed and everything in flight
// has reached the sinks (nil), or ctx ends (what is still queued is lost
// and counted; ctx.Err()).
func (p *Pipeline) Run(ctx context.Context) error {
	runs := []func(context.Context) error{p.ingest.Run, p.correlate.Run, p.evaluate.Run, p.fanout.Run}
	for _, s := range p.sinks {
		runs = append(runs, s.Run)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	for i, run := range runs {
		wg.Go(func() { errs[i] = run(ctx) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}
