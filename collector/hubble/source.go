package hubble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/flow/hubbleconv"
	"github.com/flow-auditor/flow-auditor/hubble/verdict"
)

// Stats counts what a Source did. Every flow the server sent is in exactly
// one of Emitted, Duplicates, QueueFull, Invalid and Unsupported.
type Stats struct {
	Received    uint64 // flows received from the server
	Emitted     uint64 // records delivered on the output channel
	Duplicates  uint64 // flows dropped as repeats at a resume boundary
	QueueFull   uint64 // records dropped because the consumer was slow
	Invalid     uint64 // flows the conversion rejected (no L4, bad address)
	Unsupported uint64 // flows of a protocol policy cannot name (VRRP, IGMP)
	// UpstreamLost is what the server reported lost before sending
	// (LostEvent counts: Cilium's perf ring, Hubble's ring, the relay's queue).
	UpstreamLost uint64
	Reconnects   uint64 // streams opened after the first
}

// Source follows a Hubble server. Create it with New, start Run, read
// Records until it is closed.
type Source struct {
	cfg Config
	log *zap.Logger
	out chan flow.Record

	received, emitted, duplicates, queueFull, invalid, unsupported atomic.Uint64
	upstreamLost, reconnects                                       atomic.Uint64
}

// New checks cfg (TLS files included) and returns a Source.
func New(cfg Config) (*Source, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Source{
		cfg: cfg,
		log: cfg.Logger.With(zap.String("source", "hubble"), zap.String("server", cfg.Server)),
		out: make(chan flow.Record, cfg.BufferSize),
	}, nil
}

// Records is the output: one record per Hubble flow, with Cilium's policy
// results classified (see verdict.Classify). Closed when Run returns.
func (s *Source) Records() <-chan flow.Record { return s.out }

// Stats returns the counters so far; safe to call at any time.
func (s *Source) Stats() Stats {
	return Stats{
		Received:     s.received.Load(),
		Emitted:      s.emitted.Load(),
		Duplicates:   s.duplicates.Load(),
		QueueFull:    s.queueFull.Load(),
		Invalid:      s.invalid.Load(),
		Unsupported:  s.unsupported.Load(),
		UpstreamLost: s.upstreamLost.Load(),
		Reconnects:   s.reconnects.Load(),
	}
}

// Run follows the server until ctx is cancelled, reconnecting after any
// error, and returns nil then. It closes Records on return.
func (s *Source) Run(ctx context.Context) error {
	defer close(s.out)
	var (
		pos     = resume{last: s.cfg.Since}
		bo      = newBackoff(s.cfg.BackoffInitial, s.cfg.BackoffMax)
		attempt int
	)
	for {
		if attempt > 0 {
			s.reconnects.Add(1)
			pos.reconnected()
		}
		attempt++
		got, err := s.follow(ctx, &pos)
		if ctx.Err() != nil {
			return nil
		}
		if got > 0 {
			bo.reset()
		}
		wait := bo.next()
		s.log.Warn("hubble stream ended, reconnecting",
			zap.Error(err), zap.Uint64("flows", got), zap.Duration("retry_in", wait),
			zap.Time("resume_since", pos.last))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// follow runs one GetFlows stream and returns how many flows it received.
func (s *Source) follow(ctx context.Context, pos *resume) (uint64, error) {
	conn, err := s.dial()
	if err != nil {
		return 0, err
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &observer.GetFlowsRequest{
		Follow:    true,
		Whitelist: s.cfg.Whitelist,
		Blacklist: s.cfg.Blacklist,
	}
	if t, ok := pos.since(); ok {
		req.Since = timestamppb.New(t)
	}
	stream, err := observer.NewObserverClient(conn).GetFlows(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("GetFlows: %w", err)
	}
	s.log.Info("following hubble flows", zap.Bool("resume", req.Since != nil))

	var got uint64
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("server ended the stream")
			}
			return got, fmt.Errorf("receive flows: %w", err)
		}
		switch ev := resp.GetResponseTypes().(type) {
		case *observer.GetFlowsResponse_Flow:
			got++
			s.handle(resp, ev.Flow, pos)
		case *observer.GetFlowsResponse_LostEvents:
			n := ev.LostEvents.GetNumEventsLost()
			s.upstreamLost.Add(n)
			s.log.Warn("hubble server lost flows",
				zap.String("where", ev.LostEvents.GetSource().String()), zap.Uint64("count", n))
		case *observer.GetFlowsResponse_NodeStatus:
			// A relay reports nodes joining and leaving; flows carry on.
			s.log.Debug("relay node status",
				zap.String("state", ev.NodeStatus.GetStateChange().String()),
				zap.Strings("nodes", ev.NodeStatus.GetNodeNames()))
		}
	}
}

func (s *Source) handle(resp *observer.GetFlowsResponse, f *flowpb.Flow, pos *resume) {
	s.received.Add(1)
	ts := f.GetTime()
	if ts == nil {
		ts = resp.GetTime()
	}
	if ts != nil && ts.CheckValid() == nil && pos.seen(f, ts.AsTime()) {
		s.duplicates.Add(1)
		return
	}
	rec, err := hubbleconv.FromResponse(resp)
	if err != nil {
		if errors.Is(err, hubbleconv.ErrUnsupportedProtocol) {
			s.unsupported.Add(1)
			return
		}
		s.invalid.Add(1)
		s.log.Debug("skipping hubble flow", zap.Error(err))
		return
	}
	verdict.Classify(f, &rec)
	// Never block the receive loop: a consumer that cannot keep up loses
	// records here, counted, rather than stalling the server's stream.
	select {
	case s.out <- rec:
		s.emitted.Add(1)
	default:
		s.queueFull.Add(1)
	}
}

func (s *Source) dial() (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if s.cfg.TLS.on() {
		tc, err := s.cfg.TLS.load()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if s.cfg.Keepalive > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    s.cfg.Keepalive,
			Timeout: 20 * time.Second,
		}))
	}
	conn, err := grpc.NewClient(s.cfg.Server, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", s.cfg.Server, err)
	}
	return conn, nil
}
