package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/flow-auditor/flow-auditor/collector/file"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/envflag"
	"github.com/flow-auditor/flow-auditor/suggest"
)

type suggestOptions struct {
	snapshots []string
	flows     []string
	namespace string
	since     time.Duration
	external  string
	format    string
	outDir    string
	report    string
	diff      bool
	metadata  bool
}

// Suggestion formats.
const (
	formatNetworkPolicy = "networkpolicy"
	formatCilium        = "cilium"
)

// newSuggestCmd builds `auditor suggest`. live is where the inventory comes
// from without --snapshot; nil makes --snapshot required.
func newSuggestCmd(live inventoryLoader) *cobra.Command {
	var o suggestOptions
	cmd := &cobra.Command{
		Use:   "suggest --namespace NS [--snapshot FILE... --flows FILE...] [--since D] [-o DIR]",
		Short: "Derive least-privilege NetworkPolicies from observed traffic, proven by replay",
		Long: `Suggest writes the NetworkPolicies a careful engineer would write after watching a
namespace: a default deny (ingress and egress) and, per workload, one policy
that allows exactly what its pods were observed to send and receive. Selectors
use each workload's stable labels (never per-pod or per-rollout ones); peers
in other namespaces add a namespaceSelector on kubernetes.io/metadata.name;
consecutive observed ports merge into ranges; DNS gets a rule of its own;
external addresses are named exactly (--external exact) or as the public
address space (--external public). Every rule carries a comment with what was
observed: flow count, first and last seen, example pods.

Inputs: the inventory from --snapshot files (kubectl get namespaces,pods,
services,endpointslices,networkpolicies,nodes -A -o yaml; plus Deployments,
ReplicaSets, StatefulSets... for workload names) or, without --snapshot, the
cluster behind the kubeconfig; and the flows from --flows files (the auditor's
flow records, Hubble flows, hubble observe -o jsonpb) or, without --flows and
--snapshot, the agents' ObservedTraffic baseline in that cluster: each peer
entry is an edge between workloads with its flow count, first and last seen
(comments then name workloads, not pods). Only forwarded flows are learned: dropped ones (attacks the network
stopped) are replayed to show they stay denied. Flows to the cloud metadata
service are not learned either, unless --allow-metadata.

Peers that cannot be selected stably (a bare pod without labels, workloads
sharing all their labels, hostNetwork pods and nodes, pods gone from the
inventory, ICMP) are reported on stderr with what was done instead.

Proof by replay, on stderr at the end (JSON with --report): every observed
flow of the namespace is judged against the suggestion plus the current
policies of the other namespaces. An observed flow the suggestion does not
allow is a bug: exit status 1 and nothing on stdout. Edges the suggestion
allows that no flow showed, and flows that other namespaces' policies still
block, are listed.

Bad input (no pods in the namespace, an empty window, no flow naming one of
its pods, no ObservedTraffic entry for it) exits with status 2 and prints no policy.`,
		Example: `  auditor suggest --namespace ai-agents --snapshot examples/snapshot.yaml --flows examples/flows.jsonl > policies.yaml
  auditor suggest -n ai-agents --snapshot cluster.yaml --flows week.jsonl --since 24h -o policies/
  auditor suggest -n ai-agents --snapshot cluster.yaml --flows week.jsonl --format cilium --report replay.json
  auditor suggest -n ai-agents --snapshot cluster.yaml --flows week.jsonl --diff
  auditor suggest -n ai-agents --kubeconfig ~/.kube/config --since 168h > policies.yaml`,
		Args:    cobra.NoArgs,
		PreRunE: applyEnv,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSuggest(cmd, &o, live)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace to write policies for (required)")
	fs.StringSliceVar(&o.snapshots, "snapshot", nil, "cluster snapshot files (kubectl get ... -o yaml|json); repeat or separate with commas; \"-\" is stdin; without it, the cluster behind the kubeconfig")
	fs.StringSliceVar(&o.flows, "flows", nil, "flow files (JSON lines: flow records, Hubble flows or GetFlowsResponses); repeat or separate with commas; \"-\" is stdin; without them, the agents' ObservedTraffic baseline in the cluster")
	fs.DurationVar(&o.since, "since", 0, "learn only from flows that ended within this long before the newest flow (e.g. 24h, 168h); 0 keeps every flow")
	fs.StringVar(&o.external, "external", string(suggest.ExternalExact), "external peers: exact (each address as /32 or /128, FQDNs in comments) or public (per port, every public address)")
	fs.StringVar(&o.format, "format", formatNetworkPolicy, "output: networkpolicy (networking.k8s.io/v1) or cilium (CiliumNetworkPolicy cilium.io/v2, toFQDNs for named external peers)")
	fs.StringVarP(&o.outDir, "output-dir", "o", "", "write one file per policy (NAME.yaml) into this directory instead of stdout")
	fs.StringVar(&o.report, "report", "", "also write the replay report as JSON to this file")
	fs.BoolVar(&o.metadata, "allow-metadata", false, "learn flows to the cloud metadata service (169.254.169.254, fd00:ec2::254) like any other; by default they are reported and left out")
	fs.BoolVar(&o.diff, "diff", false, "print the suggestion as a unified diff against the namespace's current NetworkPolicies instead of the policies")
	if live != nil {
		live.addFlags(fs)
	}
	envflag.Annotate(fs)
	return cmd
}

func (o *suggestOptions) check() (suggest.ExternalMode, error) {
	if o.namespace == "" {
		return "", errors.New("--namespace is required: the namespace to write policies for")
	}
	if len(o.flows) == 0 && len(o.snapshots) > 0 {
		return "", errors.New("--flows is required with --snapshot: the flow files to learn from (JSON lines; \"-\" reads stdin); without both, the cluster's ObservedTraffic baseline is read")
	}
	if o.since < 0 {
		return "", fmt.Errorf("--since %s: want a positive duration", o.since)
	}
	ext, err := suggest.ParseExternalMode(o.external)
	if err != nil {
		return "", fmt.Errorf("--external: %w", err)
	}
	switch o.format {
	case formatNetworkPolicy, formatCilium:
	default:
		return "", fmt.Errorf("--format %q: want networkpolicy or cilium", o.format)
	}
	if o.diff && o.format != formatNetworkPolicy {
		return "", errors.New("--diff compares NetworkPolicies: it needs --format networkpolicy")
	}
	if o.diff && o.outDir != "" {
		return "", errors.New("--diff prints to stdout: drop --output-dir")
	}
	return ext, nil
}

func runSuggest(cmd *cobra.Command, o *suggestOptions, live inventoryLoader) error {
	ext, err := o.check()
	if err != nil {
		return usageError(err)
	}
	objs, err := loadInventory(cmd.Context(), o.snapshots, live)
	if err != nil {
		return err
	}
	ix := correlate.BuildIndex(objs, correlate.IndexOptions{})
	in := suggest.Input{
		Namespace:     o.namespace,
		External:      ext,
		Pods:          suggest.PodsFrom(objs, ix),
		DNSAddresses:  suggest.DNSAddressesFrom(objs),
		StableLabels:  correlate.StableLabels,
		AllowMetadata: o.metadata,
	}
	obs, err := learn(cmd, o, live, ix, in)
	if err != nil {
		return err
	}
	sg, err := obs.Suggest()
	if err != nil {
		if errors.Is(err, suggest.ErrBadInput) {
			return usageError(fmt.Errorf("suggest: %w", err))
		}
		return failure(err)
	}
	report, err := obs.Replay(sg, objs.NetworkPolicies, objs.Namespaces)
	if err != nil {
		return failure(err)
	}
	stderr := cmd.ErrOrStderr()
	writeNotes(stderr, sg.Notes)
	if o.report != "" {
		if err := writeReportFile(o.report, report); err != nil {
			return failure(err)
		}
	}
	writeReplaySummary(stderr, report, o.format)
	if !report.Ok() {
		return failure(fmt.Errorf("suggest: the suggestion does not allow %d observed flows (a bug: please report it with --report); no policy printed", report.Flows.NotAllowed))
	}
	return writeSuggestion(cmd.OutOrStdout(), stderr, o, sg, objs)
}

// learn learns from the flow files, or without them from the cluster's
// ObservedTraffic baseline.
func learn(cmd *cobra.Command, o *suggestOptions, live inventoryLoader, ix *correlate.Index, in suggest.Input) (*suggest.Observer, error) {
	if len(o.flows) == 0 {
		r, ok := live.(observationReader)
		if !ok {
			return nil, usageError(errors.New("--flows is required: the flow files to learn from (JSON lines; \"-\" reads stdin)"))
		}
		return observeCluster(cmd.Context(), r, in, o.since)
	}
	inputs, closeInputs, err := openFlows(o.flows, cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	defer closeInputs()
	return observeFlows(cmd.Context(), ix, in, inputs, o.since)
}

// loadInventory reads the snapshot files, or the live cluster without them.
func loadInventory(ctx context.Context, snapshots []string, live inventoryLoader) (correlate.Objects, error) {
	switch {
	case len(snapshots) > 0:
		snap, err := correlate.LoadSnapshot(snapshots...)
		if err != nil {
			return correlate.Objects{}, usageError(err)
		}
		return snap.Objects(), nil
	case live != nil:
		inv, err := live.load(ctx)
		if err != nil {
			return correlate.Objects{}, err
		}
		return inv.Objects(), nil
	default:
		return correlate.Objects{}, usageError(errors.New("--snapshot is required: the cluster snapshot files (kubectl get namespaces,pods,services,endpointslices,networkpolicies,nodes -A -o yaml)"))
	}
}

// observeFlows reads the flow files (parsed in parallel, in input order)
// and feeds them to a suggest.Observer. With --since the records are kept
// until the newest one is known: the window ends at the newest flow, so
// that the same files give the same policies whenever they are read.
func observeFlows(ctx context.Context, ix *correlate.Index, in suggest.Input, inputs []file.Input, since time.Duration) (*suggest.Observer, error) {
	var (
		kept   []flow.Record
		newest time.Time
		res    correlate.Resolution
		obs    *suggest.Observer
	)
	if since == 0 {
		obs = suggest.NewObserver(in)
	}
	err := file.Run(ctx, inputs, file.Options{},
		func(int, *file.Batch[struct{}]) error { return nil },
		func(b *file.Batch[struct{}]) error {
			for i := range b.Records {
				rec := &b.Records[i]
				if obs != nil {
					obs.AddRecord(ix, &res, rec)
					continue
				}
				if rec.TimeLast.After(newest) {
					newest = rec.TimeLast
				}
				kept = append(kept, *rec)
			}
			return nil
		})
	if err != nil {
		var le *file.LineError
		if errors.As(err, &le) || ctx.Err() == nil {
			return nil, usageError(err)
		}
		return nil, failure(err)
	}
	if obs == nil {
		in.From = newest.Add(-since)
		obs = suggest.NewObserver(in)
		for i := range kept {
			obs.AddRecord(ix, &res, &kept[i])
		}
	}
	return obs, nil
}
