package suggest

import (
	"bytes"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ciliumNamespaceLabel is the label Cilium gives every endpoint for its
// namespace; selectors for peers in other namespaces carry it.
const ciliumNamespaceLabel = "k8s:io.kubernetes.pod.namespace"

// RenderCilium prints the suggestion as CiliumNetworkPolicies (cilium.io/v2):
// the same rules, with toFQDNs in place of the addresses of external peers
// whose DNS names are known (exact mode), and DNS rules that let Cilium's
// DNS proxy learn those names.
func (s *Suggestion) RenderCilium() []byte {
	var b bytes.Buffer
	for i := range s.Policies {
		p := &s.Policies[i]
		emitDocument(&b, p.Header, s.ciliumNode(p))
	}
	return b.Bytes()
}

func (s *Suggestion) ciliumNode(p *Policy) *node {
	root := newMap()
	root.set("apiVersion", str("cilium.io/v2"))
	root.set("kind", str("CiliumNetworkPolicy"))
	root.set("metadata", metadataNode(&metav1.ObjectMeta{
		Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, Annotations: p.Annotations,
	}))
	spec := newMap()
	spec.set("endpointSelector", selectorNode(&p.Selector))
	if p.Workload == "" {
		// An empty rule in each direction puts every endpoint in default
		// deny without allowing anything.
		spec.set("ingress", newSeq().add(newMap()))
		spec.set("egress", newSeq().add(newMap()))
		root.set("spec", spec)
		return root
	}
	useFQDN := s.External == ExternalExact
	ingress, egress := newSeq(), newSeq()
	for _, r := range p.Ingress {
		ciliumRules(ingress, r, "from", false)
	}
	needDNS := false
	for _, r := range p.Egress {
		if useFQDN && len(r.FQDNs) > 0 {
			needDNS = true
		}
	}
	hasDNS := false
	for _, r := range p.Egress {
		if r.DNS {
			hasDNS = true
			r.dnsL7 = needDNS
		}
		ciliumRules(egress, r, "to", useFQDN)
	}
	if needDNS && !hasDNS {
		r := Rule{
			DNS:     true,
			dnsL7:   true,
			Peers:   []Peer{{Namespace: "kube-system", Pods: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}}}},
			Ports:   []PortRange{{Protocol: "TCP", Port: dnsPort}, {Protocol: "UDP", Port: dnsPort}},
			Comment: []string{"DNS to kube-dns, which toFQDNs needs: no DNS traffic was observed in the window"},
		}
		ciliumRules(egress, r, "to", useFQDN)
	}
	if len(ingress.vals) > 0 {
		spec.set("ingress", ingress)
	} else {
		spec.set("ingress", newSeq().add(newMap(), "no ingress observed: default deny"))
	}
	if len(egress.vals) > 0 {
		spec.set("egress", egress)
	} else {
		spec.set("egress", newSeq().add(newMap(), "no egress observed: default deny"))
	}
	root.set("spec", spec)
	return root
}

// ciliumRules appends the Cilium rules for one rule of the model: Cilium
// takes one kind of peer per rule, and ICMP apart from ports.
func ciliumRules(seq *node, r Rule, dir string, useFQDN bool) {
	comment := r.Comment
	emit := func(n *node) {
		seq.add(n, comment...)
		comment = nil // the comment sits above the first of the rules
	}
	var endpoints, cidrs []*node
	for _, p := range r.Peers {
		if p.IPBlock != nil {
			c := newMap().set("cidr", str(p.IPBlock.CIDR))
			if len(p.IPBlock.Except) > 0 {
				ex := newSeq()
				for _, e := range p.IPBlock.Except {
					ex.add(str(e))
				}
				c.set("except", ex)
			}
			cidrs = append(cidrs, c)
			continue
		}
		sel := p.Pods.DeepCopy()
		if p.Namespace != "" {
			if sel.MatchLabels == nil {
				sel.MatchLabels = map[string]string{}
			}
			sel.MatchLabels[ciliumNamespaceLabel] = p.Namespace
		}
		endpoints = append(endpoints, selectorNode(sel))
	}
	l4 := func(n *node) *node {
		if ports := ciliumPorts(r); ports != nil {
			n.set("toPorts", ports)
		}
		return n
	}
	// A rule that saw only ICMP of known types needs no L3/L4 rule: the
	// ICMP rule below is exact.
	l34 := len(r.Ports) > 0 || len(r.ICMP) == 0
	if l34 && len(endpoints) > 0 {
		n := newMap().set(dir+"Endpoints", seqOf(endpoints))
		emit(l4(n))
	}
	if l34 && useFQDN && dir == "to" && len(r.FQDNs) > 0 && !r.DNS {
		names := newSeq()
		for _, f := range r.FQDNs {
			names.add(newMap().set("matchName", str(f)))
		}
		emit(l4(newMap().set("toFQDNs", names)))
	} else if l34 && len(cidrs) > 0 {
		emit(l4(newMap().set(dir+"CIDRSet", seqOf(cidrs))))
	}
	if len(r.ICMP) > 0 {
		fields := newSeq()
		for _, ic := range r.ICMP {
			fields.add(newMap().set("family", str(ic.Family)).set("type", num(int64(ic.Type))))
		}
		peersOnly := newMap()
		if len(endpoints) > 0 {
			peersOnly.set(dir+"Endpoints", seqOf(endpoints))
		} else if len(cidrs) > 0 {
			peersOnly.set(dir+"CIDRSet", seqOf(cidrs))
		}
		peersOnly.set("icmps", newSeq().add(newMap().set("fields", fields)))
		emit(peersOnly)
	}
}

func seqOf(items []*node) *node {
	s := newSeq()
	for _, it := range items {
		s.add(it)
	}
	return s
}

// ciliumPorts is a rule's toPorts: its TCP, UDP and SCTP ports, and for the
// DNS rule the L7 rule that lets the DNS proxy see every lookup.
func ciliumPorts(r Rule) *node {
	// A flow without a port (not ICMP) needs the rule to cover every port.
	if len(r.Ports) == 0 || (r.AllPorts && len(r.ICMP) == 0) {
		return nil
	}
	ports := newSeq()
	for _, pr := range r.Ports {
		pn := newMap().set("port", str(strconv.Itoa(int(pr.Port))))
		if pr.EndPort != 0 {
			pn.set("endPort", num(int64(pr.EndPort)))
		}
		pn.set("protocol", str(string(pr.Protocol)))
		ports.add(pn)
	}
	entry := newMap().set("ports", ports)
	if r.dnsL7 {
		entry.set("rules", newMap().set("dns", newSeq().add(newMap().set("matchPattern", str("*")))))
	}
	return newSeq().add(entry)
}
