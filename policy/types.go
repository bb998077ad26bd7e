// Package policy is the NetworkPolicy engine: networking.k8s.io/v1 objects
// in, a verdict and its explanation out. It is pure: no client-go, no I/O.
package policy

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// PeerKind says what one side of a flow is, as far as policy is concerned.
type PeerKind uint8

// Peer kinds. Only pods are ever selected by podSelector or isolated by a
// policy; a node (including every hostNetwork pod) and an external address
// are matched by ipBlock only and carry no policy of their own.
const (
	External PeerKind = iota
	Node
	Pod
)

// Peer is one side of a flow, resolved.
type Peer struct {
	Kind PeerKind
	IP   netip.Addr
	// Namespace and Name identify a pod (Kind == Pod).
	Namespace string
	Name      string
	Labels    map[string]string
	// Ports are the pod's container ports, used to resolve named ports of
	// rules that select this pod as the destination.
	Ports []corev1.ContainerPort
	// NodeName is the node a pod runs on, or the node itself for Kind == Node.
	NodeName string
}

// Flow is what the engine judges: a packet stream from Src to Dst, already
// translated from any Service to its backend (Port is the target port).
type Flow struct {
	Src, Dst *Peer
	// Protocol is TCP, UDP or SCTP; for ICMP use ProtocolICMP, which only a
	// rule without ports can allow.
	Protocol corev1.Protocol
	Port     int32
}

// ProtocolICMP stands for ICMPv4 and ICMPv6 flows, which NetworkPolicy ports
// can never name.
const ProtocolICMP corev1.Protocol = "ICMP"
