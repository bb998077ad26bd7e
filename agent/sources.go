package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/flow-auditor/flow-auditor/collector/file"
	"github.com/flow-auditor/flow-auditor/collector/hubble"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/metrics"
)

// Source is a flow source as the agent drives it: Run produces records
// until ctx ends (the kernel source drains its maps a last time first) and
// closes its output when it returns. The output is Records (one record at
// a time) or Batches (slices, as the kernel source drains them): a Source
// implements exactly one of them.
type Source interface {
	Run(ctx context.Context) error
}

// The two kinds of output.
type (
	recordSource interface{ Records() <-chan flow.Record }
	batchSource  interface{ Batches() <-chan []flow.Record }
)

// Optional interfaces a source may implement.
type (
	// readier reports whether the source is attached and producing.
	readier interface{ Ready() error }
	// detacher releases what the source holds in the kernel; the agent
	// calls it last, after the baseline is flushed.
	detacher interface{ Close() error }
	// lossReporter reports losses counted outside the pipeline.
	lossReporter interface{ Losses() []metrics.Loss }
	// mapReporter reports kernel map fill.
	mapReporter interface{ MapStats() []metrics.MapStat }
	// waiter marks a source that may be made to wait (a file): the stages
	// then apply back-pressure instead of dropping.
	waiter interface{ CanWait() bool }
)

// fileSource reads JSON-lines flow files, in order, once.
type fileSource struct {
	paths []string
	out   chan flow.Record
	log   *zap.Logger
}

func newFileSource(paths []string, log *zap.Logger) *fileSource {
	return &fileSource{paths: paths, out: make(chan flow.Record, 1024), log: log}
}

func (s *fileSource) Records() <-chan flow.Record { return s.out }
func (s *fileSource) CanWait() bool               { return true }

// Run reads every file, then returns (the agent keeps serving what it
// read until it is stopped).
func (s *fileSource) Run(ctx context.Context) error {
	defer close(s.out)
	var n uint64
	for _, p := range s.paths {
		if err := s.read(ctx, p, &n); err != nil {
			return err
		}
	}
	s.log.Info("flow files read", zap.Strings("files", s.paths), zap.Uint64("flows", n))
	return nil
}

func (s *fileSource) read(ctx context.Context, path string, n *uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	defer f.Close()
	r := file.NewReader(path, f)
	for {
		var rec flow.Record
		err := r.Read(&rec)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("file source: %w", err)
		}
		select {
		case s.out <- rec:
			*n++
		case <-ctx.Done():
			return nil
		}
	}
}

// hubbleSource adapts the Hubble client source: its losses are reported as
// auditor_lost_events_total{stage="source"} (queue full) and
// {stage="hubble-server"} (lost before it was sent to us).
type hubbleSource struct{ *hubble.Source }

func (s hubbleSource) Losses() []metrics.Loss {
	st := s.Stats()
	return []metrics.Loss{
		{Stage: "source", Cause: "queue-full", Count: st.QueueFull},
		{Stage: "hubble-server", Cause: "upstream-lost", Count: st.UpstreamLost},
		{Stage: "source", Cause: "invalid", Count: st.Invalid},
	}
}

func newHubbleSource(c *Config, log *zap.Logger) (Source, error) {
	src, err := hubble.New(hubble.Config{
		Server: c.HubbleServer,
		TLS: hubble.TLSConfig{
			Enabled:    c.HubbleTLS,
			CAFile:     c.HubbleTLSCA,
			CertFile:   c.HubbleTLSCert,
			KeyFile:    c.HubbleTLSKey,
			ServerName: c.HubbleTLSServerName,
		},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return hubbleSource{src}, nil
}
