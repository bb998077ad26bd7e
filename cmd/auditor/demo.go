package main

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/flow-auditor/flow-auditor/agent"
	"github.com/flow-auditor/flow-auditor/demo"
	"github.com/flow-auditor/flow-auditor/internal/envflag"
)

func newDemoCmd() *cobra.Command {
	cfg := demo.Config{Normal: demo.DefaultNormal, Learning: demo.DefaultLearning, Interval: demo.DefaultInterval}
	var nonInteractive bool
	var logLevel string
	cmd := &cobra.Command{
		Use:   "demo [--out DIR] [--enforce] [--non-interactive]",
		Short: "Play the AI-agents scenario on this machine: real eBPF capture, attacks, policies, a picture",
		Long: `Demo builds the AI-agents scenario of the design in network namespaces of its
own (a node namespace routing between one namespace per pod: the gateway, the
triage agent, two specialists, the tool-service, postgresql and kube-dns; and
the outside hosts: two LLM APIs, one LLM API nobody used before, an internal
service at a private address and the cloud metadata service), writes the
cluster's snapshot, runs the real agent (eBPF programs on the node namespace's
interfaces, the pipeline, /metrics) and plays normal behaviour, then four
attacks: a specialist calling the other specialist, an agent calling the
internal service, an agent reading the metadata service, an agent calling the
new LLM endpoint.

It prints the live flows, the violations with their explanations, the metrics
that changed, the policies suggested for ai-agents from the normal behaviour
with their proof by replay, and the files it wrote to --out: the flows (JSON
lines), the snapshot, the policies, the replay report, the graph (HTML and
SVG) and a summary. With --enforce the policies become iptables rules in the
node namespace first, so that the attacks policy denies are dropped (denied,
NETFILTER_DROP) instead of let through (would-deny).

Nothing outside its own namespaces is touched: no packet reaches the
machine's interfaces. Everything is torn down at the end or on Ctrl-C. Needs
root, a kernel with BTF, and ip (iproute2) and, for --enforce, iptables.
Exit status 1 when the auditor missed an attack, flagged normal traffic or
suggested policies that fail their proof; 2 when the machine cannot run it.`,
		Example: `  sudo auditor demo
  sudo auditor demo --enforce --out /tmp/demo --non-interactive`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PreRunE:       applyEnv,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Check(); err != nil {
				return usageError(err)
			}
			log, err := agent.NewLogger("console", logLevel, cmd.ErrOrStderr())
			if err != nil {
				return usageError(err)
			}
			defer func() { _ = log.Sync() }()
			cfg.Log = log
			cfg.Stdout = cmd.OutOrStdout()
			cfg.Stdin = cmd.InOrStdin()
			// Pauses only make sense with someone at the keyboard.
			cfg.Interactive = !nonInteractive && isTerminalFile(cmd.InOrStdin())
			err = demo.Run(cmd.Context(), cfg)
			var env *demo.EnvironmentError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &env):
				return usageError(err)
			case errors.Is(err, context.Canceled):
				return failure(errors.New("demo interrupted; everything it created was torn down"))
			}
			return failure(err)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.Out, "out", "demo-out", "directory the demo writes its files to")
	fs.BoolVar(&cfg.Enforce, "enforce", false, "turn the policies into iptables rules in the node namespace, so that what they deny is dropped")
	fs.BoolVar(&nonInteractive, "non-interactive", false, "do not pause before the attacks (the default when stdin is not a terminal)")
	fs.DurationVar(&cfg.Normal, "normal", cfg.Normal, "how long normal behaviour plays before the attacks")
	fs.DurationVar(&cfg.Learning, "learning", cfg.Learning, "the agent's learning period: new peers after it are anomalous egress (at most --normal - 1s)")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "how often the agent drains the kernel's flow map")
	fs.StringVar(&logLevel, "log-level", "warn", "the agent's log level (stderr): debug, info, warn or error")
	envflag.Annotate(fs)
	return cmd
}

// isTerminalFile reports whether r is a terminal.
func isTerminalFile(r any) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
