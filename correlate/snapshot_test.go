package correlate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const podA = `apiVersion: v1
kind: Pod
metadata: {name: a, namespace: ai}
spec: {containers: [{name: c}]}
status: {podIP: 10.244.1.5}
`

const nsAI = `apiVersion: v1
kind: Namespace
metadata: {name: ai, labels: {name: ai}}
`

func TestParseSnapshotFormats(t *testing.T) {
	cases := []struct {
		name, in string
		pods     []string // namespace/name of the pods read
		ns       int
	}{
		{"multi-document YAML", "---\n" + nsAI + "---\n# a comment\n" + podA + "---\n", []string{"ai/a"}, 1},
		{"YAML with CRLF line ends", strings.ReplaceAll(nsAI+"---\n"+podA, "\n", "\r\n"), []string{"ai/a"}, 1},
		{"document separator with a comment", nsAI + "--- # next\n" + podA, []string{"ai/a"}, 1},
		{"kubectl -o yaml List", `apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: ai}
  status: {podIP: 10.244.1.6}
- apiVersion: v1
  kind: Namespace
  metadata: {name: ai}
`, []string{"ai/b"}, 1},
		{"List next to plain documents", "apiVersion: v1\nkind: List\nitems: []\n---\n" + podA, []string{"ai/a"}, 0},
		{"kubectl -o json List", `{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "ai"}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "ai"}}
  ]
}`, []string{"ai/a", "ai/b"}, 0},
		{"JSON stream", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"ai"}}
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ai"}}`, []string{"ai/a"}, 1},
		{"JSON array", `[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"ai"}}]`, []string{"ai/a"}, 0},
		{"typed list from the API (items without kind)", `{"apiVersion":"v1","kind":"PodList","items":[
{"metadata":{"name":"a","namespace":"ai"}},{"metadata":{"name":"c","namespace":"x"}}]}`, []string{"ai/a", "x/c"}, 0},
		{"namespace defaults to default", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", []string{"default/a"}, 0},
		{"later object of the same name wins", podA + "---\n" + strings.Replace(podA, "10.244.1.5", "10.244.1.9", 1), []string{"ai/a"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseSnapshot("snap.yaml", []byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			objs := s.Objects()
			var got []string
			for _, p := range objs.Pods {
				got = append(got, p.Namespace+"/"+p.Name)
			}
			assertStrings(t, "pods", got, c.pods...)
			if len(objs.Namespaces) != c.ns {
				t.Errorf("namespaces = %d, want %d", len(objs.Namespaces), c.ns)
			}
		})
	}
	s, err := ParseSnapshot("snap.yaml", []byte(podA+"---\n"+strings.Replace(podA, "10.244.1.5", "10.244.1.9", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Objects().Pods[0].Status.PodIP; got != "10.244.1.9" {
		t.Errorf("duplicate: kept %s, want the later 10.244.1.9", got)
	}
}

func TestParseSnapshotErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     string // the whole message
	}{
		{"unknown kind", nsAI + "---\n" + podA + "---\napiVersion: example.com/v1\nkind: Foo\nmetadata: {name: x, namespace: ai}\n",
			`snap.yaml:11: document 3 (kind Foo ai/x): unknown kind "Foo" (apiVersion "example.com/v1")`},
		{"CRD kind", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: ai}\n",
			`snap.yaml:1: document 1 (kind CiliumNetworkPolicy ai/p): unknown kind "CiliumNetworkPolicy" (apiVersion "cilium.io/v2")`},
		{"old version of a wanted kind", "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s}\n",
			`snap.yaml:1: document 1 (kind EndpointSlice s): unsupported apiVersion "discovery.k8s.io/v1beta1" for kind EndpointSlice: want "discovery.k8s.io/v1"`},
		{"malformed YAML", nsAI + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n name: b\n",
			`snap.yaml:8: document 2: invalid YAML: did not find expected key`},
		{"not an object", "- a\n- b\n", `snap.yaml:1: document 1: not a Kubernetes object: want a mapping with apiVersion and kind`},
		{"missing kind", "apiVersion: v1\nmetadata: {name: a}\n", `snap.yaml:1: document 1: missing "kind"`},
		{"missing apiVersion", "kind: Pod\nmetadata: {name: a}\n", `snap.yaml:1: document 1 (kind Pod a): missing "apiVersion"`},
		{"kind not a string", "apiVersion: v1\nkind: [Pod]\n", `snap.yaml:1: document 1: kind: want a string, got ["Pod"]`},
		{"wrong field type", podA + "---\n" + "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: ai}\nspec: {containers: 3}\n",
			`snap.yaml:7: document 2 (kind Pod ai/b): decode: json: cannot unmarshal number into Go struct field PodSpec.spec.containers of type []v1.Container`},
		{"bad item in a List", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a, namespace: ai}\n- apiVersion: v9\n  kind: Pod\n  metadata: {name: b, namespace: ai}\n",
			`snap.yaml:1: document 1, item 2 (kind Pod ai/b): unsupported apiVersion "v9" for kind Pod`},
		{"invalid pod IP", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: ai}\nstatus: {podIPs: [{ip: 10.244.1.5}, {ip: 10.244.1.500}]}\n",
			`snap.yaml:1: document 1 (kind Pod ai/a): status.podIPs[1].ip: invalid IP address "10.244.1.500"`},
		{"invalid ClusterIP", "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: ai}\nspec: {clusterIP: 10.96.0.x}\n",
			`snap.yaml:1: document 1 (kind Service ai/s): spec.clusterIPs[0]: invalid IP address "10.96.0.x"`},
		{"EndpointSlice address of the wrong family", "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: ai}\naddressType: IPv4\nendpoints: [{addresses: [fd00::1]}]\n",
			`snap.yaml:1: document 1 (kind EndpointSlice ai/s): endpoints[0].addresses[0]: invalid IPv4 address "fd00::1"`},
		{"missing name", "apiVersion: v1\nkind: Node\nmetadata: {}\n", `snap.yaml:1: document 1 (kind Node): metadata.name: required`},
		{"malformed JSON", "{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\",\n \"metadata\": {\"name\": }}",
			`snap.yaml:3: document 1: invalid JSON: invalid character '}' looking for beginning of value`},
		{"empty file", "\n# nothing\n---\n", `snap.yaml: no Kubernetes objects in the file`},
		{"List inside a List", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n",
			`snap.yaml:1: document 1, item 1 (kind List): a List inside a List`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSnapshot("snap.yaml", []byte(c.in))
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != c.want {
				t.Errorf("error:\n  %s\nwant:\n  %s", err, c.want)
			}
		})
	}
}

