package suggest

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations that mark a generated object.
const (
	LabelManagedBy       = "app.kubernetes.io/managed-by"
	ManagedByValue       = "flow-auditor"
	LabelGenerated       = "flow-auditor.io/generated"
	LabelWorkload        = "flow-auditor.io/workload"
	AnnotationWindowFrom = "flow-auditor.io/window-start"
	AnnotationWindowTo   = "flow-auditor.io/window-end"
	AnnotationFlows      = "flow-auditor.io/flows"
	AnnotationWorkload   = "flow-auditor.io/workload"
	AnnotationExternal   = "flow-auditor.io/external"
)

// NamespaceNameLabel is the label the API server puts on every namespace;
// selectors for peers in other namespaces use it.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// Suggestion is the set of policies proposed for one namespace.
type Suggestion struct {
	Namespace string
	Window    Window
	// Flows counts the observed flow records the suggestion was built from.
	Flows    int
	External ExternalMode
	Policies []Policy
	// Notes are the places where the suggestion could not select a peer
	// stably, or generalised; the command prints them on stderr.
	Notes []Note
}

// Window is the time range the observations cover.
type Window struct {
	Start, End time.Time
}

// Policy is one generated policy: the namespace's default deny, or the
// allowances of one workload.
type Policy struct {
	Name      string
	Namespace string
	// Workload is "Kind/name", empty for the default deny.
	Workload    string
	Selector    metav1.LabelSelector
	Labels      map[string]string
	Annotations map[string]string
	// Header holds comment lines printed above the object.
	Header          []string
	Ingress, Egress []Rule
}

// Rule is one ingress or egress rule: the peers and ports one observed
// relationship needs.
type Rule struct {
	Peers []Peer
	// Ports are the observed ports, merged into ranges.
	Ports []PortRange
	// AllPorts is set when ICMP was observed: NetworkPolicy cannot name
	// ICMP, so its rule lists no ports (every protocol and port).
	AllPorts bool
	// ICMP lists the ICMP messages observed, for formats that can name them.
	ICMP []ICMP
	// DNS marks the rule that lets pods reach their DNS servers.
	DNS bool
	// FQDNs are the DNS names the rule's external addresses were resolved
	// from; the Cilium format turns them into toFQDNs.
	FQDNs []string
	// Comment is printed above the rule: what was observed.
	Comment []string
	// dnsL7 asks the Cilium renderer for a DNS L7 rule (toFQDNs needs it).
	dnsL7 bool
}

// Peer is one entry of a rule's from/to list: pods by selector, or an
// address block.
type Peer struct {
	// Namespace of the selected pods; empty means the policy's own namespace.
	Namespace string
	// Pods selects pods when IPBlock is nil.
	Pods *metav1.LabelSelector
	// IPBlock is set for nodes and external addresses.
	IPBlock *networkingv1.IPBlock
}

// PortRange is a port, or a range of consecutive ports (EndPort > Port),
// of one protocol.
type PortRange struct {
	Protocol corev1.Protocol
	Port     int32
	EndPort  int32 // zero for a single port
}

// ICMP is one observed ICMP message type.
type ICMP struct {
	Family string // IPv4 or IPv6
	Type   uint8
}

// Note reports a peer or workload the suggestion could not handle exactly,
// and what it did instead.
type Note struct {
	Kind    NoteKind `json:"kind"`
	Subject string   `json:"subject"`
	Detail  string   `json:"detail"`
}

// NoteKind classifies a Note.
type NoteKind string

// The notes a suggestion can carry.
const (
	NoteUnlabeledPod    NoteKind = "unlabeled-pod"
	NoteHostNetwork     NoteKind = "host-network"
	NotePodGone         NoteKind = "pod-gone"
	NoteSharedSelector  NoteKind = "shared-selector"
	NoteICMP            NoteKind = "icmp-all-ports"
	NotePrivateExternal NoteKind = "private-external"
	NoteNodePeer        NoteKind = "node-peer"
	NoteUnresolved      NoteKind = "unresolved"
	NoteNotInNamespace  NoteKind = "not-in-namespace"
	NoteDNSAddress      NoteKind = "dns-address"
	NoteNoTraffic       NoteKind = "no-traffic"
	NoteMetadata        NoteKind = "metadata"
)
