package suggest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

// world is a random cluster with random traffic, for property tests and
// the benchmark.
type world struct {
	rng       *rand.Rand
	objs      correlate.Objects
	nodes     []genNode
	pods      []*genPod // pods with their own address
	byNS      map[string][]*genPod
	services  []genService
	externals []netip.Addr
	dnsIP     netip.Addr
	dnsPod    *genPod
	hostPods  []*genPod
	base      time.Time
}

type genNode struct {
	name string
	ip   netip.Addr
}

type genPod struct {
	pod   *corev1.Pod
	ip    netip.Addr
	ports []ProtoPort
	node  genNode
}

type genService struct {
	ip      netip.Addr
	port    uint16
	target  ProtoPort
	backend []*genPod
}

// worldOptions shape a random world.
type worldOptions struct {
	namespaces    int
	workloads     int // at most, per namespace
	replicas      int // at most
	nodes         int
	messy         bool // unlabeled bare pods, shared label sets, hostNetwork pods
	otherPolicies bool
}

var (
	vocabApp  = []string{"web", "api", "worker", "cache"}
	vocabTier = []string{"front", "back"}
	portPool  = []ProtoPort{{"TCP", 80}, {"TCP", 443}, {"TCP", 5432}, {"TCP", 8000}, {"TCP", 8001}, {"TCP", 8002}, {"UDP", 5353}, {"SCTP", 3868}, {"TCP", 9090}}
)

func genWorld(seed uint64, opt worldOptions) *world {
	w := &world{
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		byNS: map[string][]*genPod{},
		base: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := range opt.nodes {
		n := genNode{name: fmt.Sprintf("node-%d", i), ip: netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})}
		w.nodes = append(w.nodes, n)
		w.objs.Nodes = append(w.objs.Nodes, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.name},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip.String()}}},
		})
	}
	w.addDNS()
	for ni := range opt.namespaces {
		ns := fmt.Sprintf("ns%d", ni)
		w.objs.Namespaces = append(w.objs.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		nw := 1 + w.rng.IntN(opt.workloads)
		used := map[string]bool{}
		for wi := range nw {
			w.addWorkload(ns, ni, wi, opt, used)
		}
		if opt.otherPolicies && ni > 0 && w.rng.IntN(2) == 0 {
			w.addPolicies(ns)
		}
	}
	for i := range 4 {
		w.externals = append(w.externals,
			netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}),
			netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}))
	}
	w.externals = append(w.externals, netip.MustParseAddr("10.200.0.7"), netip.MustParseAddr("2001:db8::7"))
	return w
}

func (w *world) addDNS() {
	w.objs.Namespaces = append(w.objs.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}})
	p := w.addPod("kube-system", "coredns-5d78c9869d-aaaaa", map[string]string{"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"},
		&metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "coredns-5d78c9869d", UID: "rs-dns", Controller: ptr.To(true)},
		netip.AddrFrom4([4]byte{10, 250, 0, 5}), []ProtoPort{{"UDP", 53}, {"TCP", 53}}, false)
	w.dnsPod = p
	w.dnsIP = netip.AddrFrom4([4]byte{10, 96, 0, 10})
	w.addService("kube-system", "kube-dns", w.dnsIP, 53, ProtoPort{"UDP", 53}, []*genPod{p})
}

