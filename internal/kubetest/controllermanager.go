package kubetest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// GarbageCollectorController is kube-controller-manager's name for the
// garbage collector, as its --help lists it (older releases called it
// "garbagecollector", which remains an alias).
const GarbageCollectorController = "garbage-collector-controller"

// StartGarbageCollector runs kube-controller-manager against the cluster's
// API server with only the garbage collector enabled, waits until its
// /healthz answers ok, and stops it with the cluster. It skips t when
// kube-controller-manager is not built (fails under
// AUDITOR_REQUIRE_PRIVILEGED=1).
//
// The garbage collector discovers the resources it watches when it starts
// and again every 30 seconds: install CRDs whose objects it must collect
// before calling this, or allow for that delay.
func (c *Cluster) StartGarbageCollector(t testing.TB) {
	t.Helper()
	bin, err := FindControllerManager()
	if err != nil {
		testutil.Unavailable(t, "needs kube-controller-manager: "+err.Error())
	}
	if err := c.startControllerManager(bin, GarbageCollectorController); err != nil {
		t.Fatalf("start the garbage collector: %v", err)
	}
}

// controllerManagerArgs are the flags of a kube-controller-manager that runs
// controllers (a --controllers list) as the cluster's admin, serving its
// health checks with a certificate from the cluster's CA on port.
func (c *Cluster) controllerManagerArgs(controllers string, port int) []string {
	return []string{
		"--controllers=" + controllers,
		// The admin's credentials for everything: the controllers' client,
		// and the delegated authentication and authorization of the
		// health endpoint (which anyone may read).
		"--kubeconfig=" + c.kubeconfig,
		"--authentication-kubeconfig=" + c.kubeconfig,
		"--authorization-kubeconfig=" + c.kubeconfig,
		// Each controller would otherwise get a service account token,
		// which needs the token controller and the signing key.
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + filepath.Join(c.dir, "controller-manager.crt"),
		"--tls-private-key-file=" + filepath.Join(c.dir, "controller-manager.key"),
		// No cloud provider: the cloud controllers stay off.
		"--cloud-provider=",
	}
}

func (c *Cluster) startControllerManager(bin, controllers string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.controllerManager != nil && !c.controllerManager.exited() {
		return fmt.Errorf("kube-controller-manager already running (pid %d)", c.controllerManager.cmd.Process.Pid)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	serving, servingKey, err := c.ca.issue("kube-controller-manager", nil,
		[]net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"controller-manager.crt": serving, "controller-manager.key": servingKey} {
		if err := os.WriteFile(filepath.Join(c.dir, name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	p, err := startProcess("kube-controller-manager", bin, c.controllerManagerArgs(controllers, port),
		filepath.Join(c.dir, "kube-controller-manager.log"))
	if err != nil {
		return err
	}
	c.controllerManager = p
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		Timeout:   5 * time.Second,
	}
	if err := waitHealthy(p, client, "https://127.0.0.1:"+strconv.Itoa(port)+"/healthz"); err != nil {
		return p.failure(err)
	}
	return nil
}
