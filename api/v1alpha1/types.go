// Package v1alpha1 holds the flowauditor.io/v1alpha1 API: ObservedTraffic,
// the baseline of what one workload sent and received on one node, kept in
// the cluster by the node agents and read by `auditor suggest` and
// `auditor audit`.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group, Version and the resource's names.
const (
	Group    = "flowauditor.io"
	Version  = "v1alpha1"
	Kind     = "ObservedTraffic"
	ListKind = "ObservedTrafficList"
	Resource = "observedtraffics"
)

// Labels every ObservedTraffic carries, so that lists can select by node
// and workload without reading every object.
const (
	LabelNode         = "flowauditor.io/node"
	LabelWorkloadKind = "flowauditor.io/workload-kind"
	LabelWorkloadName = "flowauditor.io/workload-name"
)

// GroupVersion is flowauditor.io/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// GroupVersionResource is the resource the dynamic client addresses.
func GroupVersionResource() schema.GroupVersionResource {
	return GroupVersion.WithResource(Resource)
}

// ObservedTraffic is the traffic one workload sent and received on one
// node, as that node's agent observed it, aggregated by peer. It is owned by
// the Node object, so that deleting a node collects its objects.
type ObservedTraffic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ObservedTrafficSpec   `json:"spec"`
	Status ObservedTrafficStatus `json:"status,omitempty"`
}

// ObservedTrafficSpec names what is observed, and carries the user's
// approval of what was learned.
type ObservedTrafficSpec struct {
	// Workload is the observed workload as "Kind/name" (for example
	// "Deployment/triage-agent"), in the object's namespace.
	Workload string `json:"workload"`
	// Node is the node whose agent observed the traffic.
	Node string `json:"node"`
	// Labels are the workload's pod labels as last observed.
	Labels map[string]string `json:"labels,omitempty"`
	// ApprovedAt, set by `auditor baseline approve`, accepts every peer first
	// seen at or before it as normal: the agent stops reporting it as
	// anomalous egress. The agent never writes this field.
	ApprovedAt *metav1.Time `json:"approvedAt,omitempty"`
}

// ObservedTrafficStatus is what the agent observed. Only the agent writes it.
type ObservedTrafficStatus struct {
	// LearningStarted is when the agent first saw the workload; new peers
	// are learned, not reported, until the learning period after it ends.
	LearningStarted metav1.Time `json:"learningStarted"`
	// LearningEnds is LearningStarted plus the agent's learning period.
	LearningEnds metav1.Time `json:"learningEnds"`
	// PeerCount is len(Peers), for kubectl's columns.
	PeerCount int `json:"peerCount"`
	// Peers are the observed peers, sorted by direction, peer, protocol and
	// port, at most the agent's per-object bound (the first ones seen); the
	// rest is counted in Overflow.
	Peers []ObservedPeer `json:"peers,omitempty"`
	// Overflow counts the traffic to or from peers beyond the bound.
	Overflow *OverflowSummary `json:"overflow,omitempty"`
}

// ObservedPeer is one peer of the workload on one port and protocol, in one
// direction, with what was seen of it.
type ObservedPeer struct {
	// Direction is "egress" (the workload sent to the peer) or "ingress"
	// (the peer sent to the workload).
	Direction string `json:"direction"`
	// Kind is "pod", "node" or "external".
	Kind string `json:"kind"`
	// Namespace and Workload identify a pod peer by its workload.
	Namespace string `json:"namespace,omitempty"`
	Workload  string `json:"workload,omitempty"`
	// Labels are a pod peer's labels as last observed.
	Labels map[string]string `json:"labels,omitempty"`
	// IP is the address of a node or external peer.
	IP string `json:"ip,omitempty"`
	// FQDNs are the DNS names the workload resolved the peer from.
	FQDNs []string `json:"fqdns,omitempty"`
	// Protocol is TCP, UDP, SCTP, ICMPv4 or ICMPv6.
	Protocol string `json:"protocol"`
	// Port is the destination port (the workload's own port for ingress);
	// zero for ICMP.
	Port int32 `json:"port,omitempty"`
	// Flows, Packets and Bytes add up every flow record observed.
	Flows   int64 `json:"flows"`
	Packets int64 `json:"packets"`
	Bytes   int64 `json:"bytes"`
	// Denied counts the flows that current policy denied when observed.
	Denied    int64       `json:"denied,omitempty"`
	FirstSeen metav1.Time `json:"firstSeen"`
	LastSeen  metav1.Time `json:"lastSeen"`
}

// OverflowSummary adds up what did not fit in Peers.
type OverflowSummary struct {
	Flows     int64       `json:"flows"`
	Packets   int64       `json:"packets"`
	Bytes     int64       `json:"bytes"`
	FirstSeen metav1.Time `json:"firstSeen"`
	LastSeen  metav1.Time `json:"lastSeen"`
}

// ObservedTrafficList is a list of ObservedTraffic.
type ObservedTrafficList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ObservedTraffic `json:"items"`
}
