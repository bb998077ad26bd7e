package ebpf

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.uber.org/zap/zaptest"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/netnstest"
	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// harness runs a Source over a test topology and collects its records.
type harness struct {
	t         *testing.T
	src       *Source
	cancel    context.CancelFunc
	done      chan error
	collected chan struct{} // closed once Run closed the channel and all was read

	mu      sync.Mutex
	batches [][]flow.Record
}

// everyVeth in Config.Interfaces asks start for the default selection.
var everyVeth = regexp.MustCompile("every veth")

// hour is the drain interval of tests that want every record from the
// final drain: one record per flow key, exact figures.
const hour = time.Hour

func topology(t *testing.T, opts netnstest.Options) *netnstest.Topology {
	t.Helper()
	testutil.RequirePrivileged(t, "loads eBPF programs and creates network namespaces")
	if err := CheckSupport(); err != nil {
		testutil.Unavailable(t, err.Error())
	}
	return netnstest.New(t, opts)
}

// start runs a Source in the topology's node namespace, on the topology's
// interfaces unless cfg says otherwise, and waits until it is attached.
func start(t *testing.T, tp *netnstest.Topology, cfg Config) *harness {
	t.Helper()
	cfg.NetnsPath = "/run/netns/" + tp.NodeName
	switch cfg.Interfaces {
	case nil:
		cfg.Interfaces = regexp.MustCompile("^" + tp.Prefix())
	case everyVeth:
		cfg.Interfaces = nil
	}
	if cfg.NodeName == "" {
		cfg.NodeName = "test-node"
	}
	src, err := New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, src: src, cancel: cancel, done: make(chan error, 1), collected: make(chan struct{})}
	out := make(chan []flow.Record, 16)
	go func() { h.done <- src.Run(ctx, out) }()
	go func() {
		defer close(h.collected)
		for b := range out {
			h.mu.Lock()
			h.batches = append(h.batches, b)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() { h.stop() })
	waitFor(t, "the source to attach", src.Ready)
	return h
}

// stop ends Run (as SIGTERM does) and returns every record received.
func (h *harness) stop() []flow.Record {
	h.t.Helper()
	if h.cancel == nil {
		return h.records()
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	<-h.collected
	return h.records()
}

func (h *harness) records() []flow.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []flow.Record
	for _, b := range h.batches {
		all = append(all, b...)
	}
	return all
}

// find returns the records from src to dst (ports 0 match any) of proto.
func find(recs []flow.Record, proto flow.Protocol, src, dst netip.AddrPort) []flow.Record {
	var out []flow.Record
	for _, r := range recs {
		if r.Protocol != proto || r.Src.IP != src.Addr() || r.Dst.IP != dst.Addr() {
			continue
		}
		if (src.Port() != 0 && r.Src.Port != src.Port()) || (dst.Port() != 0 && r.Dst.Port != dst.Port()) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func onInterface(recs []flow.Record, name string, observed flow.Observed) []flow.Record {
	var out []flow.Record
	for _, r := range recs {
		if r.Interface == name && r.Observed == observed {
			out = append(out, r)
		}
	}
	return out
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// kernelLinks lists the IDs of the BPF links in the kernel, with their
// programs.
func kernelLinks(t *testing.T) map[link.ID]cebpf.ProgramID {
	t.Helper()
	out := map[link.ID]cebpf.ProgramID{}
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		if info, err := it.Link.Info(); err == nil {
			out[it.ID] = info.Program
		}
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate kernel links: %v", err)
	}
	return out
}

func programExists(id cebpf.ProgramID) bool {
	p, err := cebpf.NewProgramFromID(id)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	p.Close()
	return true
}
