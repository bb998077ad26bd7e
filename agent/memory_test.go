package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGoMemoryLimit(t *testing.T) {
	for _, c := range []struct{ limit, want int64 }{
		{150 << 20, (110 << 20) / 10 * 9}, // the binary's pages first, then 90%
		{1 << 30, (1024 - 40) << 20 / 10 * 9},
		{64 << 20, 32 << 20}, // never under half
		{0, 0},
	} {
		if got := goMemoryLimit(c.limit); got != c.want {
			t.Errorf("goMemoryLimit(%d MiB) = %d MiB, want %d MiB", c.limit>>20, got>>20, c.want>>20)
		}
	}
}

// Pods of one controller share what they hold alike, and only that.
func TestSharePodParts(t *testing.T) {
	controller := true
	mk := func(name, rs, version string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "ns", Name: name, Labels: map[string]string{"app": "a", "version": version},
				OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: rs, Controller: &controller}},
			},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{ContainerPort: 8000}}}}},
		}
	}
	a, b, c, other := mk("a", "rs", "1"), mk("b", "rs", "1"), mk("c", "rs", "2"), mk("d", "rs2", "1")
	bare := mk("e", "", "1")
	bare.OwnerReferences = nil
	sharePodParts([]*corev1.Pod{a, b, c, other, bare})
	same := func(x, y *corev1.Pod) bool {
		return &x.Spec.Containers[0] == &y.Spec.Containers[0] && &x.OwnerReferences[0] == &y.OwnerReferences[0]
	}
	if !same(a, b) || !same(a, c) {
		t.Error("pods of one ReplicaSet do not share their containers and owner references")
	}
	a.Labels["probe"] = "x" // shared: seen through b, not c
	if b.Labels["probe"] != "x" || c.Labels["probe"] != "" || c.Labels["version"] != "2" {
		t.Errorf("labels: b %v, c %v; want b's shared with a and c's its own", b.Labels, c.Labels)
	}
	if same(a, other) || other.Labels["probe"] != "" {
		t.Error("pods of another controller share a's parts")
	}
}
