// Package podnet builds pod networking in network namespaces, the way a CNI
// plugin does: a "node" namespace holding the host sides of veth pairs, one
// namespace per pod, each pod routed through the node. It backs the
// privileged tests (through internal/netnstest) and `auditor demo`. Nothing
// touches the caller's own namespace beyond creating the named namespaces
// under /run/netns; Close removes everything.
package podnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// MaxPrefix is the longest Options.Prefix: interface names (prefix, "h",
// a number) must fit the kernel's 15 characters.
const MaxPrefix = 10

// Options shape a topology.
type Options struct {
	// Prefix starts every namespace and interface name of the topology; it
	// must be unique on the machine (at most MaxPrefix characters).
	Prefix string
	// NoIPv6 disables IPv6 everywhere: no link-local chatter (router
	// solicitations, MLD), for users that count every packet.
	NoIPv6 bool
	// Net4 picks the default pod addresses: 10.Net4[0].Net4[1].n.
	Net4 [2]byte
}

// Topology is a node namespace and the pods attached to it.
type Topology struct {
	opts Options
	// Node is the node's network namespace; NodeName its name under
	// /run/netns, for `ip netns exec`.
	Node     netns.NsHandle
	NodeName string
	node     *netlink.Handle
	pods     []*Pod
}

// Pod is a network namespace with one interface, eth0, whose peer in the
// node namespace is HostIf.
type Pod struct {
	Name       string // namespace name under /run/netns
	NS         netns.NsHandle
	HostIf     string
	HostIndex  int
	IPv4, IPv6 netip.Addr
	tp         *Topology
}

// Gateway addresses the pods route through: every host-side veth holds them.
var (
	gateway4 = netip.MustParseAddr("169.254.1.1")
	gateway6 = netip.MustParseAddr("fe80::1")
)

// Gateway is the IPv4 address pods route through: the node, as its pods
// see it.
func Gateway() netip.Addr { return gateway4 }

// New creates the node namespace, with forwarding on.
func New(opts Options) (*Topology, error) {
	if opts.Prefix == "" || len(opts.Prefix) > MaxPrefix {
		return nil, fmt.Errorf("topology prefix %q: want 1 to %d characters", opts.Prefix, MaxPrefix)
	}
	tp := &Topology{opts: opts, NodeName: opts.Prefix + "-node", Node: -1}
	ns, err := newNamed(tp.NodeName)
	if err != nil {
		return nil, fmt.Errorf("create node namespace: %w", err)
	}
	tp.Node = ns
	if tp.node, err = netlink.NewHandleAt(ns); err != nil {
		return nil, errors.Join(fmt.Errorf("netlink in node namespace: %w", err), tp.Close())
	}
	sysctls := map[string]string{"net/ipv4/ip_forward": "1"}
	tp.addIPv6Sysctls(sysctls, "1")
	if err := setSysctls(ns, sysctls); err != nil {
		return nil, errors.Join(err, tp.Close())
	}
	return tp, nil
}

func (tp *Topology) addIPv6Sysctls(m map[string]string, forwarding string) {
	if tp.opts.NoIPv6 {
		m["net/ipv6/conf/all/disable_ipv6"] = "1"
		m["net/ipv6/conf/default/disable_ipv6"] = "1"
		return
	}
	m["net/ipv6/conf/all/forwarding"] = forwarding
	// No duplicate address detection: addresses are usable at once.
	m["net/ipv6/conf/all/accept_dad"] = "0"
	m["net/ipv6/conf/default/accept_dad"] = "0"
}

// Prefix starts every namespace and interface name of this topology, for a
// --interfaces regular expression.
func (tp *Topology) Prefix() string { return tp.opts.Prefix }

// NodeHandle is a netlink handle in the node namespace.
func (tp *Topology) NodeHandle() *netlink.Handle { return tp.node }

