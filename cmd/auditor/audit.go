package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/collector/file"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/internal/envflag"
	"github.com/flow-auditor/flow-auditor/policy"
)

// inventoryLoader reads the inventory when no --snapshot is given: the live
// cluster behind a kubeconfig. It returns usage errors (exit 2) for a
// cluster that is not configured or not reachable.
type inventoryLoader interface {
	addFlags(fs *pflag.FlagSet)
	load(ctx context.Context) (correlate.Inventory, error)
}

type auditOptions struct {
	snapshots []string
	flows     []string
	namespace string
	output    string
	top       int
	privilege privilegeOptions // --namespace report (audit_privilege.go)
}

// Output formats.
const (
	formatJSONL = "jsonl"
	formatJSON  = "json"
	formatTable = "table"
)

// newAuditCmd builds `auditor audit`. live is where the inventory comes
// from without --snapshot; nil makes --snapshot required.
func newAuditCmd(live inventoryLoader) *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "audit [--snapshot FILE... --flows FILE...] [--namespace NS] [-o jsonl|json|table]",
		Short: "Judge recorded or observed flows against the cluster's NetworkPolicies",
		Long: `Audit reads flows (JSON lines: the auditor's own flow records, Hubble flows, or
"hubble observe -o jsonpb" output), resolves both ends of every flow against
the cluster inventory (pods, nodes, Services translated to their backends),
and judges it against the NetworkPolicies in force: what today's policies
allow, what they deny, and why.

Inputs: the inventory from --snapshot files or, without --snapshot, the
cluster behind the kubeconfig; the flows from --flows files or, without
--flows and --snapshot, the agents' ObservedTraffic objects in that same
cluster (--snapshot needs --flows: the observed traffic names the workloads of
the cluster it is read from). Each ObservedTraffic peer entry is a workload's
traffic to a peer, added up: the entries of one edge (the same workloads or
addresses, protocol and port) from every node are merged and judged once, as
a flow that counts as the flows they add up. A workload is judged as one of
its current pods (running first, then by name), so policy sees real pod
labels; an edge from a workload to itself as two of its pods. A workload with
no pod left is not dropped: it is judged by the labels its agent recorded,
listed as "unresolved" and counted in the summary.

Output: one JSON object per input flow, in input order (-o jsonl, the default
when stdout is not a terminal); one JSON document with the flows and a
summary (-o json); or per namespace the flows allowed and denied and the
denied edges by workload, most frequent first (-o table, the default on a
terminal). A one-line summary goes to stderr. From ObservedTraffic, each edge
is one object with "observed_flows" (the flows it adds up), "nodes" (the
nodes that observed it) and, when a workload has no pod, "unresolved" ("src",
"dst").

Bad input (a malformed line, an unknown protocol, an invalid snapshot or
NetworkPolicy, no ObservedTraffic for the namespace or at all) stops the audit
with exit status 2, naming the file and line or the object, and nothing on
stdout.`,
		Example: `  auditor audit --snapshot examples/snapshot.yaml --flows examples/flows.jsonl
  kubectl get namespaces,pods,services,endpointslices,networkpolicies,nodes -A -o yaml > cluster.yaml
  hubble observe --last 10000 -o jsonpb > flows.jsonl
  auditor audit --snapshot cluster.yaml --flows flows.jsonl --namespace ai-agents -o jsonl
  auditor audit -n ai-agents --kubeconfig ~/.kube/config -o table   # the agents' ObservedTraffic`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PreRunE:       applyEnv,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAudit(cmd, &o, live)
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&o.snapshots, "snapshot", nil, "cluster snapshot files (kubectl get ... -o yaml|json); repeat or separate with commas; \"-\" is stdin; without it, the cluster behind the kubeconfig")
	fs.StringSliceVar(&o.flows, "flows", nil, "flow files (JSON lines); repeat or separate with commas; \"-\" is stdin; without them (and --snapshot), the agents' ObservedTraffic objects in the cluster")
	fs.StringVarP(&o.namespace, "namespace", "n", "", "audit only flows from or to this namespace")
	fs.StringVarP(&o.output, "output", "o", "", "output format: jsonl, json or table (default: table on a terminal, jsonl otherwise)")
	fs.IntVar(&o.top, "top", 10, "denied edges shown per namespace in the table (0: all)")
	o.privilege.addFlags(fs)
	if live != nil {
		live.addFlags(fs)
	}
	envflag.Annotate(fs)
	return cmd
}

func runAudit(cmd *cobra.Command, o *auditOptions, live inventoryLoader) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	format := o.output
	switch format {
	case "":
		format = formatJSONL
		if isTerminal(stdout) {
			format = formatTable
		}
	case formatJSONL, formatJSON, formatTable:
	default:
		return usageError(fmt.Errorf("--output %q: want jsonl, json or table", o.output))
	}
	if o.top < 0 {
		return usageError(fmt.Errorf("--top %d: want 0 (all) or more", o.top))
	}
	var observed *observedAudit
	if len(o.flows) == 0 {
		var err error
		if observed, err = readObserved(cmd.Context(), live, o); err != nil {
			return err
		}
	}
	ac, err := loadAuditContext(cmd.Context(), o.snapshots, live)
	if err != nil {
		return err
	}
	ac.privilege = o.privilege.start(ac.objs, ac.index, o.namespace)

	out := newSpool(stdout)
	defer out.Close()
	done := false
	defer func() {
		if !done {
			// Bad input, or output that could not be finished: stdout is
			// left as it was (see spool).
			_ = out.abort()
		}
	}()
	if format == formatJSON {
		// Each flow comes with a comma before it: drop the first one.
		if _, err := io.WriteString(out, `{"flows":[`); err != nil {
			return failure(fmt.Errorf("write output: %w", err))
		}
		out.drop = 1
	}
	var stats *auditStats
	if observed != nil {
		stats, err = observed.audit(ac, format, out)
	} else {
		stats, err = auditFiles(cmd, ac, o, format, out)
	}
	if err != nil {
		return err
	}
	var summary any = stats.jsonSummary()
	line := summaryLine(stats, o.namespace)
	if observed != nil {
		summary = observed.jsonSummary(stats)
		line += observed.summaryNote()
	}
	// Input accepted: the output is released to stdout.
	if err := writeAuditOutput(stdout, format, out, stats, summary, o.top); err != nil {
		return failure(fmt.Errorf("write output: %w", err))
	}
	done = true
	fmt.Fprintln(stderr, line)
	if err := ac.privilege.finish(stdout, stderr, format); err != nil {
		return err
	}
	return nil
}

