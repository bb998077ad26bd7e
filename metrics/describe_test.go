package metrics

import "github.com/prometheus/client_golang/prometheus"

// describedNames returns the names in Names() that reg's collectors
// describe. A registry does not list its collectors, and families without
// series are not gathered; but registering a second collector describing
// an existing name fails, so each name is probed that way.
func describedNames(reg *prometheus.Registry) []string {
	var out []string
	for _, n := range Names() {
		probe := prometheus.NewCounter(prometheus.CounterOpts{Name: n, Help: "probe"})
		if err := reg.Register(probe); err == nil {
			reg.Unregister(probe)
			continue
		}
		out = append(out, n)
	}
	return out
}
