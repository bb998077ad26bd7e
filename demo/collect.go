package demo

import (
	"net/netip"
	"strings"
	"sync"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/pipeline"
)

// event is one evaluated record the agent's pipeline handed to the demo.
type event struct {
	Record flow.Record
	// Classes are the anomalous-egress classes the agent found.
	Classes anomaly.Class
	// Reply: the record is its connection's reply direction.
	Reply bool
	// Repeat: an earlier record already reported the connection.
	Repeat bool
}

// client and server are the connection's endpoints.
func (e *event) client() *flow.Endpoint {
	if e.Reply {
		return &e.Record.Dst
	}
	return &e.Record.Src
}

func (e *event) server() *flow.Endpoint {
	if e.Reply {
		return &e.Record.Src
	}
	return &e.Record.Dst
}

// collector is a pipeline sink that keeps the demo's records: those seen
// on the demo's interfaces (the kernel also reports drops in other
// namespaces of the machine, without an interface, and other programs
// may use the demo's addresses) with an address of the scenario.
type collector struct {
	addrs  map[netip.Addr]bool
	prefix string

	mu     sync.Mutex
	events []event
	// notify is signalled (without blocking) when events arrive.
	notify chan struct{}
}

func newCollector(addrs map[netip.Addr]bool, interfacePrefix string) *collector {
	return &collector{addrs: addrs, prefix: interfacePrefix, notify: make(chan struct{}, 1)}
}

// Name implements pipeline.Sink.
func (*collector) Name() string { return "demo" }

// Consume implements pipeline.Sink: it copies what it keeps, and names
// the anomaly classes in the explanation as `auditor audit` does.
func (c *collector) Consume(events []pipeline.Event) {
	var kept []event
	for i := range events {
		e := &events[i]
		if !strings.HasPrefix(e.Record.Interface, c.prefix) || (!c.addrs[e.Record.Src.IP] && !c.addrs[e.Record.Dst.IP]) {
			continue
		}
		ev := event{Record: e.Record, Classes: e.Anomaly, Reply: e.Reply, Repeat: e.Repeat}
		if e.Anomaly != 0 {
			ev.Record.Explanation = withAnomalies(ev.Record.Explanation, e.Anomaly)
		}
		kept = append(kept, ev)
	}
	if len(kept) == 0 {
		return
	}
	c.mu.Lock()
	c.events = append(c.events, kept...)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// withAnomalies appends the classes to an explanation, as audit words it.
func withAnomalies(explanation string, classes anomaly.Class) string {
	s := explanation + "; anomalous egress:"
	classes.Each(func(name string) { s += " " + name })
	return s
}

// since returns the events from index i on, and the next index.
func (c *collector) since(i int) ([]event, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]event, len(c.events)-i)
	copy(out, c.events[i:])
	return out, len(c.events)
}

// all returns every event so far.
func (c *collector) all() []event {
	evs, _ := c.since(0)
	return evs
}
