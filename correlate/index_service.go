package correlate

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// rebuildServiceLocked recomputes a Service's ports and backends and
// re-claims its ClusterIPs with the new frontend.
func (ix *Index) rebuildServiceLocked(key objKey, at int64) {
	st := ix.services[key]
	if st == nil {
		return
	}
	svc, fromPods := ix.buildService(st.svc)
	if fromPods {
		m := ix.selectorSvcs[key.namespace]
		if m == nil {
			m = make(map[objKey]struct{})
			ix.selectorSvcs[key.namespace] = m
		}
		m[key] = struct{}{}
	} else if m := ix.selectorSvcs[key.namespace]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(ix.selectorSvcs, key.namespace)
		}
	}
	var claims []ipClaim
	for _, s := range serviceIPs(st.svc) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			continue // "None" (headless) and anything unparsable
		}
		ip = ip.Unmap()
		claims = append(claims, ipClaim{ip: ip, target: &Target{
			Endpoint: flow.Endpoint{IP: ip, Kind: flow.KindExternal, Service: svc.Key},
			Peer:     policy.Peer{Kind: policy.External, IP: ip},
			Service:  svc,
		}})
	}
	st.ips = ix.setClaims(st.owner, st.ips, claims, at, at)
}

func serviceIPs(s *corev1.Service) []string {
	if len(s.Spec.ClusterIPs) > 0 {
		return s.Spec.ClusterIPs
	}
	if s.Spec.ClusterIP != "" {
		return []string{s.Spec.ClusterIP}
	}
	return nil
}

// rebuildSelectorServicesLocked recomputes the Services of a namespace whose
// backends come from selecting pods (no EndpointSlice names them).
func (ix *Index) rebuildSelectorServicesLocked(namespace string, at int64) {
	if ix.bulk {
		return
	}
	for key := range ix.selectorSvcs[namespace] {
		ix.rebuildServiceLocked(key, at)
	}
}

// buildService computes a Service's ports and their backends from its
// EndpointSlices. A Service with a selector that no EndpointSlice names yet
// (a hand-written snapshot, or the moment before the controller catches up)
// gets its backends from the pods it selects, as the EndpointSlice
// controller would; fromPods says so.
func (ix *Index) buildService(s *corev1.Service) (svc *Service, fromPods bool) {
	key := objKey{s.Namespace, s.Name}
	svc = &Service{Namespace: s.Namespace, Name: s.Name, Key: s.Namespace + "/" + s.Name}
	slicesOf := ix.slicesBySvc[key]
	fromPods = len(slicesOf) == 0 && len(s.Spec.Selector) > 0
	var sel labels.Selector
	if fromPods {
		sel = labels.SelectorFromSet(s.Spec.Selector)
	}
	svc.Ports = make([]ServicePort, 0, len(s.Spec.Ports))
	for i := range s.Spec.Ports {
		sp := &s.Spec.Ports[i]
		if sp.Port <= 0 || sp.Port > 65535 {
			continue
		}
		out := ServicePort{Name: sp.Name, Protocol: sp.Protocol, Port: uint16(sp.Port), TargetPort: sp.TargetPort}
		if out.Protocol == "" {
			out.Protocol = corev1.ProtocolTCP
		}
		if fromPods {
			out.Backends = ix.backendsFromPods(s.Namespace, sel, &out)
		} else {
			out.Backends = backendsFromSlices(slicesOf, &out)
		}
		slices.SortFunc(out.Backends, func(a, b Backend) int {
			if c := a.IP.Compare(b.IP); c != 0 {
				return c
			}
			return cmp.Compare(a.Port, b.Port)
		})
		out.Backends = slices.CompactFunc(out.Backends, func(a, b Backend) bool {
			return a.IP == b.IP && a.Port == b.Port && a.PortName == b.PortName
		})
		out.chosen4 = chooseBackends(out.Backends, true)
		out.chosen6 = chooseBackends(out.Backends, false)
		svc.Ports = append(svc.Ports, out)
	}
	return svc, fromPods
}

