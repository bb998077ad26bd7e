package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/hubble/server"
	"github.com/flow-auditor/flow-auditor/metrics"
	"github.com/flow-auditor/flow-auditor/pipeline"
)

// Options replace parts of the agent, for tests and embedding. Zero values
// mean what the Config says.
type Options struct {
	// Source replaces the one Config.Source names.
	Source Source
	// Sinks are added to the agent's own (metrics, hubble, log).
	Sinks []pipeline.Sink
	// RESTConfig replaces the kubeconfig lookup.
	RESTConfig *rest.Config
	// Now is the baseline's clock.
	Now func() time.Time
}

// Agent is one node agent, assembled and ready to Run.
type Agent struct {
	cfg     Config
	log     *zap.Logger
	metrics *metrics.Metrics

	inv    *inventory
	source Source
	store  *baseline.Store
	writer *baseline.Writer // nil unless the baseline is kept in the cluster
	hubble *server.Server   // nil when the Hubble API is off
	pipe   *pipeline.Pipeline
	health *health

	metricsLis, hubbleLis net.Listener
}

// New assembles an agent: it loads the inventory (or builds the informers),
// opens the source and binds the listeners, so that a bad configuration
// fails before anything runs. Errors are configuration errors.
func New(cfg Config, log *zap.Logger, opts Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--node-name not given and no host name: %w", err)
		}
		cfg.NodeName = h
	}
	log = log.With(zap.String("node", cfg.NodeName))
	if limit := cfg.memoryLimit(); limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	a := &Agent{cfg: cfg, log: log, health: &health{}}
	a.metrics = metrics.New(metrics.Options{CardinalityCap: cfg.CardinalityCap})

	if err := a.openInventory(opts.RESTConfig); err != nil {
		return nil, err
	}

	learning := cfg.LearningPeriod
	if learning == 0 {
		learning = -1 // the store reads zero as its default
	}
	a.store = baseline.NewStore(baseline.Options{
		LearningPeriod: learning, MaxPeers: cfg.BaselineMaxPeers, Node: cfg.NodeName, Now: opts.Now,
	})

	src := opts.Source
	if src == nil {
		var err error
		if src, err = a.openSource(); err != nil {
			return nil, err
		}
	}
	a.source = src
	a.watchSource(src)

	if err := a.listen(); err != nil {
		if d, ok := src.(detacher); ok {
			_ = d.Close()
		}
		return nil, err
	}
	sinks := []pipeline.Sink{logSink{samplingLogger(log)}}
	if a.hubbleLis != nil {
		a.hubble = server.New(server.Config{Capacity: cfg.RingSize, NodeName: cfg.NodeName, Logger: log})
		sinks = append(sinks, hubbleSink{a.hubble})
		a.metrics.AddLosses(func() []metrics.Loss {
			return []metrics.Loss{{Stage: "hubble-follower", Cause: "ring-overwritten", Count: a.hubble.Stats().FollowerLost}}
		})
	}
	sinks = append(sinks, opts.Sinks...)
	var in <-chan flow.Record
	var inBatches <-chan []flow.Record
	if rs, ok := src.(recordSource); ok {
		in = rs.Records()
	} else if bs, ok := src.(batchSource); ok {
		inBatches = bs.Batches()
	}
	_, canWait := src.(waiter)
	pipe, err := pipeline.New(pipeline.Config{
		In:        in,
		InBatches: inBatches,
		Resolver:  a.inv.index,
		Policies:  &a.inv.policies,
		Inspector: &anomaly.Detector{Baseline: a.store},
		// The metrics see every evaluated record: alerts must not miss
		// what a slow ring reader made the Hubble sink lose.
		Inline:    []pipeline.Sink{metricsSink{a.metrics}},
		Sinks:     sinks,
		WaitSinks: canWait,
		QueueSize: cfg.QueueSize,
		BatchSize: cfg.BatchSize,
		Explain:   true,
		// Every source buffers on its own side and drops when the pipeline
		// is behind (the kernel's drains, Hubble's stream) or can wait (a
		// file): inside the pipeline, stages wait for each other, and only
		// the sinks drop.
		Wait:  true,
		Meter: a.metrics,
	})
	if err != nil {
		a.closeListeners()
		if d, ok := src.(detacher); ok {
			_ = d.Close()
		}
		return nil, err
	}
	a.pipe = pipe
	a.health.checks = append(a.health.checks, check{"inventory", func() error {
		if !a.inv.synced() {
			return errors.New("caches not synced")
		}
		return nil
	}})
	if r, ok := src.(readier); ok {
		a.health.checks = append(a.health.checks, check{"source", r.Ready})
	}
	return a, nil
}

