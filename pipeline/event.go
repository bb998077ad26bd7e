// Package pipeline joins the agent's stages: a source's records are batched
// (Ingest), resolved to cluster objects (Correlate), judged by policy and
// the baseline (Evaluate), and handed to every sink (Fanout). Stages are
// joined by bounded channels of batches; a stage whose next queue is full
// drops the batch and counts it, so that nothing ever blocks the kernel
// side. Closing a stage's input drains it and closes its output, which is
// how the agent shuts down in order.
package pipeline

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

// Event is a flow record on its way, with what the stages learned about it
// that the record does not carry.
type Event struct {
	Record flow.Record
	// Res is the correlate stage's resolution of both sides, which the
	// evaluate stage judges (one destination candidate per Service backend).
	Res correlate.Resolution
	// Anomaly holds the anomalous-egress classes the evaluate stage found.
	Anomaly anomaly.Class
	// Unresolved is set when no side resolved to a pod.
	Unresolved bool
	// Repeat is set when the record's connection was already reported by
	// an earlier record (an earlier drain, its reply direction, another
	// Hubble event): sinks count connections, so they skip repeats.
	Repeat bool
	// Reply is set when the record is its connection's reply direction: its
	// Dst opened the connection. It is judged as the connection.
	Reply bool

	// conn is the record's connection; cached, when set by the correlate
	// stage, is the connection's judgement that this record reuses.
	conn   *connState
	cached *connEval
	// sib, set by the correlate stage, is the record's siblings' shared
	// state: cached came from it when set together (see siblings).
	sib *sibling
	// judged is where the evaluate stage interns judgements (nil: no
	// interning), set with conn.
	judged *judgements
	// inventory is the resolver's inventory version when the correlate
	// stage saw the record (0 for a resolver without versions).
	inventory uint64
}

// Client and Server return the endpoints of the record's connection: who
// opened it and who accepted it.
func (e *Event) Client() *flow.Endpoint {
	if e.Reply {
		return &e.Record.Dst
	}
	return &e.Record.Src
}

// Server: see Client.
func (e *Event) Server() *flow.Endpoint {
	if e.Reply {
		return &e.Record.Src
	}
	return &e.Record.Dst
}

// Batch is a slice of events passed between stages. After the evaluate
// stage it is read-only and shared by every sink; the last sink to finish
// with it returns it to its pool.
type Batch struct {
	Events []Event
	refs   atomic.Int32
	pool   *BatchPool
}

// Add appends rec as a new event, reusing the slot's resolution buffers,
// and returns it.
func (b *Batch) Add(rec *flow.Record) *Event {
	n := len(b.Events)
	if n < cap(b.Events) {
		b.Events = b.Events[:n+1]
		b.Events[n].Record = *rec
	} else {
		b.Events = append(b.Events, Event{Record: *rec})
	}
	return &b.Events[n]
}

// BatchPool recycles batches, so that the steady state allocates none.
type BatchPool struct {
	size int
	p    sync.Pool
}

// NewBatchPool returns a pool of batches of capacity size.
func NewBatchPool(size int) *BatchPool {
	if size <= 0 {
		size = DefaultBatchSize
	}
	bp := &BatchPool{size: size}
	bp.p.New = func() any { return &Batch{Events: make([]Event, 0, size), pool: bp} }
	return bp
}

// Get returns an empty batch.
func (bp *BatchPool) Get() *Batch {
	b := bp.p.Get().(*Batch)
	b.refs.Store(1)
	return b
}

// Size is the capacity of the pool's batches.
func (bp *BatchPool) Size() int { return bp.size }

// Release drops one reference; the last returns the batch to its pool.
func (b *Batch) Release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	// Drop what records reference (strings and maps of old inventories) but
	// keep each resolution's candidate slice for reuse.
	for i := range b.Events {
		e := &b.Events[i]
		e.Record, e.Anomaly, e.Unresolved, e.Repeat, e.Reply = flow.Record{}, 0, false, false, false
		e.conn, e.cached, e.judged, e.sib = nil, nil, nil, nil
	}
	b.Events = b.Events[:0]
	if b.pool != nil {
		b.pool.p.Put(b)
	}
}

// Meter counts what the stages see; *metrics.Metrics implements it.
type Meter interface {
	// Entered counts n records entering stage.
	Entered(stage string, n uint64)
	// Lost counts n records lost at stage for cause.
	Lost(stage, cause string, n uint64)
}

// Defaults.
const (
	DefaultBatchSize = 128
	// DefaultQueueSize is the capacity, in batches, of each stage's queue.
	DefaultQueueSize = 8
)

// Causes of loss.
const (
	CauseQueueFull = "queue-full"
	CauseShutdown  = "shutdown"
)

// send hands b to the next stage without waiting: when the queue is full the
// batch is dropped and counted against the next stage.
func send(out chan<- *Batch, b *Batch, stage string, m Meter) bool {
	select {
	case out <- b:
		return true
	default:
		m.Lost(stage, CauseQueueFull, uint64(len(b.Events)))
		b.Release()
		return false
	}
}

// forward hands b to the next stage: without waiting (send), or, for a
// source that can be made to wait, waiting until the stage takes it or ctx
// ends (then it is lost at shutdown).
func forward(ctx context.Context, out chan<- *Batch, b *Batch, stage string, m Meter, wait bool) {
	if !wait {
		send(out, b, stage, m)
		return
	}
	select {
	case out <- b:
	case <-ctx.Done():
		m.Lost(stage, CauseShutdown, uint64(len(b.Events)))
		b.Release()
	}
}

// nopMeter counts nothing.
type nopMeter struct{}

func (nopMeter) Entered(string, uint64)      {}
func (nopMeter) Lost(string, string, uint64) {}

func meterOr(m Meter) Meter {
	if m == nil {
		return nopMeter{}
	}
	return m
}

// dropQueued counts what is left in a stage's queue when the stage stops
// early (ctx ended), so that every record is accounted for.
func dropQueued(in <-chan *Batch, stage string, m Meter) {
	for {
		select {
		case b, ok := <-in:
			if !ok {
				return
			}
			m.Lost(stage, CauseShutdown, uint64(len(b.Events)))
			b.Release()
		default:
			return
		}
	}
}
