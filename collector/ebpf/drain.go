package ebpf

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/flow-auditor/flow-auditor/bpf"
	"github.com/flow-auditor/flow-auditor/flow"
)

// drainer is the stage that empties the kernel maps on an interval, turns
// the entries into records (interface names, node, connection direction,
// DNS names) and hands each drain's batch on.
type drainer struct {
	log      *zap.Logger
	objs     *bpf.Objects
	ifaces   *interfaces
	nl       *netlink.Handle
	dns      *dnsCache
	conns    *connTable
	node     string
	interval time.Duration

	buf []bpf.Flow

	drains        atomic.Uint64
	otherProtocol atomic.Uint64
	flowFill      atomic.Uint64 // entries in the flow map at the last drain
	dropFill      atomic.Uint64
	recordsLost   atomic.Uint64 // records the consumer did not take in time
	recordsOut    atomic.Uint64
}

// Run drains every interval until ctx ends; the final drain is the
// Source's, after the programs are detached.
func (d *drainer) Run(ctx context.Context, out chan<- []flow.Record) error {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		recs, err := d.drain()
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			continue
		}
		// Never wait for a slow consumer: the kernel maps would fill.
		select {
		case out <- recs:
			d.recordsOut.Add(uint64(len(recs)))
		default:
			d.recordsLost.Add(uint64(len(recs)))
			d.log.Warn("consumer too slow: records dropped", zap.Int("records", len(recs)))
		}
	}
}

// drain empties the maps once and returns the records, in time order.
func (d *drainer) drain() ([]flow.Record, error) {
	names := d.ifaces.names()
	flows, st, err := d.objs.Drain(d.buf[:0])
	d.buf = flows[:0]
	if err != nil {
		return nil, err
	}
	d.drains.Add(1)
	d.otherProtocol.Add(uint64(st.OtherProtocol))
	d.flowFill.Store(uint64(st.Flows))
	d.dropFill.Store(uint64(st.Drops))
	now := time.Now()
	d.conns.apply(flows, now)

	recs := make([]flow.Record, 0, len(flows))
	for i := range flows {
		f := &flows[i]
		r := f.Record
		r.Node = d.node
		r.Interface = d.ifname(names, f.Ifindex)
		r.Direction = podDirection(f.Direction)
		r.Dst.FQDN = d.dns.lookup(r.Src.IP, r.Dst.IP, r.TimeFirst, r.TimeLast)
		r.Src.FQDN = d.dns.lookup(r.Dst.IP, r.Src.IP, r.TimeFirst, r.TimeLast)
		recs = append(recs, r)
	}
	// Answers stay a while past their TTL: a flow that started before the
	// expiry may be drained an interval later.
	d.dns.expire(now.Add(-2*d.interval - 10*time.Second))
	slices.SortFunc(recs, compareRecords)
	return recs, nil
}

// podDirection is a flow's direction relative to the pod behind the
// interface: the programs sit on the host side of the pod's veth, so what
// enters the host there leaves the pod. Drops carry no direction.
func podDirection(d bpf.Direction) string {
	switch d {
	case bpf.Ingress:
		return "egress"
	case bpf.Egress:
		return "ingress"
	}
	return ""
}

// ifname names an interface index of the watched namespace: attached ones
// from the table, others (a drop on the node's uplink) through netlink.
func (d *drainer) ifname(names map[int]string, idx int) string {
	if idx == 0 {
		return ""
	}
	if n, ok := names[idx]; ok {
		return n
	}
	n := ""
	if l, err := d.nl.LinkByIndex(idx); err == nil {
		n = l.Attrs().Name
	}
	names[idx] = n
	return n
}

func compareRecords(a, b flow.Record) int {
	if c := a.TimeFirst.Compare(b.TimeFirst); c != 0 {
		return c
	}
	if c := a.Src.IP.Compare(b.Src.IP); c != 0 {
		return c
	}
	if c := a.Dst.IP.Compare(b.Dst.IP); c != 0 {
		return c
	}
	if c := int(a.Src.Port) - int(b.Src.Port); c != 0 {
		return c
	}
	if c := int(a.Dst.Port) - int(b.Dst.Port); c != 0 {
		return c
	}
	if a.Interface != b.Interface {
		if a.Interface < b.Interface {
			return -1
		}
		return 1
	}
	if a.Observed != b.Observed {
		if a.Observed < b.Observed {
			return -1
		}
		return 1
	}
	return 0
}
