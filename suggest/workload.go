package suggest

import (
	"github.com/flow-auditor/flow-auditor/enrich"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// AddWorkload adds a record whose sides name workloads rather than pods,
// standing for flows flow records: one peer entry of the agents'
// ObservedTraffic baseline. The record is in its connection's direction; a
// pod side names its workload (Namespace, Workload "Kind/name", Labels),
// an address side its IP. The edge counts flows, and its comment's
// examples name the workloads, since no pod was recorded.
func (o *Observer) AddWorkload(rec *flow.Record, flows int) {
	if flows < 1 {
		flows = 1
	}
	src := o.workloadPeer(&rec.Src, false)
	dst := o.workloadPeer(&rec.Dst, podSide(&rec.Src) && podSide(&rec.Dst) &&
		rec.Src.Namespace == rec.Dst.Namespace && rec.Src.Workload == rec.Dst.Workload)
	f := policy.Flow{Src: src, Dst: dst, Protocol: enrich.Protocol(rec.Protocol), Port: int32(rec.Dst.Port)}
	ex := example{src: workloadSide(&rec.Src, src), dst: workloadSide(&rec.Dst, dst)}
	o.add(rec, &f, true, flows, &ex)
}

func podSide(ep *flow.Endpoint) bool {
	return ep.Kind == flow.KindPod && ep.Workload != ""
}

// workloadPeer is the peer the engine judges for one side of a workload
// record. A workload's pods are one peer named after the workload ("/" is
// never in a pod's name, so it names no real pod) carrying its
// representative pod's labels; again names the destination when a workload
// talks to itself, which is between two of its pods, not a pod to itself.
func (o *Observer) workloadPeer(ep *flow.Endpoint, again bool) *policy.Peer {
	if !podSide(ep) {
		kind := policy.External
		if ep.Kind == flow.KindNode {
			kind = policy.Node
		}
		return &policy.Peer{Kind: kind, IP: ep.IP}
	}
	name := ep.Workload
	if again {
		name += "/peer"
	}
	key := entityKey{kind: entWorkload, namespace: ep.Namespace, workload: ep.Workload}
	if e := o.entities[key]; e != nil && e.rep != nil {
		p := *e.rep
		p.Name = name
		return &p
	}
	// hostNetwork pods are their node as far as policy is concerned.
	for i := range o.in.Pods {
		pi := &o.in.Pods[i]
		if pi.HostNetwork && pi.Peer != nil && pi.Namespace == ep.Namespace && pi.Workload == ep.Workload {
			p := *pi.Peer
			return &p
		}
	}
	// Gone from the inventory: the labels the agent recorded select it.
	return &policy.Peer{Kind: policy.Pod, Namespace: ep.Namespace, Name: name, Labels: ep.Labels}
}

// workloadSide names a side of a workload record in comments.
func workloadSide(ep *flow.Endpoint, p *policy.Peer) exampleSide {
	if p.Kind == policy.Pod || podSide(ep) {
		return exampleSide{namespace: ep.Namespace, name: ep.Workload}
	}
	return exampleSide{ip: p.IP}
}
