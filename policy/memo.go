package policy

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Memo remembers the engine's verdicts by what they depend on, so that the
// many flows between pods of the same workloads are judged once. Pods
// sharing a namespace, labels, container ports and the set of ipBlocks
// their address falls in get the same verdict from every policy: the
// engine reads nothing else of them (a pod's name and node matter only for
// the self and local-node rules, which the memo checks per flow). This is
// the identity idea that Cilium's datapath is built on.
//
// A Memo is for one goroutine. Peers are remembered by address: the peers
// given to it must not change while the memo is in use (correlate's
// Targets are immutable), except External ones, which are judged by their
// IP each time.
type Memo struct {
	engine *Engine
	size   int
	// ids is the identity of each pod and node peer seen; identities
	// interns their descriptions.
	ids        map[*Peer]uint32
	identities map[string]uint32
	verdicts   map[memoKey]*Judgement
	previous   map[memoKey]*Judgement
	scratch    strings.Builder
	// none stands for a missing peer (never modified).
	none Peer
}

// Judgement is a remembered verdict and its explanation, built on first
// use. It is shared by every flow with the same verdict: read only.
type Judgement struct {
	Verdict     Verdict
	explanation string
	explained   bool
}

// Explain returns Verdict.Explain(), built once.
func (j *Judgement) Explain() string {
	if !j.explained {
		j.explanation, j.explained = j.Verdict.Explain(), true
	}
	return j.explanation
}

// memoKey is everything a verdict depends on besides the policies. It is
// small, so that hashing it costs little and the memo stays in cache.
type memoKey struct {
	src, dst peerKey
	port     int32
	proto    proto
	// localNode: the source is the node the destination pod runs on.
	localNode bool
}

// peerKey identifies a peer as far as policy can tell peers apart: a pod
// by its identity (podKey | id), anything else by its kind (in the top
// bits) and the set of the engine's ipBlocks its address falls in.
type peerKey uint64

const (
	podKey   peerKey = 1 << 63
	kindBits         = 61 // kinds above, ipBlock sets below
)

// maxMemoBlocks is how many distinct ipBlocks a peerKey can name as a set;
// an engine with more is memoized only for flows between pods.
const maxMemoBlocks = kindBits

// DefaultMemoSize bounds a Memo's verdicts when NewMemo is given no size.
const DefaultMemoSize = 4096

// NewMemo returns a memo of e's verdicts holding at most 2*size of them
// (size: DefaultMemoSize when size <= 0), in two generations.
func NewMemo(e *Engine, size int) *Memo {
	if size <= 0 {
		size = DefaultMemoSize
	}
	return &Memo{engine: e, size: size, ids: make(map[*Peer]uint32), identities: make(map[string]uint32)}
}

// Evaluate returns e.Evaluate(f), remembered.
func (m *Memo) Evaluate(f *Flow) Verdict { return m.Judge(f).Verdict }

// Judge returns the judgement of f, remembered.
func (m *Memo) Judge(f *Flow) *Judgement {
	src, dst := f.Src, f.Dst
	if src == nil {
		src = &m.none
	}
	if dst == nil {
		dst = &m.none
	}
	many := len(m.engine.ipBlocks) > maxMemoBlocks
	if samePod(src, dst) || many && (src.Kind != Pod || dst.Kind != Pod) {
		// Rare, or keyed by address: not worth remembering.
		return &Judgement{Verdict: m.engine.Evaluate(f)}
	}
	k := memoKey{
		src:       m.peerKey(src, many),
		dst:       m.peerKey(dst, many),
		port:      f.Port,
		proto:     protoOf(f.Protocol),
		localNode: src.Kind == Node && dst.Kind == Pod && src.NodeName != "" && src.NodeName == dst.NodeName,
	}
	if k.proto == protoOther {
		k.port = 0 // no port entry can match: the port is irrelevant
	}
	if j, ok := m.verdicts[k]; ok {
		return j
	}
	j, ok := m.previous[k]
	if !ok {
		j = &Judgement{Verdict: m.engine.Evaluate(f)}
	}
	m.remember(k, j)
	return j
}

