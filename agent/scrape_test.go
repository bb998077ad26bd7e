package agent

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics at addr into "name{k=v,...}" -> value, labels
// sorted by name, counters and gauges only.
func scrape(t testing.TB, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// series names one series as scrape keys it.
func series(name string, kv ...string) string {
	var labels []string
	for i := 0; i+1 < len(kv); i += 2 {
		labels = append(labels, kv[i]+"="+kv[i+1])
	}
	slices.Sort(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

// family returns the series of one metric, for error messages.
func family(got map[string]float64, name string) string {
	var lines []string
	for k, v := range got {
		if strings.HasPrefix(k, name+"{") {
			lines = append(lines, fmt.Sprintf("  %s %v", k, v))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
