package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// check is one readiness condition: nil when met.
type check struct {
	name string
	fn   func() error
}

// health answers /healthz (the process works: its pipeline runs) and
// /readyz (every check passes: caches synced, programs attached).
type health struct {
	checks   []check                // set before serving, then read-only
	stopped  atomic.Pointer[string] // why the pipeline stopped, if it did
	stopping atomic.Bool            // shutting down: no longer ready
}

func (h *health) ready() error {
	var errs []error
	if h.stopping.Load() {
		errs = append(errs, errors.New("shutting down"))
	}
	for _, c := range h.checks {
		if err := c.fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

func (h *health) healthz(w http.ResponseWriter, _ *http.Request) {
	if why := h.stopped.Load(); why != nil {
		http.Error(w, "pipeline stopped: "+*why, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (h *health) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := h.ready(); err != nil {
		http.Error(w, "not ready: "+strings.ReplaceAll(err.Error(), "\n", "; "), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// serveHTTP serves /metrics, /healthz and /readyz on lis until ctx ends.
func serveHTTP(ctx context.Context, lis net.Listener, reg *prometheus.Registry, h *health) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", h.healthz)
	mux.HandleFunc("/readyz", h.readyz)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}
