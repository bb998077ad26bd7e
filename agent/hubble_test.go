package agent

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/flow-auditor/flow-auditor/collector/hubble"
	"github.com/flow-auditor/flow-auditor/metrics"
)

// TestHubbleSourceFromAgent chains two agents: the first reads the
// scenario's flows from a file and serves them on its Hubble API; the
// second follows that API with the hubble source. Violations travel in
// the served flows, so the second agent reports what the first decided.
func TestHubbleSourceFromAgent(t *testing.T) {
	first := testConfig()
	first.Source = SourceFile
	first.FlowsFiles = []string{writeFlows(t, scenarioFlows())}
	a, err := New(first, zaptest.NewLogger(t).Named("file"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, a)
	sunk := series(metrics.RecordsTotal, "stage", "hubble")
	waitFor(t, "the first agent's ring", func() bool { return scrape(t, a.MetricsAddr())[sunk] == 8 })

	second := testConfig()
	second.Source = SourceHubble
	second.HubbleServer = a.HubbleAddr()
	// The hubble source follows from now by default; replay the ring.
	src, err := hubble.New(hubble.Config{Server: second.HubbleServer, Since: t0.Add(-time.Hour), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(second, zaptest.NewLogger(t).Named("hubble"), Options{Source: hubbleSource{src}})
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, b)
	waitFor(t, "8 flows through the second agent", func() bool {
		return scrape(t, b.MetricsAddr())[series(metrics.RecordsTotal, "stage", "metrics")] == 8
	})
	got, want := scrape(t, b.MetricsAddr()), scrape(t, a.MetricsAddr())
	for _, name := range []string{metrics.FlowsTotal, metrics.ViolationsTotal, metrics.EgressAnomaliesTotal} {
		if g, w := family(got, name), family(want, name); g != w {
			t.Errorf("%s through Hubble:\n%s\nwant (the first agent's):\n%s", name, g, w)
		}
	}
	// Hubble's drop reasons are Cilium's: a kernel reason it has no value
	// for (NETFILTER_DROP) reaches the second agent as the policy drop
	// that the violation says it was.
	if g := got[series(metrics.DropsTotal, "namespace", "ai-agents", "reason", "POLICY_DENIED")]; g != 1 {
		t.Errorf("drops through Hubble:\n%s", family(got, metrics.DropsTotal))
	}
}
