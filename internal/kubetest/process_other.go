//go:build !linux

package kubetest

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// signal sends sig to the server alone, by its pid.
func signal(p *os.Process, sig syscall.Signal) { _ = p.Signal(sig) }
