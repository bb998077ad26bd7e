package agent

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/metrics"
	"github.com/flow-auditor/flow-auditor/pipeline"
)

// neverSink takes one batch and never returns from it until released: a
// sink that never reads its queue.
type neverSink struct {
	release chan struct{}
	took    atomic.Uint64
}

func (*neverSink) Name() string { return "never" }
func (s *neverSink) Consume(events []pipeline.Event) {
	s.took.Add(uint64(len(events)))
	<-s.release
}

// kernelFeed hands on drains without waiting, as the kernel source does.
type kernelFeed struct{ out chan []flow.Record }

func (f *kernelFeed) Batches() <-chan []flow.Record { return f.out }
func (f *kernelFeed) Run(ctx context.Context) error {
	<-ctx.Done()
	close(f.out)
	return nil
}

// TestOverloadedSink: with a sink that never reads, the agent stays up and
// healthy, its memory stays bounded, the other sinks keep getting flows,
// and the lost-event counters account for every flow: for each sink,
// records delivered plus records lost (there or upstream) equal records
// sent.
func TestOverloadedSink(t *testing.T) {
	never := &neverSink{release: make(chan struct{})}
	defer close(never.release)
	feed := &kernelFeed{out: make(chan []flow.Record, 64)}
	cfg := testConfig()
	cfg.QueueSize = 8
	cfg.ShutdownTimeout = 2 * time.Second
	a, err := New(cfg, zaptest.NewLogger(t).WithOptions(), Options{Source: feed, Sinks: []pipeline.Sink{never}})
	if err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, a)
	addr := a.MetricsAddr()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const drains, perDrain = 200, 2000
	src := ep("10.244.1.10", 0)
	// What the kernel source's adapter does with a drain the pipeline
	// cannot take: drop it and count it (auditor_lost_events_total at
	// stage ingest). The feed counts what it handed on.
	var fed, dropped float64
	for d := range drains {
		recs := make([]flow.Record, perDrain)
		for i := range recs {
			src.Port = uint16(1024 + (d*perDrain+i)%60000)
			at := t0.Add(time.Duration(d) * time.Second)
			recs[i] = flow.Record{TimeFirst: at, TimeLast: at, Src: src, Dst: ep("203.0.113.10", 443), Protocol: flow.TCP, Observed: flow.Forwarded, Packets: 1, Bytes: 60}
		}
		// Wait for the pipeline rather than drop: how fast it takes drains
		// depends on the machine's load, and the test is about a stuck
		// sink, which must not hold the pipeline up at all.
		select {
		case feed.out <- recs:
			fed += perDrain
		case <-time.After(10 * time.Second):
			dropped += perDrain
		}
		if d%20 == 0 {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("healthz under overload: %v %v", err, resp)
			}
			resp.Body.Close()
		}
	}
	sent := fed
	accounted := func(got map[string]float64, sink string) float64 {
		n := got[series(metrics.RecordsTotal, "stage", sink)]
		for k, v := range got {
			if !strings.HasPrefix(k, metrics.LostEventsTotal+"{") {
				continue
			}
			for _, stage := range []string{"correlate", "evaluate", "fanout", sink} {
				if strings.Contains(k, ",stage="+stage+"}") {
					n += v
				}
			}
		}
		return n
	}
	waitFor(t, "every flow through the metrics sink or lost", func() bool { return accounted(scrape(t, addr), "metrics") == sent })
	runtime.GC()
	runtime.ReadMemStats(&after)
	got := scrape(t, addr)
	for _, sink := range []string{"metrics", "hubble", "log"} {
		if n := accounted(got, sink); n != sent {
			t.Errorf("%s: delivered + lost = %v, want %v\n%s", sink, n, sent, family(got, metrics.LostEventsTotal))
		}
	}
	// The stuck sink's own queue still holds up to QueueSize batches,
	// neither delivered nor lost until the sink reads them or shuts down.
	inQueue := float64(cfg.QueueSize * cfg.BatchSize)
	if n := accounted(got, "never"); n > sent || n < sent-inQueue {
		t.Errorf("never: delivered + lost = %v, want %v less at most %v queued", n, sent, inQueue)
	}
	if lost := got[series(metrics.LostEventsTotal, "stage", "never", "cause", "queue-full")]; lost == 0 {
		t.Error("the stuck sink lost nothing")
	}
	if d := got[series(metrics.RecordsTotal, "stage", "metrics")]; d == 0 {
		t.Error("the metrics sink got nothing while another sink was stuck")
	}
	// 400,000 records held would take well over 100 MiB; a pipeline that
	// takes none for 10 s is held up by the stuck sink.
	if fed != drains*perDrain {
		t.Fatalf("the pipeline took only %v of %d flows: the stuck sink holds it up", fed, drains*perDrain)
	}
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 64<<20 {
		t.Errorf("heap grew by %d MiB", grown>>20)
	}
	t.Logf("fed %v (the feed dropped %v): metrics sink %v, stuck sink took %d; heap in use %d -> %d MiB",
		sent, dropped, got[series(metrics.RecordsTotal, "stage", "metrics")], never.took.Load(), before.HeapInuse>>20, after.HeapInuse>>20)
	// Shutdown is bounded even with a sink stuck inside its own code.
	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	t.Logf("shutdown took %v (timeout %v)", time.Since(start).Round(time.Millisecond), cfg.ShutdownTimeout)
}
