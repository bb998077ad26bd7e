// Package agent is the node process behind `auditor agent`: it joins a flow
// source, the inventory, the policy engine, the baseline and the sinks
// (Prometheus metrics, the Hubble Observer API, logs) into one pipeline,
// serves health and metrics, and shuts down in order.
package agent

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/metrics"
	"github.com/flow-auditor/flow-auditor/pipeline"
)

// Sources the agent can read flows from.
const (
	SourceEBPF   = "ebpf"
	SourceHubble = "hubble"
	SourceFile   = "file"
)

// Where the baseline is kept.
const (
	BaselineCluster = "cluster" // ObservedTraffic objects in the cluster
	BaselineMemory  = "memory"  // in the agent's memory only (lost at exit)
)

// Config is the agent's whole configuration. Every field is a flag of
// `auditor agent` with an AUDITOR_* environment fallback (the flag name in
// upper case, dashes as underscores: --metrics-addr is AUDITOR_METRICS_ADDR).
type Config struct {
	// Source is where flows come from: ebpf (the kernel of this node),
	// hubble (a Cilium Hubble server or relay) or file (JSON lines).
	Source string
	// Snapshots are cluster snapshot files (kubectl get -o yaml|json); with
	// them the inventory comes from the files and no API server is needed.
	Snapshots []string
	// Kubeconfig is the kubeconfig file for the cluster; empty follows the
	// usual rules ($KUBECONFIG, in-cluster, ~/.kube/config).
	Kubeconfig string
	// NodeName is the node the agent runs on (the DaemonSet sets it from the
	// downward API); default the host name.
	NodeName string
	// PodScope is which pods the live inventory watches: cluster (every
	// pod, so remote peers resolve to their pods) or node (this node's).
	PodScope string

	// MetricsAddr is where /metrics, /healthz and /readyz are served.
	MetricsAddr string
	// HubbleAddr is where the Hubble Observer API is served ("" disables).
	HubbleAddr string
	// RingSize is how many recent flows the Hubble API keeps.
	RingSize int

	// HubbleServer is the Hubble server or relay the hubble source follows.
	HubbleServer string
	// HubbleTLS enables TLS to HubbleServer; the files below imply it.
	HubbleTLS bool
	// HubbleTLSCA is the CA bundle that signs the server's certificate.
	HubbleTLSCA string
	// HubbleTLSCert and HubbleTLSKey are the client certificate (mTLS).
	HubbleTLSCert string
	HubbleTLSKey  string
	// HubbleTLSServerName overrides the name checked in the certificate.
	HubbleTLSServerName string

	// FlowsFiles are the JSON-lines files the file source reads, in order.
	FlowsFiles []string

	// Interfaces is a regular expression of the interfaces the ebpf source
	// attaches to ("" means every veth).
	Interfaces string
	// Netns is the network namespace the ebpf source watches (a path such
	// as /run/netns/node); "" is the agent's own (the node's, with
	// hostNetwork).
	Netns string
	// Interval is how often the kernel's flow map is drained.
	Interval time.Duration
	// MapSize is the flow map's capacity in entries.
	MapSize int

	// QueueSize is the capacity of each stage's queue, in batches of
	// BatchSize records.
	QueueSize int
	// BatchSize is the number of records per batch between stages.
	BatchSize int

	// LearningPeriod is how long new peers of a workload are learned before
	// they count as anomalous egress.
	LearningPeriod time.Duration
	// Baseline is where the baseline is kept: cluster (ObservedTraffic
	// objects) or memory; default cluster, or memory with Snapshots.
	Baseline string
	// BaselineInterval is the least time between two writes of one
	// ObservedTraffic object.
	BaselineInterval time.Duration
	// BaselineMaxPeers bounds the peers kept per object and direction.
	BaselineMaxPeers int

	// CardinalityCap bounds the series of each metric labelled by
	// namespace and workload; beyond it labels fold into "other".
	CardinalityCap int
	// ShutdownTimeout bounds the whole shutdown.
	ShutdownTimeout time.Duration
	// MemoryLimit is the container's memory limit (a quantity such as
	// "256Mi"; the chart passes limits.memory); the Go runtime then keeps
	// its memory under 90% of what the binary's own resident pages (about
	// 40 MiB, which the runtime does not count) leave of it, by collecting
	// garbage sooner. Empty leaves the runtime's defaults (and GOMEMLIMIT)
	// alone.
	MemoryLimit string
	// LogFormat is json or console; default json, console on a terminal.
	LogFormat string
	// LogLevel is debug, info, warn or error.
	LogLevel string
}

