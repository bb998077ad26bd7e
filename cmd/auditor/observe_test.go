package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/cilium/api/v1/observer"
	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"google.golang.org/protobuf/encoding/protojson"

	ebpfsource "github.com/flow-auditor/flow-auditor/collector/ebpf"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/netnstest"
	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// The observe command as a user runs it: the binary, built by the test,
// started in the test's node namespace, stopped with SIGTERM.

// buildAuditor builds the binary into a directory anyone may read: the
// unprivileged case runs it as nobody.
func buildAuditor(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "auditor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestObserveCommand runs the binary, built once for its cases.
func TestObserveCommand(t *testing.T) {
	bin := buildAuditor(t)
	t.Run("without privileges exits 2", func(t *testing.T) { testObserveUnprivileged(t, bin) })
	t.Run("subprocess stopped by SIGTERM", func(t *testing.T) { testObserveSubprocess(t, bin) })
	t.Run("jsonpb for Hubble, TC fallback", func(t *testing.T) { testObserveJSONPB(t, bin) })
}

func testObserveUnprivileged(t *testing.T, bin string) {
	cmd := exec.Command(bin, "observe", "--duration", "1s")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2; stderr: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "needs root") || !strings.Contains(lines[0], "CAP_BPF") {
		t.Errorf("stderr %q: want one line naming the missing privilege", stderr.String())
	}
}

// observeRun is a running `auditor observe` and what it printed.
type observeRun struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout []string
	stderr bytes.Buffer
	done   chan struct{}
}

