// Package ebpf is the eBPF flow source: it loads the programs of package
// bpf, attaches them to the pod interfaces of a network namespace as they
// come and go, drains the kernel's flow aggregates on an interval, names
// addresses from the DNS answers it sees, and emits flow records.
package ebpf

import (
	"fmt"
	"regexp"
	"time"

	"github.com/flow-auditor/flow-auditor/bpf"
)

// AttachMode says how the interface programs are attached.
type AttachMode string

// Attach modes.
const (
	// AttachAuto uses TCX where the kernel has it (Linux 6.6), else TC.
	AttachAuto AttachMode = "auto"
	// AttachTCX uses TCX links.
	AttachTCX AttachMode = "tcx"
	// AttachTC uses a clsact qdisc with cls_bpf filters, the fallback for
	// kernels without TCX.
	AttachTC AttachMode = "tc"
)

// Config configures a Source. Zero fields take the defaults below.
type Config struct {
	// NetnsPath is the network namespace to watch (e.g. /run/netns/node);
	// empty means the process's own.
	NetnsPath string
	// Interfaces selects interfaces by name; nil selects every veth.
	Interfaces *regexp.Regexp
	// Interval between drains of the kernel maps. Default 5s.
	Interval time.Duration
	// FlowEntries and DropEntries bound the kernel maps: the flows and the
	// dropped flows one interval can hold. Defaults 65536 and 16384.
	FlowEntries, DropEntries uint32
	// RingBytes sizes the DNS ring buffer (a power of two). Default 1 MiB.
	RingBytes uint32
	// DropReasons to record (kernel enum skb_drop_reason names); nil means
	// bpf.DefaultDropReasons.
	DropReasons []string
	// Attach chooses TCX or TC. Default AttachAuto.
	Attach AttachMode
	// NodeName goes into every record.
	NodeName string
	// DNSClients and DNSNamesPerClient bound the DNS cache: clients kept,
	// and names kept per client. Defaults 4096 and 1024.
	DNSClients, DNSNamesPerClient int
	// Connections bounds the table that carries a TCP connection's
	// initiator from the drain that saw its handshake to later ones.
	// Default 65536.
	Connections int
	// ConnectionIdle forgets a connection not seen for this long. Default
	// 10 minutes.
	ConnectionIdle time.Duration
}

// Defaults.
const (
	DefaultInterval          = 5 * time.Second
	DefaultDNSClients        = 4096
	DefaultDNSNamesPerClient = 1024
	DefaultConnections       = 65536
	DefaultConnectionIdle    = 10 * time.Minute
)

func (c Config) withDefaults() (Config, error) {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Interval < 0 {
		return c, fmt.Errorf("interval %v: must be positive", c.Interval)
	}
	if c.FlowEntries == 0 {
		c.FlowEntries = bpf.DefaultFlowEntries
	}
	if c.DropEntries == 0 {
		c.DropEntries = bpf.DefaultDropEntries
	}
	if c.RingBytes == 0 {
		c.RingBytes = bpf.DefaultRingBytes
	}
	if c.Attach == "" {
		c.Attach = AttachAuto
	}
	switch c.Attach {
	case AttachAuto, AttachTCX, AttachTC:
	default:
		return c, fmt.Errorf("attach mode %q: want auto, tcx or tc", c.Attach)
	}
	if c.DNSClients <= 0 {
		c.DNSClients = DefaultDNSClients
	}
	if c.DNSNamesPerClient <= 0 {
		c.DNSNamesPerClient = DefaultDNSNamesPerClient
	}
	if c.Connections <= 0 {
		c.Connections = DefaultConnections
	}
	if c.ConnectionIdle <= 0 {
		c.ConnectionIdle = DefaultConnectionIdle
	}
	return c, nil
}
