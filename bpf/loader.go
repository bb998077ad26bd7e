// Package bpf holds flow-auditor's eBPF programs (the C sources next to this
// file, compiled by bpf2go into the committed auditor_bpf*.o) and the loader
// that puts them into the kernel. Callers see domain types: flows as
// flow.Record, DNS answers, loss counters; the generated names stay here.
package bpf

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Defaults for Options fields left zero.
const (
	DefaultFlowEntries = 65536
	DefaultDropEntries = 16384
	DefaultRingBytes   = 1 << 20
)

// Options configure the programs before they are loaded.
type Options struct {
	// FlowEntries bounds the flow map: flows beyond it between two drains
	// are counted as lost (Losses.FlowMapFull).
	FlowEntries uint32
	// DropEntries bounds the map of dropped flows.
	DropEntries uint32
	// RingBytes sizes the DNS ring buffer: a power of two, at least a page.
	RingBytes uint32
	// DropReasons are the kfree_skb reasons recorded, as named in the
	// kernel's enum skb_drop_reason (with or without the SKB_DROP_REASON_
	// prefix). Nil means DefaultDropReasons; empty records no drop.
	DropReasons []string
	// NetnsInode is the inode number of the network namespace whose
	// interfaces are watched: drops on its devices carry their ifindex.
	NetnsInode uint64
	// TC loads the interface programs for cls_bpf rather than TCX.
	TC bool
}

// DefaultDropReasons are the drops that policy enforcement causes: netfilter,
// TC and cgroup programs, socket filters.
func DefaultDropReasons() []string {
	return []string{"NETFILTER_DROP", "TC_INGRESS", "TC_EGRESS", "SOCKET_FILTER", "BPF_CGROUP_EGRESS"}
}

// Objects are the programs and maps loaded into the kernel. Close releases
// them; links made from the programs must be closed by whoever made them.
type Objects struct {
	objs    auditorObjects
	reasons *DropReasons
	drain   drainBuffers
	jiffies jiffyClock
}

// Load resolves the options against the running kernel (drop reason names
// through its BTF) and loads the programs and maps.
func Load(opts Options) (*Objects, error) {
	if opts.FlowEntries == 0 {
		opts.FlowEntries = DefaultFlowEntries
	}
	if opts.DropEntries == 0 {
		opts.DropEntries = DefaultDropEntries
	}
	if opts.RingBytes == 0 {
		opts.RingBytes = DefaultRingBytes
	}
	if opts.DropReasons == nil {
		opts.DropReasons = DefaultDropReasons()
	}
	if opts.RingBytes&(opts.RingBytes-1) != 0 || int(opts.RingBytes) < os.Getpagesize() {
		return nil, fmt.Errorf("ring buffer size %d: want a power of two of at least %d", opts.RingBytes, os.Getpagesize())
	}

	reasons, err := KernelDropReasons()
	if err != nil {
		return nil, err
	}
	mask, err := reasons.mask(opts.DropReasons)
	if err != nil {
		return nil, err
	}

	spec, err := loadAuditor()
	if err != nil {
		return nil, fmt.Errorf("read embedded programs: %w", err)
	}
	spec.Maps[auditorMapFlows].MaxEntries = opts.FlowEntries
	spec.Maps[auditorMapDrops].MaxEntries = opts.DropEntries
	spec.Maps[auditorMapDnsEvents].MaxEntries = opts.RingBytes
	if err := spec.Variables[auditorVarDropReasonMask].Set(mask); err != nil {
		return nil, fmt.Errorf("set drop reasons: %w", err)
	}
	if err := spec.Variables[auditorVarNetnsIno].Set(uint32(opts.NetnsInode)); err != nil {
		return nil, fmt.Errorf("set network namespace: %w", err)
	}
	if opts.TC {
		// cls_bpf ignores the expected attach type, but clear it so that
		// the programs carry no TCX claim.
		spec.Programs[auditorProgAuditorIngress].AttachType = ebpf.AttachNone
		spec.Programs[auditorProgAuditorEgress].AttachType = ebpf.AttachNone
	}

	o := &Objects{reasons: reasons}
	if err := spec.LoadAndAssign(&o.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load programs: %+v", verr)
		}
		return nil, fmt.Errorf("load programs: %w", err)
	}
	if o.jiffies, err = calibrate(o.objs.AuditorClock); err != nil {
		_ = o.objs.Close()
		return nil, err
	}
	return o, nil
}

// Ingress is the program for traffic entering the host through an interface
// (TCX ingress, or the clsact ingress hook).
func (o *Objects) Ingress() *ebpf.Program { return o.objs.AuditorIngress }

// Egress is the program for traffic leaving the host through an interface.
func (o *Objects) Egress() *ebpf.Program { return o.objs.AuditorEgress }

// AttachDrops attaches the drop program to the kfree_skb tracepoint. The
// caller closes the link.
func (o *Objects) AttachDrops() (link.Link, error) {
	l, err := link.AttachTracing(link.TracingOptions{
		Program:    o.objs.AuditorDrops,
		AttachType: ebpf.AttachTraceRawTp,
	})
	if err != nil {
		return nil, fmt.Errorf("attach kfree_skb tracepoint: %w", err)
	}
	return l, nil
}

// ProgramIDs are the kernel IDs of the loaded programs, for operators
// (bpftool prog show id N) and for tests that check they are gone.
func (o *Objects) ProgramIDs() ([]ebpf.ProgramID, error) {
	var ids []ebpf.ProgramID
	for _, p := range []*ebpf.Program{o.objs.AuditorIngress, o.objs.AuditorEgress, o.objs.AuditorDrops} {
		info, err := p.Info()
		if err != nil {
			return nil, fmt.Errorf("program info: %w", err)
		}
		id, ok := info.ID()
		if !ok {
			return nil, errors.New("program info: kernel reports no program ID")
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// DropReasons are the kernel's drop reason names, for reporting.
func (o *Objects) DropReasons() *DropReasons { return o.reasons }

// Close unloads the programs and maps (the kernel frees them once no link
// holds them either).
func (o *Objects) Close() error {
	if err := o.objs.Close(); err != nil {
		return fmt.Errorf("close eBPF objects: %w", err)
	}
	return nil
}
