package suggest

import (
	"bytes"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Document is a NetworkPolicy with the comments printed around it.
type Document struct {
	Policy *networkingv1.NetworkPolicy
	// Header is printed above the object.
	Header []string
	// Ingress and Egress hold the comment lines printed above each rule of
	// spec.ingress and spec.egress, index-aligned with the rules.
	Ingress, Egress [][]string
}

// RenderNetworkPolicies prints documents as a multi-document YAML stream
// that kubectl apply accepts. Only the fields a user writes are printed
// (name, namespace, labels, annotations, spec): never status, uid or
// resourceVersion, so that current and suggested policies compare cleanly.
func RenderNetworkPolicies(docs []Document) []byte {
	var b bytes.Buffer
	for _, d := range docs {
		emitDocument(&b, d.Header, networkPolicyNode(d))
	}
	return b.Bytes()
}

func networkPolicyNode(d Document) *node {
	np := d.Policy
	root := newMap()
	root.set("apiVersion", str("networking.k8s.io/v1"))
	root.set("kind", str("NetworkPolicy"))
	root.set("metadata", metadataNode(&np.ObjectMeta))
	spec := newMap()
	spec.set("podSelector", selectorNode(&np.Spec.PodSelector))
	if np.Spec.PolicyTypes != nil {
		types := newSeq()
		for _, t := range np.Spec.PolicyTypes {
			types.add(str(string(t)))
		}
		spec.set("policyTypes", types)
	}
	if np.Spec.Ingress != nil {
		rules := newSeq()
		for i, r := range np.Spec.Ingress {
			rules.add(ruleNode("from", r.From, r.Ports), commentAt(d.Ingress, i)...)
		}
		spec.set("ingress", rules)
	}
	if np.Spec.Egress != nil {
		rules := newSeq()
		for i, r := range np.Spec.Egress {
			rules.add(ruleNode("to", r.To, r.Ports), commentAt(d.Egress, i)...)
		}
		spec.set("egress", rules)
	}
	root.set("spec", spec)
	return root
}

func commentAt(c [][]string, i int) []string {
	if i < len(c) {
		return c[i]
	}
	return nil
}

// metadataNode prints what identifies the object and what a user sets.
func metadataNode(m *metav1.ObjectMeta) *node {
	md := newMap()
	md.set("name", str(m.Name))
	if m.Namespace != "" {
		md.set("namespace", str(m.Namespace))
	}
	if len(m.Labels) > 0 {
		md.set("labels", stringMap(m.Labels))
	}
	ann := withoutServerAnnotations(m.Annotations)
	if len(ann) > 0 {
		md.set("annotations", stringMap(ann))
	}
	return md
}

// withoutServerAnnotations drops what kubectl and the server add, which
// would only add noise to a diff.
func withoutServerAnnotations(a map[string]string) map[string]string {
	const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"
	if _, ok := a[lastApplied]; !ok {
		return a
	}
	out := make(map[string]string, len(a))
	for k, v := range a {
		if k != lastApplied {
			out[k] = v
		}
	}
	return out
}

func stringMap(m map[string]string) *node {
	n := newMap()
	for _, k := range sortedKeys(m) {
		n.set(k, str(m[k]))
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func selectorNode(s *metav1.LabelSelector) *node {
	n := newMap()
	if len(s.MatchLabels) > 0 {
		n.set("matchLabels", stringMap(s.MatchLabels))
	}
	if len(s.MatchExpressions) > 0 {
		exprs := newSeq()
		for _, e := range s.MatchExpressions {
			en := newMap()
			en.set("key", str(e.Key))
			en.set("operator", str(string(e.Operator)))
			if e.Values != nil {
				vals := newSeq()
				for _, v := range e.Values {
					vals.add(str(v))
				}
				en.set("values", vals)
			}
			exprs.add(en)
		}
		n.set("matchExpressions", exprs)
	}
	return n
}

func ruleNode(peersKey string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) *node {
	r := newMap()
	if peers != nil {
		ps := newSeq()
		for _, p := range peers {
			ps.add(peerNode(p))
		}
		r.set(peersKey, ps)
	}
	if ports != nil {
		pn := newSeq()
		for _, p := range ports {
			pn.add(portNode(p))
		}
		r.set("ports", pn)
	}
	return r
}

func peerNode(p networkingv1.NetworkPolicyPeer) *node {
	n := newMap()
	if p.PodSelector != nil {
		n.set("podSelector", selectorNode(p.PodSelector))
	}
	if p.NamespaceSelector != nil {
		n.set("namespaceSelector", selectorNode(p.NamespaceSelector))
	}
	if p.IPBlock != nil {
		ib := newMap()
		ib.set("cidr", str(p.IPBlock.CIDR))
		if p.IPBlock.Except != nil {
			ex := newSeq()
			for _, e := range p.IPBlock.Except {
				ex.add(str(e))
			}
			ib.set("except", ex)
		}
		n.set("ipBlock", ib)
	}
	return n
}

func portNode(p networkingv1.NetworkPolicyPort) *node {
	n := newMap()
	if p.Protocol != nil {
		n.set("protocol", str(string(*p.Protocol)))
	}
	if p.Port != nil {
		if p.Port.Type == 0 { // intstr.Int
			n.set("port", num(int64(p.Port.IntVal)))
		} else {
			n.set("port", str(p.Port.StrVal))
		}
	}
	if p.EndPort != nil {
		n.set("endPort", num(int64(*p.EndPort)))
	}
	return n
}
