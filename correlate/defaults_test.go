package correlate

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestApplyDefaults(t *testing.T) {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	empty := ""
	always := corev1.ContainerRestartPolicyAlways
	cases := []struct {
		name     string
		in, want any
	}{
		{"namespace gets its name label",
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai", Labels: map[string]string{"name": "ai"}}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai", Labels: map[string]string{"name": "ai", NamespaceNameLabel: "ai"}}}},
		{"namespace label is overwritten with the name",
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai", Labels: map[string]string{NamespaceNameLabel: "other"}}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai", Labels: map[string]string{NamespaceNameLabel: "ai"}}}},
		{"container and sidecar ports get TCP; podIPs from podIP",
			&corev1.Pod{Spec: corev1.PodSpec{
				Containers:     []corev1.Container{{Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: udp}}}},
				InitContainers: []corev1.Container{{RestartPolicy: &always, Ports: []corev1.ContainerPort{{ContainerPort: 15001}}}}},
				Status: corev1.PodStatus{PodIP: "10.0.0.1"}},
			&corev1.Pod{Spec: corev1.PodSpec{
				Containers:     []corev1.Container{{Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: tcp}, {ContainerPort: 53, Protocol: udp}}}},
				InitContainers: []corev1.Container{{RestartPolicy: &always, Ports: []corev1.ContainerPort{{ContainerPort: 15001, Protocol: tcp}}}}},
				Status: corev1.PodStatus{PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}}}},
		{"hostNetwork container ports are host ports; podIP from podIPs",
			&corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{ContainerPort: 10256}}}}},
				Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "172.18.0.2"}, {IP: "fc00::2"}}}},
			&corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{ContainerPort: 10256, HostPort: 10256, Protocol: tcp}}}}},
				Status: corev1.PodStatus{PodIP: "172.18.0.2", PodIPs: []corev1.PodIP{{IP: "172.18.0.2"}, {IP: "fc00::2"}}}}},
		{"service ports get TCP and targetPort = port; clusterIPs from clusterIP",
			&corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{
				{Port: 80}, {Port: 53, Protocol: udp, TargetPort: intstr.FromString("dns")}, {Port: 81, TargetPort: intstr.FromInt32(8081)}}}},
			&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1"},
				Ports: []corev1.ServicePort{
					{Port: 80, Protocol: tcp, TargetPort: intstr.FromInt32(80)},
					{Port: 53, Protocol: udp, TargetPort: intstr.FromString("dns")},
					{Port: 81, Protocol: tcp, TargetPort: intstr.FromInt32(8081)}}}}},
		{"endpoint slice ports get TCP and an empty name",
			&discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{}, {Protocol: &udp}}},
			&discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Name: &empty, Protocol: &tcp}, {Name: &empty, Protocol: &udp}}}},
		{"policy without policyTypes and with egress gets both; ports get TCP",
			&networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
				Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{}}}}}},
			&networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"},
				Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp}}}}}}},
		{"policy with an empty egress list is ingress only",
			&networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{}}},
			&networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress"},
				Egress: []networkingv1.NetworkPolicyEgressRule{}}}},
		{"explicit policyTypes stay",
			&networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Egress"}}},
			&networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Egress"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ApplyDefaults(c.in)
			if !reflect.DeepEqual(c.in, c.want) {
				t.Errorf("got  %+v\nwant %+v", c.in, c.want)
			}
			ApplyDefaults(c.in) // idempotent
			if !reflect.DeepEqual(c.in, c.want) {
				t.Errorf("second pass changed it: %+v", c.in)
			}
		})
	}
}
