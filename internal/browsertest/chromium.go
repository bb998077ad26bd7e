// Package browsertest opens pages in headless Chromium for tests: the DOM
// as the browser built it, a screenshot, and what the page logged. It uses
// Debian's chromium package; without it the test skips (or fails under
// AUDITOR_REQUIRE_PRIVILEGED=1, as CI sets).
package browsertest

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// Chromium returns the path of the chromium binary, or skips t.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testutil.Unavailable(t, "chromium is not installed (Debian: apt-get install chromium)")
	return ""
}

// flags keep the browser offline and stateless: no sandbox (tests run as
// root), no GPU, no background fetches, a new empty profile per run.
var flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
	"--enable-logging=stderr", "--v=0",
}

// Page is what the browser made of a local file.
type Page struct {
	// DOM is the document after parsing, as --dump-dom prints it.
	DOM string
	// Console holds the lines the page logged (console messages, uncaught
	// errors), from the browser's log.
	Console []string
}

// Open loads the local file path and returns its DOM and console lines.
func Open(t testing.TB, bin, path string) Page {
	t.Helper()
	out, log := run(t, bin, path, "--dump-dom")
	return Page{DOM: out, Console: consoleLines(log)}
}

// Screenshot renders the local file path in a width x height window and
// returns the picture.
func Screenshot(t testing.TB, bin, path string, width, height int) image.Image {
	t.Helper()
	shot := filepath.Join(t.TempDir(), "screenshot.png")
	run(t, bin, path, "--screenshot="+shot, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height))
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode the screenshot: %v", err)
	}
	return img
}

// SavePNG writes img to path, for people to look at.
func SavePNG(t testing.TB, img image.Image, path string) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, bin, path string, extra ...string) (stdout, stderr string) {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append(append([]string{}, flags...), "--user-data-dir="+t.TempDir())
	args = append(append(args, extra...), "file://"+abs)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// No display, no session bus: the browser must not reach for either.
	cmd.Env = append(os.Environ(), "DISPLAY=", "DBUS_SESSION_BUS_ADDRESS=disabled:")
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(extra, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// consoleLines picks the page's console messages out of the browser log.
func consoleLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, ":CONSOLE") || strings.Contains(l, "Uncaught") {
			out = append(out, l)
		}
	}
	return out
}
