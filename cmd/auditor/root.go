package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "auditor",
		Short: "flow-auditor: audit Kubernetes pod traffic against NetworkPolicies",
		Long: `flow-auditor observes what pods really send and receive, ties every flow to
pods, workloads and the NetworkPolicies in force, flags what policy denies or
should deny, and suggests least-privilege NetworkPolicies from what it saw.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newAgentCmd(),
		newBaselineCmd(),
		newAuditCmd(&clusterSource{}),
		newSuggestCmd(&clusterSource{}),
		newObserveCmd(),
		newGraphCmd(),
		newDemoCmd(),
	)
	return root
}
