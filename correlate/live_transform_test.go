package correlate

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTrimKeepsWhatResolutionReads(t *testing.T) {
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ai-agents", Name: "triage-1", UID: "u1",
			Labels:          map[string]string{"app": "ai-agent"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "triage-7d4b9c", Controller: &yes}},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-a", HostNetwork: false, ServiceAccountName: "agent",
			Volumes: []corev1.Volume{{Name: "data"}},
			Containers: []corev1.Container{{
				Name: "main", Image: "example/agent:1", Env: []corev1.EnvVar{{Name: "TOKEN", Value: "secret"}},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}},
			}},
			InitContainers: []corev1.Container{{Name: "proxy", Image: "example/proxy", RestartPolicy: liveTestPtr(corev1.ContainerRestartPolicyAlways),
				Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}}}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.244.1.10", PodIPs: []corev1.PodIP{{IP: "10.244.1.10"}, {IP: "fd00::10"}},
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main"}},
		},
	}
	obj, err := trimObject(pod)
	if err != nil {
		t.Fatal(err)
	}
	p := obj.(*corev1.Pod)
	if p.ManagedFields != nil || p.Annotations != nil || p.Spec.Volumes != nil || p.Status.Conditions != nil || p.Status.ContainerStatuses != nil {
		t.Errorf("trimmed pod still holds fields the auditor never reads: %+v", p)
	}
	if p.Spec.Containers[0].Image != "" || p.Spec.Containers[0].Env != nil {
		t.Errorf("container kept image or env (secrets stay out of memory): %+v", p.Spec.Containers[0])
	}
	if p.Labels["app"] != "ai-agent" || len(p.OwnerReferences) != 1 || p.Spec.NodeName != "node-a" || p.UID != "u1" ||
		len(p.Status.PodIPs) != 2 || p.Status.Phase != corev1.PodRunning || p.Spec.ServiceAccountName != "agent" {
		t.Errorf("trimmed pod lost what resolution reads: %+v", p)
	}
	if p.Spec.Containers[0].Ports[0].Name != "http" || p.Spec.InitContainers[0].Ports[0].ContainerPort != 9090 {
		t.Errorf("named ports lost (policies name them): %+v %+v", p.Spec.Containers, p.Spec.InitContainers)
	}

	// Idempotent: trimming a trimmed object changes nothing.
	again := p.DeepCopy()
	if _, err := trimObject(again); err != nil || !reflect.DeepEqual(again, p) {
		t.Errorf("second trim changed the pod:\n%+v\n%+v", again, p)
	}
}

func TestTrimNodeAndControllers(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{"zone": "a"}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", ProviderID: "cloud://x"},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}},
			Images:    []corev1.ContainerImage{{Names: []string{"a-very-large-list"}}},
		},
	}
	n, _ := trimObject(node)
	if got := n.(*corev1.Node); got.Status.Images != nil || got.Spec.ProviderID != "" ||
		got.Status.Addresses[0].Address != "172.18.0.2" || got.Spec.PodCIDR != "10.244.1.0/24" || got.Labels["zone"] != "a" {
		t.Errorf("trimmed node: %+v", got)
	}

	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "triage-7d4b9c", ManagedFields: []metav1.ManagedFieldsEntry{{}}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: liveTestPtr(int32(3)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "ai-agent", "pod-template-hash": "7d4b9c"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "x"}}},
			},
		},
	}
	r, _ := trimObject(rs)
	got := r.(*appsv1.ReplicaSet)
	if got.Spec.Replicas != nil || got.Spec.Template.Spec.Containers != nil || got.ManagedFields != nil {
		t.Errorf("trimmed ReplicaSet kept its spec: %+v", got.Spec)
	}
	if oo, ok := OwnerFrom(got); !ok || oo.TemplateLabels["app"] != "ai-agent" {
		t.Errorf("trimmed ReplicaSet lost its template labels: %+v", oo)
	}
}

func liveTestPtr[T any](v T) *T { return &v }
