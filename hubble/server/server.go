// Package server is a Hubble-compatible Observer server: it serves the
// auditor's enriched flows over Cilium's Observer gRPC API (GetFlows with
// --last/--first, follow, since/until and whitelist/blacklist filters;
// ServerStatus; GetNodes; GetNamespaces), from a bounded ring of recent
// flows, so that `hubble observe --server HOST:PORT` works against one
// agent.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/cilium/api/v1/observer"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/buildinfo"
)

// ObserverServiceName is the service name Hubble reports gRPC health
// under, which `hubble status` checks.
const ObserverServiceName = "hubble.server.Observer"

// Defaults for the zero values of Config.
const (
	// DefaultCapacity is Hubble's own default ring size (4095, rounded up).
	DefaultCapacity = 4096
	// DefaultShutdownGrace bounds how long Serve waits for unary calls and
	// history replies in flight after its context ends.
	DefaultShutdownGrace = 5 * time.Second
)

// Config configures a Server.
type Config struct {
	// Capacity is how many recent flows the ring keeps (default 4096).
	Capacity int
	// NodeName names this node in GetNodes and in flows that name none.
	NodeName string
	// Version is reported by ServerStatus and GetNodes (default: the
	// binary's version).
	Version string
	// TLS, when set, is what Serve listens with (GetNodes reports it).
	TLS *tls.Config
	// ShutdownGrace bounds Serve's graceful stop (default 5s).
	ShutdownGrace time.Duration
	Logger        *zap.Logger
}

// Stats counts what a Server did.
type Stats struct {
	Seen     uint64 // flows added since start
	Held     uint64 // flows in the ring now
	Capacity uint64
	// FollowerLost is the flows that followers (GetFlows with follow) lost
	// because they read slower than flows arrived and the ring overwrote
	// them; each follower is told with a LostEvent.
	FollowerLost uint64
	Followers    int64 // follow streams open now
}

// Server serves the Observer API from a ring of flows. Create it with New,
// feed it with Add, serve it with Serve (or Register on your own gRPC
// server, then Close on shutdown).
type Server struct {
	observer.UnimplementedObserverServer

	cfg   Config
	log   *zap.Logger
	ring  *ring
	start time.Time

	// address is what GetNodes reports, set by Serve.
	address atomic.Pointer[string]

	followerLost atomic.Uint64
	followers    atomic.Int64

	closeOnce sync.Once
	closed    chan struct{} // ends follow streams at shutdown
}

// New returns a Server with an empty ring.
func New(cfg Config) *Server {
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.Version == "" {
		cfg.Version = buildinfo.Get().Version
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Server{
		cfg:    cfg,
		log:    cfg.Logger.With(zap.String("component", "hubble-server")),
		ring:   newRing(cfg.Capacity),
		start:  time.Now(),
		closed: make(chan struct{}),
	}
}

// Add copies an evaluated flow record into the ring, overwriting the
// oldest when full. It never waits for readers and allocates nothing: it
// holds a lock only for the copy. Safe for concurrent use. The record's
// label map is kept, not copied: it must not be modified after.
func (s *Server) Add(rec flow.Record) {
	s.ring.add(&rec, s.cfg.NodeName, time.Now())
}

// AddEach adds n records, rec(i) for each i below n, as Add does, reading
// the clock and taking the lock once for all of them.
func (s *Server) AddEach(n int, rec func(i int) *flow.Record) {
	s.ring.addEach(n, rec, s.cfg.NodeName, time.Now())
}

// Run adds every record from in until in is closed or ctx ends: the ring
// as a pipeline stage.
func (s *Server) Run(ctx context.Context, in <-chan flow.Record) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case rec, ok := <-in:
			if !ok {
				return nil
			}
			s.Add(rec)
		}
	}
}

// Stats returns the counters so far; safe to call at any time.
func (s *Server) Stats() Stats {
	oldest, seen := s.ring.bounds()
	held := seen - oldest
	return Stats{
		Seen:         seen,
		Held:         held,
		Capacity:     uint64(s.cfg.Capacity),
		FollowerLost: s.followerLost.Load(),
		Followers:    s.followers.Load(),
	}
}

// Register registers the Observer service on g.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	observer.RegisterObserverServer(g, s)
}

// Close ends every follow stream; call it before stopping a gRPC server
// the Server was registered on. Serve calls it itself.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Serve serves the Observer API on lis until ctx ends, then ends the
// follow streams, stops gracefully within the shutdown grace and returns
// nil. opts are added to the gRPC server's options.
func (s *Server) Serve(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) error {
	if s.cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.cfg.TLS)))
	}
	addr := lis.Addr().String()
	s.address.Store(&addr)
	g := grpc.NewServer(opts...)
	s.Register(g)
	// `hubble status` checks gRPC health before asking ServerStatus.
	hs := health.NewServer()
	hs.SetServingStatus(ObserverServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)

	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	s.log.Info("serving the Hubble Observer API", zap.String("addr", addr), zap.Bool("tls", s.cfg.TLS != nil))

	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serve hubble observer on %s: %w", addr, err)
	case <-ctx.Done():
	}
	hs.Shutdown()
	s.Close()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	t := time.NewTimer(s.cfg.ShutdownGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		g.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve hubble observer on %s: %w", addr, err)
	}
	return nil
}

// ListenAndServe listens on addr (host:port) and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string, opts ...grpc.ServerOption) error {
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for hubble observer: %w", err)
	}
	return s.Serve(ctx, lis, opts...)
}
