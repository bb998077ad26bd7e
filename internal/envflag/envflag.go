// Package envflag gives every flag of a command an AUDITOR_* environment
// fallback, so that a DaemonSet can configure the agent without arguments.
package envflag

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Name maps a flag name to its environment variable: "metrics-addr" becomes
// AUDITOR_METRICS_ADDR.
func Name(flag string) string {
	return "AUDITOR_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Annotate appends each flag's variable to its usage, once, so that --help
// shows it. Call it after defining the flags.
func Annotate(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if env := Name(f.Name); !strings.Contains(f.Usage, env) {
			f.Usage += " [$" + env + "]"
		}
	})
}

// Apply sets every flag not given on the command line from its environment
// variable, if set. Call it after parsing (from PreRunE): explicit flags
// always win.
func Apply(fs *pflag.FlagSet) error {
	var firstErr error
	fs.VisitAll(func(f *pflag.Flag) {
		env := Name(f.Name)
		if f.Changed {
			return
		}
		v, ok := os.LookupEnv(env)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("environment %s=%q: %w", env, v, err)
		}
	})
	return firstErr
}
