package baseline

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
)

// Changed returns the profiles changed since the last call as objects ready
// to apply (without owner references), and clears their changed mark. Call
// Unchanged with the keys whose write failed, so that they are retried.
func (s *Store) Changed() []*v1alpha1.ObservedTraffic {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*v1alpha1.ObservedTraffic
	for _, p := range s.profiles {
		if !p.dirty {
			continue
		}
		p.dirty = false
		out = append(out, p.object())
	}
	slices.SortFunc(out, func(a, b *v1alpha1.ObservedTraffic) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// MarkChanged marks the profile of an object as changed again (its write
// failed), so that the next Changed returns it.
func (s *Store) MarkChanged(o *v1alpha1.ObservedTraffic) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.profiles[Key{Namespace: o.Namespace, Workload: o.Spec.Workload, Node: o.Spec.Node}]; p != nil {
		p.dirty = true
	}
}

// Len returns the number of profiles.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.profiles)
}

// Objects returns every profile as an object, sorted by namespace and name.
func (s *Store) Objects() []*v1alpha1.ObservedTraffic {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*v1alpha1.ObservedTraffic, 0, len(s.profiles))
	for _, p := range s.profiles {
		out = append(out, p.object())
	}
	slices.SortFunc(out, func(a, b *v1alpha1.ObservedTraffic) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// object renders the profile; the caller holds the store's lock.
func (p *profile) object() *v1alpha1.ObservedTraffic {
	kind, name, _ := strings.Cut(p.key.Workload, "/")
	o := &v1alpha1.ObservedTraffic{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:      ObjectName(p.key),
			Namespace: p.key.Namespace,
			Labels: map[string]string{
				v1alpha1.LabelNode:         labelValue(p.key.Node),
				v1alpha1.LabelWorkloadKind: labelValue(kind),
				v1alpha1.LabelWorkloadName: labelValue(name),
			},
		},
		Spec: v1alpha1.ObservedTrafficSpec{
			Workload: p.key.Workload,
			Node:     p.key.Node,
			Labels:   p.labels,
		},
		Status: v1alpha1.ObservedTrafficStatus{
			LearningStarted: metav1.NewTime(p.learningStarted),
			LearningEnds:    metav1.NewTime(p.learningEnds),
		},
	}
	if !p.approvedAt.IsZero() {
		o.Spec.ApprovedAt = &metav1.Time{Time: p.approvedAt}
	}
	keys := make([]PeerKey, 0, len(p.peers))
	for k := range p.peers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePeerKeys)
	o.Status.Peers = make([]v1alpha1.ObservedPeer, 0, len(keys))
	for _, k := range keys {
		st := p.peers[k]
		op := v1alpha1.ObservedPeer{
			Direction: k.Dir.String(),
			Kind:      string(k.Dest.Kind),
			Namespace: k.Dest.Namespace,
			Workload:  k.Dest.Workload,
			Protocol:  string(k.Protocol),
			Port:      int32(k.Port),
			Labels:    st.Labels,
			FQDNs:     slices.Sorted(slices.Values(st.FQDNs)),
			Flows:     int64(st.Flows),
			Packets:   int64(st.Packets),
			Bytes:     int64(st.Bytes),
			Denied:    int64(st.Denied),
			FirstSeen: metav1.NewTime(st.FirstSeen),
			LastSeen:  metav1.NewTime(st.LastSeen),
		}
		if k.Dest.IP.IsValid() {
			op.IP = k.Dest.IP.String()
		}
		o.Status.Peers = append(o.Status.Peers, op)
	}
	o.Status.PeerCount = len(o.Status.Peers)
	if ov := p.overflow; ov.Flows > 0 {
		o.Status.Overflow = &v1alpha1.OverflowSummary{
			Flows: int64(ov.Flows), Packets: int64(ov.Packets), Bytes: int64(ov.Bytes),
			FirstSeen: metav1.NewTime(ov.FirstSeen), LastSeen: metav1.NewTime(ov.LastSeen),
		}
	}
	return o
}

func comparePeerKeys(a, b PeerKey) int {
	return cmp.Or(
		cmp.Compare(a.Dir, b.Dir),
		cmp.Compare(a.Dest.Kind, b.Dest.Kind),
		cmp.Compare(a.Dest.Namespace, b.Dest.Namespace),
		cmp.Compare(a.Dest.Workload, b.Dest.Workload),
		a.Dest.IP.Compare(b.Dest.IP),
		cmp.Compare(a.Protocol, b.Protocol),
		cmp.Compare(a.Port, b.Port),
	)
}

// ObjectName returns the name of a profile's object:
// "<kind>.<name>.<node>" in lower case, e.g.
// "deployment.triage-agent.node-1", shortened with a hash when it would pass
// the 253 characters a name may have.
func ObjectName(k Key) string {
	kind, name, _ := strings.Cut(k.Workload, "/")
	n := strings.ToLower(kind + "." + name + "." + k.Node)
	if len(n) <= 253 && validName(n) {
		return n
	}
	sum := sha256.Sum256([]byte(k.Namespace + "\x00" + k.Workload + "\x00" + k.Node))
	short := sanitize(n)
	if len(short) > 200 {
		short = short[:200]
	}
	return strings.Trim(short, ".-") + "-" + hex.EncodeToString(sum[:6])
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return isAlnum(s[0]) && isAlnum(s[len(s)-1])
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '-'
		}
	}
	return string(b)
}

// labelValue returns v when it is a valid label value, else a truncated,
// sanitised form (labels only help selection; spec holds the exact values).
func labelValue(v string) string {
	if len(v) > 63 {
		v = v[:63]
	}
	b := []byte(v)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-_.")
}
