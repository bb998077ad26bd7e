package ebpf

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/flow-auditor/flow-auditor/bpf"
	"github.com/flow-auditor/flow-auditor/internal/netnstest"
	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// BenchmarkTCPBulk measures TCP bulk throughput between two pod namespaces
// with the programs attached (TCX on both host-side veths, and kfree_skb)
// and without, alternating in one run (with, without, without, with: drift
// cancels). Figures: with-MB/s, without-MB/s and ratio-% (goal >= 97).
func BenchmarkTCPBulk(b *testing.B) {
	testutil.RequirePrivileged(b, "creates network namespaces and attaches eBPF programs")
	if err := CheckSupport(); err != nil {
		testutil.Unavailable(b, err.Error())
	}
	tp := netnstest.New(b, netnstest.Options{})
	client, server := tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{})

	objs, err := bpf.Load(bpf.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer objs.Close()
	att := &attacher{ns: tp.Node, nl: tp.NodeHandle(), mode: AttachTCX, ingress: objs.Ingress(), egress: objs.Egress()}
	attach := func() (release func()) {
		var ats []*attachment
		for _, p := range []*netnstest.Pod{client, server} {
			at, err := att.attach(p.HostIndex, p.HostIf)
			if err != nil {
				b.Fatal(err)
			}
			ats = append(ats, at)
		}
		drops, err := objs.AttachDrops()
		if err != nil {
			b.Fatal(err)
		}
		return func() {
			for _, at := range ats {
				_ = att.release(at, false)
			}
			_ = drops.Close()
		}
	}

	var received, target atomic.Int64
	reached := make(chan struct{}, 1)
	var ln net.Listener
	if err := server.Do(func() (err error) { ln, err = net.Listen("tcp", ":5201"); return err }); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		for {
			n, err := c.Read(buf)
			if received.Add(int64(n)) >= target.Load() {
				select {
				case reached <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var conn net.Conn
	if err := client.Do(func() (err error) {
		conn, err = net.Dial("tcp", net.JoinHostPort(server.IPv4.String(), "5201"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	chunk := make([]byte, 1<<20)

	// transfer sends size bytes and returns how long the server took to
	// read them.
	const size = 128 << 20
	transfer := func() time.Duration {
		target.Store(received.Load() + size)
		select {
		case <-reached: // a stale signal from the previous transfer
		default:
		}
		start := time.Now()
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := conn.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		for received.Load() < target.Load() {
			<-reached
		}
		return time.Since(start)
	}
	with := func() time.Duration {
		release := attach()
		defer release()
		return transfer()
	}
	transfer() // warm up
	// Count the programs' runs and run time (kernel.bpf_stats, for as long
	// as this descriptor is open): the CPU they take is the overhead.
	if st, err := cebpf.EnableStats(unix.BPF_STATS_RUN_TIME); err == nil {
		defer st.Close()
	}

	mbps := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	var withTime, withoutTime time.Duration
	var rounds int
	b.ResetTimer()
	for range b.N {
		for range 5 {
			w1, o1, o2, w2 := with(), transfer(), transfer(), with()
			b.Logf("with %.0f, without %.0f, without %.0f, with %.0f MB/s", mbps(w1), mbps(o1), mbps(o2), mbps(w2))
			withTime += w1 + w2
			withoutTime += o1 + o2
			rounds += 2
		}
	}
	b.StopTimer()
	b.ReportMetric(mbps(withTime/time.Duration(rounds)), "with-MB/s")
	b.ReportMetric(mbps(withoutTime/time.Duration(rounds)), "without-MB/s")
	b.ReportMetric(100*withoutTime.Seconds()/withTime.Seconds(), "ratio-%")
	var runs uint64
	var runtime time.Duration
	ids, _ := objs.ProgramIDs()
	for _, id := range ids {
		p, err := cebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if st, err := p.Stats(); err == nil {
			runs += st.RunCount
			runtime += st.Runtime
		}
		p.Close()
	}
	if runs > 0 {
		mb := float64(rounds) * size / (1 << 20)
		b.ReportMetric(float64(runs)/mb, "prog-runs/MB")
		b.ReportMetric(float64(runtime.Nanoseconds())/float64(runs), "prog-ns/run")
		b.ReportMetric(100*runtime.Seconds()/withTime.Seconds(), "prog-cpu-%")
	}
	// The kernel really saw the traffic: the flows are in the map.
	if flows, _, err := objs.Drain(nil); err != nil || len(flows) == 0 {
		b.Fatalf("no flow recorded while attached (%v)", err)
	}
}
