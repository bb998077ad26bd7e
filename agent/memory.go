package agent

import (
	"maps"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// codeReserve is what the container's memory holds besides the Go
// runtime's: the binary's code and read-only data that the kernel keeps
// resident once they have run (about 35 MiB), which the cgroup charges
// and the Go runtime does not count.
const codeReserve = 40 << 20

// goMemoryLimit returns the Go runtime's soft limit for a container memory
// limit: 90% of what the binary's resident pages leave, and never less than
// half the limit (a limit that small leaves the runtime its defaults' way of
// growing rather than collecting all the time).
func goMemoryLimit(limit int64) int64 {
	if limit <= 0 {
		return 0
	}
	return max((limit-codeReserve)/10*9, limit/2)
}

// sharePodParts makes the pods of one controller share what they hold
// alike: labels, annotations, owner references and containers come from
// one pod template, and the index keeps every pod, so 10,000 pods' copies
// cost megabytes. Objects are read-only once loaded (correlate.Inventory),
// which makes sharing them safe.
func sharePodParts(pods []*corev1.Pod) {
	type group struct {
		namespace, kind, name string
	}
	type parts struct {
		labels, annotations        []map[string]string
		owners                     [][]metav1.OwnerReference
		containers, initContainers [][]corev1.Container
	}
	seen := make(map[group]*parts)
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			continue // a bare pod shares nothing with others
		}
		g := group{p.Namespace, ref.Kind, ref.Name}
		ps := seen[g]
		if ps == nil {
			ps = &parts{}
			seen[g] = ps
		}
		p.Labels = share(&ps.labels, p.Labels, len(p.Labels), maps.Equal)
		p.Annotations = share(&ps.annotations, p.Annotations, len(p.Annotations), maps.Equal)
		p.OwnerReferences = share(&ps.owners, p.OwnerReferences, len(p.OwnerReferences), deepEqual)
		p.Spec.Containers = share(&ps.containers, p.Spec.Containers, len(p.Spec.Containers), deepEqual)
		p.Spec.InitContainers = share(&ps.initContainers, p.Spec.InitContainers, len(p.Spec.InitContainers), deepEqual)
	}
}

// maxVariants bounds the distinct values compared per controller: pods of
// one template hold one or two (during a rollout).
const maxVariants = 4

// share returns the value among seen equal to v (of length n), or v,
// which it adds to seen while there are few.
func share[T any](seen *[]T, v T, n int, equal func(a, b T) bool) T {
	if n == 0 {
		return v
	}
	for _, s := range *seen {
		if equal(s, v) {
			return s
		}
	}
	if len(*seen) < maxVariants {
		*seen = append(*seen, v)
	}
	return v
}

// deepEqual compares owner references and containers, whose fields
// include pointers and slices.
func deepEqual[T any](a, b T) bool { return reflect.DeepEqual(a, b) }