func TestParseSnapshotDocumentErrorFields(t *testing.T) {
	_, err := ParseSnapshot("s.yaml", []byte(nsAI+"---\napiVersion: v1\nkind: Foo\nmetadata: {name: x}\n"))
	var de *DocumentError
	if !errors.As(err, &de) {
		t.Fatalf("%v is no DocumentError", err)
	}
	if de.File != "s.yaml" || de.Document != 2 || de.Line != 5 || de.Kind != "Foo" || de.Name != "x" {
		t.Errorf("fields = %+v", de)
	}
}

func TestSnapshotSkipsKindsItDoesNotRead(t *testing.T) {
	in := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ai}\n---\n" + podA +
		"---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: e, namespace: ai}\n"
	s, err := ParseSnapshot("snap.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	assertStrings(t, "ignored", s.Ignored(), "ConfigMap ai/c (snap.yaml document 1)", "Endpoints ai/e (snap.yaml document 3)")
	if len(s.Objects().Pods) != 1 {
		t.Error("the pod was lost")
	}
}

func TestLoadSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := write("cluster.yaml", nsAI+"---\n"+podA)
	second := write("more.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"ai"},"status":{"podIP":"10.244.1.9"}}`)
	bad := write("bad.yaml", podA+"---\napiVersion: v1\nkind: Foo\nmetadata: {name: x}\n")

	s, err := LoadSnapshot(first, second)
	if err != nil {
		t.Fatal(err)
	}
	objs := s.Objects()
	if len(objs.Namespaces) != 1 || len(objs.Pods) != 1 || objs.Pods[0].Status.PodIP != "10.244.1.9" {
		t.Errorf("merged: %d namespaces, pods %v", len(objs.Namespaces), objs.Pods)
	}
	_, err = LoadSnapshot(first, bad)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":7: document 2 (kind Foo x): unknown kind") {
		t.Errorf("error = %v, want one naming %s", err, bad)
	}
	_, err = LoadSnapshot(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadSnapshot(); err == nil {
		t.Error("no files: no error")
	}
}

func TestSnapshotIsDefaulted(t *testing.T) {
	in := `apiVersion: v1
kind: Namespace
metadata: {name: ai}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: ai}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8000}]}]}
status: {podIP: 10.244.1.5}
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: ai}
spec: {clusterIP: 10.96.0.5, ports: [{port: 80}, {name: h, port: 81, targetPort: http}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s-1, namespace: ai, labels: {kubernetes.io/service-name: s}}
addressType: IPv4
ports: [{port: 8000}]
endpoints: [{addresses: [10.244.1.5]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: ai}
spec:
  podSelector: {}
  egress: [{ports: [{port: 53}]}]
`
	s, err := ParseSnapshot("snap.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	o := s.Objects()
	if got := o.Namespaces[0].Labels[NamespaceNameLabel]; got != "ai" {
		t.Errorf("namespace label = %q", got)
	}
	if p := o.Pods[0]; p.Spec.Containers[0].Ports[0].Protocol != corev1.ProtocolTCP || len(p.Status.PodIPs) != 1 {
		t.Errorf("pod = %+v / %+v", p.Spec.Containers[0].Ports, p.Status.PodIPs)
	}
	svc := o.Services[0]
	if p := svc.Spec.Ports[0]; p.Protocol != corev1.ProtocolTCP || p.TargetPort.IntValue() != 80 {
		t.Errorf("service port 0 = %+v", p)
	}
	if p := svc.Spec.Ports[1]; p.TargetPort.String() != "http" {
		t.Errorf("named targetPort changed: %+v", p)
	}
	if len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != "10.96.0.5" {
		t.Errorf("clusterIPs = %v", svc.Spec.ClusterIPs)
	}
	if p := o.EndpointSlices[0].Ports[0]; p.Protocol == nil || *p.Protocol != corev1.ProtocolTCP || p.Name == nil || *p.Name != "" {
		t.Errorf("slice port = %+v", p)
	}
	np := o.NetworkPolicies[0]
	if got := np.Spec.PolicyTypes; len(got) != 2 || got[0] != "Ingress" || got[1] != "Egress" {
		t.Errorf("policyTypes = %v", got)
	}
	if p := np.Spec.Egress[0].Ports[0].Protocol; p == nil || *p != corev1.ProtocolTCP {
		t.Errorf("policy port protocol = %v", p)
	}
}
