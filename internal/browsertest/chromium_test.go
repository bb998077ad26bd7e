package browsertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleIsCaught checks the check that pages log nothing: a page that
// logs an error and throws must show both.
func TestConsoleIsCaught(t *testing.T) {
	bin := Chromium(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.html")
	good := filepath.Join(dir, "good.html")
	if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><p id="x">x</p><script>console.error("boom"); missing();</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte(`<!DOCTYPE html><p id="x">fine</p>`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := Open(t, bin, bad)
	joined := strings.Join(p.Console, "\n")
	if !strings.Contains(joined, "boom") || !strings.Contains(joined, "Uncaught ReferenceError") {
		t.Errorf("console of the bad page: %q, want the error and the exception", joined)
	}
	p = Open(t, bin, good)
	if len(p.Console) != 0 || !strings.Contains(p.DOM, `<p id="x">fine</p>`) {
		t.Errorf("good page: console %q, DOM %q", p.Console, p.DOM)
	}
}
