package correlate

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// Target is what one cluster address resolves to. Targets are built when
// the inventory changes and shared by every lookup: they are immutable, and
// callers must not modify them or the maps and slices they hold.
type Target struct {
	// Endpoint is a template of a resolved flow.Endpoint: IP is the address
	// this target was found under, Port is zero, and Kind, Namespace, Pod,
	// Node, Workload, Labels (and Service for a Service address) are set.
	Endpoint flow.Endpoint
	// Peer is the same address as the policy engine sees it, ready to use.
	// For a Service address (before translation) it is an External peer.
	Peer policy.Peer
	// Workload is the pod's workload; nil for nodes and Services.
	Workload *Workload
	// Service is set when the address is a Service ClusterIP: flows to it are
	// judged against its backends (see Index.Translate).
	Service *Service
}

// Kind is what the address is; KindExternal for a nil Target.
func (t *Target) Kind() flow.Kind {
	if t == nil {
		return flow.KindExternal
	}
	return t.Endpoint.Kind
}

// Fill copies what resolution knows into e: Kind, Namespace, Pod, Node,
// Workload, Labels, and Service for a Service address. It keeps what the
// wire said (IP, Port), what DNS said (FQDN) and ServicePort. A nil Target
// (an address the inventory does not know) leaves e as it is, except that
// an endpoint of no kind becomes external: what the flow source said about
// it (Hubble's own names, say) stays visible.
func (t *Target) Fill(e *flow.Endpoint) {
	if t == nil {
		if e.Kind == flow.KindUnknown {
			e.Kind = flow.KindExternal
		}
		return
	}
	src := &t.Endpoint
	e.Kind, e.Namespace, e.Pod, e.Node, e.Workload, e.Labels = src.Kind, src.Namespace, src.Pod, src.Node, src.Workload, src.Labels
	if src.Service != "" {
		e.Service = src.Service
	}
}

// Service is a Service's frontend as the index translates it.
type Service struct {
	Namespace, Name string
	// Key is "namespace/name", as flow.Endpoint.Service spells it.
	Key   string
	Ports []ServicePort
}

// Port returns the service port that a flow to port/proto hits, or nil.
func (s *Service) Port(port uint16, proto flow.Protocol) *ServicePort {
	if s == nil {
		return nil
	}
	for i := range s.Ports {
		if sp := &s.Ports[i]; sp.Port == port && string(sp.Protocol) == string(proto) {
			return sp
		}
	}
	return nil
}

// ServicePort is one port of a Service and where it leads.
type ServicePort struct {
	Name       string
	Protocol   corev1.Protocol
	Port       uint16
	TargetPort intstr.IntOrString
	// Backends are every endpoint the EndpointSlices list for this port
	// (both families), sorted by address then port.
	Backends []Backend
	// chosen4 and chosen6 are the backends a connection can reach, per
	// family: ready ones, else serving (terminating) ones, else all.
	chosen4, chosen6 []Backend
}

// Candidates returns the backends a connection to this port from an address
// of ip's family can reach: the ready ones, or if none is ready the serving
// ones, or if none serves, all of them.
func (sp *ServicePort) Candidates(ip netip.Addr) []Backend {
	if ip.Is4() {
		return sp.chosen4
	}
	return sp.chosen6
}

// Backend is one endpoint behind a service port.
type Backend struct {
	IP netip.Addr
	// Port is the target port on this backend. Zero when the EndpointSlice
	// did not say; then PortName (a named targetPort) is resolved on the
	// backend pod's container ports at lookup.
	Port     uint16
	PortName string
	NodeName string
	// Pod is "namespace/name" of the targetRef, when it names a pod.
	Pod                         string
	Ready, Serving, Terminating bool
}

// Candidate is one possible destination (or the source) of a flow after
// service translation.
type Candidate struct {
	// Target is what IP resolved to; nil when it is external.
	Target *Target
	IP     netip.Addr
	// Port is the port after translation (the target port).
	Port uint16
	ext  policy.Peer
}

// Peer returns the policy engine's view of this candidate: the target's
// prebuilt peer, or an External peer for IP held in the candidate itself
// (so that the engine runs without allocating either way).
func (c *Candidate) Peer() *policy.Peer {
	if c.Target != nil && c.Target.Service == nil {
		return &c.Target.Peer
	}
	// Only these two fields of ext are ever set: assigning them alone spares
	// zeroing (and the write barriers of) the whole Peer on every flow.
	c.ext.Kind, c.ext.IP = policy.External, c.IP
	return &c.ext
}

// Fill sets e to this candidate: IP (when known) and Port after
// translation, and what its Target says (see Target.Fill).
func (c *Candidate) Fill(e *flow.Endpoint) {
	c.Target.Fill(e)
	if c.IP.IsValid() {
		e.IP = c.IP
	}
	e.Port = c.Port
}

// Resolution is both sides of one flow, resolved. A caller reuses one per
// goroutine so that ResolveRecord does not allocate.
type Resolution struct {
	Src Candidate
	// Dst holds one candidate per destination the flow may have reached:
	// one, unless the flow went to a Service with several backends. It is
	// never empty after ResolveRecord; a Service address with no backend for
	// the port is a single candidate for the Service address itself, judged
	// as external.
	Dst []Candidate
	// Service and ServicePort are set when the destination was a Service
	// address; ServicePort is nil when the flow's port is not one of its.
	Service     *Service
	ServicePort *ServicePort
	// WirePort is the destination port seen on the wire.
	WirePort uint16
	// Valid is the span of start times over which the record resolves
	// alike, as long as the index's version stays the same: an address's
	// holder changes only where one of its claims starts or ends.
	Valid Span
}

// FillDst sets e to destination candidate i. When the flow went to a
// Service, e names it, and once translated to a backend, ServicePort keeps
// the port seen on the wire.
func (r *Resolution) FillDst(e *flow.Endpoint, i int) {
	c := &r.Dst[i]
	if r.Service != nil {
		// What e said described the Service address, not the backend.
		*e = flow.Endpoint{IP: e.IP, Port: e.Port, FQDN: e.FQDN, Service: r.Service.Key}
		if r.ServicePort != nil && (c.Target == nil || c.Target.Service == nil) {
			e.ServicePort = r.WirePort
		}
	}
	c.Fill(e)
}

func (r *Resolution) reset() {
	r.Src = Candidate{}
	clear(r.Dst)
	r.Dst = r.Dst[:0]
	r.Service, r.ServicePort, r.WirePort = nil, nil, 0
	r.Valid = always()
}
