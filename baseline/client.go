package baseline

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
)

// Field managers of the server-side applies: the agent owns metadata, the
// spec's identity and the status; `auditor baseline approve` owns
// spec.approvedAt. Neither ever touches the other's fields.
const (
	AgentFieldManager   = "flow-auditor-agent"
	ApproveFieldManager = "flow-auditor-approve"
)

var nodesGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}

// List returns the ObservedTraffic objects of a namespace ("" for all).
func List(ctx context.Context, client dynamic.Interface, namespace string) ([]v1alpha1.ObservedTraffic, error) {
	res := client.Resource(v1alpha1.GroupVersionResource())
	var ri dynamic.ResourceInterface = res
	if namespace != "" {
		ri = res.Namespace(namespace)
	}
	var out []v1alpha1.ObservedTraffic
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := ri.List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", v1alpha1.Resource, err)
		}
		for i := range list.Items {
			var o v1alpha1.ObservedTraffic
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &o); err != nil {
				return nil, fmt.Errorf("decode %s %s/%s: %w", v1alpha1.Kind, list.Items[i].GetNamespace(), list.Items[i].GetName(), err)
			}
			out = append(out, o)
		}
		if list.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = list.GetContinue()
	}
}

// toUnstructured converts a typed object for the dynamic client.
func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert to unstructured: %w", err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// applyObject server-side applies the object's metadata and spec identity
// (never approvedAt), then its status, as the agent's field manager.
func applyObject(ctx context.Context, client dynamic.Interface, o *v1alpha1.ObservedTraffic, withMeta bool) error {
	ri := client.Resource(v1alpha1.GroupVersionResource()).Namespace(o.Namespace)
	opts := metav1.ApplyOptions{FieldManager: AgentFieldManager, Force: true}
	if withMeta {
		meta := map[string]any{
			"name":      o.Name,
			"namespace": o.Namespace,
			"labels":    stringMap(o.Labels),
		}
		if len(o.OwnerReferences) > 0 {
			refs := make([]any, 0, len(o.OwnerReferences))
			for _, r := range o.OwnerReferences {
				m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&r)
				if err != nil {
					return fmt.Errorf("convert owner reference: %w", err)
				}
				refs = append(refs, m)
			}
			meta["ownerReferences"] = refs
		}
		spec := map[string]any{"workload": o.Spec.Workload, "node": o.Spec.Node}
		if len(o.Spec.Labels) > 0 {
			spec["labels"] = stringMap(o.Spec.Labels)
		}
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": v1alpha1.GroupVersion.String(),
			"kind":       v1alpha1.Kind,
			"metadata":   meta,
			"spec":       spec,
		}}
		if _, err := ri.Apply(ctx, o.Name, u, opts); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", v1alpha1.Kind, o.Namespace, o.Name, err)
		}
	}
	status, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&o.Status)
	if err != nil {
		return fmt.Errorf("convert status: %w", err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       v1alpha1.Kind,
		"metadata":   map[string]any{"name": o.Name, "namespace": o.Namespace},
		"status":     status,
	}}
	if _, err := ri.ApplyStatus(ctx, o.Name, u, opts); err != nil {
		return fmt.Errorf("apply status of %s %s/%s: %w", v1alpha1.Kind, o.Namespace, o.Name, err)
	}
	return nil
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// nodeUID returns the UID of a Node, for owner references.
func nodeUID(ctx context.Context, client dynamic.Interface, name string) (string, error) {
	n, err := client.Resource(nodesGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get node %s: %w", name, err)
	}
	return string(n.GetUID()), nil
}