func startObserve(t *testing.T, tp *netnstest.Topology, bin string, args ...string) *observeRun {
	t.Helper()
	r := &observeRun{cmd: exec.Command(bin, append([]string{"observe"}, args...)...), done: make(chan struct{})}
	r.cmd.Stderr = &lockedWriter{mu: &r.mu, w: &r.stderr}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Started from a thread in the node namespace, the child lives there.
	if err := tp.NodeDo(r.cmd.Start); err != nil {
		t.Fatalf("start observe: %v", err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.stdout = append(r.stdout, sc.Text())
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (r *observeRun) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.stdout...)
}

func (r *observeRun) stderrText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// wait waits for the process to exit and returns its status.
func (r *observeRun) wait(t *testing.T) int {
	t.Helper()
	<-r.done
	err := r.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return 0
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func observeTopology(t *testing.T) (*netnstest.Topology, *netnstest.Pod, *netnstest.Pod) {
	t.Helper()
	testutil.RequirePrivileged(t, "runs auditor observe, which loads eBPF programs")
	if err := ebpfsource.CheckSupport(); err != nil {
		testutil.Unavailable(t, err.Error())
	}
	tp := netnstest.New(t, netnstest.Options{})
	return tp, tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{})
}

// udpExchange sends n datagrams of size bytes from a to b:port and waits
// for them; it returns the source port.
func udpExchange(t *testing.T, a, b *netnstest.Pod, port, n, size int) uint16 {
	t.Helper()
	var ln *net.UDPConn
	if err := b.Do(func() (err error) { ln, err = net.ListenUDP("udp", &net.UDPAddr{Port: port}); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var c *net.UDPConn
	if err := a.Do(func() (err error) {
		c, err = net.DialUDP("udp", nil, &net.UDPAddr{IP: b.IPv4.AsSlice(), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range n {
		if _, err := c.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	_ = ln.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 2048)
	for range n {
		if _, err := ln.Read(buf); err != nil {
			t.Fatalf("receive: %v", err)
		}
	}
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// tcxPrograms lists the programs and links attached through TCX to an
// interface of the node namespace.
func tcxPrograms(t *testing.T, tp *netnstest.Topology, ifindex int) (progs []cebpf.ProgramID, links []link.ID) {
	t.Helper()
	err := tp.NodeDo(func() error {
		for _, at := range []cebpf.AttachType{cebpf.AttachTCXIngress, cebpf.AttachTCXEgress} {
			res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: at})
			if err != nil {
				return err
			}
			for _, p := range res.Programs {
				progs = append(progs, p.ID)
				if id, ok := p.LinkID(); ok {
					links = append(links, id)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("query TCX programs: %v", err)
	}
	return progs, links
}

func testObserveSubprocess(t *testing.T, bin string) {
	tp, a, b := observeTopology(t)
	snapshot := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(snapshot, []byte(observeSnapshot(a.IPv4, b.IPv4)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startObserve(t, tp, bin, "--interfaces", "^"+tp.Prefix(), "--interval", "200ms", "-o", "jsonl",
		"--node", "obs-node", "--log-level", "info", "--snapshot", snapshot)

	var progs []cebpf.ProgramID
	var links []link.ID
	waitUntil(t, "observe to attach to both interfaces", func() bool {
		pa, la := tcxPrograms(t, tp, a.HostIndex)
		pb, lb := tcxPrograms(t, tp, b.HostIndex)
		progs, links = append(pa, pb...), append(la, lb...)
		return len(progs) == 4 && len(links) == 4
	})
	const n, size = 10, 50
	port := udpExchange(t, a, b, 9000, n, size)

	// Records print as each drain completes: wait for the flow before
	// stopping, summing what several drains may have split.
	sum := func() (packets, bytes uint64, recs []flow.Record) {
		for _, line := range r.lines() {
			var rec flow.Record
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("stdout line %q: %v", line, err)
			}
			if rec.Protocol == flow.UDP && rec.Src.IP == a.IPv4 && rec.Src.Port == port && rec.Dst.Port == 9000 && rec.Interface == a.HostIf {
				packets += rec.Packets
				bytes += rec.Bytes
				recs = append(recs, rec)
			}
		}
		return
	}
	waitUntil(t, "the flow on stdout", func() bool { p, _, _ := sum(); return p == n })

	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM; stderr:\n%s", code, r.stderrText())
	}
	packets, bytes, recs := sum()
	if packets != n || bytes != n*(size+28) {
		t.Errorf("flow a -> b: %d packets, %d bytes, want %d and %d", packets, bytes, n, n*(size+28))
	}
	for _, rec := range recs {
		if rec.Node != "obs-node" || rec.Src.Pod != "triage" || rec.Dst.Pod != "tool" || rec.Verdict != "deny" {
			t.Errorf("record not resolved and judged against the snapshot: %+v", rec)
		}
	}
	stderr := r.stderrText()
	if !strings.Contains(stderr, "observe: ") || !strings.Contains(stderr, " drains;") {
		t.Errorf("no summary on stderr:\n%s", stderr)
	}

	// Nothing of ours remains: no TCX link or program on the interfaces,
	// none of the links in the kernel's list, every program unloaded.
	for _, p := range []*netnstest.Pod{a, b} {
		if ps, ls := tcxPrograms(t, tp, p.HostIndex); len(ps)+len(ls) != 0 {
			t.Errorf("still attached to %s: programs %v links %v", p.HostIf, ps, ls)
		}
	}
	var it link.Iterator
	for it.Next() {
		for _, id := range links {
			if it.ID == id {
				t.Errorf("link %d remains in the kernel", id)
			}
		}
	}
	it.Close()
	for _, id := range append(progs, loadedProgramIDs(t, stderr)...) {
		waitUntil(t, fmt.Sprintf("program %d to be unloaded", id), func() bool {
			p, err := cebpf.NewProgramFromID(id)
			if err == nil {
				p.Close()
				return false
			}
			return errors.Is(err, os.ErrNotExist)
		})
	}
}

// loadedProgramIDs reads the program IDs observe logs at info level.
func loadedProgramIDs(t *testing.T, stderr string) []cebpf.ProgramID {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, "programs loaded") {
			continue
		}
		i := strings.Index(line, "{")
		var fields struct {
			IDs []cebpf.ProgramID `json:"program_ids"`
		}
		if i < 0 || json.Unmarshal([]byte(line[i:]), &fields) != nil || len(fields.IDs) != 3 {
			t.Fatalf("programs loaded line %q: want 3 program IDs", line)
		}
		return fields.IDs
	}
	t.Fatalf("no 'programs loaded' line on stderr:\n%s", stderr)
	return nil
}

func testObserveJSONPB(t *testing.T, bin string) {
	tp, a, b := observeTopology(t)
	r := startObserve(t, tp, bin, "--interfaces", "^"+tp.Prefix(), "--interval", "1h", "--duration", "3s", "-o", "jsonpb", "--attach", "tc")
	// Attached once the cls_bpf filters show.
	waitUntil(t, "observe to attach", func() bool {
		out, _ := netnstest.Exec(tp.NodeName, "tc", "filter", "show", "dev", b.HostIf, "egress")
		return strings.Contains(out, "auditor_egress")
	})
	port := udpExchange(t, a, b, 9000, 3, 20)
	if code := r.wait(t); code != 0 { // --duration ends it; the final drain prints
		t.Fatalf("exit status %d; stderr:\n%s", code, r.stderrText())
	}
	var found int
	for _, line := range r.lines() {
		var resp observer.GetFlowsResponse
		if err := protojson.Unmarshal([]byte(line), &resp); err != nil {
			t.Fatalf("not a Hubble GetFlowsResponse: %q: %v", line, err)
		}
		f := resp.GetFlow()
		if f.GetIP().GetSource() == a.IPv4.String() && f.GetIP().GetDestination() == b.IPv4.String() &&
			f.GetL4().GetUDP().GetSourcePort() == uint32(port) && f.GetL4().GetUDP().GetDestinationPort() == 9000 {
			found++
			if f.GetVerdict().String() != "FORWARDED" || resp.GetNodeName() == "" || f.GetInterface().GetName() == "" {
				t.Errorf("flow: %s", line)
			}
		}
	}
	if found != 2 { // seen leaving a's interface and entering b's
		t.Errorf("%d Hubble flows for a -> b, want 2; stdout:\n%s", found, strings.Join(r.lines(), "\n"))
	}
	for _, p := range []*netnstest.Pod{a, b} {
		out, _ := netnstest.Exec(tp.NodeName, "tc", "qdisc", "show", "dev", p.HostIf)
		if strings.Contains(out, "clsact") {
			t.Errorf("clsact left on %s after exit: %s", p.HostIf, out)
		}
	}
}

func observeSnapshot(a, b netip.Addr) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: ai-agents
  labels:
    name: ai-agents
---
apiVersion: v1
kind: Pod
metadata:
  name: triage
  namespace: ai-agents
  labels:
    app: ai-agent
    role: triage-agent
spec:
  nodeName: obs-node
  containers:
  - name: agent
    image: agent
status:
  phase: Running
  podIP: %[1]s
  podIPs:
  - ip: %[1]s
---
apiVersion: v1
kind: Pod
metadata:
  name: tool
  namespace: ai-agents
  labels:
    app: tool-service
spec:
  nodeName: obs-node
  containers:
  - name: tool
    image: tool
status:
  phase: Running
  podIP: %[2]s
  podIPs:
  - ip: %[2]s
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: ai-agents
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
`, a, b)
}
