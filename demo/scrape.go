package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vishvananda/netns"

	"github.com/flow-auditor/flow-auditor/internal/podnet"
	"github.com/flow-auditor/flow-auditor/metrics"
)

// nodeHTTP is an HTTP client whose connections are made inside the node
// namespace, where the agent serves /metrics on its loopback.
func nodeHTTP(ns netns.NsHandle) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := podnet.Do(ns, func() (err error) {
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
}

// series is a scrape: "name{k=v,...}" (labels sorted) to value, counters
// and gauges only.
type series map[string]float64

func scrape(ctx context.Context, hc *http.Client, addr string) (series, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	out := series{}
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
	return out, nil
}

// ready reports whether the agent's /readyz answers 200.
func ready(ctx context.Context, hc *http.Client, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// shownMetrics are the families the demo reports changes of.
var shownMetrics = []string{
	metrics.FlowsTotal, metrics.ViolationsTotal, metrics.EgressAnomaliesTotal,
	metrics.DropsTotal, metrics.LostEventsTotal,
}

// change is one series that changed between two scrapes.
type change struct {
	Series string  `json:"series"`
	Delta  float64 `json:"delta"`
}

// changes returns the series of the shown families whose value changed,
// in name order. Drops with no namespace are left out: the kernel reports
// every namespace's drops, and those are other programs' packets.
func changes(before, after series) []change {
	var out []change
	for k, v := range after {
		name, _, _ := strings.Cut(k, "{")
		if !slices.Contains(shownMetrics, name) || strings.Contains(k, "namespace=,") || strings.HasSuffix(k, "namespace=}") {
			continue
		}
		if d := v - before[k]; d != 0 {
			out = append(out, change{k, d})
		}
	}
	slices.SortFunc(out, func(a, b change) int { return strings.Compare(a.Series, b.Series) })
	return out
}
