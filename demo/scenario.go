// Package demo plays the AI-agents scenario of design.md on one machine:
// the cluster's pods and the outside hosts in network namespaces, the real
// agent (eBPF programs, pipeline, metrics) watching the node namespace,
// normal behaviour and then four attacks, and what the auditor makes of
// them: violations with explanations, metrics, suggested policies proven by
// replay, and a picture. `auditor demo` runs it.
package demo

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Namespaces of the scenario.
const (
	NSAgents   = "ai-agents"
	NSGateway  = "api-gateway"
	NSDatabase = "databases"
	NSSystem   = "kube-system"
)

// NodeName is the one node of the emulated cluster.
const NodeName = "demo-node"

// Port is a port a pod or host serves.
type Port struct {
	Protocol corev1.Protocol
	Port     uint16
}

// Pod is one pod of the emulated cluster.
type Pod struct {
	// Key names the pod in the scenario's edges ("triage", "spec-1").
	Key       string
	Namespace string
	Name      string
	// Workload is the controller: "Deployment/triage-agent".
	Workload string
	// Hash is the pod-template-hash (Deployments) or the revision
	// (StatefulSets).
	Hash   string
	Labels map[string]string
	IP     netip.Addr
	Ports  []Port
}

// Host is an address outside the cluster.
type Host struct {
	Key  string
	What string
	// FQDN is the name the cluster DNS answers for it ("" for none).
	FQDN string
	IP   netip.Addr
	Port Port
}

// Scenario is the cluster, the outside hosts, normal behaviour and the
// attacks.
type Scenario struct {
	Pods    []Pod
	Hosts   []Host
	Normal  []Call
	Attacks []Attack
}

// Call is one connection a client pod makes: to a pod or host (To is a
// key), optionally resolving To's FQDN through the cluster DNS first.
type Call struct {
	From, To string
	Port     Port
	// Resolve asks kube-dns for the host's name before connecting.
	Resolve bool
	// Path is the request line's path.
	Path string
}

// Attack is a call that the auditor must flag, and how.
type Attack struct {
	Name string
	Call
	// Violation is the kind expected without enforcement; with it, the
	// policy violations become "denied" (the network dropped them).
	Violation string
	// PolicyDenies is set when current policy denies the call (so that
	// enforcement drops it).
	PolicyDenies bool
	// Classes are the anomalous-egress classes expected.
	Classes []string
}

// Keys of the scenario's pods and hosts.
const (
	KeyDNS      = "kube-dns"
	KeyGateway  = "gateway"
	KeyTriage   = "triage"
	KeySpec1    = "spec-1"
	KeySpec2    = "spec-2"
	KeyTools    = "tool-service"
	KeyPostgres = "postgresql"
	KeyLLM      = "llm"
	KeyEmbed    = "embeddings"
	KeyNewLLM   = "new-llm"
	KeyInternal = "internal"
	KeyMetadata = "metadata"
)

var (
	tcp = func(p uint16) Port { return Port{corev1.ProtocolTCP, p} }
	udp = func(p uint16) Port { return Port{corev1.ProtocolUDP, p} }
)