// PodOptions choose a pod's addresses and name; zero fields get the next
// pod addresses (10.x.y.n and fd00:fa:x:y::n) and the name "p<n>".
type PodOptions struct {
	IPv4, IPv6 netip.Addr
	// Name is appended to the prefix to name the pod's namespace.
	Name string
}

// AddPod creates a pod namespace and its veth pair, addressed and routed.
// A pod that cannot be wired is removed again.
func (tp *Topology) AddPod(opts PodOptions) (*Pod, error) {
	n := len(tp.pods) + 1
	name := opts.Name
	if name == "" {
		name = fmt.Sprintf("p%d", n)
	}
	p := &Pod{
		Name:   tp.opts.Prefix + "-" + name,
		HostIf: fmt.Sprintf("%sh%d", tp.opts.Prefix, n),
		IPv4:   opts.IPv4,
		IPv6:   opts.IPv6,
		NS:     -1,
		tp:     tp,
	}
	if !p.IPv4.IsValid() {
		p.IPv4 = netip.AddrFrom4([4]byte{10, tp.opts.Net4[0], tp.opts.Net4[1], byte(10 + n)})
	}
	if !p.IPv6.IsValid() && !tp.opts.NoIPv6 {
		p.IPv6 = netip.MustParseAddr(fmt.Sprintf("fd00:fa:%x:%x::%x", tp.opts.Net4[0], tp.opts.Net4[1], 10+n))
	}
	if tp.opts.NoIPv6 {
		p.IPv6 = netip.Addr{}
	}
	ns, err := newNamed(p.Name)
	if err != nil {
		return nil, fmt.Errorf("create pod namespace: %w", err)
	}
	p.NS = ns
	tp.pods = append(tp.pods, p)
	sysctls := map[string]string{}
	tp.addIPv6Sysctls(sysctls, "0")
	if err := setSysctls(ns, sysctls); err != nil {
		return nil, errors.Join(err, p.Remove())
	}
	if err := p.wire(); err != nil {
		return nil, errors.Join(fmt.Errorf("wire pod %s: %w", p.Name, err), p.Remove())
	}
	return p, nil
}

func (p *Pod) wire() error {
	tp := p.tp
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: p.HostIf},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(p.NS)),
	}
	if err := tp.node.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", p.HostIf, err)
	}
	host, err := tp.node.LinkByName(p.HostIf)
	if err != nil {
		return err
	}
	p.HostIndex = host.Attrs().Index
	pod, err := netlink.NewHandleAt(p.NS)
	if err != nil {
		return err
	}
	defer pod.Close()
	eth0, err := pod.LinkByName("eth0")
	if err != nil {
		return err
	}
	lo, err := pod.LinkByName("lo")
	if err != nil {
		return err
	}

	// Host side: the gateway addresses, and a route to the pod.
	if err := tp.node.AddrAdd(host, addr(gateway4, 32)); err != nil {
		return fmt.Errorf("host gateway address: %w", err)
	}
	if !tp.opts.NoIPv6 {
		if err := tp.node.AddrAdd(host, &netlink.Addr{IPNet: prefix(gateway6, 64), Flags: nodad}); err != nil {
			return fmt.Errorf("host gateway address: %w", err)
		}
	}
	if err := tp.node.LinkSetUp(host); err != nil {
		return err
	}
	// Pod side: its addresses, the gateway on the link, a default route.
	for _, l := range []netlink.Link{lo, eth0} {
		if err := pod.LinkSetUp(l); err != nil {
			return err
		}
	}
	if err := pod.AddrAdd(eth0, addr(p.IPv4, 32)); err != nil {
		return err
	}
	if err := pod.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: prefix(gateway4, 32), Scope: netlink.SCOPE_LINK}); err != nil {
		return err
	}
	if err := pod.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gateway4.AsSlice()}); err != nil {
		return fmt.Errorf("pod default route: %w", err)
	}
	if err := tp.node.RouteAdd(&netlink.Route{LinkIndex: p.HostIndex, Dst: prefix(p.IPv4, 32), Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("node route to pod: %w", err)
	}
	if p.IPv6.IsValid() {
		if err := pod.AddrAdd(eth0, &netlink.Addr{IPNet: prefix(p.IPv6, 128), Flags: nodad}); err != nil {
			return err
		}
		if err := pod.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: prefix(netip.IPv6Unspecified(), 0), Gw: gateway6.AsSlice()}); err != nil {
			return fmt.Errorf("pod IPv6 default route: %w", err)
		}
		if err := tp.node.RouteAdd(&netlink.Route{LinkIndex: p.HostIndex, Dst: prefix(p.IPv6, 128)}); err != nil {
			return fmt.Errorf("node IPv6 route to pod: %w", err)
		}
	}
	return nil
}

