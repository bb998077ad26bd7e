// Package netnstest builds the network topology that privileged tests run
// in: a "node" network namespace holding the host sides of veth pairs, and
// one namespace per pod, routed through the node like a CNI plugin does
// (package podnet does the work). Nothing touches the machine's own
// namespace beyond creating the named namespaces; every name is unique per
// topology and everything is removed in t.Cleanup.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/flow-auditor/flow-auditor/internal/podnet"
)

// Options shape a topology.
type Options struct {
	// NoIPv6 disables IPv6 everywhere: no link-local chatter (router
	// solicitations, MLD), for tests that count every packet.
	NoIPv6 bool
}

// Topology is a node namespace and the pods attached to it. Node (the
// node's namespace), NodeName (its name under /run/netns), Prefix,
// NodeHandle and NodeDo come from podnet.Topology.
type Topology struct {
	*podnet.Topology
	t testing.TB
}

// Pod is a network namespace with one interface, eth0, whose peer in the
// node namespace is HostIf; see podnet.Pod.
type Pod struct {
	*podnet.Pod
	t testing.TB
}

// PodOptions choose a pod's addresses; zero fields get the next pod
// addresses (10.x.y.n and fd00:fa:x:y::n).
type PodOptions = podnet.PodOptions

// New creates the node namespace, with forwarding on, removed in t.Cleanup.
func New(t testing.TB, opts Options) *Topology {
	t.Helper()
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	tp, err := podnet.New(podnet.Options{
		Prefix: "fa" + hex.EncodeToString(rnd[:3]),
		NoIPv6: opts.NoIPv6,
		Net4:   [2]byte{100 + rnd[3]%150, rnd[2]},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tp.Close(); err != nil {
			t.Error(err)
		}
	})
	return &Topology{Topology: tp, t: t}
}

// AddPod creates a pod namespace and its veth pair, addressed and routed,
// removed in t.Cleanup.
func (tp *Topology) AddPod(opts PodOptions) *Pod {
	t := tp.t
	t.Helper()
	p, err := tp.Topology.AddPod(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Remove(); err != nil {
			t.Error(err)
		}
	})
	return &Pod{Pod: p, t: t}
}

// Remove deletes the pod: its veth pair and its namespace. Removing a pod
// twice is harmless.
func (p *Pod) Remove() {
	p.t.Helper()
	if err := p.Pod.Remove(); err != nil {
		p.t.Error(err)
	}
}

// Exec runs a command in the named namespace (a pod's Name or NodeName)
// through `ip netns exec`, and returns its combined output.
func Exec(nsName string, argv ...string) (string, error) { return podnet.Exec(nsName, argv...) }

// Do runs fn on a locked OS thread switched into ns. The thread goes back
// to its namespace afterwards, or dies with the goroutine if it cannot.
func Do(ns netns.NsHandle, fn func() error) error { return podnet.Do(ns, fn) }
