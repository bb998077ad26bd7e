package baseline

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
	"github.com/flow-auditor/flow-auditor/flow"
)

// Observation is one peer entry of an ObservedTraffic object, as a flow
// record between the workload and its peer: the record's Src and Dst name
// workloads (Namespace, Workload, Labels; Pod is empty) or addresses,
// Dst.Port is the destination port, Packets and Bytes add up every flow,
// TimeFirst and TimeLast are the first and last seen, Node is the node that
// observed it, Verdict is "deny" when every flow was denied when observed.
type Observation struct {
	flow.Record
	// Flows is the number of flow records the entry adds up.
	Flows uint64
	// Denied is how many of them current policy denied when observed.
	Denied uint64
}

// Read returns the observed traffic of a namespace ("" for every namespace)
// from the ObservedTraffic objects of every node, seen at or after since
// (zero for all), as one Observation per peer entry.
//
// A flow between two pods is in both workloads' objects (the source's
// egress, the destination's ingress); Read keeps the egress entry and drops
// the ingress entry of a pod peer whose namespace it also reads, so that no
// flow counts twice.
func Read(ctx context.Context, client dynamic.Interface, namespace string, since time.Time) ([]Observation, error) {
	objs, err := List(ctx, client, namespace)
	if err != nil {
		return nil, err
	}
	return Observations(objs, namespace, since), nil
}

// Observations converts objects to observations as Read does; namespace is
// the one the objects were listed from ("" for all).
func Observations(objs []v1alpha1.ObservedTraffic, namespace string, since time.Time) []Observation {
	var out []Observation
	for i := range objs {
		o := &objs[i]
		self := flow.Endpoint{
			Kind:      flow.KindPod,
			Namespace: o.Namespace,
			Workload:  o.Spec.Workload,
			Labels:    o.Spec.Labels,
			Node:      o.Spec.Node,
		}
		for j := range o.Status.Peers {
			p := &o.Status.Peers[j]
			if !since.IsZero() && p.LastSeen.Time.Before(since) {
				continue
			}
			peer, ok := peerEndpoint(p)
			if !ok {
				continue
			}
			ob := Observation{
				Record: flow.Record{
					TimeFirst: p.FirstSeen.Time,
					TimeLast:  p.LastSeen.Time,
					Node:      o.Spec.Node,
					Protocol:  flow.Protocol(p.Protocol),
					Packets:   uint64(p.Packets),
					Bytes:     uint64(p.Bytes),
					Observed:  flow.Forwarded,
				},
				Flows:  uint64(p.Flows),
				Denied: uint64(p.Denied),
			}
			switch p.Direction {
			case "egress":
				ob.Src, ob.Dst = self, peer
			case "ingress":
				if peer.Kind == flow.KindPod && (namespace == "" || namespace == peer.Namespace) {
					continue // the peer's own egress entry holds this flow
				}
				ob.Src, ob.Dst = peer, self
			default:
				continue
			}
			ob.Dst.Port = uint16(p.Port)
			if ob.Flows > 0 && ob.Denied == ob.Flows {
				ob.Verdict = "deny"
			}
			out = append(out, ob)
		}
	}
	return out
}

func peerEndpoint(p *v1alpha1.ObservedPeer) (flow.Endpoint, bool) {
	e := flow.Endpoint{Kind: flow.Kind(p.Kind)}
	switch e.Kind {
	case flow.KindPod:
		e.Namespace, e.Workload, e.Labels = p.Namespace, p.Workload, p.Labels
	case flow.KindNode, flow.KindExternal:
		ip, err := netip.ParseAddr(p.IP)
		if err != nil {
			return e, false
		}
		e.IP = ip
	default:
		return e, false
	}
	if len(p.FQDNs) > 0 {
		e.FQDN = p.FQDNs[0]
	}
	return e, true
}

// Approve accepts everything the matching objects learned up to at, so that
// the agents stop reporting it as anomalous egress: it sets spec.approvedAt
// with server-side apply under its own field manager. workload matches
// spec.workload ("Kind/name") or its name alone; "" matches every workload
// of the namespace. It returns the approved objects' names.
func Approve(ctx context.Context, client dynamic.Interface, namespace, workload string, at time.Time) ([]string, error) {
	objs, err := List(ctx, client, namespace)
	if err != nil {
		return nil, err
	}
	ri := client.Resource(v1alpha1.GroupVersionResource()).Namespace(namespace)
	// Objects hold whole seconds: round up so that a peer first seen in the
	// same second as the approval is approved too.
	stamp := metav1.NewTime(at.UTC().Add(time.Second - 1).Truncate(time.Second))
	var names []string
	for i := range objs {
		o := &objs[i]
		if !matchWorkload(o.Spec.Workload, workload) {
			continue
		}
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": v1alpha1.GroupVersion.String(),
			"kind":       v1alpha1.Kind,
			"metadata":   map[string]any{"name": o.Name, "namespace": o.Namespace},
			"spec":       map[string]any{"approvedAt": stamp.UTC().Format(time.RFC3339)},
		}}
		if _, err := ri.Apply(ctx, o.Name, u, metav1.ApplyOptions{FieldManager: ApproveFieldManager, Force: true}); err != nil {
			return names, fmt.Errorf("approve %s/%s: %w", o.Namespace, o.Name, err)
		}
		names = append(names, o.Name)
	}
	slices.Sort(names)
	return names, nil
}

func matchWorkload(have, want string) bool {
	if want == "" || strings.EqualFold(have, want) {
		return true
	}
	_, name, _ := strings.Cut(have, "/")
	return name == want
}
