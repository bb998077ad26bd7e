package suggest

import (
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/enrich"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// AddRecord resolves a raw record against the index the way auditor audit
// does and adds it. A reply is turned around first, so that it is resolved
// and judged as the connection it answers (audit does the same for
// initiator "dst"; suggest also turns around ICMP answers and flows from a
// service port to an ephemeral one, whose handshake was not seen). A flow
// to a Service is added once per backend it may have reached: policy must
// let it reach each. res is scratch space, reused between calls.
func (o *Observer) AddRecord(ix *correlate.Index, res *correlate.Resolution, in *flow.Record) {
	rec := *in
	if isReply(&rec) {
		rec.Src, rec.Dst = rec.Dst, rec.Src
		o.counts.Replies++
	}
	ix.ResolveRecord(&rec, res)
	proto := enrich.Protocol(rec.Protocol)
	for j := range res.Dst {
		r := &rec
		if j > 0 {
			cp := rec
			res.FillDst(&cp.Dst, j)
			r = &cp
		}
		c := &res.Dst[j]
		f := policy.Flow{Src: res.Src.Peer(), Dst: c.Peer(), Protocol: proto, Port: int32(c.Port)}
		o.Add(r, &f, j == 0)
	}
}
