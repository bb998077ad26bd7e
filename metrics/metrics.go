package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flow-auditor/flow-auditor/internal/buildinfo"
)

// DefaultCardinalityCap is the default number of series a capped family may
// hold before new namespace/workload combinations fold into "other".
const DefaultCardinalityCap = 2000

// Options configure the metrics.
type Options struct {
	// CardinalityCap bounds the series of each family labelled by namespace
	// and workload; 0 means DefaultCardinalityCap, negative means no cap.
	CardinalityCap int
	// Build is reported by auditor_build_info; zero means buildinfo.Get().
	Build buildinfo.Info
}

// MapStat is the fill of one kernel map.
type MapStat struct {
	Map      string
	Entries  int
	Capacity int
}

// Loss is a count of events lost outside the Go pipeline (the kernel's
// counters, a remote server's), read at scrape time.
type Loss struct {
	Stage, Cause string
	Count        uint64
}

// Metrics holds the agent's metrics in a registry of its own (never the
// global one, so that tests and several agents in one process do not clash).
type Metrics struct {
	reg *prometheus.Registry

	flows, violations, anomalies, drops *family
	lost                                *family
	records                             *prometheus.CounterVec
	unresolved                          prometheus.Counter
	overflow                            *prometheus.CounterVec
	ready                               prometheus.Gauge
	baselineWrites                      *prometheus.CounterVec

	mu       sync.Mutex
	mapStats []func() []MapStat
	losses   []func() []Loss
}

// New builds the metrics and registers them, with the Go runtime and process
// collectors, in a new registry.
func New(opts Options) *Metrics {
	limit := opts.CardinalityCap
	switch {
	case limit == 0:
		limit = DefaultCardinalityCap
	case limit < 0:
		limit = 0
	}
	build := opts.Build
	if build == (buildinfo.Info{}) {
		build = buildinfo.Get()
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.overflow = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: CardinalityOverflowTotal,
		Help: "Observations whose namespace/workload labels were folded into \"other\" by the cardinality cap.",
	}, []string{"metric"})
	m.flows = newFamily(FlowsTotal, "Flow records by the pod side they were observed on (egress: source pod, ingress: destination pod) and policy verdict.",
		[]string{"namespace", "workload", "direction", "verdict"}, 2, limit, m.overflow)
	m.violations = newFamily(ViolationsTotal, "Flow records carrying a violation: denied, would-deny or anomalous-egress.",
		[]string{"namespace", "workload", "kind"}, 2, limit, m.overflow)
	m.anomalies = newFamily(EgressAnomaliesTotal, "Anomalous egress flow records by class: new-destination, new-port, new-fqdn, metadata, private-range.",
		[]string{"namespace", "workload", "class"}, 2, limit, m.overflow)
	m.drops = newFamily(DropsTotal, "Flow records the kernel dropped, by namespace of the pod side and kernel drop reason.",
		[]string{"namespace", "reason"}, 2, limit, m.overflow)
	m.lost = newFamily(LostEventsTotal, "Events lost on the way, by stage and cause.",
		[]string{"stage", "cause"}, 0, 0, nil)
	m.records = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: RecordsTotal, Help: "Flow records that entered each pipeline stage.",
	}, []string{"stage"})
	m.unresolved = prometheus.NewCounter(prometheus.CounterOpts{
		Name: UnresolvedFlowsTotal, Help: "Flow records with no side resolved to a pod, node or service while the inventory was not synced.",
	})
	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: Ready, Help: "1 when the agent is ready: inventory synced and every source attached.",
	})
	m.baselineWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: BaselineWritesTotal, Help: "ObservedTraffic writes to the API server, by result.",
	}, []string{"result"})
	buildGauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: BuildInfo, Help: "Always 1; labels say which binary runs.",
	}, []string{"version", "commit", "go_version"})
	buildGauge.WithLabelValues(build.Version, build.Commit, build.GoVersion).Set(1)

	m.reg.MustRegister(
		m.flows, m.violations, m.anomalies, m.drops,
		&lostCollector{m: m}, m.records, m.unresolved, m.overflow, m.ready,
		m.baselineWrites, buildGauge, &mapCollector{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry that holds every metric of the agent.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// NewRegistry returns the registry of a fresh agent's metrics, for tests
// that check alert and dashboard expressions against what the agent exports.
func NewRegistry() *prometheus.Registry { return New(Options{}).Registry() }

// Flow counts one flow record on one pod side.
func (m *Metrics) Flow(namespace, workload, direction, verdict string, n uint64) {
	m.flows.add(labelKey{namespace, workload, direction, verdict}, n)
}

// Violation counts a flow record carrying a violation kind.
func (m *Metrics) Violation(namespace, workload, kind string) {
	m.violations.add(labelKey{namespace, workload, kind}, 1)
}

// Anomaly counts an anomalous egress flow record in one class.
func (m *Metrics) Anomaly(namespace, workload, class string) {
	m.anomalies.add(labelKey{namespace, workload, class}, 1)
}

// Drop counts a flow record the kernel dropped.
func (m *Metrics) Drop(namespace, reason string) {
	m.drops.add(labelKey{namespace, reason}, 1)
}

// Lost counts n events lost in a stage for a cause.
func (m *Metrics) Lost(stage, cause string, n uint64) {
	m.lost.add(labelKey{stage, cause}, n)
}

// Entered counts n records entering a pipeline stage.
func (m *Metrics) Entered(stage string, n uint64) { m.records.WithLabelValues(stage).Add(float64(n)) }

// Unresolved counts a flow record that resolved to nothing.
func (m *Metrics) Unresolved() { m.unresolved.Inc() }

// SetReady sets auditor_ready.
func (m *Metrics) SetReady(ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	m.ready.Set(v)
}

// BaselineWrite counts one ObservedTraffic write.
func (m *Metrics) BaselineWrite(err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.baselineWrites.WithLabelValues(result).Inc()
}

// AddMapStats registers a reader of kernel map fill, called at each scrape.
func (m *Metrics) AddMapStats(f func() []MapStat) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mapStats = append(m.mapStats, f)
}

// AddLosses registers a reader of losses counted outside the pipeline (the
// kernel's per-CPU counters), called at each scrape. Its stages must differ
// from the pipeline's own.
func (m *Metrics) AddLosses(f func() []Loss) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.losses = append(m.losses, f)
}

// Register adds another component's collectors (the inventory's, a
// source's) to the agent's registry.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
