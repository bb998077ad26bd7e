package v1alpha1

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestDeepCopyIsDeep(t *testing.T) {
	in := &ObservedTraffic{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"a": "b"}},
		Spec:       ObservedTrafficSpec{Workload: "Deployment/w", Node: "n", Labels: map[string]string{"app": "w"}, ApprovedAt: &metav1.Time{}},
		Status: ObservedTrafficStatus{
			Peers:    []ObservedPeer{{Direction: "egress", Kind: "external", IP: "192.0.2.1", FQDNs: []string{"a.example"}, Labels: map[string]string{"k": "v"}}},
			Overflow: &OverflowSummary{Flows: 3},
		},
	}
	out := in.DeepCopy()
	if !reflect.DeepEqual(in, out) {
		t.Fatal("copy differs")
	}
	out.Labels["a"] = "changed"
	out.Spec.Labels["app"] = "changed"
	out.Spec.ApprovedAt.Time = out.Spec.ApprovedAt.Add(1)
	out.Status.Peers[0].FQDNs[0] = "changed"
	out.Status.Peers[0].Labels["k"] = "changed"
	out.Status.Overflow.Flows = 9
	if in.Labels["a"] != "b" || in.Spec.Labels["app"] != "w" || !in.Spec.ApprovedAt.IsZero() ||
		in.Status.Peers[0].FQDNs[0] != "a.example" || in.Status.Peers[0].Labels["k"] != "v" || in.Status.Overflow.Flows != 3 {
		t.Error("the copy shares memory with the original")
	}
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if !s.Recognizes(GroupVersion.WithKind(Kind)) {
		t.Error("scheme does not know ObservedTraffic")
	}
}
