package agent

import (
	"net/netip"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/pipeline"
)

// mergeKey is a connection as its client sees it.
type mergeKey struct {
	proto          flow.Protocol
	client, server netip.AddrPort
}

// mergeConnections folds the records of one drain that report one
// connection into one record, in place, and returns the shortened slice.
//
// The kernel source reports what it saw per interface and direction: a
// connection between two pods of the node shows on both pods' interfaces,
// each way, and a packet the node dropped shows again as a drop. The agent
// counts connections, so it keeps one record per connection and drain: the
// client-to-server direction (or, when only the reply was seen, that),
// with the most packets any interface counted (the same packets crossed
// each), the earliest first and latest last time, "dropped" when any of its
// packets was dropped (with that drop's reason), the DNS name and the
// handshake's outcome from whichever record had them.
//
// Which side is the client comes from the TCP handshake (Initiator); for
// the rest, from a record already folded the other way, else from what the
// packets look like (pipeline.LooksLikeReply).
func mergeConnections(recs []flow.Record) []flow.Record {
	if len(recs) < 2 {
		return recs
	}
	at := make(map[mergeKey]int, len(recs))
	isReply := make([]bool, 0, len(recs)) // out[j] holds a reply direction
	out := recs[:0]
	for i := range recs {
		r := recs[i]
		fwd := mergeKey{r.Protocol, netip.AddrPortFrom(r.Src.IP, r.Src.Port), netip.AddrPortFrom(r.Dst.IP, r.Dst.Port)}
		rev := mergeKey{r.Protocol, fwd.server, fwd.client}
		key, reply := fwd, false
		switch r.Initiator {
		case "dst":
			key, reply = rev, true
		case "":
			if _, ok := at[fwd]; ok {
				break
			}
			if _, ok := at[rev]; ok || pipeline.LooksLikeReply(&r) {
				key, reply = rev, true
			}
		}
		j, ok := at[key]
		if !ok {
			at[key] = len(out)
			out = append(out, r)
			isReply = append(isReply, reply)
			continue
		}
		if isReply[j] && !reply {
			// The slot held only the reply so far: the client's direction
			// takes its place, carrying over what the reply knew.
			kept := out[j]
			out[j] = r
			isReply[j] = false
			fold(&out[j], &kept, false)
			continue
		}
		fold(&out[j], &r, isReply[j] == reply)
	}
	return out
}

// fold merges r into m: sameWay when both report the same direction (the
// same packets on another interface), else r is m's reverse.
func fold(m, r *flow.Record, sameWay bool) {
	if sameWay && r.Packets > m.Packets {
		m.Packets, m.Bytes = r.Packets, r.Bytes
		m.Interface = r.Interface
	}
	if r.TimeFirst.Before(m.TimeFirst) {
		m.TimeFirst = r.TimeFirst
	}
	if r.TimeLast.After(m.TimeLast) {
		m.TimeLast = r.TimeLast
	}
	if r.Observed == flow.Dropped && m.Observed != flow.Dropped {
		m.Observed, m.DropReason = flow.Dropped, r.DropReason
	}
	if r.Answered != nil && *r.Answered {
		m.Answered = r.Answered
	}
	if m.Initiator == "" && r.Initiator != "" {
		switch {
		case sameWay:
			m.Initiator = r.Initiator
		case r.Initiator == "dst":
			m.Initiator = "src"
		case r.Initiator == "src":
			m.Initiator = "dst"
		}
	}
	if sameWay {
		if m.Dst.FQDN == "" {
			m.Dst.FQDN = r.Dst.FQDN
		}
	} else if m.Dst.FQDN == "" {
		m.Dst.FQDN = r.Src.FQDN
	}
}
