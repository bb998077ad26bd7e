package kubetest

import (
	"context"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// Builder creates objects through the API as a real cluster's controllers
// and kubelets would have left them: no controller manager, scheduler or
// kubelet runs in the tests, so ReplicaSets, pod addresses and
// EndpointSlices are written by the test. Any error fails the test.
type Builder struct {
	T      testing.TB
	Ctx    context.Context
	Client kubernetes.Interface
	// NodeName is where pods run (default "node-a"); NodeIP its address.
	NodeName, NodeIP string
}

func (b Builder) node() (string, string) {
	name, ip := b.NodeName, b.NodeIP
	if name == "" {
		name = "node-a"
	}
	if ip == "" {
		ip = "172.18.0.2"
	}
	return name, ip
}

func (b Builder) check(err error) {
	b.T.Helper()
	if err != nil {
		b.T.Fatal(err)
	}
}

// Namespace creates a namespace with labels.
func (b Builder) Namespace(name string, labels map[string]string) {
	b.T.Helper()
	_, err := b.Client.CoreV1().Namespaces().Create(b.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	b.check(err)
}

// Node creates the builder's node with its InternalIP.
func (b Builder) Node() {
	b.T.Helper()
	name, ip := b.node()
	n, err := b.Client.CoreV1().Nodes().Create(b.Ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	b.check(err)
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	_, err = b.Client.CoreV1().Nodes().UpdateStatus(b.Ctx, n, metav1.UpdateOptions{})
	b.check(err)
}

// Deployment creates a Deployment and the ReplicaSet <name>-<hash> it would
// own, and returns the controller reference its pods carry.
func (b Builder) Deployment(ns, name, hash string, labels map[string]string) metav1.OwnerReference {
	b.T.Helper()
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "example/app:1"}}},
	}
	d, err := b.Client.AppsV1().Deployments(ns).Create(b.Ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	b.check(err)
	rsLabels := WithLabel(labels, "pod-template-hash", hash)
	rsTmpl := *tmpl.DeepCopy()
	rsTmpl.Labels = rsLabels
	rs, err := b.Client.AppsV1().ReplicaSets(ns).Create(b.Ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-" + hash, Labels: rsLabels,
			OwnerReferences: []metav1.OwnerReference{ControllerRef("apps/v1", "Deployment", d.Name, d.UID)}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: rsLabels}, Template: rsTmpl},
	}, metav1.CreateOptions{})
	b.check(err)
	return ControllerRef("apps/v1", "ReplicaSet", rs.Name, rs.UID)
}

// ControllerRef is a controller owner reference.
func ControllerRef(apiVersion, kind, name string, uid types.UID) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: &yes, BlockOwnerDeletion: &yes}
}

// WithLabel returns a copy of labels with key=value added.
func WithLabel(labels map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[k] = v
	}
	out[key] = value
	return out
}

// Pod creates a pod on the builder's node with the given container ports
// and, when ip is set, gives it that address through the status
// subresource, as the kubelet would.
func (b Builder) Pod(ns, name, ip string, labels map[string]string, owner *metav1.OwnerReference, ports ...corev1.ContainerPort) *corev1.Pod {
	b.T.Helper()
	node, _ := b.node()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "main", Image: "example/app:1", Ports: ports,
		}}},
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	p, err := b.Client.CoreV1().Pods(ns).Create(b.Ctx, p, metav1.CreateOptions{})
	b.check(err)
	if ip == "" {
		return p
	}
	return b.SetPodIP(p, ip)
}

// SetPodIP marks p running with address ip.
func (b Builder) SetPodIP(p *corev1.Pod, ip string) *corev1.Pod {
	b.T.Helper()
	_, nodeIP := b.node()
	p = p.DeepCopy()
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP, p.Status.HostIPs = nodeIP, []corev1.HostIP{{IP: nodeIP}}
	p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	p, err := b.Client.CoreV1().Pods(p.Namespace).UpdateStatus(b.Ctx, p, metav1.UpdateOptions{})
	b.check(err)
	return p
}

// Service creates a ClusterIP Service and the EndpointSlice <name>-abcde the
// EndpointSlice controller would write for backends (pod name to address):
// each port's targetPort as the endpoint port, a named targetPort looked up
// in the first backend pod's container ports.
func (b Builder) Service(ns, name string, selector map[string]string, ports []corev1.ServicePort, backends map[string]string) *corev1.Service {
	b.T.Helper()
	svc, err := b.Client.CoreV1().Services(ns).Create(b.Ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports},
	}, metav1.CreateOptions{})
	b.check(err)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, sp := range svc.Spec.Ports {
		port, proto, pname := sp.TargetPort.IntVal, sp.Protocol, sp.Name
		if sp.TargetPort.Type == intstr.String && len(names) > 0 {
			port = b.namedPort(ns, names[0], sp.TargetPort.StrVal)
		}
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: &pname, Port: &port, Protocol: &proto})
	}
	node, _ := b.node()
	for _, podName := range names {
		ready := true
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{backends[podName]},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			NodeName:   &node,
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: podName},
		})
	}
	_, err = b.Client.DiscoveryV1().EndpointSlices(ns).Create(b.Ctx, slice, metav1.CreateOptions{})
	b.check(err)
	return svc
}

func (b Builder) namedPort(ns, pod, name string) int32 {
	b.T.Helper()
	p, err := b.Client.CoreV1().Pods(ns).Get(b.Ctx, pod, metav1.GetOptions{})
	b.check(err)
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == name {
				return cp.ContainerPort
			}
		}
	}
	b.T.Fatalf("pod %s/%s has no container port named %q", ns, pod, name)
	return 0
}

// NetworkPolicy creates a policy.
func (b Builder) NetworkPolicy(ns string, p *networkingv1.NetworkPolicy) {
	b.T.Helper()
	_, err := b.Client.NetworkingV1().NetworkPolicies(ns).Create(b.Ctx, p, metav1.CreateOptions{})
	b.check(err)
}
