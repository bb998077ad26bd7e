package metrics

import "github.com/prometheus/client_golang/prometheus"

// lostCollector reports the pipeline's own losses together with those that
// registered readers count elsewhere (the kernel), as one family.
type lostCollector struct{ m *Metrics }

func (c *lostCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.lost.desc }

func (c *lostCollector) Collect(ch chan<- prometheus.Metric) {
	sum := make(map[labelKey]uint64)
	c.m.lost.mu.Lock()
	for k, v := range c.m.lost.series {
		sum[k] += *v
	}
	c.m.lost.mu.Unlock()
	c.m.mu.Lock()
	readers := append([]func() []Loss(nil), c.m.losses...)
	c.m.mu.Unlock()
	for _, r := range readers {
		for _, l := range r() {
			sum[labelKey{l.Stage, l.Cause}] += l.Count
		}
	}
	for k, v := range sum {
		ch <- prometheus.MustNewConstMetric(c.m.lost.desc, prometheus.CounterValue, float64(v), k[0], k[1])
	}
}

var (
	mapEntriesDesc  = prometheus.NewDesc(BPFMapEntries, "Entries in a kernel map at scrape time.", []string{"map"}, nil)
	mapCapacityDesc = prometheus.NewDesc(BPFMapCapacity, "Maximum entries of a kernel map.", []string{"map"}, nil)
)

// mapCollector reads kernel map fill at scrape time.
type mapCollector struct{ m *Metrics }

func (c *mapCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- mapEntriesDesc
	ch <- mapCapacityDesc
}

func (c *mapCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	readers := append([]func() []MapStat(nil), c.m.mapStats...)
	c.m.mu.Unlock()
	seen := make(map[string]bool)
	for _, r := range readers {
		for _, s := range r() {
			if seen[s.Map] {
				continue // two readers naming one map would make the scrape fail
			}
			seen[s.Map] = true
			ch <- prometheus.MustNewConstMetric(mapEntriesDesc, prometheus.GaugeValue, float64(s.Entries), s.Map)
			ch <- prometheus.MustNewConstMetric(mapCapacityDesc, prometheus.GaugeValue, float64(s.Capacity), s.Map)
		}
	}
}
