package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/flow-auditor/flow-auditor/agent"
	"github.com/flow-auditor/flow-auditor/internal/envflag"
)

func newAgentCmd() *cobra.Command {
	cfg := agent.Defaults()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: capture, judge and report every pod flow",
		Long: `Run the node agent (the DaemonSet process). It reads flows from the node's
kernel (--source ebpf), a Hubble server (--source hubble) or files (--source
file), resolves them against the cluster (or --snapshot files), judges them
against the NetworkPolicies, detects anomalous egress against the learned
baseline, and reports through Prometheus metrics (--metrics-addr, with
/healthz and /readyz), the Hubble Observer API (--hubble-addr) and
ObservedTraffic objects in the cluster.

Every flag can also be set through its AUDITOR_* environment variable.
SIGTERM stops the source, drains the pipeline, flushes the baseline and
detaches the programs, within --shutdown-timeout.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PreRunE:       applyEnv,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := agent.NewLogger(cfg.LogFormat, cfg.LogLevel, os.Stderr)
			if err != nil {
				return usageError(err)
			}
			defer func() { _ = log.Sync() }()
			// What New refuses is the configuration or the environment (a
			// missing privilege or kernel feature, no cluster): exit 2.
			a, err := agent.New(cfg, log, agent.Options{})
			if err != nil {
				return usageError(err)
			}
			if err := a.Run(cmd.Context()); err != nil {
				return failure(err)
			}
			return nil
		},
	}
	cfg.Flags(cmd.Flags())
	envflag.Annotate(cmd.Flags())
	return cmd
}
