package envflag

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestApplyFallsBackToTheEnvironmentExplicitFlagsWin(t *testing.T) {
	t.Setenv("AUDITOR_METRICS_ADDR", ":9999")
	t.Setenv("AUDITOR_INTERVAL", "7s")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addr := fs.String("metrics-addr", ":9090", "where to serve metrics")
	interval := fs.Duration("interval", time.Second, "drain interval")
	if err := fs.Parse([]string{"--interval=3s"}); err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs); err != nil {
		t.Fatal(err)
	}
	if *addr != ":9999" {
		t.Errorf("metrics-addr = %q, want the environment's :9999", *addr)
	}
	if *interval != 3*time.Second {
		t.Errorf("interval = %v, want the explicit 3s", *interval)
	}
}

func TestApplyNamesTheVariableOfABadValue(t *testing.T) {
	t.Setenv("AUDITOR_INTERVAL", "soon")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Duration("interval", time.Second, "drain interval")
	err := Apply(fs)
	if err == nil || !strings.Contains(err.Error(), `AUDITOR_INTERVAL="soon"`) {
		t.Fatalf("Apply = %v, want an error naming AUDITOR_INTERVAL=\"soon\"", err)
	}
}

func TestAnnotateOnce(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("log-level", "info", "log level")
	Annotate(fs)
	Annotate(fs)
	if got := fs.Lookup("log-level").Usage; got != "log level [$AUDITOR_LOG_LEVEL]" {
		t.Errorf("usage = %q", got)
	}
}
