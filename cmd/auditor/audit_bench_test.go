package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/flow-auditor/flow-auditor/collector/file"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/flow/flowjson"
)

// The large cluster of the benchmark: as the policy engine's benchmark,
// 10,000 pods in 500 namespaces with 2,000 policies.
const (
	benchNamespaces  = 500
	benchPodsPerNS   = 20
	benchNodes       = 50
	benchHubbleShare = 50 // one line in benchHubbleShare is a Hubble GetFlowsResponse
)

// benchFlows is a flag so that a profile can be taken on fewer flows:
// go test -run '^$' -bench Audit1M ./cmd/auditor -args -audit-bench-flows 200000
var benchFlowsFlag = flag.Int("audit-bench-flows", 1_000_000, "flow lines BenchmarkAudit1M audits")

func benchPodIP(ns, pod int) string {
	i := ns*benchPodsPerNS + pod
	return fmt.Sprintf("10.%d.%d.%d", 64+i/65536, (i/256)%256, i%256)
}

func benchSvcIP(ns int) string { return fmt.Sprintf("10.96.%d.%d", ns/256, ns%256) }

// writeBenchSnapshot writes the large cluster as a multi-document YAML
// stream: per namespace 20 pods of two workloads, a Service in front of the
// "api" pods, its EndpointSlice, and four policies (deny-all, ingress to
// the api from the namespace's web pods on 8080, egress to DNS, egress to
// TCP 443 outside the private ranges); kube-dns in kube-system.
func writeBenchSnapshot(tb testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for n := range benchNodes {
		fmt.Fprintf(w, "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-%d\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 172.18.%d.%d\n", n, n/256, n%256+1)
	}
	fmt.Fprintf(w, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system\n")
	for i, ip := range []string{"10.63.0.2", "10.63.0.3"} {
		fmt.Fprintf(w, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: coredns-%d\n  namespace: kube-system\n  labels:\n    k8s-app: kube-dns\nspec:\n  nodeName: node-%d\n  containers:\n  - name: coredns\n    image: coredns\n    ports:\n    - {name: dns, containerPort: 53, protocol: UDP}\nstatus:\n  phase: Running\n  conditions:\n  - {type: Ready, status: \"True\"}\n  podIP: %s\n", i, i, ip)
	}
	fmt.Fprintf(w, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: kube-dns\n  namespace: kube-system\nspec:\n  clusterIP: 10.96.255.10\n  selector:\n    k8s-app: kube-dns\n  ports:\n  - {name: dns, port: 53, protocol: UDP, targetPort: 53}\n")
	fmt.Fprintf(w, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: kube-dns-1\n  namespace: kube-system\n  labels:\n    kubernetes.io/service-name: kube-dns\naddressType: IPv4\nendpoints:\n- addresses: [10.63.0.2]\n  conditions: {ready: true}\n  targetRef: {kind: Pod, name: coredns-0, namespace: kube-system}\n- addresses: [10.63.0.3]\n  conditions: {ready: true}\n  targetRef: {kind: Pod, name: coredns-1, namespace: kube-system}\nports:\n- {name: dns, port: 53, protocol: UDP}\n")
	for ns := range benchNamespaces {
		fmt.Fprintf(w, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-%d\n  labels:\n    team: t%d\n", ns, ns%10)
		for p := range benchPodsPerNS {
			app := "web"
			if p%2 == 1 {
				app = "api"
			}
			fmt.Fprintf(w, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s-%d\n  namespace: ns-%d\n  labels:\n    app: %s\n    tier: t%d\nspec:\n  nodeName: node-%d\n  containers:\n  - name: c\n    image: img\n    ports:\n    - {name: http, containerPort: 8080}\nstatus:\n  phase: Running\n  conditions:\n  - {type: Ready, status: \"True\"}\n  podIP: %s\n",
				app, p, ns, app, p%3, (ns*benchPodsPerNS+p)%benchNodes, benchPodIP(ns, p))
		}
		fmt.Fprintf(w, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  namespace: ns-%d\nspec:\n  clusterIP: %s\n  selector:\n    app: api\n  ports:\n  - {name: http, port: 80, protocol: TCP, targetPort: http}\n", ns, benchSvcIP(ns))
		fmt.Fprintf(w, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: api-1\n  namespace: ns-%d\n  labels:\n    kubernetes.io/service-name: api\naddressType: IPv4\nendpoints:\n", ns)
		for p := 1; p < benchPodsPerNS; p += 4 {
			fmt.Fprintf(w, "- addresses: [%s]\n  conditions: {ready: true}\n  targetRef: {kind: Pod, name: api-%d, namespace: ns-%d}\n", benchPodIP(ns, p), p, ns)
		}
		fmt.Fprintf(w, "ports:\n- {name: http, port: 8080, protocol: TCP}\n")
		fmt.Fprintf(w, "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny-all\n  namespace: ns-%d\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n", ns)
		fmt.Fprintf(w, "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: api-from-web\n  namespace: ns-%d\nspec:\n  podSelector:\n    matchLabels: {app: api}\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels: {app: web}\n    ports:\n    - {port: http, protocol: TCP}\n", ns)
		fmt.Fprintf(w, "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: egress-dns-and-api\n  namespace: ns-%d\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels: {kubernetes.io/metadata.name: kube-system}\n      podSelector:\n        matchLabels: {k8s-app: kube-dns}\n    ports:\n    - {port: 53, protocol: UDP}\n  - to:\n    - podSelector:\n        matchLabels: {app: api}\n    ports:\n    - {port: 8080}\n", ns)
		fmt.Fprintf(w, "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: egress-https\n  namespace: ns-%d\nspec:\n  podSelector:\n    matchLabels: {app: web}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n        except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n    ports:\n    - {port: 443, protocol: TCP}\n", ns)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// writeBenchFlows writes n flow lines over the bench cluster: pod to pod in
// a namespace (allowed and denied), to the api Service's ClusterIP, to
// kube-dns, to public and private external addresses, across namespaces;
// half of the flow records enriched as the agent writes them, one line in
// benchHubbleShare a Hubble GetFlowsResponse.
func writeBenchFlows(tb testing.TB, path string, n int) int64 {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(7, 11))
	t0 := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	for i := range n {
		ns, p := rng.IntN(benchNamespaces), rng.IntN(benchPodsPerNS)
		src := benchPodIP(ns, p)
		sport := 32768 + rng.IntN(28000)
		var dst string
		dport, proto := 8080, "TCP"
		switch k := rng.IntN(10); {
		case k < 3: // pod to pod in the namespace
			dst = benchPodIP(ns, rng.IntN(benchPodsPerNS))
		case k < 5: // the namespace's api Service
			dst, dport = benchSvcIP(ns), 80
		case k < 7: // DNS
			dst, dport, proto = "10.96.255.10", 53, "UDP"
		case k < 8: // a public API
			dst, dport = fmt.Sprintf("203.0.113.%d", rng.IntN(256)), 443
		case k < 9: // a private address nobody holds
			dst, dport = fmt.Sprintf("192.168.%d.%d", rng.IntN(256), rng.IntN(256)), 443
		default: // another namespace's pod
			dst = benchPodIP(rng.IntN(benchNamespaces), rng.IntN(benchPodsPerNS))
		}
		ts := t0.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
		switch {
		case i%benchHubbleShare == 0:
			l4 := fmt.Sprintf(`"TCP":{"source_port":%d,"destination_port":%d,"flags":{"SYN":true}}`, sport, dport)
			if proto == "UDP" {
				l4 = fmt.Sprintf(`"UDP":{"source_port":%d,"destination_port":%d}`, sport, dport)
			}
			fmt.Fprintf(w, `{"flow":{"time":%q,"verdict":"FORWARDED","IP":{"source":%q,"destination":%q,"ipVersion":"IPv4"},"l4":{%s},"source":{"ID":%d,"identity":%d,"namespace":"ns-%d","labels":["k8s:app=web","k8s:io.kubernetes.pod.namespace=ns-%d"],"pod_name":"web-%d","workloads":[{"name":"web","kind":"Deployment"}]},"destination":{"identity":2,"labels":["reserved:world"]},"Type":"L3_L4","node_name":"node-%d","event_type":{"type":4},"traffic_direction":"EGRESS","is_reply":false,"Summary":"TCP Flags: SYN"},"node_name":"node-%d","time":%q}`+"\n",
				ts, src, dst, l4, 1000+i%5000, 20000+ns, ns, ns, p, ns%benchNodes, ns%benchNodes, ts)
		case i%2 == 0:
			fmt.Fprintf(w, `{"time_first":%q,"time_last":%q,"node":"node-%d","src":{"ip":%q,"port":%d,"kind":"pod","namespace":"ns-%d","pod":"web-%d","workload":"Deployment/web","labels":{"app":"web","tier":"t%d"}},"dst":{"ip":%q,"port":%d},"protocol":%q,"packets":%d,"bytes":%d,"tcp_flags":"SYN,ACK","initiator":"src","observed":"forwarded"}`+"\n",
				ts, ts, ns%benchNodes, src, sport, ns, p, p%3, dst, dport, proto, 1+rng.IntN(40), 60+rng.IntN(40000))
		default:
			fmt.Fprintf(w, `{"time_first":%q,"time_last":%q,"src":{"ip":%q,"port":%d},"dst":{"ip":%q,"port":%d},"protocol":%q,"packets":%d,"bytes":%d,"observed":"forwarded"}`+"\n",
				ts, ts, src, sport, dst, dport, proto, 1+rng.IntN(40), 60+rng.IntN(40000))
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return st.Size()
}

// peakSampler records the largest total of Go-mapped memory seen.
type peakSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func startPeakSampler() *peakSampler {
	s := &peakSampler{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	s.done.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			s.peak = max(s.peak, sample[0].Value.Uint64())
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	})
	return s
}

func (s *peakSampler) finish() uint64 {
	close(s.stop)
	s.done.Wait()
	return s.peak
}

// writeBenchSnapshotJSON writes the same cluster as one List document, as
// `kubectl get ... -o json` prints it.
func writeBenchSnapshotJSON(tb testing.TB, yamlPath, path string) {
	data, err := os.ReadFile(yamlPath)
	if err != nil {
		tb.Fatal(err)
	}
	var items [][]byte
	for _, doc := range bytes.Split(data, []byte("---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			tb.Fatal(err)
		}
		items = append(items, js)
	}
	out := append([]byte(`{"apiVersion":"v1","kind":"List","items":[`), bytes.Join(items, []byte(","))...)
	if err := os.WriteFile(path, append(out, "]}\n"...), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkAudit1M runs `auditor audit -o jsonl` over a million flow lines
// and the 10,000-pod cluster, writing to a file as `> out.jsonl` would, and
// reports the wall time of one whole audit (ns/op), its CPU seconds, flows
// per second, the peak Go memory during the audit and the process's peak
// RSS. It runs with the snapshot as YAML and as JSON: reading a large YAML
// snapshot is a good part of the time. The files are generated before the
// timer starts.
func BenchmarkAudit1M(b *testing.B) {
	dir := b.TempDir()
	snapYAML := filepath.Join(dir, "cluster.yaml")
	snapJSON := filepath.Join(dir, "cluster.json")
	flows := filepath.Join(dir, "flows.jsonl")
	writeBenchSnapshot(b, snapYAML)
	writeBenchSnapshotJSON(b, snapYAML, snapJSON)
	benchFlows := *benchFlowsFlag
	size := writeBenchFlows(b, flows, benchFlows)
	for _, snap := range []struct{ name, path string }{{"yaml-snapshot", snapYAML}, {"json-snapshot", snapJSON}} {
		b.Run(snap.name, func(b *testing.B) {
			start := time.Now()
			if _, err := loadAuditContext(context.Background(), []string{snap.path}, nil); err != nil {
				b.Fatal(err)
			}
			b.Logf("loading the snapshot alone: %v", time.Since(start).Round(time.Millisecond))
			benchAudit(b, snap.path, flows, filepath.Join(dir, "out.jsonl"), benchFlows, size)
		})
	}
}

func benchAudit(b *testing.B, snap, flows, outPath string, benchFlows int, size int64) {
	out, err := os.Create(outPath)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	b.SetBytes(size)
	runtime.GC()
	b.ResetTimer()
	var peak uint64
	var cpu time.Duration
	for b.Loop() {
		if err := out.Truncate(0); err != nil {
			b.Fatal(err)
		}
		if _, err := out.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		root := newRootCmd()
		root.SetArgs([]string{"audit", "--snapshot", snap, "--flows", flows, "-o", "jsonl"})
		root.SetOut(out)
		var stderr bufferWriter
		root.SetErr(&stderr)
		sampler := startPeakSampler()
		cpu0 := cpuTime()
		start := time.Now()
		err := root.ExecuteContext(context.Background())
		elapsed := time.Since(start)
		used := cpuTime() - cpu0
		cpu += used
		peak = max(peak, sampler.finish())
		if err != nil {
			b.Fatalf("audit: %v", err)
		}
		b.Logf("%d flows in %v wall, %v CPU (%.0f flows/s); %s", benchFlows, elapsed.Round(time.Millisecond),
			used.Round(time.Millisecond), float64(benchFlows)/elapsed.Seconds(), stderr.String())
	}
	b.StopTimer()
	b.ReportMetric(float64(benchFlows)*float64(b.N)/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-go-MB")
	// CPU seconds (user + system) per audit: on a machine shared with other
	// work, wall time overstates what the audit needs; CPU time does not.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MB")
	}
	if st, err := out.Stat(); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "output-MB")
	}
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bufferWriter keeps the summary line.
type bufferWriter struct{ b []byte }

func (w *bufferWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *bufferWriter) String() string              { return string(w.b) }

// BenchmarkAuditFlow measures the per-flow work of an audit on one
// goroutine, by stage, over the flows of BenchmarkAudit1M: parse, judge
// (resolve, evaluate, explain), count, encode.
func BenchmarkAuditFlow(b *testing.B) {
	dir := b.TempDir()
	snap := filepath.Join(dir, "cluster.yaml")
	flowsPath := filepath.Join(dir, "flows.jsonl")
	writeBenchSnapshot(b, snap)
	writeBenchFlows(b, flowsPath, 20000)
	ac, err := loadAuditContext(context.Background(), []string{snap}, nil)
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(flowsPath)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	p := file.NewParser()
	recs := make([]flow.Record, len(lines))
	for i, l := range lines {
		if _, err := p.Parse(l, &recs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("parse", func(b *testing.B) {
		var r flow.Record
		i := 0
		for b.Loop() {
			_, _ = p.Parse(lines[i%len(lines)], &r)
			i++
		}
	})
	a := newAuditor(ac)
	b.Run("judge", func(b *testing.B) {
		var r flow.Record
		i := 0
		for b.Loop() {
			r = recs[i%len(recs)]
			a.audit(&r)
			i++
		}
	})
	out := make([]flow.Record, len(recs))
	js := make([]judged, len(recs))
	for i := range recs {
		out[i] = recs[i]
		js[i] = a.audit(&out[i])
	}
	b.Run("count", func(b *testing.B) {
		c := newCounter(true)
		i := 0
		for b.Loop() {
			k := i % len(out)
			c.add(&out[k], js[k])
			i++
		}
	})
	b.Run("encode", func(b *testing.B) {
		enc := flowjson.NewEncoder()
		buf := make([]byte, 0, 1<<16)
		i := 0
		for b.Loop() {
			k := i % len(out)
			buf = enc.AppendFlat(buf[:0], js[k].wire, &out[k])
			i++
		}
	})
	b.Run("encode-uncached", func(b *testing.B) {
		buf := make([]byte, 0, 1<<16)
		i := 0
		for b.Loop() {
			k := i % len(out)
			buf = flowjson.AppendFlat(buf[:0], js[k].wire, &out[k])
			i++
		}
	})
}
