package correlate

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Objects returns what the informers hold now, sorted by namespace and name.
// It implements Inventory; the objects are trimmed (see trimObject).
func (l *Live) Objects() Objects {
	var o Objects
	for _, r := range l.resources {
		for _, item := range r.informer.GetStore().List() {
			liveAddObject(&o, item)
		}
	}
	liveSortObjects(&o)
	return o
}

func liveAddObject(o *Objects, item any) {
	switch v := item.(type) {
	case *corev1.Namespace:
		o.Namespaces = append(o.Namespaces, v)
	case *corev1.Pod:
		o.Pods = append(o.Pods, v)
	case *corev1.Service:
		o.Services = append(o.Services, v)
	case *discoveryv1.EndpointSlice:
		o.EndpointSlices = append(o.EndpointSlices, v)
	case *networkingv1.NetworkPolicy:
		o.NetworkPolicies = append(o.NetworkPolicies, v)
	case *corev1.Node:
		o.Nodes = append(o.Nodes, v)
	default:
		if oo, ok := OwnerFrom(item); ok {
			o.Owners = append(o.Owners, oo)
		}
	}
}

func liveSortObjects(o *Objects) {
	liveSortByKey(o.Namespaces)
	liveSortByKey(o.Pods)
	liveSortByKey(o.Services)
	liveSortByKey(o.EndpointSlices)
	liveSortByKey(o.NetworkPolicies)
	liveSortByKey(o.Nodes)
	slices.SortFunc(o.Owners, func(a, b OwnerObject) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
}

func liveSortByKey[T metav1.Object](s []T) {
	slices.SortFunc(s, func(a, b T) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
}

// resolvableAddrs lists the addresses an object makes resolvable.
func resolvableAddrs(obj runtime.Object) []netip.Addr {
	var raw []string
	switch v := obj.(type) {
	case *corev1.Pod:
		for _, ip := range v.Status.PodIPs {
			raw = append(raw, ip.IP)
		}
		if len(raw) == 0 && v.Status.PodIP != "" {
			raw = append(raw, v.Status.PodIP)
		}
	case *corev1.Node:
		for _, a := range v.Status.Addresses {
			if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
				raw = append(raw, a.Address)
			}
		}
	case *corev1.Service:
		raw = append(raw, v.Spec.ClusterIPs...)
		if len(v.Spec.ClusterIPs) == 0 && v.Spec.ClusterIP != "" {
			raw = append(raw, v.Spec.ClusterIP)
		}
	}
	var out []netip.Addr
	for _, s := range raw {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// creationTime is obj's creation timestamp, or fallback when it has none.
func creationTime(obj runtime.Object, fallback time.Time) time.Time {
	m, err := meta.Accessor(obj)
	if err != nil || m.GetCreationTimestamp().Time.IsZero() {
		return fallback
	}
	return m.GetCreationTimestamp().Time
}
