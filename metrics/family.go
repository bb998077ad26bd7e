package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxLabels is the most labels a family has; keys are fixed-size arrays so
// that a lookup hashes them without building a string.
const maxLabels = 4

type labelKey [maxLabels]string

// family is a counter vector whose first capped labels (namespace, workload
// or reason) are bounded: once it holds cap series, a new combination of
// them is counted under "other" instead, and the fold is counted in the
// overflow counter. The remaining labels come from small fixed sets and are
// never folded.
type family struct {
	name   string
	desc   *prometheus.Desc
	nLabel int
	capped int // labels [0, capped) fold into Other
	limit  int // 0: no cap
	// overflow counts folded observations (nil for an uncapped family).
	overflow prometheus.Counter

	mu     sync.Mutex
	series map[labelKey]*uint64
}

func newFamily(name, help string, labels []string, capped, limit int, overflow *prometheus.CounterVec) *family {
	f := &family{
		name:   name,
		desc:   prometheus.NewDesc(name, help, labels, nil),
		nLabel: len(labels),
		capped: capped,
		limit:  limit,
		series: make(map[labelKey]*uint64),
	}
	if overflow != nil && capped > 0 {
		f.overflow = overflow.WithLabelValues(name)
	}
	return f
}

// add adds n to the series k, folding k's capped labels into Other when the
// family is full.
func (f *family) add(k labelKey, n uint64) {
	f.mu.Lock()
	c, ok := f.series[k]
	if !ok {
		if f.limit > 0 && f.capped > 0 && len(f.series) >= f.limit {
			for i := range f.capped {
				k[i] = Other
			}
			if f.overflow != nil {
				f.overflow.Inc()
			}
			c, ok = f.series[k]
		}
		if !ok {
			c = new(uint64)
			f.series[k] = c
		}
	}
	*c += n
	f.mu.Unlock()
}

// value returns one series' count, for tests and the agent's own checks.
func (f *family) value(k labelKey) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.series[k]; ok {
		return *c
	}
	return 0
}

// len returns the number of series.
func (f *family) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.series)
}

func (f *family) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f *family) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	out := make([]prometheus.Metric, 0, len(f.series))
	for k, c := range f.series {
		out = append(out, prometheus.MustNewConstMetric(f.desc, prometheus.CounterValue, float64(*c), k[:f.nLabel]...))
	}
	f.mu.Unlock()
	for _, m := range out {
		ch <- m
	}
}