// backendsFromSlices lists the endpoints of the slices' port matching sp by
// name and protocol, as kube-proxy does. The slice's port is the target
// port already resolved for its endpoints (a named targetPort may differ
// between pods, which the controller puts in different slices).
func backendsFromSlices(slicesOf map[string]*discoveryv1.EndpointSlice, sp *ServicePort) []Backend {
	var out []Backend
	for _, es := range slicesOf {
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		port, portName, ok := slicePort(es, sp)
		if !ok {
			continue
		}
		for i := range es.Endpoints {
			ep := &es.Endpoints[i]
			if len(ep.Addresses) == 0 {
				continue
			}
			// Only the first address has defined semantics.
			ip, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil {
				continue
			}
			b := Backend{IP: ip.Unmap(), Port: port, PortName: portName}
			if ep.NodeName != nil {
				b.NodeName = *ep.NodeName
			}
			if r := ep.TargetRef; r != nil && r.Kind == "Pod" {
				ns := r.Namespace
				if ns == "" {
					ns = es.Namespace
				}
				b.Pod = ns + "/" + r.Name
			}
			c := ep.Conditions
			b.Ready = c.Ready == nil || *c.Ready
			b.Serving = b.Ready
			if c.Serving != nil {
				b.Serving = *c.Serving
			}
			b.Terminating = c.Terminating != nil && *c.Terminating
			out = append(out, b)
		}
	}
	return out
}

// slicePort finds the slice's port for sp. A slice with no ports serves
// every port; a port without a number leaves the target port to sp's
// targetPort (a name is then resolved per backend pod at lookup).
func slicePort(es *discoveryv1.EndpointSlice, sp *ServicePort) (port uint16, name string, ok bool) {
	if len(es.Ports) > 0 {
		found := false
		for i := range es.Ports {
			p := &es.Ports[i]
			pname, proto := "", corev1.ProtocolTCP
			if p.Name != nil {
				pname = *p.Name
			}
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if pname != sp.Name || proto != sp.Protocol {
				continue
			}
			found = true
			if p.Port != nil && *p.Port > 0 && *p.Port <= 65535 {
				return uint16(*p.Port), "", true
			}
			break
		}
		if !found {
			return 0, "", false
		}
	}
	if sp.TargetPort.Type == intstr.String {
		return 0, sp.TargetPort.StrVal, true
	}
	if v := sp.TargetPort.IntVal; v > 0 && v <= 65535 {
		return uint16(v), "", true
	}
	return sp.Port, "", true
}

// backendsFromPods selects the namespace's running pods as the EndpointSlice
// controller would: a named targetPort is looked up in each pod's ports,
// and a pod without it is no backend.
func (ix *Index) backendsFromPods(namespace string, sel labels.Selector, sp *ServicePort) []Backend {
	var out []Backend
	for _, st := range ix.podsByNS[namespace] {
		p := st.pod
		if podTerminated(p) || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		port := uint16(0)
		if sp.TargetPort.Type == intstr.String {
			port = namedPort(podPorts(p), sp.TargetPort.StrVal, sp.Protocol)
		} else if v := sp.TargetPort.IntVal; v > 0 && v <= 65535 {
			port = uint16(v)
		} else {
			port = sp.Port
		}
		if port == 0 {
			continue
		}
		ready := podReady(p)
		for _, ip := range podAddrs(p) {
			out = append(out, Backend{
				IP: ip, Port: port, NodeName: p.Spec.NodeName, Pod: p.Namespace + "/" + p.Name,
				Ready: ready && p.DeletionTimestamp == nil, Serving: ready, Terminating: p.DeletionTimestamp != nil,
			})
		}
	}
	return out
}

// podReady is the pod's Ready condition; a pod that reports no conditions
// at all (a hand-written manifest) counts as ready.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return len(p.Status.Conditions) == 0
}

// namedPort finds a container port by name and protocol; 0 when none.
func namedPort(ports []corev1.ContainerPort, name string, proto corev1.Protocol) uint16 {
	for i := range ports {
		p := &ports[i]
		pp := p.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if p.Name == name && pp == proto && p.ContainerPort > 0 && p.ContainerPort <= 65535 {
			return uint16(p.ContainerPort)
		}
	}
	return 0
}

// chooseBackends picks, for one family, what kube-proxy would send to: the
// ready endpoints, else the serving (terminating) ones, else every one (the
// auditor still judges a flow to a Service with no ready backend against
// the pods that would serve it).
func chooseBackends(all []Backend, v4 bool) []Backend {
	var ready, serving, any []Backend
	for _, b := range all {
		if b.IP.Is4() != v4 {
			continue
		}
		any = append(any, b)
		if b.Ready {
			ready = append(ready, b)
		}
		if b.Serving {
			serving = append(serving, b)
		}
	}
	switch {
	case len(ready) > 0:
		return ready
	case len(serving) > 0:
		return serving
	}
	return any
}
