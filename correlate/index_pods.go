package correlate

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// UpsertPod adds or updates a pod. Its addresses are claimed from at (a
// pod's first addresses also cover flows that came shortly before the event,
// when nobody else held them); a pod that has Succeeded or Failed releases
// them at at.
func (ix *Index) UpsertPod(p *corev1.Pod, at time.Time) {
	n := ix.begin(at)
	defer ix.end()
	if st := ix.pods[objKey{p.Namespace, p.Name}]; st != nil && !st.snapshot && samePodIdentity(st.pod, p) {
		// Most pod updates are status noise (probes, conditions).
		st.pod = p
		return
	}
	ix.upsertPodLocked(p, n, false)
	ix.rebuildSelectorServicesLocked(p.Namespace, n)
}

// samePodIdentity reports whether nothing resolution reads changed between
// two versions of a pod.
func samePodIdentity(a, b *corev1.Pod) bool {
	if a.UID != b.UID || a.Spec.NodeName != b.Spec.NodeName || a.Spec.HostNetwork != b.Spec.HostNetwork ||
		podTerminated(a) != podTerminated(b) || podReady(a) != podReady(b) ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) || a.Status.PodIP != b.Status.PodIP ||
		!slices.Equal(a.Status.PodIPs, b.Status.PodIPs) || !maps.Equal(a.Labels, b.Labels) ||
		!slices.Equal(podPorts(a), podPorts(b)) {
		return false
	}
	ka, oka := controllerKey(a.Namespace, a.OwnerReferences)
	kb, okb := controllerKey(b.Namespace, b.OwnerReferences)
	return ka == kb && oka == okb
}

// DeletePod removes a pod; its addresses and name keep resolving to it for
// the grace window after at.
func (ix *Index) DeletePod(namespace, name string, at time.Time) {
	n := ix.begin(at)
	defer ix.end()
	if st := ix.pods[objKey{namespace, name}]; st != nil {
		ix.removePodLocked(st, n)
		ix.rebuildSelectorServicesLocked(namespace, n)
	}
}

func podTerminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func (ix *Index) upsertPodLocked(p *corev1.Pod, at int64, snapshot bool) {
	key := objKey{p.Namespace, p.Name}
	owner := &claimOwner{kind: claimPod, key: key, uid: p.UID}
	st := ix.pods[key]
	if st != nil && *st.owner != *owner {
		// A new pod under an old name: the old one is gone.
		ix.removePodLocked(st, at)
		st = nil
	}
	if st == nil {
		st = &podState{owner: owner, snapshot: snapshot}
		ix.pods[key] = st
		byNS := ix.podsByNS[p.Namespace]
		if byNS == nil {
			byNS = make(map[string]*podState)
			ix.podsByNS[p.Namespace] = byNS
		}
		byNS[p.Name] = st
	}
	st.pod = p
	ix.linkControllerLocked(st)

	from := at
	if st.snapshot {
		from = nanos(p.CreationTimestamp.Time)
	}
	terminated := podTerminated(p)
	claims, byName := ix.podTargets(p)
	switch {
	case terminated && st.snapshot:
		// Its network is gone, but a snapshot cannot say when: it keeps
		// the addresses nobody running holds.
		for i := range claims {
			claims[i].weak = true
		}
	case terminated:
		claims = nil
	}
	st.ips = ix.setClaims(owner, st.ips, claims, from, at)
	ix.holdName(key, owner, byName, from)
}

func (ix *Index) removePodLocked(st *podState, at int64) {
	p := st.pod
	key := objKey{p.Namespace, p.Name}
	for _, a := range st.ips {
		ix.releaseIP(a, st.owner, at)
	}
	ix.releaseName(key, st.owner, at)
	ix.unlinkControllerLocked(st)
	delete(ix.pods, key)
	if byNS := ix.podsByNS[p.Namespace]; byNS != nil {
		delete(byNS, p.Name)
		if len(byNS) == 0 {
			delete(ix.podsByNS, p.Namespace)
		}
	}
}

