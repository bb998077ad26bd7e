package v1alpha1

import (
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Written by hand: the types are small and a generator would be one more tool
// to pin.

// DeepCopyInto copies in into out.
func (in *ObservedTraffic) DeepCopyInto(out *ObservedTraffic) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a deep copy.
func (in *ObservedTraffic) DeepCopy() *ObservedTraffic {
	if in == nil {
		return nil
	}
	out := new(ObservedTraffic)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *ObservedTraffic) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyInto copies in into out.
func (in *ObservedTrafficSpec) DeepCopyInto(out *ObservedTrafficSpec) {
	*out = *in
	out.Labels = maps.Clone(in.Labels)
	if in.ApprovedAt != nil {
		out.ApprovedAt = in.ApprovedAt.DeepCopy()
	}
}

// DeepCopyInto copies in into out.
func (in *ObservedTrafficStatus) DeepCopyInto(out *ObservedTrafficStatus) {
	*out = *in
	in.LearningStarted.DeepCopyInto(&out.LearningStarted)
	in.LearningEnds.DeepCopyInto(&out.LearningEnds)
	if in.Peers != nil {
		out.Peers = make([]ObservedPeer, len(in.Peers))
		for i := range in.Peers {
			in.Peers[i].DeepCopyInto(&out.Peers[i])
		}
	}
	if in.Overflow != nil {
		o := *in.Overflow
		out.Overflow = &o
	}
}

// DeepCopyInto copies in into out.
func (in *ObservedPeer) DeepCopyInto(out *ObservedPeer) {
	*out = *in
	out.Labels = maps.Clone(in.Labels)
	if in.FQDNs != nil {
		out.FQDNs = append([]string(nil), in.FQDNs...)
	}
}

// DeepCopyInto copies in into out.
func (in *ObservedTrafficList) DeepCopyInto(out *ObservedTrafficList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]ObservedTraffic, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy.
func (in *ObservedTrafficList) DeepCopy() *ObservedTrafficList {
	if in == nil {
		return nil
	}
	out := new(ObservedTrafficList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *ObservedTrafficList) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// AddToScheme registers the types with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ObservedTraffic{}, &ObservedTrafficList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
