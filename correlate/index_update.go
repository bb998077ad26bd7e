package correlate

import (
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// The write side. Each method takes the time of the event (when the
// informer saw it); a zero time means "no timeline" (the object has held its
// addresses forever, or a deleted one is gone at once). Objects passed in
// are kept, not copied: callers must not modify them afterwards.

func nodeTarget(name string, ip netip.Addr) *Target {
	return &Target{
		Endpoint: flow.Endpoint{IP: ip, Kind: flow.KindNode, Node: name},
		Peer:     policy.Peer{Kind: policy.Node, IP: ip, NodeName: name},
	}
}

// UpsertNode adds or updates a node: its InternalIP and ExternalIP
// addresses, and (weakly, yielding to any pod) the gateway address a CNI
// gives the node on its pod network: the first address of each podCIDR and
// Cilium's cilium_host addresses, from which probes to local pods come.
func (ix *Index) UpsertNode(n *corev1.Node, at time.Time) {
	now := ix.begin(at)
	defer ix.end()
	ix.upsertNodeLocked(n, now)
}

// DeleteNode removes a node; its addresses keep resolving for the grace
// window after at.
func (ix *Index) DeleteNode(name string, at time.Time) {
	n := ix.begin(at)
	defer ix.end()
	if st := ix.nodes[name]; st != nil {
		ix.setClaims(st.owner, st.ips, nil, n, n)
		delete(ix.nodes, name)
	}
}

// Node annotations where Cilium records its per-node router addresses.
const (
	ciliumHostIPv4Annotation = "network.cilium.io/ipv4-cilium-host"
	ciliumHostIPv6Annotation = "network.cilium.io/ipv6-cilium-host"
)

func (ix *Index) upsertNodeLocked(n *corev1.Node, at int64) {
	owner := &claimOwner{kind: claimNode, key: objKey{name: n.Name}, uid: n.UID}
	st := ix.nodes[n.Name]
	if st != nil && *st.owner != *owner {
		ix.setClaims(st.owner, st.ips, nil, at, at)
		st = nil
	}
	if st == nil {
		st = &nodeState{owner: owner}
		ix.nodes[n.Name] = st
	}
	st.node = n
	var claims []ipClaim
	add := func(s string, weak bool) {
		if ip, err := netip.ParseAddr(s); err == nil {
			ip = ip.Unmap()
			claims = append(claims, ipClaim{ip: ip, target: nodeTarget(n.Name, ip), weak: weak})
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			add(a.Address, false)
		}
	}
	for _, k := range []string{ciliumHostIPv4Annotation, ciliumHostIPv6Annotation} {
		if v := n.Annotations[k]; v != "" {
			add(v, true)
		}
	}
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		if pfx, err := netip.ParsePrefix(c); err == nil {
			add(pfx.Masked().Addr().Next().String(), true)
		}
	}
	st.ips = ix.setClaims(owner, st.ips, claims, at, at)
}

// UpsertService adds or updates a Service: its ClusterIPs (both families)
// resolve to it, and translate to its backends.
func (ix *Index) UpsertService(s *corev1.Service, at time.Time) {
	now := ix.begin(at)
	defer ix.end()
	ix.upsertServiceLocked(s, now)
}

// DeleteService removes a Service; its ClusterIPs keep resolving to it for
// the grace window after at.
func (ix *Index) DeleteService(namespace, name string, at time.Time) {
	n := ix.begin(at)
	defer ix.end()
	key := objKey{namespace, name}
	if st := ix.services[key]; st != nil {
		ix.setClaims(st.owner, st.ips, nil, n, n)
		delete(ix.services, key)
	}
}

func (ix *Index) upsertServiceLocked(s *corev1.Service, at int64) {
	key := objKey{s.Namespace, s.Name}
	owner := &claimOwner{kind: claimService, key: key, uid: s.UID}
	st := ix.services[key]
	if st != nil && *st.owner != *owner {
		ix.setClaims(st.owner, st.ips, nil, at, at)
		st = nil
	}
	if st == nil {
		st = &serviceState{owner: owner}
		ix.services[key] = st
	}
	st.svc = s
	if !ix.bulk {
		ix.rebuildServiceLocked(key, at)
	}
}

// UpsertEndpointSlice adds or updates an EndpointSlice; the Service its
// kubernetes.io/service-name label names gets new backends.
func (ix *Index) UpsertEndpointSlice(s *discoveryv1.EndpointSlice, at time.Time) {
	now := ix.begin(at)
	defer ix.end()
	ix.upsertSliceLocked(s, now)
}

// DeleteEndpointSlice removes an EndpointSlice.
func (ix *Index) DeleteEndpointSlice(namespace, name string, at time.Time) {
	n := ix.begin(at)
	defer ix.end()
	key := objKey{namespace, name}
	if old := ix.slices[key]; old != nil {
		svc := ix.unlinkSliceLocked(old)
		delete(ix.slices, key)
		ix.rebuildServiceLocked(svc, n)
	}
}

func (ix *Index) upsertSliceLocked(s *discoveryv1.EndpointSlice, at int64) {
	key := objKey{s.Namespace, s.Name}
	var oldSvc objKey
	if old := ix.slices[key]; old != nil {
		oldSvc = ix.unlinkSliceLocked(old)
	}
	ix.slices[key] = s
	svc := objKey{s.Namespace, s.Labels[discoveryv1.LabelServiceName]}
	if svc.name != "" {
		m := ix.slicesBySvc[svc]
		if m == nil {
			m = make(map[string]*discoveryv1.EndpointSlice)
			ix.slicesBySvc[svc] = m
		}
		m[s.Name] = s
	}
	if ix.bulk {
		return
	}
	if oldSvc.name != "" && oldSvc != svc {
		ix.rebuildServiceLocked(oldSvc, at)
	}
	ix.rebuildServiceLocked(svc, at)
}

// unlinkSliceLocked forgets which Service a slice belonged to and returns it.
func (ix *Index) unlinkSliceLocked(s *discoveryv1.EndpointSlice) objKey {
	svc := objKey{s.Namespace, s.Labels[discoveryv1.LabelServiceName]}
	if m := ix.slicesBySvc[svc]; m != nil {
		delete(m, s.Name)
		if len(m) == 0 {
			delete(ix.slicesBySvc, svc)
		}
	}
	return svc
}

// UpsertNamespace adds or updates a namespace (its labels).
func (ix *Index) UpsertNamespace(ns *corev1.Namespace, at time.Time) {
	ix.begin(at)
	defer ix.end()
	ix.upsertNamespaceLocked(ns)
}

// DeleteNamespace removes a namespace. Its pods and Services go with their
// own delete events.
func (ix *Index) DeleteNamespace(name string, at time.Time) {
	ix.begin(at)
	defer ix.end()
	delete(ix.namespaces, name)
}

func (ix *Index) upsertNamespaceLocked(ns *corev1.Namespace) {
	labels := ns.Labels
	if labels[NamespaceNameLabel] != ns.Name {
		labels = make(map[string]string, len(ns.Labels)+1)
		for k, v := range ns.Labels {
			labels[k] = v
		}
		labels[NamespaceNameLabel] = ns.Name
	}
	ix.namespaces[ns.Name] = labels
}