// auditFiles judges the --flows files.
func auditFiles(cmd *cobra.Command, ac *auditContext, o *auditOptions, format string, out io.Writer) (*auditStats, error) {
	inputs, closeInputs, err := openFlows(o.flows, cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	defer closeInputs()
	return auditFlows(cmd.Context(), ac, inputs, o.namespace, format, out)
}

// loadAuditContext reads the inventory and compiles what judging needs.
func loadAuditContext(ctx context.Context, snapshots []string, live inventoryLoader) (*auditContext, error) {
	var inv correlate.Inventory
	switch {
	case len(snapshots) > 0:
		snap, err := correlate.LoadSnapshot(snapshots...)
		if err != nil {
			return nil, usageError(err)
		}
		inv = snap
	case live != nil:
		var err error
		if inv, err = live.load(ctx); err != nil {
			return nil, err
		}
	default:
		return nil, usageError(errors.New("--snapshot is required: the cluster snapshot files (kubectl get namespaces,pods,services,endpointslices,networkpolicies,nodes -A -o yaml)"))
	}
	objs := inv.Objects()
	engine, err := policy.New(objs.NetworkPolicies, objs.Namespaces)
	if err != nil {
		return nil, usageError(err)
	}
	return &auditContext{
		objs:   objs,
		index:  correlate.BuildIndex(objs, correlate.IndexOptions{}),
		engine: engine,
		blocks: anomaly.NewBlocks(objs.NetworkPolicies),
	}, nil
}

// openFlows opens the flow files; "-" is stdin.
func openFlows(paths []string, stdin io.Reader) ([]file.Input, func(), error) {
	var inputs []file.Input
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	for _, p := range paths {
		if p == "-" {
			inputs = append(inputs, file.Input{Name: "stdin", R: stdin})
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			closeAll()
			return nil, nil, usageError(fmt.Errorf("open flows: %w", err))
		}
		files = append(files, f)
		inputs = append(inputs, file.Input{Name: p, R: f})
	}
	return inputs, closeAll, nil
}

// batchOut is one batch's share of the output, made on a worker.
type batchOut struct {
	buf []byte
}

// auditFlows judges every flow, writing the per-flow output (jsonl lines,
// or json array elements each preceded by a comma) to out in input order.
func auditFlows(ctx context.Context, ac *auditContext, inputs []file.Input, namespace, format string, out io.Writer) (*auditStats, error) {
	// Counts do not depend on order: each worker keeps its own, merged at
	// the end.
	var workers []*auditor
	var counts []*counter
	for range max(1, runtimeWorkers()) {
		workers = append(workers, newAuditor(ac))
		counts = append(counts, newCounter(format != formatJSONL))
	}
	opt := file.Options{Workers: len(workers)}
	total := &auditStats{}
	var writeErr error
	err := file.Run(ctx, inputs, opt,
		func(w int, b *file.Batch[batchOut]) error {
			a, d, st := workers[w], &b.Data, counts[w]
			d.buf = d.buf[:0]
			for i := range b.Records {
				rec := &b.Records[i]
				j := a.audit(rec)
				if namespace != "" && rec.Src.Namespace != namespace && rec.Dst.Namespace != namespace {
					st.Outside++
					continue
				}
				st.add(rec, j)
				switch format {
				case formatJSONL:
					d.buf = a.enc.AppendFlat(d.buf, j.wire, rec)
					d.buf = append(d.buf, '\n')
				case formatJSON:
					d.buf = append(d.buf, ",\n"...)
					d.buf = a.enc.AppendFlat(d.buf, j.wire, rec)
				}
			}
			return nil
		},
		func(b *file.Batch[batchOut]) error {
			total.Skipped.Add(b.Skipped)
			ac.privilege.observe(b.Records)
			if len(b.Data.buf) == 0 {
				return nil
			}
			_, writeErr = out.Write(b.Data.buf)
			return writeErr
		})
	if writeErr != nil {
		return nil, failure(writeErr)
	}
	if err != nil {
		var le *file.LineError
		if errors.As(err, &le) || ctx.Err() == nil {
			return nil, usageError(err)
		}
		return nil, failure(err)
	}
	for _, c := range counts {
		c.into(total)
	}
	return total, nil
}

// writeAuditOutput finishes the output: the table, or the spooled flows
// (with summary, the JSON document's summary).
func writeAuditOutput(w io.Writer, format string, out *spool, stats *auditStats, summary any, top int) error {
	switch format {
	case formatTable:
		return writeTable(w, stats, top)
	case formatJSON:
		sum, err := json.Marshal(summary)
		if err != nil {
			return err
		}
		tail := "],\"summary\":" + string(sum) + "}\n"
		if stats.Flows > 0 {
			tail = "\n" + tail
		}
		out.drop = 0
		if _, err := io.WriteString(out, tail); err != nil {
			return err
		}
	}
	return out.commit()
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
