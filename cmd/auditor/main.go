// Command auditor is flow-auditor's one binary: the node agent and the
// command-line tools that audit traffic and suggest NetworkPolicies.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run())
}

// run executes the command line and maps errors to exit statuses: 2 for bad
// input or an unusable environment, 1 for any other failure.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "auditor: %v\n", err)
		var ex *exitError
		if errors.As(err, &ex) {
			return ex.code
		}
		return 2 // cobra's own errors are usage errors
	}
	return 0
}

// exitError carries an exit status chosen by a subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad input: exit status 2.
func usageError(err error) error { return &exitError{code: 2, err: err} }

// failure marks a run that went wrong after its input was accepted: exit 1.
func failure(err error) error { return &exitError{code: 1, err: err} }
