// Package metrics is the agent's Prometheus telemetry: the metric names (a
// contract that the shipped alerts and dashboard rely on), a registry of its
// own, and counters whose namespace and workload labels are capped so that
// no cluster can blow up the series count.
package metrics

// Metric names. Alerts, the dashboard and their tests refer to these.
const (
	// FlowsTotal counts flow records by the pod side they were observed on:
	// labels namespace, workload, direction (egress for the source pod,
	// ingress for the destination pod), verdict (allow, deny).
	FlowsTotal = "auditor_flows_total"
	// ViolationsTotal counts flow records carrying a violation: labels
	// namespace, workload, kind (denied, would-deny, anomalous-egress).
	ViolationsTotal = "auditor_violations_total"
	// EgressAnomaliesTotal counts anomalous egress flow records per class:
	// labels namespace, workload, class (new-destination, new-port, new-fqdn,
	// metadata, private-range).
	EgressAnomaliesTotal = "auditor_egress_anomalies_total"
	// DropsTotal counts flow records the kernel dropped: labels namespace (of
	// the pod side, "" when neither side is a pod) and reason.
	DropsTotal = "auditor_drops_total"
	// LostEventsTotal counts events lost on the way: labels stage, cause.
	LostEventsTotal = "auditor_lost_events_total"
	// UnresolvedFlowsTotal counts flow records whose two sides resolved to no
	// pod, node or service while the inventory was not yet synced.
	UnresolvedFlowsTotal = "auditor_unresolved_flows_total"
	// CardinalityOverflowTotal counts observations whose labels were folded
	// into "other" by the cardinality cap: label metric.
	CardinalityOverflowTotal = "auditor_cardinality_overflow_total"
	// BPFMapEntries is the number of entries in a kernel map: label map.
	BPFMapEntries = "auditor_bpf_map_entries"
	// BPFMapCapacity is a kernel map's maximum number of entries: label map.
	BPFMapCapacity = "auditor_bpf_map_capacity"
	// RecordsTotal counts flow records that entered each pipeline stage:
	// label stage.
	RecordsTotal = "auditor_pipeline_records_total"
	// Ready is 1 when the agent is ready (caches synced, programs attached).
	Ready = "auditor_ready"
	// BaselineWritesTotal counts ObservedTraffic writes: label result (ok,
	// error).
	BaselineWritesTotal = "auditor_baseline_writes_total"
	// BuildInfo is 1, labelled with version, commit and go_version.
	BuildInfo = "auditor_build_info"
)

// Names returns the name of every metric the agent exports, so that tests of
// alert rules and dashboards can check each name they use.
func Names() []string {
	return []string{
		FlowsTotal, ViolationsTotal, EgressAnomaliesTotal, DropsTotal,
		LostEventsTotal, UnresolvedFlowsTotal, CardinalityOverflowTotal,
		BPFMapEntries, BPFMapCapacity, RecordsTotal, Ready,
		BaselineWritesTotal, BuildInfo,
	}
}

// Other replaces a label value that the cardinality cap refused.
const Other = "other"
