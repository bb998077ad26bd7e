package kubetest

import (
	"os"
	"syscall"
)

// sysProcAttr makes the kernel kill a server when the test binary dies, so
// that an aborted test run leaves no etcd, kube-apiserver or
// kube-controller-manager behind, and puts it in a process group of its own
// (its id is the server's pid), so that stopping it reaches anything it
// started and nothing else.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// signal sends sig to the process group the server leads, found by its
// pid; to the server alone if that fails.
func signal(p *os.Process, sig syscall.Signal) {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
}
