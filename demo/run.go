package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/flow-auditor/flow-auditor/collector/ebpf"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/policy"
)

// Config is one run of the demo.
type Config struct {
	// Out is the directory the files are written to.
	Out string
	// Enforce turns the policies into iptables rules in the node namespace.
	Enforce bool
	// Interactive pauses before the attacks and before tearing down.
	Interactive bool
	// Normal is how long normal behaviour plays before the attacks; the
	// agent learns the baseline during its first Learning.
	Normal, Learning time.Duration
	// Interval is the agent's drain interval.
	Interval time.Duration
	Stdin    io.Reader
	Stdout   io.Writer
	// Log receives the agent's logs.
	Log *zap.Logger
}

// Defaults for Config.
const (
	DefaultNormal   = 5 * time.Second
	DefaultLearning = 3 * time.Second
	DefaultInterval = 500 * time.Millisecond
)

// Check validates the configuration.
func (c *Config) Check() error {
	var errs []error
	if c.Out == "" {
		errs = append(errs, errors.New("--out: a directory is required"))
	}
	if c.Interval <= 0 || c.Interval > 5*time.Second {
		errs = append(errs, fmt.Errorf("--interval %s: want more than 0 and at most 5s", c.Interval))
	}
	if c.Learning < time.Second {
		errs = append(errs, fmt.Errorf("--learning %s: want at least 1s", c.Learning))
	}
	if c.Normal < c.Learning+time.Second {
		errs = append(errs, fmt.Errorf("--normal %s: want at least --learning + 1s (%s), so that the attacks come after learning", c.Normal, c.Learning+time.Second))
	}
	return errors.Join(errs...)
}

// EnvironmentError is a machine the demo cannot run on: not root, no BPF,
// a missing tool.
type EnvironmentError struct{ Err error }

func (e *EnvironmentError) Error() string { return e.Err.Error() }
func (e *EnvironmentError) Unwrap() error { return e.Err }

// Preflight checks what the demo needs from the machine.
func Preflight(enforce bool) error {
	if os.Geteuid() != 0 {
		return &EnvironmentError{errors.New("the demo needs root: it creates network namespaces and loads eBPF programs (sudo make demo)")}
	}
	if err := ebpf.CheckSupport(); err != nil {
		return &EnvironmentError{err}
	}
	tools := []string{"ip"}
	if enforce {
		tools = append(tools, "iptables-restore")
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return &EnvironmentError{fmt.Errorf("the demo needs %s (Debian packages iproute2 and iptables): %w", t, err)}
		}
	}
	return nil
}

// Attack attempt timeouts: a dropped SYN is retried after a second, so
// the dial sees two drops.
const attackDialTimeout = 1500 * time.Millisecond

// run is one demo run's state.
type run struct {
	cfg     Config
	s       *Scenario
	p       *printer
	net     *network
	traffic *traffic
	coll    *collector
	hc      *http.Client
	addr    string // the agent's /metrics, inside the node namespace
	start   time.Time
	sum     Summary
}