func (w *world) addWorkload(ns string, ni, wi int, opt worldOptions, used map[string]bool) {
	name := fmt.Sprintf("%s-w%d", ns, wi)
	kind := []string{"Deployment", "Deployment", "StatefulSet", "Pod"}[w.rng.IntN(4)]
	labels := w.labelSet(opt.messy, kind, used)
	nports := 1 + w.rng.IntN(3)
	var ports []ProtoPort
	for range nports {
		pp := portPool[w.rng.IntN(len(portPool))]
		if !containsPP(ports, pp) {
			ports = append(ports, pp)
		}
	}
	replicas := 1 + w.rng.IntN(opt.replicas)
	if kind == "Pod" {
		replicas = 1
	}
	hostNet := opt.messy && kind == "Deployment" && w.rng.IntN(8) == 0
	var pods []*genPod
	for r := range replicas {
		l := clone(labels)
		var owner *metav1.OwnerReference
		podName := name
		switch kind {
		case "Deployment":
			hash := fmt.Sprintf("h%dx%d", ni, wi)
			l["pod-template-hash"] = hash
			podName = fmt.Sprintf("%s-%s-%d", name, hash, r)
			owner = &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name + "-" + hash, UID: types.UID("rs-" + name), Controller: ptr.To(true)}
		case "StatefulSet":
			podName = fmt.Sprintf("%s-%d", name, r)
			l["controller-revision-hash"] = name + "-rev1"
			l["statefulset.kubernetes.io/pod-name"] = podName
			owner = &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: name, UID: types.UID("sts-" + name), Controller: ptr.To(true)}
		}
		ip := netip.AddrFrom4([4]byte{10, byte(1 + ni), byte(wi), byte(10 + r)})
		p := w.addPod(ns, podName, l, owner, ip, ports, hostNet)
		pods = append(pods, p)
	}
	if !hostNet && w.rng.IntN(3) == 0 {
		w.addService(ns, name, netip.AddrFrom4([4]byte{10, 96, byte(1 + ni), byte(wi)}), 80, ports[0], pods)
	}
}

// labelSet draws a workload's labels. Clean worlds give every workload of
// a namespace a distinct set (supersets allowed); messy ones may repeat a
// set or give a bare pod none.
func (w *world) labelSet(messy bool, kind string, used map[string]bool) map[string]string {
	for try := 0; ; try++ {
		l := map[string]string{}
		if !(messy && kind == "Pod" && w.rng.IntN(2) == 0) {
			l["app"] = vocabApp[w.rng.IntN(len(vocabApp))]
			if w.rng.IntN(2) == 0 {
				l["tier"] = vocabTier[w.rng.IntN(len(vocabTier))]
			}
		}
		key := formatLabels(l)
		if messy || !used[key] || try > 50 {
			used[key] = true
			if !messy && try > 50 {
				l["id"] = fmt.Sprint(len(used))
			}
			return l
		}
	}
}

func (w *world) addPod(ns, name string, labels map[string]string, owner *metav1.OwnerReference, ip netip.Addr, ports []ProtoPort, hostNet bool) *genPod {
	node := w.nodes[w.rng.IntN(len(w.nodes))]
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node.name, HostNetwork: hostNet},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if owner != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	c := corev1.Container{Name: "c", Image: "i"}
	for _, pp := range ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: pp.Port, Protocol: pp.Protocol})
	}
	pod.Spec.Containers = []corev1.Container{c}
	if hostNet {
		ip = node.ip
	}
	pod.Status.PodIP = ip.String()
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip.String()}}
	w.objs.Pods = append(w.objs.Pods, pod)
	gp := &genPod{pod: pod, ip: ip, ports: ports, node: node}
	if hostNet {
		w.hostPods = append(w.hostPods, gp)
	} else {
		w.pods = append(w.pods, gp)
		w.byNS[ns] = append(w.byNS[ns], gp)
	}
	return gp
}

func (w *world) addService(ns, name string, ip netip.Addr, port uint16, target ProtoPort, backends []*genPod) {
	w.objs.Services = append(w.objs.Services, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			ClusterIP: ip.String(), ClusterIPs: []string{ip.String()},
			Ports: []corev1.ServicePort{{Name: "p", Port: int32(port), Protocol: target.Protocol, TargetPort: intstr.FromInt32(target.Port)}},
		},
	})
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-slice", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("p"), Port: ptr.To(target.Port), Protocol: ptr.To(target.Protocol)}},
	}
	for _, b := range backends {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{b.ip.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			NodeName:   ptr.To(b.node.name),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: b.pod.Name},
		})
	}
	w.objs.EndpointSlices = append(w.objs.EndpointSlices, es)
	w.services = append(w.services, genService{ip: ip, port: port, target: target, backend: backends})
}

// addPolicies gives a namespace a deny-all ingress and one allowance, so
// that some observed flows are blocked on the other side.
func (w *world) addPolicies(ns string) {
	w.objs.NetworkPolicies = append(w.objs.NetworkPolicies,
		&networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "deny-ingress", Namespace: ns},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
		},
		&networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "allow-web", Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
			},
		})
}

