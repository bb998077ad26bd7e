package demo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/flow-auditor/flow-auditor/internal/podnet"
)

// network is the scenario in network namespaces: the node, one namespace
// per pod and per outside host, and the servers running in them.
type network struct {
	tp *podnet.Topology
	// ns maps a pod or host key to its namespace.
	ns map[string]*podnet.Pod
	// closers stop the servers.
	mu      sync.Mutex
	closers []func() error
	wg      sync.WaitGroup
}

// newPrefix returns a name prefix unique to this run: "fad" and six hex
// digits, short enough for interface names.
func newPrefix() (string, error) {
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	return "fad" + hex.EncodeToString(rnd[:]), nil
}

// buildNetwork creates the node namespace and a namespace per pod and host,
// and starts every server. On error everything created is removed.
func buildNetwork(s *Scenario, prefix string) (_ *network, err error) {
	tp, err := podnet.New(podnet.Options{Prefix: prefix, NoIPv6: true})
	if err != nil {
		return nil, err
	}
	n := &network{tp: tp, ns: map[string]*podnet.Pod{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.close())
		}
	}()
	// The agent serves /metrics and Hubble on the node namespace's loopback.
	lo, err := tp.NodeHandle().LinkByName("lo")
	if err == nil {
		err = tp.NodeHandle().LinkSetUp(lo)
	}
	if err != nil {
		return nil, fmt.Errorf("loopback of the node namespace: %w", err)
	}
	add := func(key string, ip netip.Addr) error {
		p, err := tp.AddPod(podnet.PodOptions{IPv4: ip, Name: key})
		if err != nil {
			return err
		}
		n.ns[key] = p
		return nil
	}
	for _, p := range s.Pods {
		if err := add(p.Key, p.IP); err != nil {
			return nil, err
		}
	}
	for _, h := range s.Hosts {
		if err := add(h.Key, h.IP); err != nil {
			return nil, err
		}
	}
	for _, p := range s.Pods {
		for _, port := range p.Ports {
			if err := n.serve(p.Key, p.IP, port, s); err != nil {
				return nil, err
			}
		}
	}
	for _, h := range s.Hosts {
		if err := n.serve(h.Key, h.IP, h.Port, s); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// serve starts the server of one port in key's namespace: the DNS responder
// for kube-dns, a small HTTP-like server otherwise.
func (n *network) serve(key string, ip netip.Addr, port Port, s *Scenario) error {
	p := n.ns[key]
	addr := netip.AddrPortFrom(ip, port.Port).String()
	if port.Protocol == "UDP" {
		var pc net.PacketConn
		if err := p.Do(func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
			return fmt.Errorf("listen on %s in %s: %w", addr, p.Name, err)
		}
		n.track(pc.Close)
		n.wg.Go(func() { serveDNSUDP(pc, s.Names()) })
		return nil
	}
	var ln net.Listener
	if err := p.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		return fmt.Errorf("listen on %s in %s: %w", addr, p.Name, err)
	}
	n.track(ln.Close)
	if port.Port == 53 {
		n.wg.Go(func() { serveDNSTCP(ln, s.Names()) })
		return nil
	}
	n.wg.Go(func() { serveHTTP(ln, key) })
	return nil
}

func (n *network) track(f func() error) {
	n.mu.Lock()
	n.closers = append(n.closers, f)
	n.mu.Unlock()
}

// close stops the servers and removes every namespace.
func (n *network) close() error {
	n.mu.Lock()
	closers := n.closers
	n.closers = nil
	n.mu.Unlock()
	var errs []error
	for _, c := range closers {
		if err := c(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	n.wg.Wait()
	errs = append(errs, n.tp.Close())
	return errors.Join(errs...)
}

// interfaces counts the host-side interfaces in the node namespace.
func (n *network) interfaces() int { return len(n.ns) }
