package suggest

import (
	"fmt"
	"net/netip"
)

// ExternalMode says how rules name addresses outside the cluster.
type ExternalMode string

// External modes.
const (
	// ExternalExact names each observed address as a /32 or /128.
	ExternalExact ExternalMode = "exact"
	// ExternalPublic allows each observed port to every public address: the
	// whole address space except private, link-local and metadata ranges.
	ExternalPublic ExternalMode = "public"
)

// ParseExternalMode reads the --external flag.
func ParseExternalMode(s string) (ExternalMode, error) {
	switch m := ExternalMode(s); m {
	case ExternalExact, ExternalPublic:
		return m, nil
	}
	return "", fmt.Errorf("unknown external mode %q (want exact or public)", s)
}

// NonPublicV4 returns the IPv4 ranges that a "public" rule excludes: this
// network, private (RFC 1918), shared CGNAT space, loopback, link-local
// (which holds the cloud metadata service 169.254.169.254), multicast and
// reserved space. A fresh slice each call: callers may keep it.
func NonPublicV4() []string {
	return []string{
		"0.0.0.0/8",
		"10.0.0.0/8",
		"100.64.0.0/10",
		"127.0.0.0/8",
		"169.254.0.0/16",
		"172.16.0.0/12",
		"192.168.0.0/16",
		"224.0.0.0/4",
		"240.0.0.0/4",
	}
}

// NonPublicV6 returns the IPv6 ranges that a "public" rule excludes:
// unspecified and loopback, unique local addresses (which hold the metadata
// service fd00:ec2::254), link-local and multicast. (IPv4-mapped addresses
// cannot be named: the API server refuses them in a CIDR.)
func NonPublicV6() []string {
	return []string{
		"::/127",
		"fc00::/7",
		"fe80::/10",
		"ff00::/8",
	}
}

// isPublic reports whether a "public" rule covers addr.
func isPublic(addr netip.Addr) bool {
	addr = addr.Unmap()
	ranges := NonPublicV6()
	if addr.Is4() {
		ranges = NonPublicV4()
	}
	for _, r := range ranges {
		if netip.MustParsePrefix(r).Contains(addr) {
			return false
		}
	}
	return true
}

// hostPrefix is addr as a single-address CIDR: /32 or /128.
func hostPrefix(addr netip.Addr) string {
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, addr.BitLen()).String()
}

// isMetadata reports the cloud metadata service addresses.
func isMetadata(addr netip.Addr) bool {
	addr = addr.Unmap()
	return addr == netip.AddrFrom4([4]byte{169, 254, 169, 254}) || addr == netip.MustParseAddr("fd00:ec2::254")
}
