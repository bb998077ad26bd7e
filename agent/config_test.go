package agent

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/flow-auditor/flow-auditor/internal/envflag"
)

// Every field of Config is a flag (and so an environment variable), and
// every flag sets its own field.
func TestEveryFieldIsAFlag(t *testing.T) {
	c := Defaults()
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	c.Flags(fs)
	n := 0
	fs.VisitAll(func(f *pflag.Flag) {
		n++
		before := c
		val := map[string]string{"bool": "true", "int": "7", "duration": "7s", "stringSlice": "x,y"}[f.Value.Type()]
		if val == "" {
			val = "x"
		}
		if err := fs.Set(f.Name, val); err != nil {
			t.Fatalf("--%s=%s: %v", f.Name, val, err)
		}
		changed := 0
		bv, av := reflect.ValueOf(before), reflect.ValueOf(c)
		for i := range bv.NumField() {
			if !reflect.DeepEqual(bv.Field(i).Interface(), av.Field(i).Interface()) {
				changed++
			}
		}
		if changed != 1 {
			t.Errorf("--%s changed %d fields, want 1", f.Name, changed)
		}
		if strings.TrimSpace(f.Usage) == "" {
			t.Errorf("--%s has no usage text", f.Name)
		}
	})
	if fields := reflect.TypeOf(c).NumField(); n != fields {
		t.Errorf("%d flags for %d fields", n, fields)
	}
}

func TestEnvironmentFallback(t *testing.T) {
	t.Setenv("AUDITOR_METRICS_ADDR", "127.0.0.1:9999")
	t.Setenv("AUDITOR_SNAPSHOT", "a.yaml,b.yaml")
	t.Setenv("AUDITOR_SOURCE", "hubble")
	c := Defaults()
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	c.Flags(fs)
	if err := fs.Parse([]string{"--source", "file"}); err != nil {
		t.Fatal(err)
	}
	if err := envflag.Apply(fs); err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "127.0.0.1:9999" || len(c.Snapshots) != 2 || c.Source != "file" {
		t.Errorf("metrics %q snapshots %v source %q: environment must fill what flags leave, flags win", c.MetricsAddr, c.Snapshots, c.Source)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"unknown source", func(c *Config) { c.Source = "pcap" }, "--source"},
		{"hubble without server", func(c *Config) { c.Source = SourceHubble }, "--hubble-server"},
		{"file without files", func(c *Config) { c.Source = SourceFile }, "--flows-file"},
		{"bad regexp", func(c *Config) { c.Interfaces = "(" }, "--interfaces"},
		{"bad baseline", func(c *Config) { c.Baseline = "disk" }, "--baseline"},
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, "--log-format"},
		{"zero ring", func(c *Config) { c.RingSize = 0 }, "--ring-size"},
		{"bad memory limit", func(c *Config) { c.MemoryLimit = "lots" }, "--memory-limit"},
		{"memory limit", func(c *Config) { c.MemoryLimit = "256Mi" }, ""},
	} {
		cfg := Defaults()
		c.edit(&cfg)
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.want)
		}
	}
	// The baseline's default follows the inventory's source.
	cfg := Defaults()
	cfg.Snapshots = []string{"s.yaml"}
	_ = cfg.Validate()
	if cfg.Baseline != BaselineMemory {
		t.Errorf("baseline with --snapshot: %q, want memory", cfg.Baseline)
	}
}
