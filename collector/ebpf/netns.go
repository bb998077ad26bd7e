package ebpf

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetns runs fn on a locked OS thread switched into ns: the kernel
// resolves interface indexes (TCX attach, program queries) in the calling
// thread's namespace. The thread returns to its namespace afterwards, or
// stays locked and dies with the goroutine if it cannot.
//
// When ns is the thread's own namespace it just runs fn: entering a
// namespace takes CAP_SYS_ADMIN, which an agent on the host network (the
// DaemonSet) neither has nor needs.
func inNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current network namespace: %w", err)
	}
	defer orig.Close()
	if orig.Equal(ns) {
		runtime.UnlockOSThread()
		return fn()
	}
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("return from network namespace: %w (after: %v)", err, ferr)
	}
	runtime.UnlockOSThread()
	return ferr
}

// isOwnNetns reports whether ns is the calling thread's network namespace.
func isOwnNetns(ns netns.NsHandle) bool {
	cur, err := netns.Get()
	if err != nil {
		return false
	}
	defer cur.Close()
	return cur.Equal(ns)
}
