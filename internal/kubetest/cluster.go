package kubetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

const (
	// AdminUser is in system:masters: RBAC lets it do anything.
	AdminUser = "kubetest-admin"
	// ServiceCIDR is the API server's service-cluster-ip-range: dual-stack,
	// like the kind clusters the example snapshot was taken from.
	ServiceCIDR = "10.96.0.0/16,fd00:10:96::/108"

	readyTimeout = 90 * time.Second
	stopGrace    = 10 * time.Second
)

// Cluster is an etcd and a kube-apiserver on loopback, owned by one test.
type Cluster struct {
	bins Binaries
	dir  string
	ca   *authority

	etcdURL string
	apiPort int

	mu        sync.Mutex
	etcd      *process
	apiserver *process
	apiArgs   []string
	// controllerManager runs only the garbage collector, once a test asks
	// for it (StartGarbageCollector).
	controllerManager *process

	admin      *rest.Config
	kubeconfig string
}

// Start runs etcd and kube-apiserver for t and stops both in t.Cleanup. It
// skips t when the binaries are missing (fails under
// AUDITOR_REQUIRE_PRIVILEGED=1).
func Start(t testing.TB) *Cluster {
	t.Helper()
	bins, err := FindBinaries()
	if err != nil {
		testutil.Unavailable(t, "needs kube-apiserver and etcd: "+err.Error())
	}
	c, err := start(bins, t.TempDir())
	if c != nil {
		t.Cleanup(c.stop)
	}
	if err != nil {
		t.Fatalf("start test cluster: %v", err)
	}
	return c
}

func start(bins Binaries, dir string) (*Cluster, error) {
	c := &Cluster{bins: bins, dir: dir}
	ca, err := newAuthority()
	if err != nil {
		return nil, err
	}
	c.ca = ca
	if err := c.startEtcd(); err != nil {
		return c, err
	}
	if err := c.writeAPIServerFiles(); err != nil {
		return c, err
	}
	if err := c.StartAPIServer(); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) startEtcd() error {
	clientPort, err := freePort()
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	c.etcdURL = "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	args := []string{
		"--name=kubetest",
		"--data-dir=" + filepath.Join(c.dir, "etcd"),
		"--listen-client-urls=" + c.etcdURL,
		"--advertise-client-urls=" + c.etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=kubetest=" + peerURL,
		"--unsafe-no-fsync", // test data: durability does not matter, speed does
		"--log-level=warn",
	}
	p, err := startProcess("etcd", c.bins.Etcd, args, filepath.Join(c.dir, "etcd.log"))
	if err != nil {
		return err
	}
	c.etcd = p
	if err := waitHealthy(p, http.DefaultClient, c.etcdURL+"/health"); err != nil {
		return p.failure(err)
	}
	return nil
}

func (c *Cluster) writeAPIServerFiles() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.apiPort = port
	serving, servingKey, err := c.ca.issue("kube-apiserver", nil,
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 96, 0, 1)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"})
	if err != nil {
		return err
	}
	saKey, saPub, err := serviceAccountKey()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.crt": c.ca.certPEM, "serving.crt": serving, "serving.key": servingKey,
		"sa.key": saKey, "sa.pub": saPub,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(c.dir, name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	c.apiArgs = []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.dir, "apiserver-certs"),
		"--tls-cert-file=" + filepath.Join(c.dir, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(c.dir, "serving.key"),
		"--client-ca-file=" + filepath.Join(c.dir, "ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(c.dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(c.dir, "sa.key"),
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// No controller manager creates default service accounts, so the
		// admission plugin that requires them would reject every pod.
		"--disable-admission-plugins=ServiceAccount",
		// Nothing serves the kubernetes Service's endpoints here.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
	}
	admin, err := c.UserConfig(AdminUser, "system:masters")
	if err != nil {
		return err
	}
	c.admin = admin
	c.kubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
	return writeKubeconfig(c.kubeconfig, admin)
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) on the
// same address and waits until /readyz answers ok.
func (c *Cluster) StartAPIServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver != nil && !c.apiserver.exited() {
		return fmt.Errorf("kube-apiserver already running (pid %d)", c.apiserver.cmd.Process.Pid)
	}
	p, err := startProcess("kube-apiserver", c.bins.APIServer, c.apiArgs, filepath.Join(c.dir, "kube-apiserver.log"))
	if err != nil {
		return err
	}
	c.apiserver = p
	rt, err := rest.TransportFor(c.admin)
	if err != nil {
		return fmt.Errorf("admin transport: %w", err)
	}
	if err := waitHealthy(p, &http.Client{Transport: rt, Timeout: 5 * time.Second}, c.admin.Host+"/readyz"); err != nil {
		return p.failure(err)
	}
	return nil
}

// StopAPIServer stops kube-apiserver, leaving etcd and its data in place.
func (c *Cluster) StopAPIServer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver != nil {
		c.apiserver.stop(stopGrace)
	}
}

func (c *Cluster) stop() {
	c.mu.Lock()
	if c.controllerManager != nil {
		c.controllerManager.stop(stopGrace)
	}
	c.mu.Unlock()
	c.StopAPIServer()
	if c.etcd != nil {
		c.etcd.stop(stopGrace)
	}
}

// Host is the API server's URL.
func (c *Cluster) Host() string { return "https://127.0.0.1:" + strconv.Itoa(c.apiPort) }

// Config returns a copy of the admin's client configuration.
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.admin) }

// Kubeconfig is the path of a kubeconfig file for the admin.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Client returns an admin clientset.
func (c *Cluster) Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config())
	if err != nil {
		t.Fatalf("admin clientset: %v", err)
	}
	return cs
}

// UserConfig returns a client configuration that authenticates as user in
// groups with a certificate from the cluster's CA. Without groups the user
// may do nothing until RBAC grants it something.
func (c *Cluster) UserConfig(user string, groups ...string) (*rest.Config, error) {
	cert, key, err := c.ca.issue(user, groups, nil, nil)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: c.Host(),
		TLSClientConfig: rest.TLSClientConfig{
			CAData: c.ca.certPEM, CertData: cert, KeyData: key,
		},
		QPS: 100, Burst: 200,
	}, nil
}

// UserKubeconfig writes a kubeconfig file for user in groups and returns its path.
func (c *Cluster) UserKubeconfig(t testing.TB, user string, groups ...string) string {
	t.Helper()
	cfg, err := c.UserConfig(user, groups...)
	if err != nil {
		t.Fatalf("config for %s: %v", user, err)
	}
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	if err := writeKubeconfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "user"}
	kc.CurrentContext = "kubetest"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// waitHealthy polls url until it answers 200, the process exits, or the
// readiness timeout passes.
func waitHealthy(p *process, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("probe %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("GET %s: %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited while waiting for %s: %w", url, last)
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", errNotReady, last)
		case <-tick.C:
		}
	}
}
