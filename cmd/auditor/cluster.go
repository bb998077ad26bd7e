package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flow-auditor/flow-auditor/correlate"
)

// clusterSource reads the inventory from a live cluster, found through the
// usual kubeconfig rules: --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config, else the pod's service account when run in a cluster.
type clusterSource struct {
	kubeconfig string
	context    string
	timeout    time.Duration
}

// addFlags registers the cluster flags on a command that can read a cluster.
func (s *clusterSource) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.kubeconfig, "kubeconfig", "", "kubeconfig file to read the cluster with (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	fs.StringVar(&s.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.DurationVar(&s.timeout, "cluster-timeout", 30*time.Second, "how long to wait for the cluster to answer and the inventory to load")
}

// load lists the cluster's objects once. It fails with a usage error (exit
// 2) and one line when no cluster is configured or reachable, or when RBAC
// forbids reading what resolution needs.
func (s *clusterSource) load(ctx context.Context) (correlate.Inventory, error) {
	cfg, err := loadRESTConfig(s.kubeconfig, s.context)
	if err != nil {
		return nil, usageError(fmt.Errorf("%w (use --snapshot to audit files)", err))
	}
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, usageError(fmt.Errorf("client for %s: %w", cfg.Host, err))
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// One quick request first: an unreachable cluster is one clear line, not
	// a wait for informers that will never sync.
	probe, probeCancel := context.WithTimeout(ctx, min(s.timeout, 10*time.Second))
	_, err = client.Discovery().RESTClient().Get().AbsPath("/version").Do(probe).Raw()
	probeCancel()
	if err != nil {
		return nil, usageError(unreachable(cfg.Host, err))
	}

	live, err := correlate.NewLive(correlate.LiveConfig{Client: client})
	if err != nil {
		return nil, failure(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = live.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if err := live.WaitForSync(ctx); err != nil {
		return nil, usageError(fmt.Errorf("cluster at %s: %w", cfg.Host, err))
	}
	if err := degraded(cfg.Host, live.Degraded()); err != nil {
		return nil, err
	}
	return staticInventory(live.Objects()), nil
}

// degraded turns resources the credentials may not read into an error for
// those resolution cannot do without, and a warning for workload
// controllers (identity then comes from owner references).
func degraded(host string, d map[string]error) error {
	names := make([]string, 0, len(d))
	for n := range d {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		switch n {
		case "namespaces", "pods", "services", "endpointslices", "networkpolicies", "nodes":
			return usageError(fmt.Errorf("cannot read %s from the cluster at %s: %s", n, host, apiReason(d[n])))
		}
	}
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "auditor: warning: cannot read %s (%s); workload names come from owner references\n", n, apiReason(d[n]))
	}
	return nil
}

// unreachable says in one line why the cluster did not answer.
func unreachable(host string, err error) error {
	if apierrors.IsUnauthorized(err) {
		return fmt.Errorf("the cluster at %s refused the credentials (401 Unauthorized)", host)
	}
	return fmt.Errorf("cannot reach the cluster at %s: %s (use --snapshot to audit files)", host, apiReason(err))
}

// apiReason is the shortest faithful description of a client error.
func apiReason(err error) string {
	var (
		errno   syscall.Errno
		dnsErr  *net.DNSError
		unknown x509.UnknownAuthorityError
		status  apierrors.APIStatus
	)
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &dnsErr):
		return "no such host " + dnsErr.Name
	case errors.As(err, &unknown):
		return "certificate signed by an unknown authority"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "no answer in time"
	case errors.As(err, &status):
		if msg := status.Status().Message; msg != "" {
			return msg
		}
		return string(status.Status().Reason)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return msg[i+2:]
	}
	return msg
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// staticInventory is objects read once.
type staticInventory correlate.Objects

func (s staticInventory) Objects() correlate.Objects { return correlate.Objects(s) }

// loadRESTConfig finds the cluster through the usual kubeconfig rules.
func loadRESTConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no cluster configured: no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not in a pod")
		}
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "flow-auditor"
	return rc, nil
}

// restConfig is the kubeconfig the cluster flags name.
func (s *clusterSource) restConfig() (*rest.Config, error) {
	rc, err := loadRESTConfig(s.kubeconfig, s.context)
	if err != nil {
		return nil, usageError(err)
	}
	return rc, nil
}
