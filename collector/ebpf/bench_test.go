package ebpf

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/flow-auditor/flow-auditor/bpf"
	"github.com/flow-auditor/flow-auditor/internal/netnstest"
	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// Shape of BenchmarkTCPBulk: every b.N iteration is tcpBulkRounds rounds of
// with, without, without, with (two pairs a round), each transfer timed on
// its own after a settle pause and an untimed warm-up.
const (
	tcpBulkRounds = 64
	tcpBulkSize   = 32 << 20 // bytes a timed transfer sends
	tcpBulkWarm   = 2 << 20  // untimed, right before: caches, cwnd, the map entries
	tcpBulkWrite  = 4 << 20  // bytes a write hands the kernel
	tcpBulkSettle = 20 * time.Millisecond
	tcpBulkStats  = 8 // transfers with kernel.bpf_stats on, after the pairs
)

// BenchmarkTCPBulk measures TCP bulk throughput between two pod namespaces
// with the programs attached (TCX on both host-side veths, and kfree_skb)
// and without, alternating in one run.
//
// The sender and the receiver run on locked OS threads pinned to one CPU:
// the whole path (copies, TCP, forwarding, the programs) then runs on that
// CPU, so the programs' cost shows in full in the throughput, and no
// segment is reordered (threads on two CPUs send from both CPUs' softirqs,
// the per-CPU backlogs reorder the segments, and spurious fast
// retransmissions swing a transfer's throughput by 2x). Attaching and
// detaching leave work behind (RCU callbacks, freed links): each transfer
// waits tcpBulkSettle and sends tcpBulkWarm untimed first, with or without.
//
// Figures: with-MB/s and without-MB/s; ratio-% (total time without over
// total time with: the mean) and ratio-median-% with ratio-p25-% and
// ratio-p75-% (per pair: adjacent with and without transfers, so that noise
// from other work on the machine, which comes in bursts, mostly cancels);
// cpu-ratio-% (CPU time per byte without over with: the sender's, the
// receiver's and ksoftirqd's threads, unaffected by other work waiting for
// the CPU); pairs; retrans-segs (should be 0). Then, with kernel.bpf_stats
// on (which costs time per run, so not during the pairs): prog-runs/MB,
// prog-ns/run and prog-cpu-%, the programs' run time over the CPU time of
// those transfers, and empty-prog-ns/run, the same figure for a program
// that returns at once: what the statistics count beyond the programs' own
// work (reading the clock, calling the program, its cache misses). Goal:
// ratio >= 97%.
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

	cpu, err := benchCPU()
	if err != nil {
		b.Fatal(err)
	}
	softirqd := ksoftirqd(cpu)

	var received, target atomic.Int64
	var receiverTid atomic.Int32
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
		unpin, err := pinThread(cpu)
		if err != nil {
			b.Error(err)
			return
		}
		defer unpin()
		receiverTid.Store(int32(unix.Gettid()))
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
	chunk := make([]byte, tcpBulkWrite)

	// transfer sends size bytes from the calling (pinned) thread and returns
	// how long the server took to read them.
	transfer := func(size int) time.Duration {
		target.Store(received.Load() + int64(size))
		select {
		case <-reached: // a stale signal from the previous transfer
		default:
		}
		start := time.Now()
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := conn.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
				b.Fatal(err)
			}
		}
		for received.Load() < target.Load() {
			<-reached
		}
		return time.Since(start)
	}
	// cpuTime is the CPU time of the threads that do the transfer's work.
	cpuTime := func() time.Duration {
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
		d := time.Duration(ts.Nano())
		d += schedRuntime(fmt.Sprintf("/proc/self/task/%d/schedstat", receiverTid.Load()))
		for _, pid := range softirqd {
			d += schedRuntime(fmt.Sprintf("/proc/%d/schedstat", pid))
		}
		return d
	}
	type sample struct{ wall, cpu time.Duration }
	// measure runs on the pinned sender thread.
	measure := func(attached bool) sample {
		if attached {
			defer attach()()
		}
		time.Sleep(tcpBulkSettle)
		transfer(tcpBulkWarm)
		c0 := cpuTime()
		d := transfer(tcpBulkSize)
		return sample{wall: d, cpu: cpuTime() - c0}
	}

	unpin, err := pinThread(cpu)
	if err != nil {
		b.Fatal(err)
	}
	defer unpin()
	transfer(tcpBulkSize) // warm up
	for receiverTid.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	retrans0 := retransSegs(b, client)

	mbps := func(d time.Duration, n int) float64 { return float64(n) * tcpBulkSize / (1 << 20) / d.Seconds() }
	var with, without sample
	var ratios []float64
	b.ResetTimer()
	for range b.N {
		for range tcpBulkRounds {
			w1, o1, o2, w2 := measure(true), measure(false), measure(false), measure(true)
			for _, p := range [][2]sample{{w1, o1}, {w2, o2}} {
				with.wall += p[0].wall
				with.cpu += p[0].cpu
				without.wall += p[1].wall
				without.cpu += p[1].cpu
				ratios = append(ratios, 100*p[1].wall.Seconds()/p[0].wall.Seconds())
			}
			b.Logf("with %.0f, without %.0f, without %.0f, with %.0f MB/s",
				mbps(w1.wall, 1), mbps(o1.wall, 1), mbps(o2.wall, 1), mbps(w2.wall, 1))
		}
	}
	b.StopTimer()
	n := len(ratios)
	slices.Sort(ratios)
	b.ReportMetric(mbps(with.wall, n), "with-MB/s")
	b.ReportMetric(mbps(without.wall, n), "without-MB/s")
	b.ReportMetric(100*without.wall.Seconds()/with.wall.Seconds(), "ratio-%")
	b.ReportMetric(ratios[n/2], "ratio-median-%")
	b.ReportMetric(ratios[n/4], "ratio-p25-%")
	b.ReportMetric(ratios[n*3/4], "ratio-p75-%")
	b.ReportMetric(100*without.cpu.Seconds()/with.cpu.Seconds(), "cpu-ratio-%")
	b.ReportMetric(float64(n), "pairs")
	b.ReportMetric(float64(retransSegs(b, client)-retrans0), "retrans-segs")

	// What the kernel says the programs cost, for as long as this
	// descriptor keeps kernel.bpf_stats on.
	st, err := cebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Logf("no BPF run-time statistics: %v", err)
	} else {
		ids, _ := objs.ProgramIDs()
		progs := []*cebpf.Program{}
		for _, id := range ids {
			if p, err := cebpf.NewProgramFromID(id); err == nil {
				defer p.Close()
				progs = append(progs, p)
			}
		}
		emptyIn, emptyEg := emptyTCX(b, cebpf.AttachTCXIngress), emptyTCX(b, cebpf.AttachTCXEgress)
		emptyAtt := &attacher{ns: tp.Node, nl: tp.NodeHandle(), mode: AttachTCX, ingress: emptyIn, egress: emptyEg}
		attachEmpty := func() (release func()) {
			var ats []*attachment
			for _, p := range []*netnstest.Pod{client, server} {
				at, err := emptyAtt.attach(p.HostIndex, p.HostIf)
				if err != nil {
					b.Fatal(err)
				}
				ats = append(ats, at)
			}
			return func() {
				for _, at := range ats {
					_ = emptyAtt.release(at, false)
				}
			}
		}
		type usage struct {
			runs         uint64
			runtime, cpu time.Duration
		}
		stats := func(attach func() func(), progs ...*cebpf.Program) (u usage) {
			read := func() (runs uint64, runtime time.Duration) {
				for _, p := range progs {
					if s, err := p.Stats(); err == nil {
						runs += s.RunCount
						runtime += s.Runtime
					}
				}
				return runs, runtime
			}
			release := attach()
			defer release()
			time.Sleep(tcpBulkSettle)
			transfer(tcpBulkWarm)
			r0, t0 := read()
			c0 := cpuTime()
			transfer(tcpBulkSize)
			u.cpu = cpuTime() - c0
			r1, t1 := read()
			u.runs, u.runtime = r1-r0, t1-t0
			return u
		}
		var prog, empty usage
		for range tcpBulkStats {
			for _, x := range []struct {
				u  *usage
				u1 usage
			}{{&prog, stats(attach, progs...)}, {&empty, stats(attachEmpty, emptyIn, emptyEg)}} {
				x.u.runs += x.u1.runs
				x.u.runtime += x.u1.runtime
				x.u.cpu += x.u1.cpu
			}
		}
		st.Close()
		if prog.runs > 0 && empty.runs > 0 {
			b.ReportMetric(float64(prog.runs)/(tcpBulkStats*tcpBulkSize/(1<<20)), "prog-runs/MB")
			b.ReportMetric(float64(prog.runtime.Nanoseconds())/float64(prog.runs), "prog-ns/run")
			b.ReportMetric(100*prog.runtime.Seconds()/prog.cpu.Seconds(), "prog-cpu-%")
			b.ReportMetric(float64(empty.runtime.Nanoseconds())/float64(empty.runs), "empty-prog-ns/run")
		}
	}
	// The kernel really saw the traffic: the flows are in the map.
	if flows, _, err := objs.Drain(nil); err != nil || len(flows) == 0 {
		b.Fatalf("no flow recorded while attached (%v)", err)
	}
}

