// Package flow defines the flow record: the project's own unit of observed
// traffic, shared by every stage from the collectors to the sinks. Its JSON
// form (one record per line) is a documented contract; see README.md.
package flow

import (
	"net/netip"
	"time"
)

// Protocol is the transport (or ICMP family) of a flow, spelled as in the
// JSON contract.
type Protocol string

// The protocols a flow record can carry.
const (
	TCP    Protocol = "TCP"
	UDP    Protocol = "UDP"
	SCTP   Protocol = "SCTP"
	ICMPv4 Protocol = "ICMPv4"
	ICMPv6 Protocol = "ICMPv6"
)

// Observed is what the network did with a flow.
type Observed string

// What the network can do with a flow.
const (
	Forwarded Observed = "forwarded"
	Dropped   Observed = "dropped"
)

// Kind says what an endpoint resolved to.
type Kind string

// Endpoint kinds. A service endpoint appears only before translation; after
// resolution a flow to a ClusterIP names the backend pod and keeps the
// service in Endpoint.Service.
const (
	KindUnknown  Kind = ""
	KindPod      Kind = "pod"
	KindNode     Kind = "node" // a node address, or a hostNetwork pod
	KindExternal Kind = "external"
)

// Endpoint is one side of a flow. IP and Port are what was seen on the wire
// (Port is zero for ICMP); the rest is filled in by correlation.
type Endpoint struct {
	IP   netip.Addr `json:"ip"`
	Port uint16     `json:"port"`

	Kind      Kind              `json:"kind,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Pod       string            `json:"pod,omitempty"`
	Node      string            `json:"node,omitempty"`
	Workload  string            `json:"workload,omitempty"` // "Kind/name", e.g. "Deployment/triage-agent"
	Labels    map[string]string `json:"labels,omitempty"`
	// Service is "namespace/name" when the wire address was a Service
	// ClusterIP that correlation translated to this backend.
	Service string `json:"service,omitempty"`
	// ServicePort is the port seen on the wire before service translation.
	ServicePort uint16 `json:"service_port,omitempty"`
	// FQDN is the DNS name the client resolved this address from, if any.
	FQDN string `json:"fqdn,omitempty"`
}

// Record is one aggregated flow: every packet of one 5-tuple, in one
// direction of observation, between TimeFirst and TimeLast.
//
// Src is the side that sent the packets counted; when the connection's
// initiator is known (TCP SYN seen) Initiator says which side opened it.
type Record struct {
	TimeFirst time.Time `json:"time_first"`
	TimeLast  time.Time `json:"time_last"`
	Node      string    `json:"node,omitempty"`
	Interface string    `json:"interface,omitempty"`

	Src      Endpoint `json:"src"`
	Dst      Endpoint `json:"dst"`
	Protocol Protocol `json:"protocol"`
	// ICMPType and ICMPCode replace ports for ICMPv4 and ICMPv6.
	ICMPType *uint8 `json:"icmp_type,omitempty"`
	ICMPCode *uint8 `json:"icmp_code,omitempty"`

	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"` // IP packets, header included, link layer excluded
	TCPFlags string `json:"tcp_flags,omitempty"`

	// Initiator is "src" or "dst" when the handshake showed who connected.
	Initiator string `json:"initiator,omitempty"`
	// Answered reports whether a TCP connection attempt got a SYN-ACK.
	Answered *bool `json:"answered,omitempty"`
	// Direction is where the flow was observed relative to the pod that
	// reported it: "ingress" (entering it) or "egress" (leaving it), as
	// Hubble's traffic_direction says.
	Direction string `json:"direction,omitempty"`

	Observed   Observed `json:"observed"`
	DropReason string   `json:"drop_reason,omitempty"`

	// Filled by policy evaluation.
	Egress      string `json:"egress,omitempty"`  // allow, deny, none
	Ingress     string `json:"ingress,omitempty"` // allow, deny, none
	Verdict     string `json:"verdict,omitempty"` // allow, deny
	Violation   string `json:"violation,omitempty"`
	Explanation string `json:"explanation,omitempty"`
}
