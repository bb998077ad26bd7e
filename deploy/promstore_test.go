package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// memStore is a Prometheus storage in memory: what a Prometheus server
// would hold after scraping the agents, for the engine to query.
type memStore struct {
	series map[string]*memSeries
}

type memSeries struct {
	lset labels.Labels
	ts   []int64
	vs   []float64
}

func newMemStore() *memStore { return &memStore{series: map[string]*memSeries{}} }

func (s *memStore) add(lset labels.Labels, at time.Time, v float64) {
	key := lset.String()
	ms := s.series[key]
	if ms == nil {
		ms = &memSeries{lset: lset}
		s.series[key] = ms
	}
	ms.ts = append(ms.ts, at.UnixMilli())
	ms.vs = append(ms.vs, v)
}

// target is one scraped agent, with the labels the chart's ServiceMonitor
// gives it.
type target struct {
	job, instance, namespace, pod, node string
}

func (tg target) labels() map[string]string {
	return map[string]string{"job": tg.job, "instance": tg.instance, "namespace": tg.namespace, "pod": tg.pod, "node": tg.node}
}

// scrape stores what g exposes at, as Prometheus would with honor_labels:
// the exposed labels win, the target's fill in the rest; up says whether
// the scrape worked (a failed scrape stores only up 0).
func (s *memStore) scrape(t testing.TB, g prometheus.Gatherer, tg target, at time.Time, up bool) {
	t.Helper()
	tl := tg.labels()
	s.add(labelsOf("up", nil, tl), at, map[bool]float64{true: 1, false: 0}[up])
	if !up {
		return
	}
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var v float64
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				v = m.GetUntyped().GetValue()
			default:
				continue // summaries and histograms: no rule or panel uses them
			}
			own := map[string]string{}
			for _, lp := range m.GetLabel() {
				own[lp.GetName()] = lp.GetValue()
			}
			s.add(labelsOf(f.GetName(), own, tl), at, v)
		}
	}
}

func labelsOf(name string, own, targetLabels map[string]string) labels.Labels {
	b := labels.NewBuilder(labels.EmptyLabels())
	for k, v := range targetLabels {
		b.Set(k, v)
	}
	for k, v := range own {
		if v != "" { // an empty exposed label is no label: the target's stays
			b.Set(k, v)
		}
	}
	b.Set(labels.MetricName, name)
	return b.Labels()
}

func (s *memStore) Querier(mint, maxt int64) (storage.Querier, error) {
	return &storage.MockQuerier{SelectMockFunction: func(sortSeries bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
		var out []storage.Series
		for _, ser := range s.series {
			if !matchesAll(ser.lset, ms) {
				continue
			}
			var samples []chunks.Sample
			for i, at := range ser.ts {
				if at >= mint && at <= maxt {
					samples = append(samples, floatSample{at, ser.vs[i]})
				}
			}
			if len(samples) == 0 {
				continue
			}
			out = append(out, storage.NewListSeries(ser.lset, samples))
		}
		slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
		return &sliceSeriesSet{series: out, i: -1}
	}}, nil
}

func matchesAll(l labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}

// floatSample is one stored float sample.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }

type sliceSeriesSet struct {
	series []storage.Series
	i      int
}

func (s *sliceSeriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *sliceSeriesSet) At() storage.Series                { return s.series[s.i] }
func (s *sliceSeriesSet) Err() error                        { return nil }
func (s *sliceSeriesSet) Warnings() annotations.Annotations { return nil }

func newEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:    10_000_000,
		Timeout:       time.Minute,
		LookbackDelta: 5 * time.Minute,
		Parser:        promParser,
	})
}

var promParser = parser.NewParser(parser.Options{})

// instant evaluates expr at ts.
func instant(t testing.TB, eng *promql.Engine, q storage.Queryable, expr string, ts time.Time) promql.Vector {
	t.Helper()
	qry, err := eng.NewInstantQuery(context.Background(), q, nil, expr, ts)
	if err != nil {
		t.Fatalf("query %q: %v", expr, err)
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("query %q at %v: %v", expr, ts, res.Err)
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V}}
	default:
		t.Fatalf("query %q: %s result, want a vector", expr, res.Value.Type())
		return nil
	}
}

// metricNames returns the metric names expr selects.
func metricNames(expr parser.Expr) []string {
	var out []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			if name == "" {
				for _, m := range vs.LabelMatchers {
					if m.Name == labels.MetricName {
						name = m.Value
					}
				}
			}
			out = append(out, name)
		}
		return nil
	})
	return out
}

// exported reports whether reg has a collector describing the metric name.
// A registry cannot list its collectors, and families without series are
// not gathered; but registering a second collector that describes an
// existing name fails, so each name is probed that way.
func exported(reg *prometheus.Registry, name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := reg.Register(probe); err != nil {
		return true
	}
	reg.Unregister(probe)
	return false
}

// prometheusOwn are series Prometheus writes itself for every target.
var prometheusOwn = []string{"up"}

// checkExported fails for each name in names that the agent does not export.
func checkExported(t *testing.T, reg *prometheus.Registry, where string, names []string) {
	t.Helper()
	for _, n := range names {
		if n == "" {
			t.Errorf("%s: a selector without a metric name", where)
			continue
		}
		if slices.Contains(prometheusOwn, n) {
			continue
		}
		if !exported(reg, n) {
			t.Errorf("%s: metric %s is not one the agent exports", where, n)
		}
	}
}

// legendLabels returns the labels a Grafana legend or Prometheus template
// names: {{x}} or {{ $labels.x }}.
func legendLabels(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return out
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return out
		}
		inner := strings.TrimSpace(s[i+2 : i+j])
		inner = strings.TrimPrefix(inner, "$labels.")
		if inner != "" && !strings.ContainsAny(inner, " $|.") {
			out = append(out, inner)
		}
		s = s[i+j+2:]
	}
}

func fmtVector(v promql.Vector) string {
	var b strings.Builder
	for _, s := range v {
		fmt.Fprintf(&b, "  %s = %g\n", s.Metric, s.F)
	}
	return b.String()
}
