package agent

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/flow-auditor/flow-auditor/collector/ebpf"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/metrics"
)

// ebpfSource adapts the kernel source: each drain's records are merged per
// connection (mergeConnections) and handed on without waiting; a drain the
// pipeline cannot take (two are already waiting) is counted as lost at
// stage "ingest".
type ebpfSource struct {
	src  *ebpf.Source
	in   chan []flow.Record
	out  chan []flow.Record
	lost atomic.Uint64
	log  *zap.Logger
}

func newEBPFSource(c *Config, log *zap.Logger) (Source, error) {
	var ifaces *regexp.Regexp
	if c.Interfaces != "" {
		ifaces = regexp.MustCompile(c.Interfaces) // checked by Validate
	}
	src, err := ebpf.New(ebpf.Config{
		NetnsPath:   c.Netns,
		Interfaces:  ifaces,
		Interval:    c.Interval,
		FlowEntries: uint32(c.MapSize),
		NodeName:    c.NodeName,
	}, log.With(zap.String("source", "ebpf")))
	if err != nil {
		return nil, err
	}
	// Two drains may wait for the pipeline: a drain holds every live
	// connection's record, and more would only hold more memory.
	return &ebpfSource{src: src, in: make(chan []flow.Record, 1), out: make(chan []flow.Record, 2), log: log}, nil
}

func (s *ebpfSource) Batches() <-chan []flow.Record { return s.out }

// Run attaches, drains and merges until ctx ends; the kernel source then
// detaches its interface programs and makes a final drain, which is
// merged and handed on before Batches is closed.
func (s *ebpfSource) Run(ctx context.Context) error {
	merged := make(chan struct{})
	go func() {
		defer close(merged)
		defer close(s.out)
		for recs := range s.in {
			recs = mergeConnections(recs)
			select {
			case s.out <- recs:
			default:
				s.lost.Add(uint64(len(recs)))
			}
		}
	}()
	err := s.src.Run(ctx, s.in)
	<-merged
	return err
}

// Ready reports whether the programs are attached.
func (s *ebpfSource) Ready() error {
	if !s.src.Ready() {
		return errors.New("programs not attached yet")
	}
	return nil
}

// Close unloads the programs.
func (s *ebpfSource) Close() error { return s.src.Close() }

// Losses reports the kernel's loss counters and the drains that found the
// pipeline full.
func (s *ebpfSource) Losses() []metrics.Loss {
	out := []metrics.Loss{{Stage: "ingest", Cause: "queue-full", Count: s.lost.Load()}}
	st, err := s.src.Stats()
	if err != nil {
		return out
	}
	return append(out,
		metrics.Loss{Stage: "kernel", Cause: "ringbuf-full", Count: st.Kernel.RingbufFull},
		metrics.Loss{Stage: "kernel", Cause: "flow-map-full", Count: st.Kernel.FlowMapFull},
		metrics.Loss{Stage: "kernel", Cause: "drop-map-full", Count: st.Kernel.DropMapFull},
		metrics.Loss{Stage: "kernel", Cause: "parse-failure", Count: st.Kernel.ParseFailures},
		metrics.Loss{Stage: "source", Cause: "queue-full", Count: st.RecordsLost},
	)
}

// MapStats reports the kernel maps' fill at the last drain.
func (s *ebpfSource) MapStats() []metrics.MapStat {
	st, err := s.src.Stats()
	if err != nil {
		return nil
	}
	return []metrics.MapStat{
		{Map: "flows", Entries: int(st.FlowMapFill), Capacity: int(st.FlowMapSize)},
		{Map: "drops", Entries: int(st.DropMapFill), Capacity: int(st.DropMapSize)},
	}
}