// remember adds a verdict. Two generations bound the memo: when the current
// one is full it becomes the previous one, whose verdicts still in use move
// back as they are met, so that a working set a little larger than size
// does not start over again and again.
func (m *Memo) remember(k memoKey, j *Judgement) {
	if m.verdicts == nil || len(m.verdicts) >= m.size {
		m.previous = m.verdicts
		m.verdicts = make(map[memoKey]*Judgement, min(m.size, 1024))
	}
	m.verdicts[k] = j
}

// peerKey keys a peer. many: the engine has too many ipBlocks for a set;
// pods are then told apart by address.
func (m *Memo) peerKey(p *Peer, many bool) peerKey {
	if p.Kind != Pod {
		return peerKey(p.Kind)<<kindBits | peerKey(m.engine.blocksOf(p.IP))
	}
	if id, ok := m.ids[p]; ok {
		return podKey | peerKey(id)
	}
	// Bounded: a long-running agent sees pods come and go. Verdicts name
	// identities, so they start over too.
	if len(m.ids) >= 4*m.size {
		m.ids = make(map[*Peer]uint32)
		m.identities = make(map[string]uint32)
		m.verdicts, m.previous = nil, nil
	}
	b := &m.scratch
	b.Reset()
	writeIdentity(b, p)
	if many {
		b.WriteString(p.IP.Unmap().String())
	} else {
		b.WriteString(strconv.FormatUint(m.engine.blocksOf(p.IP), 16))
	}
	desc := b.String()
	id, ok := m.identities[desc]
	if !ok {
		id = uint32(len(m.identities) + 1)
		m.identities[desc] = id
	}
	m.ids[p] = id
	return podKey | peerKey(id)
}

// writeIdentity describes what policy reads of a pod besides its address:
// its namespace, labels and container ports (named ports).
func writeIdentity(b *strings.Builder, p *Peer) {
	b.WriteString(p.Namespace)
	b.WriteByte(0)
	keys := make([]string, 0, len(p.Labels))
	for key := range p.Labels {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		b.WriteString(key)
		b.WriteByte(1)
		b.WriteString(p.Labels[key])
		b.WriteByte(0)
	}
	b.WriteByte(2)
	for i := range p.Ports {
		cp := &p.Ports[i]
		b.WriteString(cp.Name)
		b.WriteByte(1)
		b.WriteString(strconv.Itoa(int(cp.ContainerPort)))
		b.WriteByte(1)
		b.WriteString(string(cp.Protocol))
		b.WriteByte(0)
	}
	b.WriteByte(2)
}

// ipBlock is one distinct ipBlock of the engine's policies.
type ipBlock struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

// collectIPBlocks returns the distinct ipBlocks of the policies; past
// maxMemoBlocks of them it stops counting (the memo then keys addresses).
func collectIPBlocks(policies []*compiledPolicy) []ipBlock {
	var out []ipBlock
	add := func(rules []ruleMatcher) {
		for i := range rules {
			for j := range rules[i].peers {
				p := &rules[i].peers[j]
				if !p.ipBlock {
					continue
				}
				b := ipBlock{cidr: p.cidr, except: p.except}
				if len(out) <= maxMemoBlocks && !slices.ContainsFunc(out, func(o ipBlock) bool {
					return o.cidr == b.cidr && slices.Equal(o.except, b.except)
				}) {
					out = append(out, b)
				}
			}
		}
	}
	for _, cp := range policies {
		add(cp.ingress)
		add(cp.egress)
	}
	return out
}

// blocksOf returns the set of the engine's ipBlocks (at most
// maxMemoBlocks of them) that ip falls in.
func (e *Engine) blocksOf(ip netip.Addr) uint64 {
	ip = ip.Unmap()
	var set uint64
	for i := range min(len(e.ipBlocks), maxMemoBlocks) {
		if b := &e.ipBlocks[i]; inBlock(b.cidr, b.except, ip) {
			set |= 1 << i
		}
	}
	return set
}
