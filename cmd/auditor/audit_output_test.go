package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runToFile runs audit with stdout redirected to the file at path, opened
// with flag (as a shell's > or >> would).
func runToFile(t *testing.T, path string, flag int, args ...string) int {
	t.Helper()
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root := newRootCmd()
	root.SetArgs(append([]string{"audit"}, args...))
	root.SetOut(f)
	var errb bytes.Buffer
	root.SetErr(&errb)
	if err := root.ExecuteContext(context.Background()); err != nil {
		var ex *exitError
		if errors.As(err, &ex) {
			return ex.code
		}
		return 2
	}
	return 0
}

// Writing straight into an empty file (> out.jsonl) gives the same output,
// and bad input leaves the file empty again; a file that had content
// (>> out.jsonl) keeps it.
func TestAuditStdoutFile(t *testing.T) {
	good := writeFile(t, "good.jsonl", `{"src_ip":"10.244.2.20","dst_ip":"10.244.1.10","dst_port":8000,"protocol":"TCP"}`+"\n")
	var bad strings.Builder
	for range 5000 {
		bad.WriteString(`{"src_ip":"10.244.2.20","dst_ip":"10.244.1.10","dst_port":8000,"protocol":"TCP"}` + "\n")
	}
	bad.WriteString(`{"protocol":"XYZ"}` + "\n")
	badPath := writeFile(t, "bad.jsonl", bad.String())
	dir := t.TempDir()
	for _, format := range []string{"jsonl", "json", "table"} {
		want := mustAudit(t, "--snapshot", exampleSnapshot, "--flows", good, "-o", format).stdout

		out := filepath.Join(dir, "out-"+format)
		if code := runToFile(t, out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, "--snapshot", exampleSnapshot, "--flows", good, "-o", format); code != 0 {
			t.Fatalf("-o %s: exit %d", format, code)
		}
		if got, _ := os.ReadFile(out); string(got) != want {
			t.Errorf("-o %s into a file:\n got %q\nwant %q", format, got, want)
		}
		if code := runToFile(t, out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, "--snapshot", exampleSnapshot, "--flows", badPath, "-o", format); code != 2 {
			t.Fatalf("-o %s bad input: exit %d", format, code)
		}
		if got, _ := os.ReadFile(out); len(got) != 0 {
			t.Errorf("-o %s: bad input left %d bytes in the file", format, len(got))
		}

		if err := os.WriteFile(out, []byte("earlier\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if code := runToFile(t, out, os.O_APPEND|os.O_WRONLY, "--snapshot", exampleSnapshot, "--flows", badPath, "-o", format); code != 2 {
			t.Fatalf("-o %s bad input, appending: exit %d", format, code)
		}
		if code := runToFile(t, out, os.O_APPEND|os.O_WRONLY, "--snapshot", exampleSnapshot, "--flows", good, "-o", format); code != 0 {
			t.Fatalf("-o %s appending: exit %d", format, code)
		}
		if got, _ := os.ReadFile(out); string(got) != "earlier\n"+want {
			t.Errorf("-o %s appending:\n got %q\nwant %q", format, got, "earlier\n"+want)
		}
	}
}
