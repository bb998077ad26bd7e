package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/flow-auditor/flow-auditor/agent"
	"github.com/flow-auditor/flow-auditor/bpf"
	ebpfsource "github.com/flow-auditor/flow-auditor/collector/ebpf"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/envflag"
)

type observeOptions struct {
	snapshots   []string
	duration    time.Duration
	interfaces  string
	interval    time.Duration
	mapSize     uint32
	dropReasons []string
	output      string
	attach      string
	node        string
	logLevel    string
}

// Output formats of observe beyond audit's.
const formatJSONPB = "jsonpb"

func newObserveCmd() *cobra.Command {
	var o observeOptions
	cmd := &cobra.Command{
		Use:   "observe [--snapshot FILE...] [--duration D] [--interfaces REGEX] [--interval D] [-o jsonl|jsonpb|table]",
		Short: "Capture the node's pod flows from the kernel and print them live",
		Long: `Observe loads flow-auditor's eBPF programs into the running kernel, attaches
them (TCX, or a clsact qdisc with cls_bpf where the kernel has no TCX) to
every veth of this network namespace (or the interfaces --interfaces
selects), following interfaces as they come and go, and prints the flows
aggregated in the kernel each time it drains them (--interval), plus the
packets the kernel dropped for the reasons --drop-reasons lists, with the
DNS names the clients resolved.

With --snapshot, both ends of every flow are resolved against the cluster
snapshot and judged against its NetworkPolicies, as auditor audit does.

It stops after --duration, or on SIGINT or SIGTERM: it detaches every
program, drains the kernel a last time, prints those flows and a summary of
the counters on stderr. Nothing stays attached.

Needs root (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN) and a kernel with BTF;
without them it says which is missing and exits with status 2.`,
		Example: `  sudo auditor observe --duration 30s -o table
  sudo auditor observe --interfaces '^lxc' --snapshot cluster.yaml -o jsonl > flows.jsonl
  sudo auditor observe -o jsonpb | hubble observe --input-file -`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PreRunE:       applyEnv,
		RunE:          func(cmd *cobra.Command, _ []string) error { return runObserve(cmd, &o) },
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&o.snapshots, "snapshot", nil, "cluster snapshot files to resolve and judge flows against (kubectl get ... -o yaml|json)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	fs.StringVar(&o.interfaces, "interfaces", "", "regular expression of the interface names to watch (default: every veth)")
	fs.DurationVar(&o.interval, "interval", ebpfsource.DefaultInterval, "how often the kernel's flow map is drained and printed")
	fs.Uint32Var(&o.mapSize, "map-size", bpf.DefaultFlowEntries, "flows the kernel map holds between two drains; more are counted as lost")
	fs.StringSliceVar(&o.dropReasons, "drop-reasons", bpf.DefaultDropReasons(), "kernel drop reasons to record (enum skb_drop_reason names; empty: none)")
	fs.StringVarP(&o.output, "output", "o", "", "output format: jsonl, jsonpb (Hubble GetFlowsResponse) or table (default: table on a terminal, jsonl otherwise)")
	fs.StringVar(&o.attach, "attach", string(ebpfsource.AttachAuto), "how to attach: auto (TCX where the kernel has it), tcx, or tc (clsact and cls_bpf)")
	fs.StringVar(&o.node, "node", "", "node name put in every record (default: the host name)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn or error")
	envflag.Annotate(fs)
	return cmd
}

func runObserve(cmd *cobra.Command, o *observeOptions) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	cfg, format, err := o.config(isTerminal(stdout))
	if err != nil {
		return usageError(err)
	}
	log, err := agent.NewLogger("console", o.logLevel, stderr)
	if err != nil {
		return usageError(err)
	}
	defer func() { _ = log.Sync() }()

	var ac *auditContext
	if len(o.snapshots) > 0 {
		if ac, err = loadAuditContext(cmd.Context(), o.snapshots, nil); err != nil {
			return err
		}
	}

	src, err := ebpfsource.New(cfg, log)
	if err != nil {
		var unsupported *ebpfsource.UnsupportedError
		var reason *bpf.UnknownDropReasonError
		if errors.As(err, &unsupported) || errors.As(err, &reason) {
			return usageError(fmt.Errorf("observe: %w", err))
		}
		return failure(fmt.Errorf("observe: %w", err))
	}
	defer src.Close()

	ctx := cmd.Context()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	batches := make(chan []flow.Record, 64)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, batches) }()

	w := newObserveWriter(stdout, format, ac)
	var writeErr error
	for batch := range batches {
		// Keep reading after a write error: Run must finish its shutdown.
		if writeErr == nil {
			writeErr = w.write(batch)
		}
	}
	runErr := <-done
	st, _ := src.Stats()
	fmt.Fprintln(stderr, observeSummary(w.records, st))
	if runErr != nil {
		var unsupported *ebpfsource.UnsupportedError
		if errors.As(runErr, &unsupported) {
			return usageError(fmt.Errorf("observe: %w", runErr))
		}
		return failure(fmt.Errorf("observe: %w", runErr))
	}
	if writeErr != nil {
		return failure(fmt.Errorf("write output: %w", writeErr))
	}
	return nil
}

// config validates the flags into the source's configuration and the
// output format.
func (o *observeOptions) config(terminal bool) (ebpfsource.Config, string, error) {
	format := o.output
	switch format {
	case "":
		format = formatJSONL
		if terminal {
			format = formatTable
		}
	case formatJSONL, formatJSONPB, formatTable:
	default:
		return ebpfsource.Config{}, "", fmt.Errorf("--output %q: want jsonl, jsonpb or table", o.output)
	}
	if o.duration < 0 {
		return ebpfsource.Config{}, "", fmt.Errorf("--duration %v: want 0 (no limit) or more", o.duration)
	}
	if o.interval <= 0 {
		return ebpfsource.Config{}, "", fmt.Errorf("--interval %v: want more than 0", o.interval)
	}
	if o.mapSize == 0 {
		return ebpfsource.Config{}, "", errors.New("--map-size 0: want at least 1")
	}
	cfg := ebpfsource.Config{
		Interval:    o.interval,
		FlowEntries: o.mapSize,
		DropReasons: o.dropReasons,
		Attach:      ebpfsource.AttachMode(o.attach),
		NodeName:    o.node,
	}
	switch cfg.Attach {
	case ebpfsource.AttachAuto, ebpfsource.AttachTCX, ebpfsource.AttachTC:
	default:
		return cfg, "", fmt.Errorf("--attach %q: want auto, tcx or tc", o.attach)
	}
	if cfg.DropReasons == nil {
		cfg.DropReasons = []string{} // --drop-reasons "": record no drop
	}
	if o.interfaces != "" {
		re, err := regexp.Compile(o.interfaces)
		if err != nil {
			return cfg, "", fmt.Errorf("--interfaces: %w", err)
		}
		cfg.Interfaces = re
	}
	if cfg.NodeName == "" {
		cfg.NodeName, _ = os.Hostname()
	}
	return cfg, format, nil
}

func observeSummary(records uint64, st ebpfsource.Stats) string {
	k := st.Kernel
	return fmt.Sprintf("observe: %d flow records in %d drains; lost: %d packets to a full flow map, %d to a full drop map, %d unparsable, %d DNS answers to a full ring, %d records to a slow reader; DNS answers %d (%d unparsable)",
		records, st.Drains, k.FlowMapFull, k.DropMapFull, k.ParseFailures, k.RingbufFull, st.RecordsLost, st.DNSAnswers, st.DNSFailures)
}
