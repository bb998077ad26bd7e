package metrics

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flow-auditor/flow-auditor/internal/buildinfo"
)

func TestCountersExposition(t *testing.T) {
	m := New(Options{Build: buildinfo.Info{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26"}})
	m.Flow("ai", "Deployment/triage", "egress", "allow", 1)
	m.Flow("ai", "Deployment/triage", "egress", "allow", 2)
	m.Violation("ai", "Deployment/triage", "would-deny")
	m.Anomaly("ai", "Deployment/triage", "metadata")
	m.Drop("ai", "NETFILTER_DROP")
	m.Lost("hubble", "queue-full", 7)
	m.AddLosses(func() []Loss { return []Loss{{Stage: "kernel", Cause: "map-full", Count: 3}} })
	m.AddMapStats(func() []MapStat { return []MapStat{{Map: "flows", Entries: 10, Capacity: 100}} })

	want := `
# HELP auditor_flows_total Flow records by the pod side they were observed on (egress: source pod, ingress: destination pod) and policy verdict.
# TYPE auditor_flows_total counter
auditor_flows_total{direction="egress",namespace="ai",verdict="allow",workload="Deployment/triage"} 3
# HELP auditor_violations_total Flow records carrying a violation: denied, would-deny or anomalous-egress.
# TYPE auditor_violations_total counter
auditor_violations_total{kind="would-deny",namespace="ai",workload="Deployment/triage"} 1
# HELP auditor_egress_anomalies_total Anomalous egress flow records by class: new-destination, new-port, new-fqdn, metadata, private-range.
# TYPE auditor_egress_anomalies_total counter
auditor_egress_anomalies_total{class="metadata",namespace="ai",workload="Deployment/triage"} 1
# HELP auditor_drops_total Flow records the kernel dropped, by namespace of the pod side and kernel drop reason.
# TYPE auditor_drops_total counter
auditor_drops_total{namespace="ai",reason="NETFILTER_DROP"} 1
# HELP auditor_lost_events_total Events lost on the way, by stage and cause.
# TYPE auditor_lost_events_total counter
auditor_lost_events_total{cause="map-full",stage="kernel"} 3
auditor_lost_events_total{cause="queue-full",stage="hubble"} 7
# HELP auditor_bpf_map_entries Entries in a kernel map at scrape time.
# TYPE auditor_bpf_map_entries gauge
auditor_bpf_map_entries{map="flows"} 10
# HELP auditor_bpf_map_capacity Maximum entries of a kernel map.
# TYPE auditor_bpf_map_capacity gauge
auditor_bpf_map_capacity{map="flows"} 100
# HELP auditor_build_info Always 1; labels say which binary runs.
# TYPE auditor_build_info gauge
auditor_build_info{commit="abc",go_version="go1.26",version="v1.2.3"} 1
`
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		FlowsTotal, ViolationsTotal, EgressAnomaliesTotal, DropsTotal, LostEventsTotal,
		BPFMapEntries, BPFMapCapacity, BuildInfo)
	if err != nil {
		t.Fatal(err)
	}
}

func TestCardinalityCapFoldsIntoOther(t *testing.T) {
	m := New(Options{CardinalityCap: 3})
	for i := range 10 {
		m.Flow("ns", fmt.Sprintf("Deployment/w%d", i), "egress", "allow", 1)
	}
	// The first three workloads keep their series; the other seven fold.
	if got := m.flows.len(); got != 4 {
		t.Errorf("series = %d, want 4 (3 + other)", got)
	}
	if got := m.flows.value(labelKey{Other, Other, "egress", "allow"}); got != 7 {
		t.Errorf("other = %d, want 7", got)
	}
	if got := testutil.ToFloat64(m.overflow.WithLabelValues(FlowsTotal)); got != 7 {
		t.Errorf("%s{metric=%q} = %v, want 7", CardinalityOverflowTotal, FlowsTotal, got)
	}
	// A folded workload met again, as the same string or as a copy of it,
	// folds again and is counted again.
	w9 := "Deployment/w9"
	m.Flow("ns", w9, "egress", "allow", 1)
	m.Flow("ns", w9, "egress", "allow", 1)
	m.Flow("ns", strings.Clone(w9), "egress", "allow", 1)
	if got := m.flows.value(labelKey{Other, Other, "egress", "allow"}); got != 10 {
		t.Errorf("other = %d, want 10", got)
	}
	if got := testutil.ToFloat64(m.overflow.WithLabelValues(FlowsTotal)); got != 10 {
		t.Errorf("%s{metric=%q} = %v, want 10", CardinalityOverflowTotal, FlowsTotal, got)
	}
	// A series that exists keeps counting under its own labels, whichever
	// string carries them.
	m.Flow("ns", strings.Clone("Deployment/w1"), "egress", "allow", 2)
	m.Flow("ns", "Deployment/w1", "egress", "allow", 3)
	if got := m.flows.value(labelKey{"ns", "Deployment/w1", "egress", "allow"}); got != 6 {
		t.Errorf("w1 = %d, want 6", got)
	}
	// Bounded labels are never folded.
	m.Flow("ns", "Deployment/w9", "ingress", "deny", 1)
	if got := m.flows.value(labelKey{Other, Other, "ingress", "deny"}); got != 1 {
		t.Errorf("other ingress deny = %d, want 1", got)
	}
}

func TestNamesAreRegistered(t *testing.T) {
	reg := NewRegistry()
	names := describedNames(reg)
	for _, n := range Names() {
		if !slices.Contains(names, n) {
			t.Errorf("metric %s is in Names() but not registered", n)
		}
	}
}
