package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/hubble/server"
	"github.com/flow-auditor/flow-auditor/metrics"
	"github.com/flow-auditor/flow-auditor/pipeline"
)

// countingSink counts what reaches it.
type countingSink struct{ n atomic.Uint64 }

func (*countingSink) Name() string                      { return "count" }
func (s *countingSink) Consume(events []pipeline.Event) { s.n.Add(uint64(len(events))) }

// BenchmarkPipeline measures enriched, evaluated flow records per second
// through the whole userspace pipeline on one core: batching and connection
// tracking, resolution and service translation, policy evaluation,
// anomaly detection and the baseline, then every sink the agent has
// (metrics, the Hubble ring, the violation log), on a cluster of 10,000
// pods and 2,000 policies, with the flows of the 500 pods of one node.
// Goal: 1,000,000 a second.
//
//   - live-connections: 100,000 live connections, each reported again at
//     every drain, as the kernel source does (most records repeat a
//     connection, whose judgement is reused);
//   - new-connections: every record a connection never seen, from one of
//     the node's pods to a server and port it reached before from another
//     client port (a sibling, whose resolution and judgement are reused
//     while the inventory and policies stand), as DNS queries, HTTP
//     clients and LLM API calls are;
//   - new-peers: every record a connection never seen, its pod's first to
//     that server and port, or (after the first 100,000) its first since
//     99,999 connections to other ones: more (pod, server, port) triples
//     than the sibling table, the verdict memo and the judgement table
//     hold, so that each is resolved and judged afresh (the whole path:
//     resolution, Service translation, policy evaluation, explanation).
func BenchmarkPipeline(b *testing.B) {
	snap := correlate.NewSnapshot(benchCluster())
	objs := snap.Objects()
	ix := correlate.BuildIndex(objs, correlate.IndexOptions{})
	pols, err := compilePolicies(objs)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	recs := nodeFlows(100_000, t0)
	b.Run("live-connections", func(b *testing.B) { runPipeline(b, ix, pols, recs, 0) })
	// Each pass over the records is 3 minutes later: past the connections'
	// idle time, every record is a new connection.
	b.Run("new-connections", func(b *testing.B) { runPipeline(b, ix, pols, recs, 3*time.Minute) })
	b.Run("new-peers", func(b *testing.B) { runPipeline(b, ix, pols, peerFlows(100_000, t0), 3*time.Minute) })
}

func runPipeline(b *testing.B, ix *correlate.Index, pols *pipeline.Policies, recs []flow.Record, shift time.Duration) {
	// One core. Set here, not in BenchmarkPipeline: the testing package
	// sets GOMAXPROCS again for every sub-benchmark it runs.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var current atomic.Pointer[pipeline.Policies]
	current.Store(pols)
	t0 := recs[0].TimeFirst
	const drain = 4096
	m := metrics.New(metrics.Options{})
	store := baseline.NewStore(baseline.Options{Node: "node-0", Now: func() time.Time { return t0 }})
	ring := server.New(server.Config{NodeName: "node-0"})
	last := &countingSink{}
	in := make(chan []flow.Record, 4)
	p, err := pipeline.New(pipeline.Config{
		InBatches: in, Resolver: ix, Policies: &current,
		Inspector: &anomaly.Detector{Baseline: store},
		Inline:    []pipeline.Sink{metricsSink{m}},
		Sinks:     []pipeline.Sink{hubbleSink{ring}, logSink{samplingLogger(zap.NewNop())}, last},
		Explain:   true, Wait: true, WaitSinks: true, Meter: m,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// Shifted drains are copies made as the run goes (their cost is in the
	// figure): a ring of buffers, more than the channel and the stage
	// reading one can hold, so none is overwritten while in use.
	var ring6 [6][]flow.Record
	for i := range ring6 {
		ring6[i] = make([]flow.Record, drain)
	}

	b.ResetTimer()
	start := time.Now()
	sent := 0
	for sent < b.N {
		// The drains are slices of records made beforehand: the pipeline
		// copies what it takes, so the benchmark's source costs nothing.
		from := sent % len(recs)
		n := min(drain, b.N-sent, len(recs)-from)
		batch := recs[from : from+n]
		if shift > 0 {
			buf := ring6[(sent/drain)%len(ring6)][:n]
			off := time.Duration(sent/len(recs)) * shift
			for i := range buf {
				buf[i] = batch[i]
				buf[i].TimeFirst = buf[i].TimeFirst.Add(off)
				buf[i].TimeLast = buf[i].TimeLast.Add(off)
			}
			batch = buf
		}
		in <- batch
		sent += n
	}
	close(in)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := last.n.Load(); got != uint64(b.N) {
		b.Fatalf("the last sink got %d records of %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	if b.N >= 100_000 {
		b.Logf("%d records in %v on 1 core: %.0f records/s through every stage and every sink; %d baseline profiles",
			b.N, elapsed.Round(time.Millisecond), float64(b.N)/elapsed.Seconds(), store.Len())
	}
}

// BenchmarkAgentMemory runs the agent binary (auditor agent --source file)
// on a snapshot of 10,000 pods and 2,000 policies, feeds it 100,000 live
// connections of the pods of its node, and prints its resident memory once
// they are through (VmRSS) and at its peak (VmHWM): with the Go runtime's
// defaults, and with --memory-limit 150Mi as the chart sets it from the
// container's limit. Goal: under 150 MiB.
func BenchmarkAgentMemory(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "auditor")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/auditor").CombinedOutput(); err != nil {
		b.Fatalf("build the auditor: %v\n%s", err, out)
	}
	snapPath := filepath.Join(dir, "cluster.yaml")
	if err := writeSnapshot(snapPath, benchCluster()); err != nil {
		b.Fatal(err)
	}
	const live = 100_000
	flowsPath := filepath.Join(dir, "flows.jsonl")
	if err := writeFlowFile(flowsPath, nodeFlows(live, time.Now().Add(-time.Minute))); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, limit string }{{"runtime-defaults", ""}, {"memory-limit-150Mi", "150Mi"}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				args := []string{"agent", "--source", "file", "--flows-file", flowsPath, "--snapshot", snapPath,
					"--node-name", "node-0", "--metrics-addr", "127.0.0.1:0", "--hubble-addr", "127.0.0.1:0", "--log-format", "json"}
				if c.limit != "" {
					args = append(args, "--memory-limit", c.limit)
				}
				runAgentForMemory(b, bin, args, live)
			}
		})
	}
}

