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
func inNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current network namespace: %w", err)
	}
	defer orig.Close()
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
