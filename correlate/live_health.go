package correlate

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// liveMetrics are the inventory's Prometheus metrics.
type liveMetrics struct {
	errors *prometheus.CounterVec
}

var (
	syncedDesc = prometheus.NewDesc("auditor_inventory_synced",
		"1 once a resource has been listed and indexed.", []string{"resource"}, nil)
	degradedDesc = prometheus.NewDesc("auditor_inventory_degraded",
		"1 while the last list or watch of a resource failed.", []string{"resource", "reason"}, nil)
)

func newLiveMetrics(reg prometheus.Registerer) (*liveMetrics, error) {
	m := &liveMetrics{errors: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "auditor_inventory_errors_total",
		Help: "Failed lists and watches of the Kubernetes API, by resource and reason (forbidden, unauthorized, unreachable, not-found, other).",
	}, []string{"resource", "reason"})}
	if reg != nil {
		if err := reg.Register(m.errors); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// liveCollector reports the per-resource gauges at scrape time.
type liveCollector struct{ l *Live }

func (c liveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- syncedDesc
	ch <- degradedDesc
}

func (c liveCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.l.resources {
		synced := 0.0
		if r.registration.HasSynced() {
			synced = 1
		}
		ch <- prometheus.MustNewConstMetric(syncedDesc, prometheus.GaugeValue, synced, r.name)
		r.mu.Lock()
		if r.err != nil {
			ch <- prometheus.MustNewConstMetric(degradedDesc, prometheus.GaugeValue, 1, r.name, r.reason)
		}
		r.mu.Unlock()
	}
}

// Collector returns the live inventory's gauges (auditor_inventory_synced,
// auditor_inventory_degraded) for registration next to its counters.
func (l *Live) Collector() prometheus.Collector { return liveCollector{l} }

// apiCalled records the outcome of every list and watch call. The
// reflector retries some failures (an unreachable server during a streaming
// list) without telling its error handler, so errors are counted here.
func (l *Live) apiCalled(ctx context.Context, r *liveResource, err error) {
	if err == nil {
		l.apiAnswered(r)
		return
	}
	if ctx.Err() != nil {
		return // shutting down
	}
	r.mu.Lock()
	r.callErr = err
	r.mu.Unlock()
	l.recordError(r, err)
}

// watchFailed is the informers' WatchErrorHandler: it sees what ends a
// list-and-watch cycle, including errors of an established watch; those a
// call already returned were counted by apiCalled.
func (l *Live) watchFailed(r *liveResource, err error) {
	r.mu.Lock()
	seen := r.callErr != nil && errors.Is(err, r.callErr)
	r.mu.Unlock()
	if !seen {
		l.recordError(r, err)
	}
}

// recordError counts an error, logs when a resource's state changes, and
// never stops the inventory: the reflector keeps retrying with backoff.
func (l *Live) recordError(r *liveResource, err error) {
	reason, benign := classifyAPIError(err)
	if benign {
		// A watch that ended or expired: the reflector lists again, no trouble.
		l.log.Debug("inventory watch restarted", zap.String("resource", r.name), zap.Error(err))
		return
	}
	l.metrics.errors.WithLabelValues(r.name, reason).Inc()
	r.mu.Lock()
	changed := r.reason != reason || r.err == nil
	r.err, r.reason = err, reason
	r.denied = reason == "forbidden" || reason == "unauthorized" || reason == "not-found"
	r.mu.Unlock()
	if !changed {
		return
	}
	fields := []zap.Field{zap.String("resource", r.name), zap.String("reason", reason), zap.Error(err)}
	if reason == "unreachable" {
		l.log.Warn("inventory cannot reach the API server; retrying", fields...)
		return
	}
	l.log.Error("inventory cannot read a resource; resolution that needs it is degraded", fields...)
}

// apiAnswered records a successful list or watch of r.
func (l *Live) apiAnswered(r *liveResource) {
	r.mu.Lock()
	prev := r.err
	r.err, r.reason, r.denied, r.callErr = nil, "", false, nil
	r.mu.Unlock()
	if prev != nil {
		l.log.Info("inventory reads the resource again", zap.String("resource", r.name))
	}
}

// reportSync logs once when the inventory has synced.
func (l *Live) reportSync(ctx context.Context) {
	start := l.cfg.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if l.HasSynced() {
			fields := []zap.Field{zap.Duration("after", l.cfg.Now().Sub(start))}
			if d := l.Degraded(); len(d) > 0 {
				names := make([]string, 0, len(d))
				for n := range d {
					names = append(names, n)
				}
				fields = append(fields, zap.Strings("degraded", names))
			}
			l.log.Info("inventory synced", fields...)
			return
		}
	}
}

// classifyAPIError names the kind of trouble; benign errors are a watch's
// normal end.
func classifyAPIError(err error) (reason string, benign bool) {
	switch {
	case errors.Is(err, io.EOF), apierrors.IsResourceExpired(err), apierrors.IsGone(err):
		return "", true
	case apierrors.IsForbidden(err):
		return "forbidden", false
	case apierrors.IsUnauthorized(err):
		return "unauthorized", false
	case apierrors.IsNotFound(err):
		return "not-found", false // the cluster does not serve this API
	case isUnreachable(err):
		return "unreachable", false
	}
	return "other", false
}

func isUnreachable(err error) bool {
	var netErr net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
}
