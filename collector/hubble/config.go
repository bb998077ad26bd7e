// Package hubble is the `hubble` flow source: it follows a Cilium Hubble
// server or Hubble Relay through the Observer gRPC API (GetFlows with
// follow), reconnects with capped, jittered exponential backoff, resumes
// from the last flow's time without repeating flows, and emits flow records
// on a bounded channel, dropping and counting when the consumer is slow.
package hubble

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"go.uber.org/zap"
)

// Defaults for the zero values of Config.
const (
	DefaultBufferSize     = 4096
	DefaultBackoffInitial = 200 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	// DefaultKeepalive is longer than grpc-go's default server enforcement
	// (5 minutes), which Hubble keeps: pinging more often would get the
	// connection closed with "too many pings".
	DefaultKeepalive = 6 * time.Minute
)

// Config configures a Source. Only Server is required.
type Config struct {
	// Server is the Hubble server or relay, host:port (e.g.
	// "hubble-relay.kube-system.svc:80", or "unix:///var/run/cilium/hubble.sock").
	Server string
	TLS    TLSConfig

	// Since is where the first connection starts: zero follows from now,
	// otherwise flows since that time are replayed first.
	Since time.Time
	// Whitelist and Blacklist are passed to GetFlows unchanged, to filter on
	// the server (e.g. only policy verdict events).
	Whitelist, Blacklist []*flowpb.FlowFilter

	// BufferSize is the capacity of the output channel (default 4096).
	BufferSize int
	// BackoffInitial and BackoffMax bound the reconnect delay, which doubles
	// after each failed attempt and carries up to 50% jitter (defaults
	// 200ms and 30s).
	BackoffInitial, BackoffMax time.Duration
	// Keepalive is the gRPC keepalive ping interval that detects a dead
	// server on an idle stream (default 6m; negative disables it).
	Keepalive time.Duration

	Logger *zap.Logger
}

// TLSConfig selects TLS to the server. TLS is on when Enabled or when any
// file or ServerName is set.
type TLSConfig struct {
	Enabled bool
	// CAFile is a PEM bundle of the CAs that sign the server's certificate
	// (default: the system pool).
	CAFile string
	// CertFile and KeyFile are the client certificate, for servers that
	// require mutual TLS (Hubble Relay with mTLS does).
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate
	// (Hubble's certificates name e.g. "*.default.hubble-grpc.cilium.io").
	ServerName string
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool
}

func (t TLSConfig) on() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" ||
		t.ServerName != "" || t.InsecureSkipVerify
}

// load reads the files each time it is called, so that a reconnect picks up
// rotated certificates (Cilium's are short-lived).
func (t TLSConfig) load() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA file %s: no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("TLS client certificate and key must be given together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (c Config) withDefaults() (Config, error) {
	if c.Server == "" {
		return c, errors.New("hubble source: no server address")
	}
	if c.BufferSize <= 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.BackoffInitial <= 0 {
		c.BackoffInitial = DefaultBackoffInitial
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffMax < c.BackoffInitial {
		c.BackoffMax = c.BackoffInitial
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.TLS.on() {
		// Fail at start on a missing or bad file rather than in a retry loop.
		if _, err := c.TLS.load(); err != nil {
			return c, fmt.Errorf("hubble source: %w", err)
		}
	}
	return c, nil
}
