package suggest

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/flow-auditor/flow-auditor/collector/file"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

var update = flag.Bool("update", false, "rewrite golden files")

// cluster is a snapshot loaded and indexed the way auditor suggest does it.
type cluster struct {
	objs correlate.Objects
	ix   *correlate.Index
}

func loadCluster(t testing.TB, paths ...string) *cluster {
	t.Helper()
	snap, err := correlate.LoadSnapshot(paths...)
	if err != nil {
		t.Fatalf("load snapshot: %v", err)
	}
	objs := snap.Objects()
	return &cluster{objs: objs, ix: correlate.BuildIndex(objs, correlate.IndexOptions{})}
}

func newCluster(objs correlate.Objects) *cluster {
	objs = correlate.NewSnapshot(objs).Objects()
	return &cluster{objs: objs, ix: correlate.BuildIndex(objs, correlate.IndexOptions{})}
}

func (c *cluster) input(ns string, ext ExternalMode) Input {
	return Input{
		Namespace:    ns,
		External:     ext,
		Pods:         PodsFrom(c.objs, c.ix),
		DNSAddresses: DNSAddressesFrom(c.objs),
		StableLabels: correlate.StableLabels,
	}
}

// feed resolves and adds the records as auditor suggest does.
func (c *cluster) feed(o *Observer, recs []flow.Record) {
	var res correlate.Resolution
	for i := range recs {
		o.AddRecord(c.ix, &res, &recs[i])
	}
}

func readFlows(t testing.TB, path string) []flow.Record {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	p := file.NewParser()
	var out []flow.Record
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		var rec flow.Record
		form, err := p.Parse(sc.Bytes(), &rec)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		if form != file.FormBlank {
			out = append(out, rec)
		}
	}
	return out
}

// decodeNetworkPolicies decodes a YAML stream strictly with client-go's
// scheme, as kubectl would, failing on unknown or duplicate fields.
func decodeNetworkPolicies(t testing.TB, data []byte) []*networkingv1.NetworkPolicy {
	t.Helper()
	ser := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*networkingv1.NetworkPolicy
	for {
		doc, err := rd.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := ser.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decode document:\n%s\n%v", doc, err)
		}
		np, ok := obj.(*networkingv1.NetworkPolicy)
		if !ok {
			t.Fatalf("decoded %T, want NetworkPolicy", obj)
		}
		out = append(out, np)
	}
	return out
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", name, Diff("want", string(want), "got", string(got)))
	}
}

var _ runtime.Object