const nodad = 0x02 // IFA_F_NODAD

func addr(a netip.Addr, bits int) *netlink.Addr { return &netlink.Addr{IPNet: prefix(a, bits)} }

func prefix(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}

// Remove deletes the pod: its veth pair and its namespace. Removing a pod
// twice is harmless.
func (p *Pod) Remove() error {
	if p.NS == -1 {
		return nil
	}
	var errs []error
	if l, err := p.tp.node.LinkByIndex(p.HostIndex); err == nil && l.Attrs().Name == p.HostIf {
		if err := p.tp.node.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", p.HostIf, err))
		}
	}
	p.NS.Close()
	p.NS = -1
	if err := netns.DeleteNamed(p.Name); err != nil {
		errs = append(errs, fmt.Errorf("delete namespace %s: %w", p.Name, err))
	}
	return errors.Join(errs...)
}

// Close removes every pod still there, then the node namespace. Closing
// twice is harmless.
func (tp *Topology) Close() error {
	var errs []error
	for i := len(tp.pods) - 1; i >= 0; i-- {
		errs = append(errs, tp.pods[i].Remove())
	}
	tp.pods = nil
	if tp.node != nil {
		tp.node.Close()
		tp.node = nil
	}
	if tp.Node != -1 {
		tp.Node.Close()
		tp.Node = -1
		if err := netns.DeleteNamed(tp.NodeName); err != nil {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", tp.NodeName, err))
		}
	}
	return errors.Join(errs...)
}

// Do runs fn on an OS thread switched into the pod's namespace. Sockets fn
// opens stay in that namespace wherever they are used afterwards.
func (p *Pod) Do(fn func() error) error { return Do(p.NS, fn) }

// NodeDo runs fn in the node namespace.
func (tp *Topology) NodeDo(fn func() error) error { return Do(tp.Node, fn) }

// Exec runs a command in the named namespace (a pod's Name or NodeName)
// through `ip netns exec`, and returns its combined output.
func Exec(nsName string, argv ...string) (string, error) {
	return ExecInput(nsName, "", argv...)
}

// ExecInput is Exec with stdin.
func ExecInput(nsName, stdin string, argv ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", nsName}, argv...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip netns exec %s %s: %w: %s", nsName, strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}

// Do runs fn on a locked OS thread switched into ns. The thread goes back
// to its namespace afterwards, or dies with the goroutine if it cannot.
func Do(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it exits with this goroutine.
		return fmt.Errorf("return from namespace: %w (after: %v)", err, ferr)
	}
	runtime.UnlockOSThread()
	return ferr
}

// newNamed creates a namespace bound under /run/netns/name, without moving
// the calling goroutine's thread into it for longer than the call.
func newNamed(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		return -1, fmt.Errorf("return from new namespace: %w", serr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return -1, fmt.Errorf("create namespace %s: %w", name, err)
	}
	return ns, nil
}

// setSysctls writes /proc/sys entries as seen from ns.
func setSysctls(ns netns.NsHandle, kv map[string]string) error {
	return Do(ns, func() error {
		for k, v := range kv {
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
			}
		}
		return nil
	})
}
