// Package kubetest runs a real etcd and kube-apiserver on loopback for tests
// that talk to the Kubernetes API, and on request a kube-controller-manager
// that runs only the garbage collector. The binaries are built by
// hack/kube-binaries.sh into a cache outside the repository; without them the
// tests skip (or fail when AUDITOR_REQUIRE_PRIVILEGED=1).
package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
)

// DefaultKubeVersion is the k8s.io/kubernetes release hack/kube-binaries.sh
// builds by default: the newest v1.36 release served, matching client-go v0.36.
const DefaultKubeVersion = "v1.36.3"

// Environment variables shared with hack/kube-binaries.sh.
const (
	// EnvBinDir names a directory holding kube-apiserver and etcd (and
	// kube-controller-manager); it wins over the cache.
	EnvBinDir = "AUDITOR_KUBE_BIN_DIR"
	// EnvCache is the cache root; binaries live in <root>/<version>/.
	EnvCache = "AUDITOR_KUBE_CACHE"
	// EnvVersion selects the cached Kubernetes version.
	EnvVersion = "AUDITOR_KUBE_VERSION"
)

// Binaries are the paths of the two servers every cluster runs.
type Binaries struct {
	APIServer, Etcd string
}

// FindBinaries locates kube-apiserver and etcd the way hack/kube-binaries.sh
// caches them, and says where it looked when they are missing.
func FindBinaries() (Binaries, error) {
	dir, err := binDir()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{APIServer: filepath.Join(dir, "kube-apiserver"), Etcd: filepath.Join(dir, "etcd")}
	for _, p := range []string{b.APIServer, b.Etcd} {
		if err := executable(p); err != nil {
			return Binaries{}, err
		}
	}
	return b, nil
}

// FindControllerManager locates kube-controller-manager the same way, and
// says where it looked when it is missing. Only Cluster.StartGarbageCollector
// needs it.
func FindControllerManager() (string, error) {
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "kube-controller-manager")
	if err := executable(p); err != nil {
		return "", err
	}
	return p, nil
}

// binDir is $AUDITOR_KUBE_BIN_DIR, else the cache directory of the version.
func binDir() (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		return dir, nil
	}
	root := os.Getenv(EnvCache)
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locate kube binaries: %w", err)
		}
		root = filepath.Join(home, ".cache", "flow-auditor", "kube")
	}
	version := os.Getenv(EnvVersion)
	if version == "" {
		version = DefaultKubeVersion
	}
	return filepath.Join(root, version), nil
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s not found (build it with hack/kube-binaries.sh)", p)
	}
	return nil
}
