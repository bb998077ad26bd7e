package bpf

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf/btf"
)

const reasonPrefix = "SKB_DROP_REASON_"

// maxReason is one past the highest reason the program's bitmap can hold
// (DROP_REASON_WORDS * 64 in drops.h).
const maxReason = 8 * 64

// DropReasons maps the kernel's enum skb_drop_reason between names and
// numbers. The numbers change between kernel versions: they are always
// read from the running kernel's BTF, never hard-coded.
type DropReasons struct {
	byName  map[string]uint32
	byValue map[uint32]string
}

// KernelDropReasons reads enum skb_drop_reason from the kernel's BTF.
func KernelDropReasons() (*DropReasons, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("read kernel BTF: %w", err)
	}
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		return nil, fmt.Errorf("kernel BTF has no enum skb_drop_reason: %w", err)
	}
	return newDropReasons(enum), nil
}

func newDropReasons(enum *btf.Enum) *DropReasons {
	d := &DropReasons{byName: map[string]uint32{}, byValue: map[uint32]string{}}
	for _, v := range enum.Values {
		name := shortReason(v.Name)
		if name == "MAX" {
			continue
		}
		d.byName[name] = uint32(v.Value)
		d.byValue[uint32(v.Value)] = name
	}
	return d
}

// shortReason turns SKB_DROP_REASON_NETFILTER_DROP into NETFILTER_DROP (and
// SKB_CONSUMED into CONSUMED): the names users write and records carry.
func shortReason(name string) string {
	if s, ok := strings.CutPrefix(name, reasonPrefix); ok {
		return s
	}
	return strings.TrimPrefix(name, "SKB_")
}

// Name is the short name of reason v, or its number if the kernel has none.
func (d *DropReasons) Name(v uint32) string {
	if n, ok := d.byValue[v]; ok {
		return n
	}
	return fmt.Sprintf("%d", v)
}

// Value resolves a reason name, short or with its prefix.
func (d *DropReasons) Value(name string) (uint32, bool) {
	v, ok := d.byName[shortReason(strings.ToUpper(strings.TrimSpace(name)))]
	return v, ok
}

// Names lists the known reason names, sorted.
func (d *DropReasons) Names() []string {
	names := make([]string, 0, len(d.byName))
	for n := range d.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// mask builds the program's reason bitmap.
func (d *DropReasons) mask(names []string) ([maxReason / 64]uint64, error) {
	var m [maxReason / 64]uint64
	for _, name := range names {
		v, ok := d.Value(name)
		if !ok {
			return m, &UnknownDropReasonError{Name: name, Known: d.Names()}
		}
		if v >= maxReason {
			return m, fmt.Errorf("drop reason %s (%d) is beyond the %d reasons the program can filter", name, v, maxReason)
		}
		m[v/64] |= 1 << (v % 64)
	}
	return m, nil
}

// UnknownDropReasonError names a drop reason the running kernel does not
// have.
type UnknownDropReasonError struct {
	Name  string
	Known []string
}

func (e *UnknownDropReasonError) Error() string {
	return fmt.Sprintf("unknown drop reason %q: this kernel knows %s", e.Name, strings.Join(e.Known, ", "))
}