// Metrics returns the agent's metrics (its registry holds everything it
// exports).
func (a *Agent) Metrics() *metrics.Metrics { return a.metrics }

// Baseline returns the agent's baseline store.
func (a *Agent) Baseline() *baseline.Store { return a.store }

// MetricsAddr is the address /metrics is served on.
func (a *Agent) MetricsAddr() string { return a.metricsLis.Addr().String() }

// HubbleAddr is the address of the Hubble Observer API ("" when off).
func (a *Agent) HubbleAddr() string {
	if a.hubbleLis == nil {
		return ""
	}
	return a.hubbleLis.Addr().String()
}

func (a *Agent) openInventory(rc *rest.Config) error {
	needCluster := len(a.cfg.Snapshots) == 0 || a.cfg.Baseline == BaselineCluster
	if needCluster && rc == nil {
		var err error
		if rc, err = restConfig(a.cfg.Kubeconfig); err != nil {
			return err
		}
	}
	if len(a.cfg.Snapshots) > 0 {
		inv, err := snapshotInventory(a.cfg.Snapshots)
		if err != nil {
			return err
		}
		a.inv = inv
	} else {
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		inv, err := liveInventory(client, &a.cfg, a.metrics.Registry(), a.log)
		if err != nil {
			return err
		}
		a.inv = inv
	}
	if a.cfg.Baseline == BaselineCluster {
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		a.writer = &baseline.Writer{
			Client:   dyn,
			Interval: a.cfg.BaselineInterval,
			Log:      a.log.With(zap.String("component", "baseline")),
			OnWrite:  a.metrics.BaselineWrite,
		}
	}
	return nil
}

// restConfig finds the cluster: --kubeconfig, $KUBECONFIG, in-cluster,
// ~/.kube/config.
func restConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no cluster configured: no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not in a pod; use --snapshot to run from files")
		}
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "flow-auditor-agent"
	return rc, nil
}

func (a *Agent) openSource() (Source, error) {
	switch a.cfg.Source {
	case SourceFile:
		return newFileSource(a.cfg.FlowsFiles, a.log.With(zap.String("source", "file"))), nil
	case SourceHubble:
		return newHubbleSource(&a.cfg, a.log)
	case SourceEBPF:
		return newEBPFSource(&a.cfg, a.log)
	}
	return nil, fmt.Errorf("unknown source %q", a.cfg.Source)
}

// watchSource registers what the source reports beyond its records.
func (a *Agent) watchSource(src Source) {
	if l, ok := src.(lossReporter); ok {
		a.metrics.AddLosses(l.Losses)
	}
	if m, ok := src.(mapReporter); ok {
		a.metrics.AddMapStats(m.MapStats)
	}
}

func (a *Agent) listen() error {
	lis, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	a.metricsLis = lis
	if a.cfg.HubbleAddr != "" {
		if a.hubbleLis, err = net.Listen("tcp", a.cfg.HubbleAddr); err != nil {
			a.metricsLis.Close()
			return fmt.Errorf("--hubble-addr: %w", err)
		}
	}
	return nil
}

func (a *Agent) closeListeners() {
	a.metricsLis.Close()
	if a.hubbleLis != nil {
		a.hubbleLis.Close()
	}
}
