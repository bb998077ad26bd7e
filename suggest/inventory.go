package suggest

import (
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flow-auditor/flow-auditor/correlate"
)

// PodsFrom lists the inventory's pods as suggest needs them: the peer the
// index resolves each to (what the engine judges) and its workload identity
// from correlate.
func PodsFrom(objs correlate.Objects, ix *correlate.Index) []PodIdentity {
	out := make([]PodIdentity, 0, len(objs.Pods))
	for _, p := range objs.Pods {
		t := ix.ResolveName(p.Namespace, p.Name, time.Time{})
		if t == nil {
			continue
		}
		id := PodIdentity{Namespace: p.Namespace, Name: p.Name, Peer: &t.Peer, HostNetwork: p.Spec.HostNetwork}
		if t.Workload != nil {
			id.Workload = t.Workload.String()
			id.StableLabels = t.Workload.StableLabels
		} else {
			id.Workload = "Pod/" + p.Name
			id.StableLabels = correlate.StableLabels(p.Labels)
		}
		for _, cp := range t.Peer.Ports {
			proto := cp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			id.ContainerPorts = append(id.ContainerPorts, ProtoPort{Protocol: proto, Port: cp.ContainerPort})
		}
		out = append(out, id)
	}
	return out
}

// DNSAddressesFrom returns the ClusterIPs of the cluster DNS services: those
// selecting k8s-app=kube-dns, or named kube-dns in kube-system.
func DNSAddressesFrom(objs correlate.Objects) []netip.Addr {
	var out []netip.Addr
	for _, s := range objs.Services {
		if s.Spec.Selector["k8s-app"] != "kube-dns" && (s.Namespace != "kube-system" || s.Name != "kube-dns") {
			continue
		}
		ips := s.Spec.ClusterIPs
		if len(ips) == 0 && s.Spec.ClusterIP != "" {
			ips = []string{s.Spec.ClusterIP}
		}
		for _, ip := range ips {
			if a, err := netip.ParseAddr(ip); err == nil {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}