func runAgentForMemory(b *testing.B, bin string, args []string, live float64) {
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	addr := metricsAddrFromLog(b, stderr)
	for scrape(b, addr)[series(metrics.RecordsTotal, "stage", "metrics")] < live {
		time.Sleep(100 * time.Millisecond)
	}
	got := scrape(b, addr)
	rss, anon, peak := procMemory(b, cmd.Process.Pid)
	b.ReportMetric(float64(rss)/(1<<20), "RSS-MiB")
	b.ReportMetric(float64(anon)/(1<<20), "anon-RSS-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.Logf("agent process with %.0f live connections: RSS %d MiB (anonymous %d MiB, the rest the binary's pages), peak %d MiB, Go heap in use %.0f MiB; lost %v",
		live, rss>>20, anon>>20, peak>>20, got["go_memstats_heap_inuse_bytes{}"]/(1<<20), lostTotal(got))
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Errorf("agent exit: %v", err)
	}
}

func writeFlowFile(path string, recs []flow.Record) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// metricsAddrFromLog reads the agent's JSON log until it says where it
// serves metrics, then keeps draining the log.
func metricsAddrFromLog(b *testing.B, r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var line struct {
			Msg         string `json:"msg"`
			MetricsAddr string `json:"metrics_addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.MetricsAddr != "" {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return line.MetricsAddr
		}
	}
	b.Fatal("the agent exited without saying where it serves metrics")
	return ""
}

func lostTotal(got map[string]float64) float64 {
	sum := 0.0
	for k, v := range got {
		if strings.HasPrefix(k, metrics.LostEventsTotal+"{") {
			sum += v
		}
	}
	return sum
}

// procMemory reads a process's VmRSS, its anonymous part (the heap and
// stacks; the rest is the binary's pages), and VmHWM.
func procMemory(b *testing.B, pid int) (rss, anon, peak uint64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		for _, f := range []struct {
			prefix string
			dst    *uint64
		}{{"VmRSS:", &rss}, {"RssAnon:", &anon}, {"VmHWM:", &peak}} {
			if rest, ok := strings.CutPrefix(line, f.prefix); ok {
				kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				*f.dst = kb << 10
			}
		}
	}
	return rss, anon, peak
}

// writeSnapshot writes objects as a multi-document YAML stream, as a
// snapshot file holds them.
func writeSnapshot(path string, o correlate.Objects) error {
	var sb strings.Builder
	add := func(apiVersion, kind string, obj any) error {
		data, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		sb.WriteString("---\napiVersion: " + apiVersion + "\nkind: " + kind + "\n")
		sb.Write(data)
		return nil
	}
	for _, x := range o.Namespaces {
		if err := add("v1", "Namespace", x); err != nil {
			return err
		}
	}
	for _, x := range o.Nodes {
		if err := add("v1", "Node", x); err != nil {
			return err
		}
	}
	for _, x := range o.Pods {
		if err := add("v1", "Pod", x); err != nil {
			return err
		}
	}
	for _, x := range o.Services {
		if err := add("v1", "Service", x); err != nil {
			return err
		}
	}
	for _, x := range o.EndpointSlices {
		if err := add("discovery.k8s.io/v1", "EndpointSlice", x); err != nil {
			return err
		}
	}
	for _, x := range o.NetworkPolicies {
		if err := add("networking.k8s.io/v1", "NetworkPolicy", x); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(sb.String()), 0o600)
}