// benchCPU is the last CPU the process may run on.
func benchCPU() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, fmt.Errorf("CPU affinity: %w", err)
	}
	for cpu := runtime.NumCPU() * 8; cpu >= 0; cpu-- {
		if set.IsSet(cpu) {
			return cpu, nil
		}
	}
	return 0, fmt.Errorf("CPU affinity: empty set")
}

// pinThread locks the calling goroutine to its thread and the thread to
// cpu; unpin undoes both.
func pinThread(cpu int) (unpin func(), err error) {
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("CPU affinity: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return func() {
		_ = unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}, nil
}

// ksoftirqd is the PID of cpu's softirq thread (none if not found).
func ksoftirqd(cpu int) []int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.TrimSpace(string(comm)) == fmt.Sprintf("ksoftirqd/%d", cpu) {
			return []int{pid}
		}
	}
	return nil
}

// schedRuntime reads the CPU time a schedstat file reports (0 if none).
func schedRuntime(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	ns, _ := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns)
}

// retransSegs is the pod's TCP RetransSegs counter.
func retransSegs(b *testing.B, p *netnstest.Pod) int64 {
	var n int64
	_ = p.Do(func() error {
		data, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		var names []string
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "Tcp:" {
				continue
			}
			if names == nil {
				names = f
				continue
			}
			for i, name := range names {
				if name == "RetransSegs" && i < len(f) {
					n, _ = strconv.ParseInt(f[i], 10, 64)
				}
			}
		}
		return nil
	})
	return n
}

// emptyTCX is a TCX program that returns at once, closed with the benchmark.
func emptyTCX(b *testing.B, typ cebpf.AttachType) *cebpf.Program {
	p, err := cebpf.NewProgram(&cebpf.ProgramSpec{
		Type:         cebpf.SchedCLS,
		AttachType:   typ,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()},
		License:      "MIT",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}