// AIAgents returns the scenario of design.md. Pods sit in 10.42.0.0/24
// (the node's pod CIDR); the LLM APIs at documentation addresses; an
// internal service at a private address outside the cluster; the cloud
// metadata service at 169.254.169.254. Pods reach DNS at the kube-dns pod's
// own address (the demo runs no kube-proxy, so there is no ClusterIP).
//
// The addresses differ from those of the project's other kernel tests: the
// kernel reports drops of every namespace to every program watching, and
// another test's agent must not resolve the demo's drops to its own pods.
func AIAgents() *Scenario {
	agent := func(role, hash string) map[string]string {
		return map[string]string{"app": "ai-agent", "role": role, "tier": "ai-agent",
			"network-policy": "restricted", "pod-template-hash": hash}
	}
	a := netip.MustParseAddr
	s := &Scenario{
		Pods: []Pod{
			{Key: KeyDNS, Namespace: NSSystem, Name: "coredns-5d78c9869d-7xk2p", Workload: "Deployment/coredns", Hash: "5d78c9869d",
				Labels: map[string]string{"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"},
				IP:     a("10.42.0.2"), Ports: []Port{udp(53), tcp(53)}},
			{Key: KeyGateway, Namespace: NSGateway, Name: "gateway-84b6d7c9f5-p5n8v", Workload: "Deployment/gateway", Hash: "84b6d7c9f5",
				Labels: map[string]string{"app": "gateway", "pod-template-hash": "84b6d7c9f5"},
				IP:     a("10.42.0.20"), Ports: []Port{tcp(8443)}},
			{Key: KeyTriage, Namespace: NSAgents, Name: "triage-agent-7d9f8b6c5d-x2k4p", Workload: "Deployment/triage-agent", Hash: "7d9f8b6c5d",
				Labels: agent("triage-agent", "7d9f8b6c5d"), IP: a("10.42.0.10"), Ports: []Port{tcp(8000)}},
			{Key: KeySpec1, Namespace: NSAgents, Name: "specialist-agent-5c6b8d9f7b-m8q2r", Workload: "Deployment/specialist-agent", Hash: "5c6b8d9f7b",
				Labels: agent("specialist-agent", "5c6b8d9f7b"), IP: a("10.42.0.11"), Ports: []Port{tcp(8000)}},
			{Key: KeySpec2, Namespace: NSAgents, Name: "specialist-agent-5c6b8d9f7b-t4w9z", Workload: "Deployment/specialist-agent", Hash: "5c6b8d9f7b",
				Labels: agent("specialist-agent", "5c6b8d9f7b"), IP: a("10.42.0.12"), Ports: []Port{tcp(8000)}},
			{Key: KeyTools, Namespace: NSAgents, Name: "tool-service-6f7d8c9b5d-h7j3k", Workload: "Deployment/tool-service", Hash: "6f7d8c9b5d",
				Labels: map[string]string{"app": "tool-service", "tier": "ai-agent", "network-policy": "restricted", "pod-template-hash": "6f7d8c9b5d"},
				IP:     a("10.42.0.13"), Ports: []Port{tcp(8080)}},
			{Key: KeyPostgres, Namespace: NSDatabase, Name: "postgresql-0", Workload: "StatefulSet/postgresql", Hash: "postgresql-6c8f7d9b4",
				Labels: map[string]string{"app": "postgresql", "controller-revision-hash": "postgresql-6c8f7d9b4",
					"statefulset.kubernetes.io/pod-name": "postgresql-0"},
				IP: a("10.42.0.30"), Ports: []Port{tcp(5432)}},
		},
		Hosts: []Host{
			{Key: KeyLLM, What: "LLM API", FQDN: "api.llm-provider.example", IP: a("203.0.113.80"), Port: tcp(443)},
			{Key: KeyEmbed, What: "embeddings API", FQDN: "api.embeddings.example", IP: a("198.51.100.80"), Port: tcp(443)},
			{Key: KeyNewLLM, What: "LLM API never used", FQDN: "api.unvetted-llm.example", IP: a("192.0.2.80"), Port: tcp(443)},
			{Key: KeyInternal, What: "internal service (private address)", IP: a("10.30.40.50"), Port: tcp(443)},
			{Key: KeyMetadata, What: "cloud metadata service", IP: a("169.254.169.254"), Port: tcp(80)},
		},
		Normal: []Call{
			{From: KeyGateway, To: KeyTriage, Port: tcp(8000), Path: "/v1/triage"},
			{From: KeyTriage, To: KeyLLM, Port: tcp(443), Resolve: true, Path: "/v1/chat/completions"},
			{From: KeyTriage, To: KeySpec1, Port: tcp(8000), Path: "/v1/tasks"},
			{From: KeyTriage, To: KeySpec2, Port: tcp(8000), Path: "/v1/tasks"},
			{From: KeyTriage, To: KeyTools, Port: tcp(8080), Path: "/tools/search"},
			{From: KeySpec1, To: KeyLLM, Port: tcp(443), Resolve: true, Path: "/v1/chat/completions"},
			{From: KeySpec2, To: KeyEmbed, Port: tcp(443), Resolve: true, Path: "/v1/embeddings"},
			{From: KeySpec1, To: KeyTools, Port: tcp(8080), Path: "/tools/run"},
			{From: KeySpec2, To: KeyTools, Port: tcp(8080), Path: "/tools/run"},
			{From: KeySpec1, To: KeyPostgres, Port: tcp(5432)},
			{From: KeySpec2, To: KeyPostgres, Port: tcp(5432)},
			{From: KeyTools, To: KeyPostgres, Port: tcp(5432)},
		},
		Attacks: []Attack{
			{Name: "a specialist calls another specialist", Call: Call{From: KeySpec1, To: KeySpec2, Port: tcp(8000), Path: "/v1/tasks"},
				Violation: "would-deny", PolicyDenies: true},
			{Name: "an agent calls an internal service on a private address", Call: Call{From: KeyTriage, To: KeyInternal, Port: tcp(443), Path: "/admin"},
				Violation: "would-deny", PolicyDenies: true, Classes: []string{"private-range"}},
			{Name: "an agent reads the cloud metadata service", Call: Call{From: KeySpec1, To: KeyMetadata, Port: tcp(80),
				Path: "/latest/meta-data/iam/security-credentials/"},
				Violation: "would-deny", PolicyDenies: true, Classes: []string{"metadata"}},
			{Name: "an agent calls an LLM endpoint it never called before", Call: Call{From: KeyTriage, To: KeyNewLLM, Port: tcp(443), Resolve: true,
				Path: "/v1/chat/completions"},
				Violation: "anomalous-egress", Classes: []string{"new-destination", "new-fqdn"}},
		},
	}
	return s
}

