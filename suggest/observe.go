package suggest

import (
	"cmp"
	"net/netip"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// PodIdentity is one pod of the inventory as suggest sees it: the peer the
// engine judges, and the workload whose selector stands for it.
type PodIdentity struct {
	Namespace, Name string
	// Peer is the pod as the engine sees it (a node peer for a hostNetwork
	// pod).
	Peer *policy.Peer
	// Workload is "Kind/name"; a pod without a controller is "Pod/name".
	Workload string
	// StableLabels are the labels every pod of the workload carries for its
	// whole life: the pod template's labels without those controllers add
	// per pod or per rollout.
	StableLabels map[string]string
	// HostNetwork pods are their node as far as policy is concerned.
	HostNetwork bool
	// ContainerPorts are the ports the pod declares; the replay probes them.
	ContainerPorts []ProtoPort
}

// Input is what a suggestion is built from, besides the flows.
type Input struct {
	Namespace string
	External  ExternalMode
	// Pods is the inventory of every namespace (peers in other namespaces
	// are selected by their workload's stable labels too).
	Pods []PodIdentity
	// DNSAddresses are the ClusterIPs of the cluster DNS service(s): a flow
	// that reached one untranslated went to a node-local cache.
	DNSAddresses []netip.Addr
	// From drops flows that ended before it (--since); zero keeps all.
	From time.Time
	// StableLabels strips the per-pod and per-rollout labels from a pod's
	// labels; it stands in for a workload's identity when a pod the engine
	// still knows is gone from the inventory.
	StableLabels func(map[string]string) map[string]string
	// AllowMetadata learns flows to the cloud metadata service
	// (169.254.169.254, fd00:ec2::254) like any other; by default they are
	// reported and left out.
	AllowMetadata bool
}

type entityKind uint8

const (
	entWorkload entityKind = iota // the pods of one workload
	entNode                       // a node address, or a hostNetwork pod
	entExternal                   // anything else
)

type entityKey struct {
	kind      entityKind
	namespace string
	workload  string
	ip        netip.Addr
}

// entity is one side of an edge: a workload, a node address or an
// external address.
type entity struct {
	key entityKey
	// stable is the workload's stable label set: the labels all its pods
	// share; anyKeys holds the stable keys only some of them carry.
	stable  map[string]string
	anyKeys map[string]struct{}
	// rep is a pod of the workload (or the address) the replay uses.
	rep *policy.Peer
	// pods counts the workload's pods in the inventory; zero when the
	// workload is known only from flows (gone from the inventory).
	pods int
	// bare marks a pod without a controller.
	bare bool
	// ports are the ports the workload declares or was reached on.
	ports map[ProtoPort]struct{}
	fqdns map[string]struct{}
	// nodeName is the node's name for a node address.
	nodeName string
	// hostPods names hostNetwork pods seen at a node address.
	hostPods map[string]struct{}
	// namedPods names pods that flows named but that resolved to an address.
	namedPods map[string]struct{}
	selector  selectorInfo
}

func (e *entity) name() string {
	switch e.key.kind {
	case entWorkload:
		return e.key.namespace + "/" + e.key.workload
	case entNode:
		return "node " + e.key.ip.String()
	default:
		return e.key.ip.String()
	}
}

type edgeKey struct {
	src, dst *entity
	port     ProtoPort // Port 0 and Protocol ICMP for ICMP
}

// stats is what was observed on an edge, or on a rule.
type stats struct {
	flows       int
	first, last time.Time
	examples    []example
	icmp        []ICMP
}

// example is one observed pair of endpoints, kept for comments. Kept as
// parts, not a formatted string, so that offering one does not allocate.
type example struct{ src, dst exampleSide }

type exampleSide struct {
	namespace, name string // a pod, when known
	ip              netip.Addr
}

func (s exampleSide) String() string {
	if s.name != "" {
		return s.namespace + "/" + s.name
	}
	return s.ip.String()
}

func compareSide(a, b exampleSide) int {
	// Named pods sort before bare addresses.
	if (a.name == "") != (b.name == "") {
		if a.name != "" {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.namespace, b.namespace); c != 0 {
		return c
	}
	if c := cmp.Compare(a.name, b.name); c != 0 {
		return c
	}
	return a.ip.Compare(b.ip)
}

const maxExamples = 3

func (s *stats) add(first, last time.Time, n int) {
	s.flows += n
	if s.first.IsZero() || first.Before(s.first) {
		s.first = first
	}
	if last.After(s.last) {
		s.last = last
	}
}

func (s *stats) merge(o *stats) {
	if o.flows == 0 {
		return
	}
	s.flows += o.flows
	if s.first.IsZero() || o.first.Before(s.first) {
		s.first = o.first
	}
	if o.last.After(s.last) {
		s.last = o.last
	}
	for _, ex := range o.examples {
		s.offerExample(ex)
	}
	for _, ic := range o.icmp {
		s.addICMP(ic)
	}
}

// offerExample keeps the smallest examples in byte order, so that the
// comments do not depend on the order flows arrived in.
func (s *stats) offerExample(ex example) {
	for _, have := range s.examples {
		if have == ex {
			return
		}
	}
	if len(s.examples) == maxExamples {
		last := s.examples[maxExamples-1]
		if !lessExample(ex, last) {
			return
		}
		s.examples = s.examples[:maxExamples-1]
	}
	i := len(s.examples)
	s.examples = append(s.examples, ex)
	for ; i > 0 && lessExample(s.examples[i], s.examples[i-1]); i-- {
		s.examples[i], s.examples[i-1] = s.examples[i-1], s.examples[i]
	}
}

func lessExample(a, b example) bool {
	if c := compareSide(a.src, b.src); c != 0 {
		return c < 0
	}
	return compareSide(a.dst, b.dst) < 0
}

func (s *stats) addICMP(ic ICMP) {
	for _, have := range s.icmp {
		if have == ic {
			return
		}
	}
	s.icmp = append(s.icmp, ic)
}

// sideOf is how an example names one side of a flow: the pod, or the
// address.
func sideOf(ep *flow.Endpoint, p *policy.Peer) exampleSide {
	if p.Kind == policy.Pod {
		return exampleSide{namespace: p.Namespace, name: p.Name}
	}
	if ep.Pod != "" {
		return exampleSide{namespace: ep.Namespace, name: ep.Pod}
	}
	return exampleSide{ip: p.IP}
}

// isReply reports whether a record counts the answering side of a
// connection, so that the connection's direction is the reverse. The
// handshake decides when it was seen; otherwise ICMP replies and errors,
// and a flow from a port below the ephemeral range to one inside it.
func isReply(r *flow.Record) bool {
	switch r.Initiator {
	case "dst":
		return true
	case "src":
		return false
	}
	switch r.Protocol {
	case flow.ICMPv4:
		if r.ICMPType != nil {
			switch *r.ICMPType {
			case 0, 3, 11, 12, 14, 16, 18: // echo reply, errors, replies
				return true
			}
		}
		return false
	case flow.ICMPv6:
		if r.ICMPType != nil {
			switch *r.ICMPType {
			case 1, 2, 3, 4, 129: // errors, echo reply
				return true
			}
		}
		return false
	}
	const ephemeral = 32768
	return r.Src.Port != 0 && r.Src.Port < ephemeral && r.Dst.Port >= ephemeral
}