// Run plays the demo. It tears everything down before returning, on
// success, failure or ctx's end (Ctrl-C). It returns an *EnvironmentError
// when the machine cannot run it, and an error when the auditor missed an
// attack or flagged normal traffic.
func Run(ctx context.Context, cfg Config) (err error) {
	if err := cfg.Check(); err != nil {
		return err
	}
	if err := Preflight(cfg.Enforce); err != nil {
		return err
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	r := &run{cfg: cfg, s: AIAgents(), p: &printer{w: cfg.Stdout, total: 9}, start: time.Now()}
	if cfg.Enforce {
		r.p.total = 10
	}
	r.sum.Enforce, r.sum.Started = cfg.Enforce, r.start.UTC()

	prefix, err := newPrefix()
	if err != nil {
		return err
	}
	r.sum.Namespaces = prefix + "-*"
	r.p.phase("building the cluster in network namespaces %s-*: %d pods and %d outside hosts, routed through the node namespace %s-node",
		prefix, len(r.s.Pods), len(r.s.Hosts), prefix)
	if r.net, err = buildNetwork(r.s, prefix); err != nil {
		return fmt.Errorf("build the network: %w", err)
	}
	defer func() {
		terr := r.net.close()
		if terr != nil {
			terr = fmt.Errorf("tear down: %w", terr)
		}
		r.p.printf("\n==> torn down: agent stopped, programs detached, namespaces %s-* removed\n", prefix)
		err = errors.Join(err, terr)
	}()
	r.traffic = &traffic{s: r.s, n: r.net}
	for _, p := range r.s.Pods {
		r.p.printf("  pod  %-12s %-36s %-15s %s\n", p.Namespace, p.Name, p.IP, ports(p.Ports))
	}
	for _, h := range r.s.Hosts {
		r.p.printf("  host %-49s %-15s %s  %s\n", h.What, h.IP, ports([]Port{h.Port}), h.FQDN)
	}

	objs, ix, engine, err := r.writeSnapshot()
	if err != nil {
		return err
	}
	if cfg.Enforce {
		if err := r.enforce(ix, engine); err != nil {
			return err
		}
	}
	return r.play(ctx, objs, ix)
}

func ports(ps []Port) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s/%d", p.Protocol, p.Port))
	}
	return strings.Join(s, ",")
}

// writeSnapshot writes the cluster's snapshot and loads it back, as a user
// of the file would: everything after judges against what the file says.
func (r *run) writeSnapshot() (correlate.Objects, *correlate.Index, *policy.Engine, error) {
	path := filepath.Join(r.cfg.Out, FileSnapshot)
	objs := r.s.Objects(r.start.Add(-time.Minute))
	if err := WriteSnapshot(path, objs); err != nil {
		return correlate.Objects{}, nil, nil, err
	}
	snap, err := correlate.LoadSnapshot(path)
	if err != nil {
		return correlate.Objects{}, nil, nil, fmt.Errorf("read back the snapshot: %w", err)
	}
	o := snap.Objects()
	engine, err := policy.New(o.NetworkPolicies, o.Namespaces)
	if err != nil {
		return correlate.Objects{}, nil, nil, err
	}
	r.sum.file(path)
	r.p.phase("cluster snapshot written to %s: %d namespaces, %d pods, %d NetworkPolicies in ai-agents (the article's %d and %d completing who-may-reach-whom)",
		path, len(o.Namespaces), len(o.Pods), len(o.NetworkPolicies), len(ArticlePolicies), len(o.NetworkPolicies)-len(ArticlePolicies))
	return o, correlate.BuildIndex(o, correlate.IndexOptions{}), engine, nil
}

// enforce turns the policies into iptables rules in the node namespace.
func (r *run) enforce(ix *correlate.Index, engine *policy.Engine) error {
	names := func(a netip.Addr) string {
		for _, p := range r.s.Pods {
			if p.IP == a {
				return p.Namespace + "/" + p.Name
			}
		}
		for _, h := range r.s.Hosts {
			if h.IP == a {
				if h.FQDN != "" {
					return h.FQDN
				}
				return h.IP.String()
			}
		}
		return a.String()
	}
	allow := allowList(r.s, ix, engine, time.Now())
	rules := iptablesRules(allow, names)
	path := filepath.Join(r.cfg.Out, FileEnforce)
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		return fmt.Errorf("write the enforcement rules: %w", err)
	}
	if err := enforce(r.net.tp.NodeName, rules); err != nil {
		return err
	}
	r.sum.file(path)
	r.sum.AllowRules = len(allow)
	r.p.phase("enforcing: the policy engine judged every (source, destination, port) of the cluster; %d allowed pairs became iptables ACCEPT rules in %s, everything else is dropped (%s)",
		len(allow), r.net.tp.NodeName, path)
	return nil
}
