package agent

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/flow-auditor/flow-auditor/metrics"
)

func TestZZHeap(t *testing.T) {
	if os.Getenv("ZZHEAP") == "" {
		t.Skip()
	}
	dir := t.TempDir()
	snapPath := filepath.Join(dir, "cluster.yaml")
	if err := writeSnapshot(snapPath, benchCluster()); err != nil {
		t.Fatal(err)
	}
	flowsPath := filepath.Join(dir, "flows.jsonl")
	if err := writeFlowFile(flowsPath, nodeFlows(100000, time.Now().Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	cfg := Defaults()
	cfg.Snapshots = []string{snapPath}
	cfg.Source = SourceFile
	cfg.FlowsFiles = []string{flowsPath}
	cfg.NodeName = "node-0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.HubbleAddr = "127.0.0.1:0"
	a, err := New(cfg, zap.NewNop(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	for scrape(t, a.MetricsAddr())[series(metrics.RecordsTotal, "stage", "metrics")] < 100000 {
		time.Sleep(100 * time.Millisecond)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use after GC: %d MiB", ms.HeapInuse>>20)
	f, _ := os.Create("/tmp/heap2.prof")
	pprof.WriteHeapProfile(f)
	f.Close()
	cancel()
}
