package correlate

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flow-auditor/flow-auditor/policy"
)

// NamespaceNameLabel is the label the API server puts on every namespace,
// holding its name; policies select namespaces by it.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// ApplyDefaults defaults obj in place the way the API server does on create
// for the fields the auditor reads, so that hand-written manifests behave
// like objects read back from a cluster:
//   - Namespace: the kubernetes.io/metadata.name label;
//   - Pod: container port protocol TCP; status.podIPs from status.podIP;
//   - Service: port protocol TCP, targetPort = port, clusterIPs from clusterIP;
//   - EndpointSlice: port protocol TCP, port name "";
//   - NetworkPolicy: policyTypes and port protocol TCP (policy.Default).
//
// Other objects are left alone. It is idempotent.
func ApplyDefaults(obj any) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		defaultNamespace(o)
	case *corev1.Pod:
		defaultPod(o)
	case *corev1.Service:
		defaultService(o)
	case *discoveryv1.EndpointSlice:
		defaultEndpointSlice(o)
	case *networkingv1.NetworkPolicy:
		policy.Default(o)
	}
}

func defaultNamespace(ns *corev1.Namespace) {
	if ns.Name == "" || ns.Labels[NamespaceNameLabel] == ns.Name {
		return
	}
	if ns.Labels == nil {
		ns.Labels = make(map[string]string, 1)
	}
	ns.Labels[NamespaceNameLabel] = ns.Name
}

func defaultPod(p *corev1.Pod) {
	defaultContainerPorts := func(cs []corev1.Container) {
		for i := range cs {
			for j := range cs[i].Ports {
				port := &cs[i].Ports[j]
				if port.Protocol == "" {
					port.Protocol = corev1.ProtocolTCP
				}
				// A hostNetwork pod's container ports are host ports.
				if p.Spec.HostNetwork && port.HostPort == 0 {
					port.HostPort = port.ContainerPort
				}
			}
		}
	}
	defaultContainerPorts(p.Spec.Containers)
	defaultContainerPorts(p.Spec.InitContainers)
	// The kubelet writes both; manifests written by hand often have one.
	if len(p.Status.PodIPs) == 0 && p.Status.PodIP != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
	}
	if p.Status.PodIP == "" && len(p.Status.PodIPs) > 0 {
		p.Status.PodIP = p.Status.PodIPs[0].IP
	}
}

func defaultService(s *corev1.Service) {
	for i := range s.Spec.Ports {
		sp := &s.Spec.Ports[i]
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0 && sp.TargetPort.StrVal == "" {
			sp.TargetPort = intstr.FromInt32(sp.Port)
		}
	}
	if s.Spec.Type == "" {
		s.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if len(s.Spec.ClusterIPs) == 0 && s.Spec.ClusterIP != "" {
		s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
	}
	if s.Spec.ClusterIP == "" && len(s.Spec.ClusterIPs) > 0 {
		s.Spec.ClusterIP = s.Spec.ClusterIPs[0]
	}
}

func defaultEndpointSlice(s *discoveryv1.EndpointSlice) {
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Protocol == nil {
			tcp := corev1.ProtocolTCP
			p.Protocol = &tcp
		}
		if p.Name == nil {
			empty := ""
			p.Name = &empty
		}
	}
}
