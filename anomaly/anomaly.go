// Package anomaly decides which egress flows are anomalous: outside the
// workload's learned baseline (a new destination, port or DNS name), or to a
// destination that is always suspicious (the cloud metadata service, a
// private address that no rule of the workload's policies names).
package anomaly

import (
	"net/netip"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// Class is a set of anomaly classes.
type Class uint8

// Classes. A flow may be in several (a new destination reached by a new DNS
// name is both NewDestination and NewFQDN).
const (
	NewDestination Class = 1 << iota
	NewPort
	NewFQDN
	Metadata
	PrivateRange
)

// classNames are the metric label values, in bit order.
var classNames = [...]string{"new-destination", "new-port", "new-fqdn", "metadata", "private-range"}

// Names returns the label values of the classes in c, in a fixed order.
func (c Class) Names() []string {
	var out []string
	for i, n := range classNames {
		if c&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Each calls f with the label value of every class in c, without allocating.
func (c Class) Each(f func(name string)) {
	for i, n := range classNames {
		if c&(1<<i) != 0 {
			f(n)
		}
	}
}

// ViolationKind is the record's violation for anomalous egress.
const ViolationKind = "anomalous-egress"

// The metadata service's addresses (AWS, GCP, Azure, and AWS's IPv6 one).
var metadataAddrs = [...]netip.Addr{
	netip.AddrFrom4([4]byte{169, 254, 169, 254}),
	netip.MustParseAddr("fd00:ec2::254"),
}

// privateRanges are RFC 1918 and the IPv6 unique local addresses.
var privateRanges = [...]netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
}

// IsMetadata reports whether ip is a cloud metadata service address.
func IsMetadata(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, m := range metadataAddrs {
		if ip == m {
			return true
		}
	}
	return false
}

// InPrivateRange returns the private range that holds ip, if any.
func InPrivateRange(ip netip.Addr) (netip.Prefix, bool) {
	ip = ip.Unmap()
	for _, r := range privateRanges {
		if r.Contains(ip) {
			return r, true
		}
	}
	return netip.Prefix{}, false
}

// Baseline is what the detector asks about novelty; *baseline.Store is one.
type Baseline interface {
	ObserveConn(rec *flow.Record, h *baseline.Handle, repeat bool) baseline.Novelty
}

// Detector classifies egress flows. It is used by one goroutine at a time
// (the evaluate stage); Baseline must be safe for its own concurrent users.
type Detector struct {
	Baseline Baseline
}

// Inspect records rec in the baseline and returns its anomaly classes. v is
// the engine's verdict of rec (nil when no engine judged it); blocks gives
// the ipBlocks of the policies named by v. Only flows from a pod of a
// workload are classified.
func (d *Detector) Inspect(rec *flow.Record, v *policy.Verdict, blocks *Blocks) Class {
	return d.InspectConn(rec, v, blocks, false)
}

// InspectConn is Inspect for a record that may repeat a connection already
// inspected (see baseline.Store.Observe). rec must read as its connection.
func (d *Detector) InspectConn(rec *flow.Record, v *policy.Verdict, blocks *Blocks, repeat bool) Class {
	return d.Novel(rec, repeat) | Static(rec, v, blocks)
}

// Novel records rec in the baseline and returns what is new about it: the
// classes NewDestination, NewPort and NewFQDN.
func (d *Detector) Novel(rec *flow.Record, repeat bool) Class {
	if d.Baseline == nil {
		return 0 // before h, which escapes to the baseline
	}
	var h baseline.Handle
	return d.NovelConn(rec, &h, repeat)
}

// NovelConn is Novel for a record of the connection h remembers (see
// baseline.Handle).
func (d *Detector) NovelConn(rec *flow.Record, h *baseline.Handle, repeat bool) Class {
	if d.Baseline == nil {
		return 0
	}
	nov := d.Baseline.ObserveConn(rec, h, repeat)
	if rec.Src.Kind != flow.KindPod {
		return 0
	}
	var c Class
	if nov&baseline.NewDestination != 0 {
		c |= NewDestination
	}
	if nov&baseline.NewPort != 0 {
		c |= NewPort
	}
	if nov&baseline.NewFQDN != 0 {
		c |= NewFQDN
	}
	return c
}

// Static returns the classes of rec's destination that do not depend on the
// baseline: Metadata, and PrivateRange when no rule of the policies
// isolating the source (named by v) names the private range it is in. The
// answer is the same for every record of a connection under one set of
// policies.
func Static(rec *flow.Record, v *policy.Verdict, blocks *Blocks) Class {
	if rec.Src.Kind != flow.KindPod {
		return 0
	}
	dst := rec.Dst.IP
	if IsMetadata(dst) {
		// fd00:ec2::254 is also a unique local address: it counts once, as
		// the metadata service.
		return Metadata
	}
	if rec.Dst.Kind == flow.KindExternal || rec.Dst.Kind == flow.KindUnknown {
		if r, ok := InPrivateRange(dst); ok && !blocks.names(v, r, dst) {
			return PrivateRange
		}
	}
	return 0
}

// Mark sets rec's violation to anomalous egress when c is not empty and no
// stronger violation is set: denied and would-deny (what policy decides)
// take precedence over anomalous egress (what the baseline suggests).
func Mark(rec *flow.Record, c Class) {
	if c != 0 && rec.Violation == "" {
		rec.Violation = ViolationKind
	}
}
