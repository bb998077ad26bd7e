package demo

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/flow-auditor/flow-auditor/internal/podnet"
)

// Objects returns the emulated cluster as the API server would list it:
// namespaces, the node, the pods (Running, at their addresses, created at
// created), their controllers, and the NetworkPolicies (Policies).
func (s *Scenario) Objects(created time.Time) []any {
	ts := metav1.NewTime(created.UTC().Truncate(time.Second))
	var out []any
	for _, ns := range []string{NSAgents, NSGateway, NSDatabase, NSSystem} {
		labels := map[string]string{corev1.LabelMetadataName: ns}
		if ns != NSSystem {
			labels["name"] = ns // the label the article's selectors use
		}
		out = append(out, &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels, CreationTimestamp: ts, UID: uid("ns", ns)},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		})
	}
	out = append(out, &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: NodeName, CreationTimestamp: ts, UID: uid("node", NodeName), Labels: map[string]string{"kubernetes.io/hostname": NodeName}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.42.0.0/24", PodCIDRs: []string{"10.42.0.0/24"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			// The node as its pods see it: the gateway address of every
			// host-side veth.
			{Type: corev1.NodeInternalIP, Address: podnet.Gateway().String()},
			{Type: corev1.NodeHostName, Address: NodeName},
		}},
	})
	out = append(out, s.controllers(ts)...)
	for i := range s.Pods {
		out = append(out, s.Pods[i].object(ts))
	}
	for _, np := range Policies() {
		np.CreationTimestamp = ts
		out = append(out, np)
	}
	return out
}

func uid(kind, name string) types.UID {
	// Stable, readable UIDs: the snapshot of two runs differs only in time.
	var h uint64 = 14695981039346656037
	for _, c := range kind + "/" + name {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return types.UID(fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h), uint16(h>>32), uint16(h>>48)&0xfff, uint16(h>>20)&0xfff, h&0xffffffffffff))
}

// controllers returns the Deployments with their ReplicaSets, and the
// StatefulSets, of the scenario's pods.
func (s *Scenario) controllers(ts metav1.Time) []any {
	var out []any
	seen := map[string]bool{}
	for i := range s.Pods {
		p := &s.Pods[i]
		if seen[p.Namespace+"/"+p.Workload] {
			continue
		}
		seen[p.Namespace+"/"+p.Workload] = true
		kind, name, _ := strings.Cut(p.Workload, "/")
		replicas := int32(0)
		for _, q := range s.Pods {
			if q.Namespace == p.Namespace && q.Workload == p.Workload {
				replicas++
			}
		}
		template := stable(p.Labels)
		selector := &metav1.LabelSelector{MatchLabels: template}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: template}, Spec: p.spec()}
		meta := metav1.ObjectMeta{Name: name, Namespace: p.Namespace, CreationTimestamp: ts, UID: uid(kind, p.Namespace+"/"+name), Labels: template}
		switch kind {
		case "Deployment":
			out = append(out, &appsv1.Deployment{
				TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
				ObjectMeta: meta,
				Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: selector, Template: tmpl},
			})
			rsLabels := withHash(template, p.Hash)
			rsTmpl := tmpl
			rsTmpl.Labels = rsLabels
			out = append(out, &appsv1.ReplicaSet{
				TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
				ObjectMeta: metav1.ObjectMeta{Name: name + "-" + p.Hash, Namespace: p.Namespace, CreationTimestamp: ts,
					UID: uid("ReplicaSet", p.Namespace+"/"+name), Labels: rsLabels,
					OwnerReferences: []metav1.OwnerReference{controllerRef("Deployment", name, meta.UID)}},
				Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: rsLabels}, Template: rsTmpl},
			})
		case "StatefulSet":
			out = append(out, &appsv1.StatefulSet{
				TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
				ObjectMeta: meta,
				Spec:       appsv1.StatefulSetSpec{Replicas: &replicas, Selector: selector, Template: tmpl, ServiceName: name},
			})
		}
	}
	return out
}

func controllerRef(kind, name string, id types.UID) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: id, Controller: &yes, BlockOwnerDeletion: &yes}
}

// stable returns labels without the ones controllers add per revision or
// per pod.
func stable(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		switch k {
		case "pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name":
			continue
		}
		out[k] = v
	}
	return out
}

func withHash(labels map[string]string, hash string) map[string]string {
	out := map[string]string{"pod-template-hash": hash}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

func (p *Pod) spec() corev1.PodSpec {
	_, name, _ := strings.Cut(p.Workload, "/")
	c := corev1.Container{Name: name, Image: "example.invalid/" + name + ":demo"}
	for _, port := range p.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{
			Name: portName(port), ContainerPort: int32(port.Port), Protocol: port.Protocol,
		})
	}
	return corev1.PodSpec{Containers: []corev1.Container{c}, NodeName: NodeName}
}

func portName(p Port) string {
	switch {
	case p.Port == 53 && p.Protocol == corev1.ProtocolUDP:
		return "dns"
	case p.Port == 53:
		return "dns-tcp"
	case p.Port == 5432:
		return "postgresql"
	case p.Port == 8443:
		return "https"
	}
	return "http"
}

func (p *Pod) object(ts metav1.Time) *corev1.Pod {
	kind, name, _ := strings.Cut(p.Workload, "/")
	owner := controllerRef(kind, name, uid(kind, p.Namespace+"/"+name))
	if kind == "Deployment" {
		owner = controllerRef("ReplicaSet", name+"-"+p.Hash, uid("ReplicaSet", p.Namespace+"/"+name))
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, CreationTimestamp: ts,
			UID: uid("Pod", p.Namespace+"/"+p.Name), OwnerReferences: []metav1.OwnerReference{owner},
		},
		Spec: p.spec(),
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			HostIP: podnet.Gateway().String(), HostIPs: []corev1.HostIP{{IP: podnet.Gateway().String()}},
			PodIP: p.IP.String(), PodIPs: []corev1.PodIP{{IP: p.IP.String()}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
}

// snapshotHeader explains the file to whoever opens it.
const snapshotHeader = `# The cluster of flow-auditor's demo (the AI-agents scenario of design.md), as
# kubectl get namespaces,nodes,pods,deployments,replicasets,statefulsets,networkpolicies -A -o yaml
# would print it, one object per document. Reuse it with the flows the demo wrote:
#   auditor audit --snapshot snapshot.yaml --flows flows.jsonl --namespace ai-agents
#   auditor suggest --namespace ai-agents --snapshot snapshot.yaml --flows flows.jsonl
#   auditor graph --namespace ai-agents --snapshot snapshot.yaml --flows flows.jsonl -o html > graph.html
# Every pod ran in a network namespace of its own, routed through the node's;
# the pods asked kube-dns at its pod address (there is no kube-proxy, hence no
# Services). The NetworkPolicies in ai-agents are the article's four
# (default-deny-all, allow-gateway-to-agents, allow-triage-to-specialists,
# allow-agent-egress) plus three that complete design.md's who-may-reach-whom
# (annotated flow-auditor.io/demo).
`

// WriteSnapshot writes objs as a multi-document YAML stream.
func WriteSnapshot(path string, objs []any) error {
	var b bytes.Buffer
	b.WriteString(snapshotHeader)
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("write snapshot: %w", err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}