// Defaults returns the configuration used for every flag not given.
func Defaults() Config {
	return Config{
		Source:           SourceEBPF,
		PodScope:         "cluster",
		MetricsAddr:      ":9817",
		HubbleAddr:       ":4245",
		RingSize:         4096,
		Interval:         5 * time.Second,
		MapSize:          65536,
		QueueSize:        pipeline.DefaultQueueSize,
		BatchSize:        pipeline.DefaultBatchSize,
		LearningPeriod:   baseline.DefaultLearningPeriod,
		BaselineInterval: baseline.DefaultInterval,
		BaselineMaxPeers: baseline.DefaultMaxPeers,
		CardinalityCap:   metrics.DefaultCardinalityCap,
		ShutdownTimeout:  20 * time.Second,
		LogLevel:         "info",
	}
}

// Flags defines one flag per field on fs, with c's values as defaults.
func (c *Config) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Source, "source", c.Source, "flow source: ebpf, hubble or file")
	fs.StringSliceVar(&c.Snapshots, "snapshot", c.Snapshots, "cluster snapshot file (kubectl get -o yaml|json), repeatable; without it the inventory is read from the cluster")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	fs.StringVar(&c.NodeName, "node-name", c.NodeName, "name of the node the agent runs on (default: the host name)")
	fs.StringVar(&c.PodScope, "pod-scope", c.PodScope, "pods the live inventory watches: cluster or node")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "address of /metrics, /healthz and /readyz")
	fs.StringVar(&c.HubbleAddr, "hubble-addr", c.HubbleAddr, "address of the Hubble Observer API (empty disables it)")
	fs.IntVar(&c.RingSize, "ring-size", c.RingSize, "recent flows the Hubble Observer API keeps")
	fs.StringVar(&c.HubbleServer, "hubble-server", c.HubbleServer, "Hubble server or relay (host:port) for --source hubble")
	fs.BoolVar(&c.HubbleTLS, "hubble-tls", c.HubbleTLS, "use TLS to --hubble-server")
	fs.StringVar(&c.HubbleTLSCA, "hubble-tls-ca", c.HubbleTLSCA, "CA bundle that signs the Hubble server's certificate")
	fs.StringVar(&c.HubbleTLSCert, "hubble-tls-cert", c.HubbleTLSCert, "client certificate for mutual TLS to the Hubble server")
	fs.StringVar(&c.HubbleTLSKey, "hubble-tls-key", c.HubbleTLSKey, "client key for mutual TLS to the Hubble server")
	fs.StringVar(&c.HubbleTLSServerName, "hubble-tls-server-name", c.HubbleTLSServerName, "name to check in the Hubble server's certificate")
	fs.StringSliceVar(&c.FlowsFiles, "flows-file", c.FlowsFiles, "JSON-lines flow file for --source file, repeatable")
	fs.StringVar(&c.Interfaces, "interfaces", c.Interfaces, "regular expression of the interfaces to attach to (default: every veth)")
	fs.StringVar(&c.Netns, "netns", c.Netns, "network namespace the ebpf source watches, as a path (default: the agent's own)")
	fs.DurationVar(&c.Interval, "interval", c.Interval, "how often the kernel's flow map is drained")
	fs.IntVar(&c.MapSize, "map-size", c.MapSize, "capacity of the kernel's flow map, in entries")
	fs.IntVar(&c.QueueSize, "queue-size", c.QueueSize, "capacity of each pipeline stage's queue, in batches")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "records per batch between pipeline stages")
	fs.DurationVar(&c.LearningPeriod, "learning-period", c.LearningPeriod, "how long a workload's new peers are learned before they count as anomalous egress")
	fs.StringVar(&c.Baseline, "baseline", c.Baseline, "where the baseline is kept: cluster (ObservedTraffic objects) or memory (default: cluster, memory with --snapshot)")
	fs.DurationVar(&c.BaselineInterval, "baseline-interval", c.BaselineInterval, "least time between two writes of one ObservedTraffic object")
	fs.IntVar(&c.BaselineMaxPeers, "baseline-max-peers", c.BaselineMaxPeers, "peers kept per ObservedTraffic object and direction; more fold into its overflow summary")
	fs.IntVar(&c.CardinalityCap, "cardinality-cap", c.CardinalityCap, "series per namespace/workload-labelled metric before labels fold into \"other\"")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "bound on the whole shutdown")
	fs.StringVar(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "the container's memory limit (e.g. 256Mi): the Go runtime keeps its memory under 90% of what the binary's resident pages (about 40Mi) leave of it")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: json or console (default: console on a terminal, else json)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
}

