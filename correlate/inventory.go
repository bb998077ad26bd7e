// Package correlate ties addresses seen on the wire to cluster objects: the
// inventory of pods, services and policies (from a snapshot file or live
// informers), the IP index over it, and workload identity.
package correlate

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Objects is a consistent set of the cluster objects the auditor reads,
// already defaulted as the API server would default them.
type Objects struct {
	Namespaces      []*corev1.Namespace
	Pods            []*corev1.Pod
	Services        []*corev1.Service
	EndpointSlices  []*discoveryv1.EndpointSlice
	NetworkPolicies []*networkingv1.NetworkPolicy
	Nodes           []*corev1.Node
	// Owners are the workload controllers (ReplicaSets, Deployments,
	// StatefulSets, DaemonSets, Jobs, CronJobs) when the source has them;
	// without them workload identity is inferred from owner references.
	Owners []OwnerObject
}

// OwnerObject is a controller in a pod's owner chain.
type OwnerObject struct {
	Kind, Namespace, Name, UID string
	// Owner is the controller that owns this one, if any.
	Owner *OwnerRef
	// TemplateLabels are the labels of the controller's pod template.
	TemplateLabels map[string]string
}

// OwnerRef points at a controller by kind and name (in the same namespace).
type OwnerRef struct {
	Kind, Name, UID string
}

// Inventory is where the cluster's objects come from: a snapshot file, or
// client-go informers on a live API server. Both implement it.
type Inventory interface {
	// Objects returns the current objects. Callers must not modify them.
	Objects() Objects
}
