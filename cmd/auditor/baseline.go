package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/internal/envflag"
)

func newBaselineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Manage the learned baseline (ObservedTraffic objects)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBaselineApproveCmd())
	return cmd
}

func newBaselineApproveCmd() *cobra.Command {
	var (
		namespace, workload, kubeconfig, kubeContext string
		timeout                                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "approve --namespace NS [--workload W]",
		Short: "Accept what the agents learned, so that it stops counting as anomalous egress",
		Long: `Accept every peer the agents observed so far for the workloads of a namespace
(or one workload), on every node: it sets spec.approvedAt on their
ObservedTraffic objects to now. The agents read it back within five
--baseline-interval periods and stop reporting those peers as anomalous
egress; peers first seen later are still reported. --workload takes the
workload as Kind/name (Deployment/triage-agent) or its name alone.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		PreRunE:      applyEnv,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if namespace == "" {
				return usageError(errors.New("--namespace is required"))
			}
			rc, err := loadRESTConfig(kubeconfig, kubeContext)
			if err != nil {
				return usageError(err)
			}
			client, err := dynamic.NewForConfig(rc)
			if err != nil {
				return usageError(fmt.Errorf("client for %s: %w", rc.Host, err))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			names, err := baseline.Approve(ctx, client, namespace, workload, time.Now())
			if err != nil {
				return failure(err)
			}
			if len(names) == 0 {
				what := "namespace " + namespace
				if workload != "" {
					what = "workload " + workload + " in " + what
				}
				return usageError(fmt.Errorf("no ObservedTraffic object for %s: nothing learned yet", what))
			}
			for _, n := range names {
				fmt.Fprintf(cmd.OutOrStdout(), "approved %s/%s\n", namespace, n)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&namespace, "namespace", "n", "", "namespace whose workloads to approve (required)")
	fs.StringVar(&workload, "workload", "", "approve only this workload (Kind/name or name)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	fs.StringVar(&kubeContext, "context", "", "kubeconfig context to use (default: the current context)")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the cluster")
	envflag.Annotate(fs)
	return cmd
}