// memoryLimit returns the soft limit for the Go runtime (goMemoryLimit of
// MemoryLimit), or 0 when none is set.
func (c *Config) memoryLimit() int64 {
	if c.MemoryLimit == "" {
		return 0
	}
	q, err := resource.ParseQuantity(c.MemoryLimit)
	if err != nil {
		return 0
	}
	return goMemoryLimit(q.Value())
}

// Validate checks the configuration and fills what defaults depend on.
func (c *Config) Validate() error {
	var errs []error
	switch c.Source {
	case SourceEBPF:
		if c.Interfaces != "" {
			if _, err := regexp.Compile(c.Interfaces); err != nil {
				errs = append(errs, fmt.Errorf("--interfaces: %w", err))
			}
		}
		if c.Interval <= 0 {
			errs = append(errs, errors.New("--interval must be positive"))
		}
		if c.MapSize <= 0 {
			errs = append(errs, errors.New("--map-size must be positive"))
		}
	case SourceHubble:
		if c.HubbleServer == "" {
			errs = append(errs, errors.New("--source hubble needs --hubble-server"))
		}
	case SourceFile:
		if len(c.FlowsFiles) == 0 {
			errs = append(errs, errors.New("--source file needs --flows-file"))
		}
	default:
		errs = append(errs, fmt.Errorf("--source %q: want ebpf, hubble or file", c.Source))
	}
	switch c.PodScope {
	case "cluster", "node":
	default:
		errs = append(errs, fmt.Errorf("--pod-scope %q: want cluster or node", c.PodScope))
	}
	switch c.Baseline {
	case "":
		c.Baseline = BaselineCluster
		if len(c.Snapshots) > 0 {
			c.Baseline = BaselineMemory
		}
	case BaselineCluster, BaselineMemory:
	default:
		errs = append(errs, fmt.Errorf("--baseline %q: want cluster or memory", c.Baseline))
	}
	switch c.LogFormat {
	case "", "json", "console":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want json or console", c.LogFormat))
	}
	if c.RingSize <= 0 {
		errs = append(errs, errors.New("--ring-size must be positive"))
	}
	if c.QueueSize <= 0 || c.BatchSize <= 0 {
		errs = append(errs, errors.New("--queue-size and --batch-size must be positive"))
	}
	if c.LearningPeriod < 0 {
		errs = append(errs, errors.New("--learning-period must not be negative"))
	}
	if c.BaselineInterval <= 0 || c.BaselineMaxPeers <= 0 {
		errs = append(errs, errors.New("--baseline-interval and --baseline-max-peers must be positive"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	if c.MemoryLimit != "" {
		if q, err := resource.ParseQuantity(c.MemoryLimit); err != nil || q.Value() <= 0 {
			errs = append(errs, fmt.Errorf("--memory-limit %q: want a positive quantity such as 256Mi", c.MemoryLimit))
		}
	}
	return errors.Join(errs...)
}
