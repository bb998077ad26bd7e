package demo

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

// printer writes the demo's output; safe for the live table's goroutine
// and the phases at once.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	n     int
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// phase prints a phase's progress line.
func (p *printer) phase(format string, args ...any) {
	p.mu.Lock()
	p.n++
	n := p.n
	p.mu.Unlock()
	p.printf("\n==> [%d/%d] %s\n", n, p.total, fmt.Sprintf(format, args...))
}

// name is how the output names one side of a connection: a pod by its
// namespace and workload, a node by name, an outside address with its DNS
// name.
func name(e *flow.Endpoint) string {
	switch e.Kind {
	case flow.KindPod:
		w := e.Workload
		if _, n, ok := strings.Cut(w, "/"); ok {
			w = n
		}
		if w == "" {
			w = e.Pod
		}
		return e.Namespace + "/" + w
	case flow.KindNode:
		return "node " + e.Node
	}
	if e.FQDN != "" {
		return e.IP.String() + " (" + e.FQDN + ")"
	}
	return e.IP.String()
}

// verdictOf is the output's verdict column: the violation (with the
// anomaly classes), else the policy verdict.
func verdictOf(ev *event) string {
	r := &ev.Record
	switch {
	case r.Violation == "anomalous-egress":
		return "anomalous-egress (" + strings.Join(ev.Classes.Names(), ", ") + ")"
	case r.Violation != "":
		return r.Violation
	case r.Verdict != "":
		return r.Verdict
	}
	return "-"
}

func observedOf(r *flow.Record) string {
	if r.Observed == flow.Dropped && r.DropReason != "" {
		return "dropped " + r.DropReason
	}
	return string(r.Observed)
}

// edgeKey is one line of the flow tables.
type edgeKey struct {
	From, To, Port, Verdict, Observed string
}

func keyOf(ev *event) edgeKey {
	c, s := ev.client(), ev.server()
	return edgeKey{name(c), name(s), fmt.Sprintf("%s/%d", ev.Record.Protocol, s.Port), verdictOf(ev), observedOf(&ev.Record)}
}

// liveTable prints a row the first time a kind of connection shows up
// (client, server, port, verdict), and counts connections per row until
// the next summary.
type liveTable struct {
	p      *printer
	start  time.Time
	seen   map[edgeKey]bool
	counts map[edgeKey]int
	order  []edgeKey
	header bool
}

func newLiveTable(p *printer, start time.Time) *liveTable {
	return &liveTable{p: p, start: start, seen: map[edgeKey]bool{}, counts: map[edgeKey]int{}}
}

const rowFormat = "  %7s  %-28s  %-44s  %-8s  %-40s  %s\n"

func (t *liveTable) add(evs []event) {
	for i := range evs {
		ev := &evs[i]
		if ev.Repeat {
			continue
		}
		k := keyOf(ev)
		if _, ok := t.counts[k]; !ok {
			t.order = append(t.order, k)
		}
		if !t.seen[k] {
			t.seen[k] = true
			if !t.header {
				t.p.printf(rowFormat, "T+", "FROM", "TO", "PORT", "VERDICT", "OBSERVED")
				t.header = true
			}
			at := ev.Record.TimeFirst.Sub(t.start).Seconds()
			t.p.printf(rowFormat, fmt.Sprintf("%.1fs", max(at, 0)), k.From, k.To, k.Port, k.Verdict, k.Observed)
		}
		t.counts[k]++
	}
}

// summary prints the connections counted per row since the last summary,
// and starts counting again.
func (t *liveTable) summary(title string) {
	if len(t.order) == 0 {
		t.p.printf("  %s: no connection reported\n", title)
		return
	}
	keys := slices.Clone(t.order)
	slices.SortStableFunc(keys, func(a, b edgeKey) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To), cmp.Compare(a.Port, b.Port))
	})
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  CONNECTIONS\tFROM\tTO\tPORT\tVERDICT\tOBSERVED\n")
	total := 0
	for _, k := range keys {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", t.counts[k], k.From, k.To, k.Port, k.Verdict, k.Observed)
		total += t.counts[k]
	}
	_ = tw.Flush()
	t.p.printf("  %s: %d connections\n%s", title, total, b.String())
	t.counts = map[edgeKey]int{}
	t.order = nil
	t.header = false
}
