package correlate

import (
	"fmt"
	"strings"
	"testing"
)

// Documents decode in parallel; the error reported must still be the first
// one in the file, and ignored objects must be listed in file order.
func TestParseSnapshotReportsFirstErrorInFileOrder(t *testing.T) {
	var sb strings.Builder
	for i := range 200 {
		fmt.Fprintf(&sb, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d, namespace: ai}\n", i)
	}
	good := sb.String()
	s, err := ParseSnapshot("snap.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	ign := s.Ignored()
	if len(ign) != 200 {
		t.Fatalf("%d ignored objects, want 200", len(ign))
	}
	for i, got := range ign {
		if want := fmt.Sprintf("ConfigMap ai/c%d (snap.yaml document %d)", i, i+1); got != want {
			t.Fatalf("ignored[%d] = %q, want %q", i, got, want)
		}
	}

	// Document 201 has an unknown kind, 202 is malformed YAML, and a List
	// after them has a bad item: 201 is the one to report.
	bad := good + "---\napiVersion: example.com/v1\nkind: Foo\nmetadata: {name: x, namespace: ai}\n" +
		"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n name: b\n" +
		"---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v9\n  kind: Pod\n  metadata: {name: b, namespace: ai}\n"
	_, err = ParseSnapshot("snap.yaml", []byte(bad))
	want := `snap.yaml:802: document 201 (kind Foo ai/x): unknown kind "Foo" (apiVersion "example.com/v1")`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n  %v\nwant:\n  %s", err, want)
	}
}
