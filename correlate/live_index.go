package correlate

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// IndexHandler feeds ix from a live inventory: set it as LiveConfig.Handler.
// NetworkPolicies are not the index's business and pass through untouched.
func IndexHandler(ix *Index) ChangeHandler { return indexHandler{ix} }

type indexHandler struct{ ix *Index }

func (h indexHandler) Upsert(obj runtime.Object, at time.Time) {
	switch o := obj.(type) {
	case *corev1.Pod:
		h.ix.UpsertPod(o, at)
	case *corev1.Node:
		h.ix.UpsertNode(o, at)
	case *corev1.Service:
		h.ix.UpsertService(o, at)
	case *discoveryv1.EndpointSlice:
		h.ix.UpsertEndpointSlice(o, at)
	case *corev1.Namespace:
		h.ix.UpsertNamespace(o, at)
	default:
		if oo, ok := OwnerFrom(obj); ok {
			h.ix.UpsertOwner(oo, at)
		}
	}
}

func (h indexHandler) Delete(obj runtime.Object, at time.Time) {
	switch o := obj.(type) {
	case *corev1.Pod:
		h.ix.DeletePod(o.Namespace, o.Name, at)
	case *corev1.Node:
		h.ix.DeleteNode(o.Name, at)
	case *corev1.Service:
		h.ix.DeleteService(o.Namespace, o.Name, at)
	case *discoveryv1.EndpointSlice:
		h.ix.DeleteEndpointSlice(o.Namespace, o.Name, at)
	case *corev1.Namespace:
		h.ix.DeleteNamespace(o.Name, at)
	default:
		if oo, ok := OwnerFrom(obj); ok {
			h.ix.DeleteOwner(oo.Kind, oo.Namespace, oo.Name, at)
		}
	}
}
