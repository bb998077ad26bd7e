package bpf

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// BenchmarkTCX measures the interface program's cost per packet through
// BPF_PROG_RUN, next to a program that does nothing (its run is the floor:
// the test harness's own cost), in the same run and alternating. The
// figures: ns/pkt for the program, empty-ns/pkt for the empty one, and
// overhead-ns/pkt, the difference. Goal for a known flow: <= 60 ns.
func BenchmarkTCX(b *testing.B) {
	testutil.RequirePrivileged(b, "runs eBPF programs")
	o, err := Load(Options{FlowEntries: 1 << 17})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	empty, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, -1),
			asm.Return(),
		},
		License: "MIT",
	})
	if err != nil {
		b.Fatal(err)
	}
	defer empty.Close()
	pkt := frame{}.build(a4, b4, udp(40000, 9000, make([]byte, 64)))

	b.Run("known-flow", func(b *testing.B) {
		if _, err := o.Ingress().Run(&ebpf.RunOptions{Data: pkt}); err != nil {
			b.Fatal(err)
		}
		var progNs, emptyNs float64
		b.ResetTimer()
		for left := b.N; left > 0; {
			n := min(left, 1<<16)
			left -= n
			_, de, err := empty.Benchmark(pkt, n, nil)
			if err != nil {
				b.Fatal(err)
			}
			_, dp, err := o.Ingress().Benchmark(pkt, n, nil)
			if err != nil {
				b.Fatal(err)
			}
			emptyNs += float64(de.Nanoseconds()) * float64(n)
			progNs += float64(dp.Nanoseconds()) * float64(n)
		}
		report(b, progNs, emptyNs)
	})

	b.Run("new-flow", func(b *testing.B) {
		var progNs, emptyNs float64
		b.ResetTimer()
		for i := range b.N {
			// A new source port and address for every packet: a new flow.
			binary.BigEndian.PutUint16(pkt[14+20:], uint16(i))
			binary.BigEndian.PutUint16(pkt[14+12+2:], uint16(i>>16))
			if i%(1<<16) == 0 {
				b.StopTimer()
				if _, _, err := o.Drain(nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			_, de, err := empty.Benchmark(pkt, 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			_, dp, err := o.Ingress().Benchmark(pkt, 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			emptyNs += float64(de.Nanoseconds())
			progNs += float64(dp.Nanoseconds())
		}
		report(b, progNs, emptyNs)
		if l, err := o.Losses(); err == nil && l.FlowMapFull > 0 {
			b.Fatalf("%d packets found the map full: the figure would not be a new flow's", l.FlowMapFull)
		}
	})
}

func report(b *testing.B, progNs, emptyNs float64) {
	n := float64(b.N)
	b.ReportMetric(progNs/n, "ns/pkt")
	b.ReportMetric(emptyNs/n, "empty-ns/pkt")
	b.ReportMetric((progNs-emptyNs)/n, "overhead-ns/pkt")
}
