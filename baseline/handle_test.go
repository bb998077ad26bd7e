package baseline

import (
	"testing"
	"unsafe"
)

// A connection's handle stays two pointers, and a connection whose entry
// overflowed keeps counting into the overflow, not into another entry.
func TestHandleOfOverflowedEntry(t *testing.T) {
	if n := unsafe.Sizeof(Handle{}); n != 16 {
		t.Errorf("a Handle is %d bytes, want 16 (one per live connection)", n)
	}
	s := NewStore(Options{LearningPeriod: -1, MaxPeers: 1, Node: "node-1"})
	client := pod("ai", "Deployment/triage", "10.0.0.1")
	var kept, spilled Handle
	s.ObserveConn(rec(t0, client, external("203.0.113.10", "", 443)), &kept, false)
	s.ObserveConn(rec(t0, client, external("203.0.113.11", "", 443)), &spilled, false)
	if kept.egress == nil || spilled.egress == nil || kept.egress == spilled.egress {
		t.Fatalf("handles: kept %p, spilled %p: want two distinct entries", kept.egress, spilled.egress)
	}
	if p, st := entry(spilled.egress); p == nil || st != nil {
		t.Fatalf("the overflowed connection's handle: profile %p, entry %p; want its profile and no entry", p, st)
	}
	for range 3 {
		s.ObserveConn(rec(t0.Add(5e9), client, external("203.0.113.11", "", 443)), &spilled, true)
	}
	objs := s.Objects()
	if len(objs) != 1 {
		t.Fatalf("%d objects, want 1", len(objs))
	}
	o := objs[0]
	if len(o.Status.Peers) != 1 || o.Status.Peers[0].Packets != 3 {
		t.Errorf("kept peer: %+v, want one with 3 packets", o.Status.Peers)
	}
	if ov := o.Status.Overflow; ov == nil || ov.Flows != 1 || ov.Packets != 12 {
		t.Errorf("overflow: %+v, want 1 flow and 12 packets", ov)
	}
}
