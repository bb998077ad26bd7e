package kubetest

import "syscall"

// sysProcAttr makes the kernel kill a server when the test binary dies, so
// that an aborted test run leaves no etcd or kube-apiserver behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
