package correlate

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzLoadSnapshot feeds arbitrary bytes to the snapshot parser: it must not
// panic; an error must name the file; what it accepts must come out
// defaulted and index without trouble.
func FuzzLoadSnapshot(f *testing.F) {
	if example, err := os.ReadFile("../examples/snapshot.yaml"); err == nil {
		f.Add(example)
	}
	for _, seed := range []string{
		nsAI + "---\n" + podA,
		`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}]}`,
		`{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"a"},"status":{"podIPs":[{"ip":"fd00::1"}]}}]}`,
		"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIPs: [10.96.0.1, 'fd00::1'], ports: [{port: 80, targetPort: http}]}\n",
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: s}}\naddressType: IPv4\nports: [{}]\nendpoints: [{addresses: [10.0.0.1]}]\n",
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}, egress: [{}]}\n",
		"apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r, ownerReferences: [{kind: Deployment, name: d, controller: true}]}\n",
		"apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {podCIDRs: [10.244.0.0/24]}\nstatus: {addresses: [{type: InternalIP, address: 10.0.0.1}]}\n",
		"---\n---\n", "[", "{}", "null", "- 1", "apiVersion: v1\nkind: List\nitems: {}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSnapshot("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") || len(err.Error()) < len("fuzz.yaml: x") {
				t.Fatalf("error does not name the file: %q", err)
			}
			return
		}
		o := s.Objects()
		for _, ns := range o.Namespaces {
			if ns.Labels[NamespaceNameLabel] != ns.Name {
				t.Fatalf("namespace %q not defaulted: %v", ns.Name, ns.Labels)
			}
		}
		for _, np := range o.NetworkPolicies {
			if len(np.Spec.PolicyTypes) == 0 {
				t.Fatalf("policy %s without policyTypes", np.Name)
			}
		}
		for _, svc := range o.Services {
			for _, p := range svc.Spec.Ports {
				if p.Protocol == "" || (p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" && p.Port != 0) {
					t.Fatalf("service %s port not defaulted: %+v", svc.Name, p)
				}
			}
		}
		ix := BuildIndex(o, IndexOptions{})
		for _, p := range o.Pods {
			for _, a := range p.Status.PodIPs {
				addr, err := netip.ParseAddr(a.IP)
				if err != nil {
					t.Fatalf("accepted an invalid pod IP %q", a.IP)
				}
				if podTerminated(p) {
					continue
				}
				if ix.Resolve(addr, time.Time{}) == nil {
					t.Fatalf("pod %s/%s address %s does not resolve", p.Namespace, p.Name, addr)
				}
			}
		}
	})
}