// linkControllerLocked files a pod under the controller it names, so that
// an owner's change reaches its pods.
func (ix *Index) linkControllerLocked(st *podState) {
	ctrl, _ := controllerKey(st.pod.Namespace, st.pod.OwnerReferences)
	if ctrl == st.ctrl {
		return
	}
	ix.unlinkControllerLocked(st)
	st.ctrl = ctrl
	if ctrl.name == "" {
		return
	}
	m := ix.podsByCtrl[ctrl]
	if m == nil {
		m = make(map[objKey]*podState)
		ix.podsByCtrl[ctrl] = m
	}
	m[objKey{st.pod.Namespace, st.pod.Name}] = st
}

func (ix *Index) unlinkControllerLocked(st *podState) {
	if st.ctrl.name == "" {
		return
	}
	if m := ix.podsByCtrl[st.ctrl]; m != nil {
		delete(m, objKey{st.pod.Namespace, st.pod.Name})
		if len(m) == 0 {
			delete(ix.podsByCtrl, st.ctrl)
		}
	}
	st.ctrl = ownerKey{}
}

// podTargets builds what a pod's addresses and name resolve to. A
// hostNetwork pod's addresses are its node's: they resolve as the node and
// yield to the Node object's own claim.
func (ix *Index) podTargets(p *corev1.Pod) ([]ipClaim, *Target) {
	ips := podAddrs(p)
	if p.Spec.HostNetwork {
		claims := make([]ipClaim, 0, len(ips))
		for _, ip := range ips {
			claims = append(claims, ipClaim{ip: ip, target: nodeTarget(p.Spec.NodeName, ip), weak: true})
		}
		var primary netip.Addr
		if len(ips) > 0 {
			primary = ips[0]
		}
		byName := nodeTarget(p.Spec.NodeName, primary)
		w := WorkloadOf(p, &ix.owners)
		byName.Endpoint.Namespace, byName.Endpoint.Pod, byName.Endpoint.Workload = p.Namespace, p.Name, w.String()
		byName.Workload = &w
		return claims, byName
	}
	w := WorkloadOf(p, &ix.owners)
	workload := w.String()
	ports := podPorts(p)
	mk := func(ip netip.Addr) *Target {
		return &Target{
			Endpoint: flow.Endpoint{
				IP: ip, Kind: flow.KindPod, Namespace: p.Namespace, Pod: p.Name,
				Node: p.Spec.NodeName, Workload: workload, Labels: p.Labels,
			},
			Peer: policy.Peer{
				Kind: policy.Pod, IP: ip, Namespace: p.Namespace, Name: p.Name,
				Labels: p.Labels, Ports: ports, NodeName: p.Spec.NodeName,
			},
			Workload: &w,
		}
	}
	claims := make([]ipClaim, 0, len(ips))
	var byName *Target
	for _, ip := range ips {
		t := mk(ip)
		claims = append(claims, ipClaim{ip: ip, target: t})
		if byName == nil {
			byName = t
		}
	}
	if byName == nil {
		byName = mk(netip.Addr{})
	}
	return claims, byName
}

// podAddrs are a pod's addresses, primary first; unparsable ones (which the
// API server would have refused) are skipped.
func podAddrs(p *corev1.Pod) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if ip, err := netip.ParseAddr(s); err == nil && !containsAddr(out, ip.Unmap()) {
			out = append(out, ip.Unmap())
		}
	}
	for _, pip := range p.Status.PodIPs {
		add(pip.IP)
	}
	if p.Status.PodIP != "" {
		add(p.Status.PodIP)
	}
	return out
}

// podPorts are the ports a pod serves on: its containers' and its sidecars'
// (init containers that keep running).
func podPorts(p *corev1.Pod) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for i := range p.Spec.Containers {
		out = append(out, p.Spec.Containers[i].Ports...)
	}
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, c.Ports...)
		}
	}
	return out
}
