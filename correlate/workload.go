package correlate

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Workload is the controller that a pod belongs to, at the top of its owner
// chain: what a user names when they talk about "the triage agent".
type Workload struct {
	// Kind is Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet,
	// ReplicationController, Pod (a bare pod), or the kind of any other
	// controller an ownerReference names.
	Kind, Name, Namespace string
	// StableLabels are the labels every pod of the workload carries across
	// rollouts: the pod template's labels (or, without the controller object,
	// the pod's) minus those that controllers add per revision or per pod.
	// A selector written from them selects the workload and nothing it
	// creates by itself. Shared: do not modify.
	StableLabels map[string]string
}

// String is "Kind/name", as flow.Endpoint.Workload spells it.
func (w *Workload) String() string {
	if w == nil {
		return ""
	}
	return w.Kind + "/" + w.Name
}

// IsControllerLabel reports whether key is a label that a controller (or
// the API server on its behalf) puts on pods or pod templates per revision,
// pod or run: pod-template-hash, controller-revision-hash, job-name and the
// like. A selector for the workload must not be written from them.
func IsControllerLabel(key string) bool {
	switch key {
	case "pod-template-hash", // Deployment -> ReplicaSet
		"controller-revision-hash", // StatefulSet, DaemonSet
		"pod-template-generation",  // DaemonSet
		"statefulset.kubernetes.io/pod-name",
		"apps.kubernetes.io/pod-index", // StatefulSet ordinal
		"batch.kubernetes.io/controller-uid",
		"batch.kubernetes.io/job-name",
		"batch.kubernetes.io/job-completion-index",
		"controller-uid", // the legacy spellings of the Job labels
		"job-name":
		return true
	}
	return false
}

// StableLabels returns labels without the controller-added ones, as a new
// map (nil when nothing is left).
func StableLabels(labels map[string]string) map[string]string {
	var out map[string]string
	for k, v := range labels {
		if IsControllerLabel(k) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(labels))
		}
		out[k] = v
	}
	return out
}

// Owners indexes workload controllers by namespace, kind and name. The zero
// value and nil are empty sets; it is not safe for concurrent writes.
type Owners struct {
	m map[ownerKey]*OwnerObject
}

type ownerKey struct{ namespace, kind, name string }

// NewOwners indexes objs.
func NewOwners(objs []OwnerObject) *Owners {
	o := &Owners{m: make(map[ownerKey]*OwnerObject, len(objs))}
	for i := range objs {
		o.Add(objs[i])
	}
	return o
}

// Add adds or replaces obj.
func (o *Owners) Add(obj OwnerObject) {
	if o.m == nil {
		o.m = make(map[ownerKey]*OwnerObject)
	}
	o.m[ownerKey{obj.Namespace, obj.Kind, obj.Name}] = &obj
}

// Remove forgets a controller.
func (o *Owners) Remove(kind, namespace, name string) {
	if o != nil {
		delete(o.m, ownerKey{namespace, kind, name})
	}
}

// Get returns a controller by kind, namespace and name.
func (o *Owners) Get(kind, namespace, name string) (*OwnerObject, bool) {
	if o == nil {
		return nil, false
	}
	obj, ok := o.m[ownerKey{namespace, kind, name}]
	return obj, ok
}

// lookup finds the object an owner reference points at; a UID mismatch means
// the reference is to an older incarnation, which the set does not hold.
func (o *Owners) lookup(namespace string, ref OwnerRef) *OwnerObject {
	obj, ok := o.Get(ref.Kind, namespace, ref.Name)
	if !ok || (ref.UID != "" && obj.UID != "" && ref.UID != obj.UID) {
		return nil
	}
	return obj
}

// maxOwnerDepth bounds the climb up an owner chain (Pod, ReplicaSet,
// Deployment is three) so that a reference cycle in bad input ends.
const maxOwnerDepth = 8

// WorkloadOf returns the workload pod belongs to. It climbs the controller
// chain through owners where they are known (Pod -> ReplicaSet ->
// Deployment, Job -> CronJob, or any other controller), and without them
// infers from ownerReferences: a ReplicaSet named <name>-<pod-template-hash>
// whose pod carries that hash belongs to Deployment <name>. A pod without a
// controller is its own workload, "Pod/<name>". owners may be nil.
func WorkloadOf(pod *corev1.Pod, owners *Owners) Workload {
	w := Workload{Kind: "Pod", Name: pod.Name, Namespace: pod.Namespace}
	ctrl := metav1.GetControllerOfNoCopy(pod)
	if ctrl == nil {
		w.StableLabels = StableLabels(pod.Labels)
		return w
	}
	ref := OwnerRef{Kind: ctrl.Kind, Name: ctrl.Name, UID: string(ctrl.UID)}
	var template map[string]string
	for range maxOwnerDepth {
		obj := owners.lookup(pod.Namespace, ref)
		if obj == nil {
			ref = inferOwner(ref, pod)
			break
		}
		if obj.TemplateLabels != nil {
			// The topmost known template wins: a Deployment's template is
			// the one its ReplicaSets copy (plus pod-template-hash).
			template = obj.TemplateLabels
		}
		if obj.Owner == nil {
			break
		}
		ref = *obj.Owner
	}
	w.Kind, w.Name = ref.Kind, ref.Name
	if template != nil {
		w.StableLabels = StableLabels(template)
	} else {
		w.StableLabels = StableLabels(pod.Labels)
	}
	return w
}

// inferOwner climbs one step without the controller object: only the
// ReplicaSet -> Deployment step can be inferred safely, from the
// pod-template-hash that the Deployment controller puts in both the
// ReplicaSet's name and its pods' labels.
func inferOwner(ref OwnerRef, pod *corev1.Pod) OwnerRef {
	if ref.Kind != "ReplicaSet" {
		return ref
	}
	hash := pod.Labels["pod-template-hash"]
	if hash == "" {
		return ref
	}
	deploy, ok := strings.CutSuffix(ref.Name, "-"+hash)
	if !ok || deploy == "" {
		return ref
	}
	return OwnerRef{Kind: "Deployment", Name: deploy}
}
