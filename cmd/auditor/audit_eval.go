package main

import (
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/enrich"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/flow/flowjson"
	"github.com/flow-auditor/flow-auditor/policy"
)

// auditContext is what every audit worker shares: immutable once built.
type auditContext struct {
	index  *correlate.Index
	engine *policy.Engine
	blocks *anomaly.Blocks
	// objs and privilege serve the --namespace report (audit_privilege.go).
	objs      correlate.Objects
	privilege *privilegeAudit
}

// auditor judges flows on one goroutine; it owns scratch space and the
// explanation cache so that judging does not allocate in the common case.
type auditor struct {
	ctx     *auditContext
	judge   enrich.Judge
	detect  anomaly.Detector
	res     correlate.Resolution
	verdict policy.Verdict
	dialed  netip.Addr
	sb      strings.Builder
	// enc writes the worker's output.
	enc *flowjson.Encoder
	// decorated caches service and anomaly explanations: flows to one
	// Service share a handful of them.
	decorated, decoratedBefore map[decorKey]decoration
	// resolve, when set, resolves instead of the index alone: the
	// ObservedTraffic baseline names workloads, not pods
	// (audit_observed.go).
	resolve func(rec *flow.Record, res *correlate.Resolution)
}

// decorKey is everything decorate's output depends on, for flows that are
// not replies (a reply's explanation names its client's port). The
// engine's explanation is identified by its address and length: the judge
// hands out one string per verdict, and the cache entry keeps that string
// alive, so the address cannot be reused for another while it is cached.
// This keeps the key free of long strings to hash and compare.
type decorKey struct {
	explanation *byte
	explLen     int
	service     *correlate.Service
	dialed      netip.Addr
	wirePort    uint16
	protocol    flow.Protocol
	picked      *correlate.Target
	pickedIP    netip.Addr
	pickedPort  uint16
	backends    int
	noBackend   bool
	deny        bool
	classes     anomaly.Class
}

// decoration is a cached explanation, and the engine's explanation it was
// built from (held so that its address stays unique).
type decoration struct {
	from, text string
}

// maxDecorated bounds each of the cache's two generations.
const maxDecorated = 1 << 15

func newAuditor(ac *auditContext) *auditor {
	return &auditor{ctx: ac, judge: enrich.Judge{Engine: ac.engine, Explain: true, CacheSize: auditVerdictMemo}, enc: flowjson.NewEncoder()}
}

// judged is what audit tells about a flow besides the record it fills.
type judged struct {
	// wire is the 5-tuple as the input gave it: the flat fields of the
	// output (rec.Dst names the backend after service translation).
	wire flowjson.Flat
	// reply: the flow was judged as its connection, the other way round.
	reply bool
	// srcT and dstT are what the connection's client and server resolved
	// to; nil when external.
	srcT, dstT *correlate.Target
}

// audit resolves rec against the inventory, judges it and fills its policy
// fields.
//
// A reply (rec.Initiator == "dst": Hubble's is_reply, or a record whose
// handshake showed the destination opened the connection) is judged as the
// connection it belongs to, from its destination to its source: policy
// allows replies of allowed connections, so judging the reply's own
// direction would deny every answer of a server.
func (a *auditor) audit(rec *flow.Record) judged {
	j := judged{wire: flowjson.Flat{SrcIP: rec.Src.IP, SrcPort: rec.Src.Port, DstIP: rec.Dst.IP, DstPort: rec.Dst.Port}}
	// Results carried by the input (an earlier audit, say) are recomputed.
	rec.Egress, rec.Ingress, rec.Verdict, rec.Violation, rec.Explanation = "", "", "", "", ""

	reply := rec.Initiator == "dst"
	j.reply = reply
	if reply {
		rec.Src, rec.Dst = rec.Dst, rec.Src
	}
	a.dialed = rec.Dst.IP // a Service's address, once rec.Dst names its backend
	if a.resolve != nil {
		a.resolve(rec, &a.res)
	} else {
		a.ctx.index.ResolveRecord(rec, &a.res)
	}
	a.judge.Evaluate(rec, &a.res, &a.verdict)
	// An address the inventory does not know was judged as external; say so
	// even when the flow source called it something else.
	j.srcT = a.res.Src.Target
	if j.srcT == nil {
		rec.Src.Kind = flow.KindExternal
	}
	picked := a.pickedDst(rec)
	if picked != nil {
		j.dstT = picked.Target
	}
	if j.dstT == nil {
		rec.Dst.Kind = flow.KindExternal
	}
	classes := a.detect.Inspect(rec, &a.verdict, a.ctx.blocks)
	anomaly.Mark(rec, classes)
	switch {
	case reply:
		rec.Explanation = a.decorate(rec, true, picked, classes)
	case a.res.Service != nil || classes != 0:
		rec.Explanation = a.decorateCached(rec, picked, classes)
	}
	if reply {
		rec.Src, rec.Dst = rec.Dst, rec.Src
	}
	return j
}

