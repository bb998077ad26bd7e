// Package testutil holds helpers shared by the project's tests.
package testutil

import (
	"os"
	"testing"
)

// RequirePrivilegedEnv is set by CI: a privileged test that would skip
// fails instead, so that a green CI means the kernel tests really ran.
const RequirePrivilegedEnv = "AUDITOR_REQUIRE_PRIVILEGED"

// RequirePrivileged skips t unless the process runs as root, or fails it
// when RequirePrivilegedEnv is "1".
func RequirePrivileged(t testing.TB, reason string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	Unavailable(t, "needs root: "+reason)
}

// Unavailable skips t for a missing privilege or kernel feature, or fails it
// under RequirePrivilegedEnv=1.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequirePrivilegedEnv) == "1" {
		t.Fatalf("%s (and %s=1 forbids skipping)", why, RequirePrivilegedEnv)
	}
	t.Skip(why)
}
