package metrics

import (
	"sync"
	"unsafe"

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
	// byAddr finds a series by where its label strings are stored. The
	// pipeline hands over the same strings again and again (a pod's
	// namespace and workload, constant directions and verdicts), and four
	// addresses hash much faster than four strings. Holding the addresses
	// keeps the strings alive, so an address never stands for other text.
	byAddr map[addrKey]seriesRef
}

type addrKey [maxLabels]struct {
	p *byte
	n int
}

// seriesRef is a series found by address; folded: its labels were folded
// into Other, which the overflow counter counts each time.
type seriesRef struct {
	c      *uint64
	folded bool
}

// maxByAddr bounds byAddr: strings of pods long gone are let go.
const maxByAddr = 1 << 14

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
	var ak addrKey
	for i := range k {
		ak[i].p, ak[i].n = unsafe.StringData(k[i]), len(k[i])
	}
	f.mu.Lock()
	ref, ok := f.byAddr[ak]
	if !ok {
		ref = f.lookup(k)
		if f.byAddr == nil || len(f.byAddr) >= maxByAddr {
			f.byAddr = make(map[addrKey]seriesRef)
		}
		f.byAddr[ak] = ref
	}
	if ref.folded && f.overflow != nil {
		f.overflow.Inc()
	}
	*ref.c += n
	f.mu.Unlock()
}

// lookup finds (or creates) the series of k, folded when the family is
// full and k is new.
func (f *family) lookup(k labelKey) seriesRef {
	if c, ok := f.series[k]; ok {
		return seriesRef{c: c}
	}
	folded := false
	if f.limit > 0 && f.capped > 0 && len(f.series) >= f.limit {
		for i := range f.capped {
			k[i] = Other
		}
		folded = true
		if c, ok := f.series[k]; ok {
			return seriesRef{c: c, folded: true}
		}
	}
	c := new(uint64)
	f.series[k] = c
	return seriesRef{c: c, folded: folded}
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
