package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/flow-auditor/flow-auditor/internal/netnstest"
	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// TestAgentRunsWithOnlyTheChartsCapabilities starts the real agent binary
// with the chart's arguments and exactly the capabilities the chart's
// securityContext adds (every other one gone from the bounding set, no new
// privileges), in a node network namespace of the test's own with one pod
// veth: the agent must load, attach and report ready. Without CAP_BPF it
// must refuse to start, which shows the capability set is what is tested.
func TestAgentRunsWithOnlyTheChartsCapabilities(t *testing.T) {
	testutil.RequirePrivileged(t, "runs the agent with BPF in a network namespace")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		testutil.Unavailable(t, "needs setpriv (util-linux) to drop capabilities")
	}
	ds := one[*appsv1.DaemonSet](t, render(t, nil), "DaemonSet", daemonSetName)
	c := agentContainer(t, ds)
	var caps []string
	for _, cp := range c.SecurityContext.Capabilities.Add {
		caps = append(caps, strings.ToLower(string(cp)))
	}

	bin := filepath.Join(t.TempDir(), "auditor")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/auditor").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	snapshot := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(snapshot, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ai-agents\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tp := netnstest.New(t, netnstest.Options{NoIPv6: true})
	tp.AddPod(netnstest.PodOptions{})
	lo, err := tp.NodeHandle().LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.NodeHandle().LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}

	// The chart's arguments, but for what needs a cluster: a snapshot
	// instead of the API server, the baseline in memory, loopback only.
	args := []string{"agent"}
	for _, a := range c.Args[1:] {
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--node-name", "--metrics-addr", "--hubble-addr", "--baseline", "--baseline-interval", "--baseline-max-peers":
			continue
		}
		args = append(args, a)
	}
	const metricsAddr = "127.0.0.1:19817"
	args = append(args, "--node-name=node-a", "--metrics-addr="+metricsAddr, "--hubble-addr=",
		"--baseline=memory", "--snapshot="+snapshot, "--interfaces=^"+tp.Prefix(), "--log-format=console")

	run := func(caps []string) (ready bool, exited error, log string) {
		bounding := "-all"
		for _, cp := range caps {
			bounding += ",+" + cp
		}
		argv := append([]string{"netns", "exec", tp.NodeName, setpriv,
			"--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=" + bounding, "--no-new-privs", "--",
			bin}, args...)
		stderr := &syncBuffer{}
		cmd := exec.Command("ip", argv...)
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		finished := false
		defer func() {
			if finished {
				return
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-done:
				finished = true
				return false, fmt.Errorf("exited: %v", err), stderr.String()
			default:
			}
			if code, _ := getInNetns(tp, metricsAddr, "/readyz"); code == http.StatusOK {
				return true, nil, stderr.String()
			}
			time.Sleep(200 * time.Millisecond)
		}
		return false, nil, stderr.String()
	}

	if ready, exited, log := run(caps); !ready {
		t.Errorf("the agent with capabilities %v (the chart's) is not ready (%v):\n%s", caps, exited, tail(log, 30))
	}
	var noBPF []string
	for _, cp := range caps {
		if cp != "bpf" {
			noBPF = append(noBPF, cp)
		}
	}
	if ready, _, log := run(noBPF); ready || !strings.Contains(log, "CAP_BPF") {
		t.Errorf("without CAP_BPF: ready=%v, want a refusal naming CAP_BPF:\n%s", ready, tail(log, 10))
	}
}

// getInNetns does a GET from inside the topology's node namespace (the
// dial happens on the calling, namespace-switched thread).
func getInNetns(tp *netnstest.Topology, addr, path string) (int, error) {
	var code int
	err := tp.NodeDo(func() error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+path, nil)
		if err := req.Write(conn); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		code = resp.StatusCode
		return nil
	})
	return code, err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// syncBuffer is a buffer the child's output is copied into while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