// Pod returns the pod of key, or nil.
func (s *Scenario) Pod(key string) *Pod {
	for i := range s.Pods {
		if s.Pods[i].Key == key {
			return &s.Pods[i]
		}
	}
	return nil
}

// Host returns the host of key, or nil.
func (s *Scenario) Host(key string) *Host {
	for i := range s.Hosts {
		if s.Hosts[i].Key == key {
			return &s.Hosts[i]
		}
	}
	return nil
}

// Addr returns the address of a pod or host key.
func (s *Scenario) Addr(key string) netip.Addr {
	if p := s.Pod(key); p != nil {
		return p.IP
	}
	if h := s.Host(key); h != nil {
		return h.IP
	}
	return netip.Addr{}
}

// Addrs returns every address of the scenario.
func (s *Scenario) Addrs() map[netip.Addr]bool {
	out := make(map[netip.Addr]bool, len(s.Pods)+len(s.Hosts))
	for _, p := range s.Pods {
		out[p.IP] = true
	}
	for _, h := range s.Hosts {
		out[h.IP] = true
	}
	return out
}

// Names returns the DNS names the cluster DNS answers.
func (s *Scenario) Names() map[string]netip.Addr {
	out := map[string]netip.Addr{}
	for _, h := range s.Hosts {
		if h.FQDN != "" {
			out[h.FQDN] = h.IP
		}
	}
	return out
}

// IsAttack reports whether rec (in its connection's direction: Src opened
// it) is one of the attacks, and which.
func (s *Scenario) IsAttack(rec *flow.Record) (int, bool) {
	for i, a := range s.Attacks {
		if rec.Src.IP == s.Addr(a.From) && rec.Dst.IP == s.Addr(a.To) && rec.Dst.Port == a.Port.Port &&
			string(rec.Protocol) == string(a.Port.Protocol) {
			return i, true
		}
	}
	return 0, false
}
