package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/collector/file"
	"github.com/flow-auditor/flow-auditor/enrich"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/graph"
	"github.com/flow-auditor/flow-auditor/internal/envflag"
	"github.com/flow-auditor/flow-auditor/policy"
)

type graphOptions struct {
	snapshots []string
	flows     []string
	namespace string
	output    string
	since     time.Duration
}

func newGraphCmd() *cobra.Command {
	var o graphOptions
	live := &clusterSource{}
	cmd := &cobra.Command{
		Use:   "graph --namespace NS [--snapshot FILE... --flows FILE...] [-o dot|mermaid|svg|html]",
		Short: "Draw a namespace's communication graph, coloured by verdict",
		Long: `Graph draws who talks to whom in a namespace: one box per workload (pods of
other namespaces by their workload too, outside peers grouped by DNS name),
one arrow per client and server, labelled with the protocols, ports and
connection counts, coloured by the worst verdict the connections carried:
allowed, anomalous egress, would-deny (policy denies it, the network let it
through) or denied (dropped).

From files: --snapshot (the inventory) and --flows (flow records, Hubble
flows), judged as auditor audit judges them; an anomalous-egress verdict a
record already carries (the agent's, from its learned baseline) is kept.
Without --snapshot the inventory comes from the cluster behind the
kubeconfig; without --flows too, the flows come from the agents'
ObservedTraffic objects in the cluster (--since bounds them), judged
against the current policies.

Output on stdout: dot (Graphviz), mermaid (Markdown), svg, or html (the SVG
and a table of every edge). svg and html are self-contained: laid out by
the auditor, no script, font or image to fetch.`,
		Example: `  auditor graph -n ai-agents --snapshot examples/snapshot.yaml --flows examples/flows.jsonl -o html > graph.html
  auditor graph -n ai-agents --snapshot cluster.yaml --flows flows.jsonl | dot -Tpng > graph.png
  auditor graph -n ai-agents -o mermaid          # the cluster's inventory and ObservedTraffic`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PreRunE:       applyEnv,
		RunE:          func(cmd *cobra.Command, _ []string) error { return runGraph(cmd, &o, live) },
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace to draw (required)")
	fs.StringSliceVar(&o.snapshots, "snapshot", nil, "cluster snapshot files (kubectl get ... -o yaml|json); without it, the cluster behind the kubeconfig")
	fs.StringSliceVar(&o.flows, "flows", nil, "flow files (JSON lines); \"-\" is stdin; without them, the agents' ObservedTraffic objects in the cluster")
	fs.StringVarP(&o.output, "output", "o", graph.FormatDOT, "output format: dot, mermaid, svg or html")
	fs.DurationVar(&o.since, "since", 0, "with ObservedTraffic: only peers seen within this long (0: all)")
	live.addFlags(fs)
	envflag.Annotate(fs)
	return cmd
}

func runGraph(cmd *cobra.Command, o *graphOptions, live *clusterSource) error {
	if o.namespace == "" {
		return usageError(errors.New("--namespace is required: the namespace to draw"))
	}
	switch o.output {
	case graph.FormatDOT, graph.FormatMermaid, graph.FormatSVG, graph.FormatHTML:
	default:
		return usageError(fmt.Errorf("--output %q: want dot, mermaid, svg or html", o.output))
	}
	if len(o.snapshots) > 0 && len(o.flows) == 0 {
		return usageError(errors.New("--snapshot needs --flows: the flow files to draw (without both, the cluster's ObservedTraffic is read)"))
	}
	if o.since < 0 {
		return usageError(fmt.Errorf("--since %s: want a positive duration", o.since))
	}
	b := graph.NewBuilder(o.namespace)
	var err error
	if len(o.flows) > 0 {
		err = graphFromFiles(cmd, o, live, b)
	} else {
		err = graphFromCluster(cmd.Context(), o, live, b)
	}
	if err != nil {
		return err
	}
	g := b.Graph()
	if len(g.Edges) == 0 {
		return usageError(fmt.Errorf("no flow from or to a pod of namespace %s", o.namespace))
	}
	// Rendered in memory: nothing reaches stdout unless all of it can.
	var out bytes.Buffer
	if err := graph.Write(&out, g, o.output); err != nil {
		return failure(err)
	}
	if _, err := cmd.OutOrStdout().Write(out.Bytes()); err != nil {
		return failure(fmt.Errorf("write output: %w", err))
	}
	n := g.Count()
	fmt.Fprintf(cmd.ErrOrStderr(), "auditor: graph of %s: %d nodes, %d edges, %d connections (%d allowed, %d anomalous, %d would-deny, %d denied)\n",
		o.namespace, len(g.Nodes), len(g.Edges), n[0]+n[1]+n[2]+n[3], n[graph.Allowed], n[graph.Anomalous], n[graph.WouldDeny], n[graph.Denied])
	return nil
}

// graphFromFiles judges the flow files as audit does and adds them.
func graphFromFiles(cmd *cobra.Command, o *graphOptions, live *clusterSource, b *graph.Builder) error {
	ac, err := loadAuditContext(cmd.Context(), o.snapshots, live)
	if err != nil {
		return err
	}
	inputs, closeInputs, err := openFlows(o.flows, cmd.InOrStdin())
	if err != nil {
		return err
	}
	defer closeInputs()
	var workers []*auditor
	for range max(1, runtimeWorkers()) {
		workers = append(workers, newAuditor(ac))
	}
	err = file.Run(cmd.Context(), inputs, file.Options{Workers: len(workers)},
		func(w int, batch *file.Batch[struct{}]) error {
			for i := range batch.Records {
				judgeKeepingAnomaly(workers[w], &batch.Records[i])
			}
			return nil
		},
		func(batch *file.Batch[struct{}]) error {
			for i := range batch.Records {
				b.Add(&batch.Records[i])
			}
			return nil
		})
	if err != nil {
		var le *file.LineError
		if errors.As(err, &le) || cmd.Context().Err() == nil {
			return usageError(err)
		}
		return failure(err)
	}
	return nil
}

// judgeKeepingAnomaly judges rec against the inventory; an anomalous-egress
// verdict the record carried (the agent's baseline said so, which files
// cannot say again) stays when policy finds no stronger violation.
func judgeKeepingAnomaly(a *auditor, rec *flow.Record) {
	inViolation, inExplanation := rec.Violation, rec.Explanation
	a.audit(rec)
	if rec.Violation == "" && inViolation == "anomalous-egress" {
		rec.Violation, rec.Explanation = inViolation, inExplanation
	}
}

// graphFromCluster reads the inventory and the agents' ObservedTraffic
// from the cluster and adds each peer entry, judged against the current
// policies, as its count of flows.
func graphFromCluster(ctx context.Context, o *graphOptions, live *clusterSource, b *graph.Builder) error {
	inv, err := live.load(ctx)
	if err != nil {
		return err
	}
	objs := inv.Objects()
	engine, err := policy.New(objs.NetworkPolicies, objs.Namespaces)
	if err != nil {
		return usageError(err)
	}
	rc, err := live.restConfig()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return usageError(fmt.Errorf("client for %s: %w", rc.Host, err))
	}
	var since time.Time
	if o.since > 0 {
		since = time.Now().Add(-o.since)
	}
	rctx, cancel := context.WithTimeout(ctx, live.timeout)
	defer cancel()
	obs, err := baseline.Read(rctx, dyn, "", since)
	if err != nil {
		return failure(fmt.Errorf("read ObservedTraffic from %s: %w", rc.Host, err))
	}
	for i := range obs {
		judgeObservation(engine, &obs[i])
		b.AddCount(&obs[i].Record, int(obs[i].Flows))
	}
	return nil
}

// judgeObservation sets an observation's verdict: its workloads judged by
// their labels (ObservedTraffic keeps workloads, not pods).
func judgeObservation(engine *policy.Engine, ob *baseline.Observation) {
	r := &ob.Record
	peer := func(e *flow.Endpoint) *policy.Peer {
		switch e.Kind {
		case flow.KindPod:
			// No name: two pods of one workload are not the same pod.
			return &policy.Peer{Kind: policy.Pod, Namespace: e.Namespace, Labels: e.Labels}
		case flow.KindNode:
			return &policy.Peer{Kind: policy.Node, IP: e.IP}
		}
		return &policy.Peer{Kind: policy.External, IP: e.IP}
	}
	v := engine.Evaluate(&policy.Flow{Src: peer(&r.Src), Dst: peer(&r.Dst), Protocol: enrich.Protocol(r.Protocol), Port: int32(r.Dst.Port)})
	r.Explanation = v.Explain()
	r.Verdict, r.Violation = "allow", ""
	if !v.Allowed() {
		r.Verdict, r.Violation = "deny", "would-deny"
	}
}
