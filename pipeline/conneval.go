package pipeline

import (
	"net/netip"
	"time"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

// connRefresh bounds how long a connection's judgement is reused: a
// long-lived connection is judged again at least this often (by its
// records' time), and whenever the policies change.
const connRefresh = time.Minute

// connEval is how a connection was judged, reused for its later records:
// the kernel reports every live connection again at each drain, and judging
// what was just judged would cost most of the pipeline's time. A record
// reuses it while the policies are the ones it was judged with and for
// connRefresh after; a pod relabelled or a Service changed mid-connection
// is thus seen within connRefresh, a policy change at once. Records that
// carry their source's own verdict (Hubble's) are always judged afresh.
//
// The judgement itself is shared: the connections of one client pod to one
// server and port differ only by the client's port and are judged alike,
// so a connection holds a pointer to an interned judgement and the time it
// was judged, 16 bytes instead of a copy per connection.
type connEval struct {
	*judgement
	at int64 // the judged record's first time, unix nanoseconds
}

// judgement is what a connection's judged record said, immutable once
// made. It is comparable: equal judgements are interned (judgements).
type judgement struct {
	policies *Policies
	// src and dst are what the connection's sides resolved to (dst after
	// service translation: dstIP and dstPort are the backend's).
	src, dst         *correlate.Target
	dstIP            netip.Addr
	explanation      string
	service          string
	dstPort          uint16
	servicePort      uint16
	srcKind, dstKind uint8 // kindCodes
	egress, ingress  uint8 // resultCodes
	verdict          uint8 // resultCodes
	static           anomaly.Class
	unresolved       bool
	// outside says a side was not a pod, which a pod arriving in the
	// inventory later may turn into one; inventory is then the inventory
	// version the sides were resolved with (0 otherwise, so that a
	// changing inventory does not split equal judgements).
	outside   bool
	inventory uint64
}

// judgements interns the evaluate stage's judgements, so that connections
// judged alike share one. Only the evaluate stage uses it. It is bounded:
// when full, or when the policies change (a judgement of other policies is
// never reused), it starts over; connections keep what they hold.
type judgements struct {
	m        map[judgement]*judgement
	policies *Policies
}

// maxJudgements bounds the table: a node's distinct (client pod, server,
// port) judgements number in the thousands; past the bound interning only
// starts over.
const maxJudgements = 1 << 14

// intern returns the shared judgement equal to j, adding a copy of j when
// there is none.
func (t *judgements) intern(j *judgement) *judgement {
	if t == nil {
		c := *j
		return &c
	}
	if t.m == nil || t.policies != j.policies || len(t.m) >= maxJudgements {
		// Dropping the old entries also lets old policy sets be freed. The
		// new table is as large as the old one was: it is likely to fill
		// as much again, and growing rehashes every entry.
		t.m, t.policies = make(map[judgement]*judgement, len(t.m)), j.policies
	}
	if s, ok := t.m[*j]; ok {
		return s
	}
	c := *j
	t.m[c] = &c
	return &c
}

// The strings a judgement holds as small codes, to keep it small.
var (
	kindCodes   = [...]flow.Kind{flow.KindUnknown, flow.KindPod, flow.KindNode, flow.KindExternal}
	resultCodes = [...]string{"", "allow", "deny", "none"}
)

func codeOf[T comparable](codes []T, v T) (uint8, bool) {
	for i, c := range codes {
		if c == v {
			return uint8(i), true
		}
	}
	return 0, false
}

// reusable returns the connection's judgement if the event's record may
// reuse it.
func (e *Event) reusable(current *Policies) *connEval {
	if !e.Repeat || e.conn == nil || e.Record.Verdict != "" {
		return nil
	}
	c := e.conn.eval.Load()
	if c == nil || c.policies != current {
		return nil
	}
	if t := e.Record.TimeFirst.UnixNano(); !e.Record.TimeFirst.IsZero() && t-c.at > int64(connRefresh) {
		return nil
	}
	if c.outside && c.inventory != e.inventory {
		return nil // the inventory changed: the outside side may be a pod now
	}
	return c
}

// apply fills rec (the connection's way round) from the judgement: the
// resolved endpoints, keeping what the wire said about DNS names, and the
// policy results, with the violation for what the network did this time.
func (c *judgement) apply(rec *flow.Record, explain bool) {
	c.src.Fill(&rec.Src)
	rec.Src.Kind = kindCodes[c.srcKind]
	dst := correlate.Candidate{Target: c.dst, IP: c.dstIP, Port: c.dstPort}
	dst.Fill(&rec.Dst)
	rec.Dst.Kind = kindCodes[c.dstKind]
	rec.Dst.Service, rec.Dst.ServicePort = c.service, c.servicePort
	rec.Egress, rec.Ingress, rec.Verdict = resultCodes[c.egress], resultCodes[c.ingress], resultCodes[c.verdict]
	rec.Violation = ""
	if rec.Verdict == "deny" {
		if rec.Observed == flow.Dropped {
			rec.Violation = "denied"
		} else {
			rec.Violation = "would-deny"
		}
	}
	if explain || rec.Violation != "" {
		rec.Explanation = c.explanation
	}
}

// remember keeps the judgement of the event's record (the connection's way
// round, just judged; picked is the destination candidate it names) for
// the connection's later records, and returns it for its siblings (nil
// when it cannot be kept).
func (e *Event) remember(current *Policies, picked int, static anomaly.Class) *connEval {
	if e.conn == nil && e.sib == nil {
		return nil
	}
	r := &e.Record
	j := judgement{
		policies: current, src: e.Res.Src.Target, dstIP: r.Dst.IP, dstPort: r.Dst.Port,
		servicePort: r.Dst.ServicePort, explanation: r.Explanation,
		static: static, unresolved: e.Unresolved,
		outside: r.Src.Kind != flow.KindPod || r.Dst.Kind != flow.KindPod,
	}
	if j.outside {
		j.inventory = e.inventory
	}
	var ok [5]bool
	j.srcKind, ok[0] = codeOf(kindCodes[:], r.Src.Kind)
	j.dstKind, ok[1] = codeOf(kindCodes[:], r.Dst.Kind)
	j.egress, ok[2] = codeOf(resultCodes[:], r.Egress)
	j.ingress, ok[3] = codeOf(resultCodes[:], r.Ingress)
	j.verdict, ok[4] = codeOf(resultCodes[:], r.Verdict)
	if ok != [5]bool{true, true, true, true, true} {
		return nil // a value the codes cannot hold: judge every record afresh
	}
	if r.Dst.Service != "" {
		j.service = r.Dst.Service
		if svc := e.Res.Service; svc != nil && svc.Key == r.Dst.Service {
			j.service = svc.Key // shared with the index, no copy per judgement
		}
	}
	if picked < len(e.Res.Dst) {
		j.dst = e.Res.Dst[picked].Target
	}
	c := &connEval{judgement: e.judged.intern(&j), at: r.TimeFirst.UnixNano()}
	if e.conn != nil {
		e.conn.eval.Store(c)
	}
	return c
}
