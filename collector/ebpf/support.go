package ebpf

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
)

// UnsupportedError says which privilege or kernel feature the source lacks.
// Callers report it as an unusable environment, not a failure.
type UnsupportedError struct {
	What string // e.g. "CAP_BPF", "kernel BTF"
	Err  error
}

func (e *UnsupportedError) Error() string {
	if e.Err == nil {
		return e.What
	}
	return fmt.Sprintf("%s: %v", e.What, e.Err)
}

func (e *UnsupportedError) Unwrap() error { return e.Err }

// Capability bits (linux/capability.h).
const (
	capNetAdmin = 12
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// CheckSupport reports the first missing privilege or kernel feature, or
// nil. New runs it; callers may run it early for a clear message.
func CheckSupport() error {
	caps, err := effectiveCaps()
	if err != nil {
		return &UnsupportedError{What: "cannot read process capabilities", Err: err}
	}
	has := func(c uint) bool { return caps&(1<<c) != 0 }
	var missing []string
	if !has(capNetAdmin) {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if !has(capSysAdmin) && !(has(capBPF) && has(capPerfmon)) {
		missing = append(missing, "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)")
	}
	if len(missing) > 0 {
		return &UnsupportedError{What: "needs root or " + strings.Join(missing, ", ")}
	}
	if _, err := btf.LoadKernelSpec(); err != nil {
		return &UnsupportedError{What: "kernel has no BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)", Err: err}
	}
	if err := features.HaveMapType(cebpf.RingBuf); err != nil {
		return &UnsupportedError{What: "kernel has no BPF ring buffer (Linux 5.8)", Err: err}
	}
	return nil
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}

// haveTCX probes for TCX links: attaching a trivial program to an interface
// index that cannot exist fails with ENODEV where TCX exists, and with
// ErrNotSupported where it does not.
func haveTCX() (bool, error) {
	prog, err := cebpf.NewProgram(&cebpf.ProgramSpec{
		Type:         cebpf.SchedCLS,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()},
		License:      "MIT",
	})
	if err != nil {
		return false, fmt.Errorf("probe TCX: %w", err)
	}
	defer prog.Close()
	l, err := link.AttachTCX(link.TCXOptions{Interface: math.MaxInt32, Program: prog, Attach: cebpf.AttachTCXIngress})
	if err == nil {
		_ = l.Close()
		return true, nil
	}
	if errors.Is(err, cebpf.ErrNotSupported) {
		return false, nil
	}
	return true, nil
}
