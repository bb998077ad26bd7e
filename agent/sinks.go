package agent

import (
	"go.uber.org/zap"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/pipeline"
)

// Counters is what the metrics sink counts into; *metrics.Metrics is one.
type Counters interface {
	Flow(namespace, workload, direction, verdict string, n uint64)
	Violation(namespace, workload, kind string)
	Anomaly(namespace, workload, class string)
	Drop(namespace, reason string)
	Unresolved()
}

// metricsSink turns evaluated events into Prometheus counts. It counts
// connections: a record that repeats one already counted (Event.Repeat) is
// skipped. Sides are the connection's: the client opened it, the server
// accepted it.
//   - auditor_flows_total once per pod side (egress for the client pod,
//     ingress for the server pod), labelled with the verdict ("none" when
//     no engine judged it);
//   - auditor_violations_total once per connection with a violation, against
//     the client workload when the client is a pod, else the server;
//   - auditor_egress_anomalies_total once per anomaly class, against the
//     client workload;
//   - auditor_drops_total once per dropped connection, against the
//     namespace of the client pod, else of the server pod, else "";
//   - auditor_unresolved_flows_total once per connection with no pod side.
type metricsSink struct{ c Counters }

func (metricsSink) Name() string { return "metrics" }

func (s metricsSink) Consume(events []pipeline.Event) {
	for i := range events {
		e := &events[i]
		if e.Repeat {
			continue
		}
		r := &e.Record
		client, server := e.Client(), e.Server()
		verdict := r.Verdict
		if verdict == "" {
			verdict = "none"
		}
		clientPod, serverPod := client.Kind == flow.KindPod, server.Kind == flow.KindPod
		if clientPod {
			s.c.Flow(client.Namespace, client.Workload, "egress", verdict, 1)
		}
		if serverPod {
			s.c.Flow(server.Namespace, server.Workload, "ingress", verdict, 1)
		}
		owner := client
		if !clientPod && serverPod {
			owner = server
		}
		if r.Violation != "" {
			s.c.Violation(owner.Namespace, owner.Workload, r.Violation)
		}
		if e.Anomaly != 0 {
			e.Anomaly.Each(func(class string) { s.c.Anomaly(client.Namespace, client.Workload, class) })
		}
		if r.Observed == flow.Dropped {
			ns := ""
			if clientPod || serverPod {
				ns = owner.Namespace
			}
			reason := r.DropReason
			if reason == "" {
				reason = "unknown"
			}
			s.c.Drop(ns, reason)
		}
		if e.Unresolved {
			s.c.Unresolved()
		}
	}
}

// Ring is where the Hubble sink puts flows; *server.Server is one.
type Ring interface {
	// AddEach copies n records, rec(i) for each i below n, into the ring.
	AddEach(n int, rec func(i int) *flow.Record)
}

// hubbleSink feeds the Hubble Observer API's ring, a batch at a time.
type hubbleSink struct{ r Ring }

func (hubbleSink) Name() string { return "hubble" }

func (s hubbleSink) Consume(events []pipeline.Event) {
	s.r.AddEach(len(events), func(i int) *flow.Record { return &events[i].Record })
}

// logSink logs every violation, through a sampling logger so that a storm
// of them cannot flood the log.
type logSink struct{ log *zap.Logger }

func (logSink) Name() string { return "log" }

func (s logSink) Consume(events []pipeline.Event) {
	for i := range events {
		e := &events[i]
		r := &e.Record
		if r.Violation == "" || e.Repeat {
			continue
		}
		// Check first: the sampler drops most of a storm, and building
		// the fields for a dropped entry is most of its cost.
		ce := s.log.Check(zap.InfoLevel, "violation")
		if ce == nil {
			continue
		}
		ce.Write(
			zap.String("kind", r.Violation),
			zap.Strings("anomaly", e.Anomaly.Names()),
			zap.String("src_namespace", r.Src.Namespace), zap.String("src_pod", r.Src.Pod),
			zap.String("src_workload", r.Src.Workload), zap.Stringer("src_ip", r.Src.IP),
			zap.String("dst_namespace", r.Dst.Namespace), zap.String("dst_pod", r.Dst.Pod),
			zap.String("dst_workload", r.Dst.Workload), zap.Stringer("dst_ip", r.Dst.IP),
			zap.Uint16("dst_port", r.Dst.Port), zap.String("dst_fqdn", r.Dst.FQDN),
			zap.String("protocol", string(r.Protocol)), zap.String("observed", string(r.Observed)),
			zap.String("drop_reason", r.DropReason), zap.String("explanation", r.Explanation))
	}
}