// flows draws n flow records, as a collector would report them (addresses
// and ports only; correlation fills in the rest). target gets at least
// half of them.
func (w *world) flows(n int, target string, messy bool) []flow.Record {
	out := make([]flow.Record, 0, n)
	for len(out) < n {
		src := w.pick(target, len(out)%2 == 0)
		rec := flow.Record{Packets: 3, Bytes: 300, Observed: flow.Forwarded, Initiator: "src"}
		t := w.base.Add(time.Duration(w.rng.Int64N(int64(7 * 24 * time.Hour))))
		rec.TimeFirst, rec.TimeLast = t, t.Add(time.Duration(w.rng.IntN(60))*time.Second)
		rec.Src = flow.Endpoint{IP: src.ip, Port: uint16(32768 + w.rng.IntN(28000))}
		switch k := w.rng.IntN(20); {
		case k < 12: // to a pod
			dst := w.pick(target, len(out)%2 == 1)
			pp := dst.ports[w.rng.IntN(len(dst.ports))]
			rec.Dst, rec.Protocol = flow.Endpoint{IP: dst.ip, Port: uint16(pp.Port)}, flow.Protocol(pp.Protocol)
		case k < 14: // to a Service
			s := w.services[w.rng.IntN(len(w.services))]
			rec.Dst, rec.Protocol = flow.Endpoint{IP: s.ip, Port: s.port}, flow.Protocol(s.target.Protocol)
		case k < 16: // DNS through its ClusterIP
			rec.Dst, rec.Protocol = flow.Endpoint{IP: w.dnsIP, Port: 53}, flow.UDP
		case k < 18: // to an external address
			ext := w.externals[w.rng.IntN(len(w.externals))]
			rec.Dst, rec.Protocol = flow.Endpoint{IP: ext, Port: 443, FQDN: fmt.Sprintf("api%d.example", ext.As16()[15]%3)}, flow.TCP
		case k < 19: // from a node or an external client
			dst := w.pick(target, true)
			pp := dst.ports[0]
			from := w.nodes[w.rng.IntN(len(w.nodes))].ip
			if w.rng.IntN(2) == 0 {
				from = w.externals[w.rng.IntN(len(w.externals)-1)]
			}
			rec.Src.IP = from
			rec.Dst, rec.Protocol = flow.Endpoint{IP: dst.ip, Port: uint16(pp.Port)}, flow.Protocol(pp.Protocol)
		default:
			if messy && len(w.hostPods) > 0 {
				hp := w.hostPods[w.rng.IntN(len(w.hostPods))]
				rec.Dst, rec.Protocol = flow.Endpoint{IP: hp.ip, Port: uint16(hp.ports[0].Port)}, flow.Protocol(hp.ports[0].Protocol)
			} else if messy {
				dst := w.pick(target, true)
				typ := uint8(8)
				rec.Src.Port, rec.Dst, rec.Protocol, rec.ICMPType = 0, flow.Endpoint{IP: dst.ip}, flow.ICMPv4, &typ
				rec.Initiator = ""
			} else {
				rec.Dst, rec.Protocol = flow.Endpoint{IP: w.dnsPod.ip, Port: 53}, flow.TCP
			}
		}
		if rec.Protocol != flow.TCP {
			rec.Initiator = ""
		}
		if rec.Protocol == flow.TCP && w.rng.IntN(10) == 0 {
			// The answer, counted at the other side.
			rec.Src, rec.Dst, rec.Initiator = rec.Dst, rec.Src, "dst"
		}
		if w.rng.IntN(12) == 0 {
			rec.Observed, rec.DropReason = flow.Dropped, "POLICY_DENIED"
		}
		if rec.Src.IP == rec.Dst.IP {
			continue
		}
		out = append(out, rec)
	}
	return out
}

// pick returns a pod, of the target namespace when inTarget.
func (w *world) pick(target string, inTarget bool) *genPod {
	if inTarget && len(w.byNS[target]) > 0 {
		ps := w.byNS[target]
		return ps[w.rng.IntN(len(ps))]
	}
	return w.pods[w.rng.IntN(len(w.pods))]
}

func containsPP(s []ProtoPort, pp ProtoPort) bool {
	for _, x := range s {
		if x == pp {
			return true
		}
	}
	return false
}

func clone(m map[string]string) map[string]string { return cloneLabels(m) }
