package main

import (
	"github.com/spf13/cobra"

	"github.com/flow-auditor/flow-auditor/internal/envflag"
)

// applyEnv is every subcommand's PreRunE: a flag not given on the command
// line takes its AUDITOR_* environment variable; a bad value is bad input.
func applyEnv(cmd *cobra.Command, _ []string) error {
	if err := envflag.Apply(cmd.Flags()); err != nil {
		return usageError(err)
	}
	return nil
}
