package deploy

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/hubble/verdict"
	"github.com/flow-auditor/flow-auditor/metrics"
)

const (
	triageAgent     = "Deployment/triage-agent"
	specialistAgent = "Deployment/specialist-agent"
	scrapeEvery     = 30 * time.Second
	simulated       = 30 * time.Minute
)

// The two agents of the simulated cluster, labelled as the chart's
// ServiceMonitor labels its targets.
var (
	agentA = target{job: "flow-auditor", instance: "172.18.0.2:9817", namespace: releaseNS, pod: "flow-auditor-7xk2p", node: "node-a"}
	agentB = target{job: "flow-auditor", instance: "172.18.0.3:9817", namespace: releaseNS, pod: "flow-auditor-q9d4m", node: "node-b"}
)

// simAgent is one agent's metrics, driven through the same methods the
// agent's metrics sink and sources call, with the label values the
// pipeline sets (violation kinds, anomaly classes).
type simAgent struct {
	m       *metrics.Metrics
	entries atomic.Int64 // flow map fill, read at scrape time
}

func newSimAgent() *simAgent {
	a := &simAgent{m: metrics.New(metrics.Options{})}
	a.m.AddMapStats(func() []metrics.MapStat {
		return []metrics.MapStat{{Map: "flows", Entries: int(a.entries.Load()), Capacity: 100}}
	})
	return a
}

// simulateCluster scrapes two agents every 30s for 30 minutes and returns
// the store and the last scrape's time. Noisy: agent A sees a specialist
// call the metadata service and another specialist (would-deny, the
// network does not enforce), the triage agent dropped by policy and
// calling a new LLM endpoint; it loses events, its flow map is 95% full and
// it is not ready; agent B cannot be scraped. Quiet: allowed flows only,
// both ready, maps at 10%, nothing lost.
func simulateCluster(t *testing.T, noisy bool) (*memStore, time.Time) {
	t.Helper()
	store := newMemStore()
	a, b := newSimAgent(), newSimAgent()
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var at time.Time
	for i := 0; i <= int(simulated/scrapeEvery); i++ {
		at = start.Add(time.Duration(i) * scrapeEvery)
		a.m.Flow("ai-agents", triageAgent, "egress", "allow", 3)
		a.m.Flow("databases", "StatefulSet/postgresql", "ingress", "allow", 2)
		b.m.Flow("ai-agents", specialistAgent, "egress", "allow", 1)
		a.m.Entered("ingest", 5)
		a.m.Lost("ingest", "queue-full", 0)
		if noisy {
			a.m.Flow("ai-agents", triageAgent, "egress", "deny", 1)
			a.m.Violation("ai-agents", triageAgent, verdict.Denied)
			a.m.Drop("ai-agents", "NETFILTER_DROP")
			a.m.Flow("ai-agents", specialistAgent, "egress", "deny", 1)
			a.m.Violation("ai-agents", specialistAgent, verdict.WouldDeny)
			a.m.Violation("ai-agents", specialistAgent, anomaly.ViolationKind)
			a.m.Anomaly("ai-agents", specialistAgent, anomaly.Metadata.Names()[0])
			a.m.Violation("ai-agents", triageAgent, anomaly.ViolationKind)
			a.m.Anomaly("ai-agents", triageAgent, anomaly.NewDestination.Names()[0])
			a.m.Lost("ingest", "queue-full", 20)
			a.entries.Store(95)
			a.m.SetReady(false)
		} else {
			a.entries.Store(10)
			b.entries.Store(10)
			a.m.SetReady(true)
			b.m.SetReady(true)
		}
		store.scrape(t, a.m.Registry(), agentA, at, true)
		store.scrape(t, b.m.Registry(), agentB, at, !noisy)
	}
	return store, at
}