// pickedDst returns the destination candidate the judge chose (the one
// rec.Dst was filled from).
func (a *auditor) pickedDst(rec *flow.Record) *correlate.Candidate {
	for i := range a.res.Dst {
		c := &a.res.Dst[i]
		if c.Port == rec.Dst.Port && (c.IP == rec.Dst.IP || !c.IP.IsValid()) {
			return c
		}
	}
	if len(a.res.Dst) > 0 {
		return &a.res.Dst[0]
	}
	return nil
}

// decorateCached is decorate for flows that are not replies, cached.
func (a *auditor) decorateCached(rec *flow.Record, picked *correlate.Candidate, classes anomaly.Class) string {
	k := decorKey{explanation: unsafe.StringData(rec.Explanation), explLen: len(rec.Explanation), classes: classes}
	// Without a Service the text is the explanation and the classes: the
	// addresses stay out of the key, or every external address would miss.
	if a.res.Service != nil {
		k.service, k.dialed, k.wirePort, k.protocol = a.res.Service, a.dialed, a.res.WirePort, rec.Protocol
		k.backends, k.noBackend, k.deny = len(a.res.Dst), a.noBackend(picked), rec.Verdict == "deny"
		if picked != nil {
			k.picked, k.pickedIP, k.pickedPort = picked.Target, picked.IP, picked.Port
		}
	}
	if d, ok := a.decorated[k]; ok {
		return d.text
	}
	d, ok := a.decoratedBefore[k]
	if !ok {
		d = decoration{from: rec.Explanation, text: a.decorate(rec, false, picked, classes)}
	}
	// Two generations: the one before the current one still serves (and
	// its entries in use move back), so a full cache does not start cold.
	if a.decorated == nil || len(a.decorated) >= maxDecorated {
		a.decoratedBefore = a.decorated
		a.decorated = make(map[decorKey]decoration)
	}
	a.decorated[k] = d
	return d.text
}

// noBackend reports whether a flow to a Service found no backend for its
// port and was judged against the Service address itself.
func (a *auditor) noBackend(picked *correlate.Candidate) bool {
	return a.res.ServicePort == nil || picked == nil || (picked.Target != nil && picked.Target.Service != nil)
}

// decorate prefixes the engine's explanation with what the audit did
// around it: the reply's connection, the service translation, and suffixes
// the anomaly classes.
func (a *auditor) decorate(rec *flow.Record, reply bool, picked *correlate.Candidate, classes anomaly.Class) string {
	b := &a.sb
	b.Reset()
	if reply {
		b.WriteString("reply, judged as its connection from ")
		writeEndpoint(b, &rec.Src)
		b.WriteString(" to ")
		writeEndpoint(b, &rec.Dst)
		b.WriteString(": ")
	}
	if svc := a.res.Service; svc != nil {
		b.WriteString("service ")
		b.WriteString(svc.Key)
		b.WriteByte(' ')
		writeAddrPort(b, a.dialed, a.res.WirePort, rec)
		if a.noBackend(picked) {
			b.WriteString(" has no backend for this port, judged as that address: ")
		} else {
			b.WriteString(", backend ")
			writeEndpoint(b, &rec.Dst)
			n := len(a.res.Dst)
			switch {
			case n == 1:
				b.WriteString(" (its only backend): ")
			case rec.Verdict == "deny":
				b.WriteString(" (denied; ")
				b.WriteString(strconv.Itoa(n))
				b.WriteString(" backends, every one must allow): ")
			default:
				b.WriteString(" (all ")
				b.WriteString(strconv.Itoa(n))
				b.WriteString(" backends allow): ")
			}
		}
	}
	b.WriteString(rec.Explanation)
	if classes != 0 {
		b.WriteString("; anomalous egress:")
		classes.Each(func(name string) {
			b.WriteByte(' ')
			b.WriteString(name)
		})
	}
	return b.String()
}

// writeEndpoint names an endpoint in an explanation: namespace/pod and
// address for a pod, the address otherwise.
func writeEndpoint(b *strings.Builder, e *flow.Endpoint) {
	if e.Pod != "" {
		b.WriteString(e.Namespace)
		b.WriteByte('/')
		b.WriteString(e.Pod)
		b.WriteByte(' ')
	} else if e.Kind == flow.KindNode && e.Node != "" {
		b.WriteString("node ")
		b.WriteString(e.Node)
		b.WriteByte(' ')
	}
	if e.IP.IsValid() {
		writeAddrPort(b, e.IP, e.Port, nil)
	}
}

func writeAddrPort(b *strings.Builder, ip netip.Addr, port uint16, rec *flow.Record) {
	if ip.Is6() {
		b.WriteByte('[')
		b.WriteString(ip.String())
		b.WriteByte(']')
	} else {
		b.WriteString(ip.String())
	}
	if port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(port)))
	}
	if rec != nil {
		b.WriteByte('/')
		b.WriteString(string(rec.Protocol))
	}
}

// runtimeWorkers is how many goroutines judge flows: one per CPU the Go
// runtime may use.
func runtimeWorkers() int { return runtime.GOMAXPROCS(0) }

// auditVerdictMemo sizes each generation of a worker's verdict memo: a
// million flows over a large cluster carry tens of thousands of distinct
// verdicts, and a memo that starts over too often costs more than it saves.
const auditVerdictMemo = 1 << 16
