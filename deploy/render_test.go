package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

const (
	chartDir    = "helm/flow-auditor"
	releaseName = "flow-auditor"
	releaseNS   = "flow-auditor"
)

// Capabilities the monitoring toggles look for; a cluster running the
// Prometheus Operator serves both.
var monitoringAPIs = []string{
	"monitoring.coreos.com/v1",
	"monitoring.coreos.com/v1/ServiceMonitor",
	"monitoring.coreos.com/v1/PrometheusRule",
}

// object is one rendered manifest, decoded.
type object struct {
	source string         // the template it came from
	hook   bool           // a helm hook (the test), not part of the release
	obj    runtime.Object // typed, or *unstructured.Unstructured for CRD kinds
	raw    []byte         // the YAML as rendered
}

func (o object) kind() string { return o.obj.GetObjectKind().GroupVersionKind().Kind }

func (o object) name() string {
	if u, ok := o.obj.(interface{ GetName() string }); ok {
		return u.GetName()
	}
	return ""
}

// rendered is one `helm install --dry-run` of the chart.
type rendered struct {
	objects []object
	notes   string
}

// all returns the objects of kind k (hooks included).
func (r *rendered) all(k string) []object {
	var out []object
	for _, o := range r.objects {
		if o.kind() == k {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single object of kind k and name, failing otherwise.
func one[T runtime.Object](t *testing.T, r *rendered, k, name string) T {
	t.Helper()
	var found []T
	for _, o := range r.all(k) {
		if name == "" || o.name() == name {
			v, ok := o.obj.(T)
			if !ok {
				t.Fatalf("%s %s decoded as %T", k, o.name(), o.obj)
			}
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %q, rendered %d", k, name, len(found))
	}
	return found[0]
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// render installs the chart client-side, as `helm install --dry-run` (or
// `helm template`) would, against a cluster that serves the built-in APIs
// plus extraAPIs, and decodes every manifest, CRDs and hooks included.
func render(t testing.TB, values map[string]any, extraAPIs ...string) *rendered {
	t.Helper()
	r, err := renderErr(t, values, extraAPIs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func renderErr(t testing.TB, values map[string]any, extraAPIs ...string) (*rendered, error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.IncludeCRDs = true
	install.ReleaseName = releaseName
	install.Namespace = releaseNS
	install.APIVersions = chartutil.VersionSet(extraAPIs)
	kv, err := chartutil.ParseKubeVersion(kubetest.DefaultKubeVersion)
	if err != nil {
		return nil, err
	}
	install.KubeVersion = kv
	rel, err := install.Run(loadChart(t), values)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	out := &rendered{notes: rel.Info.Notes}
	docs, err := splitDocs(rel.Manifest)
	if err != nil {
		return nil, err
	}
	for _, h := range rel.Hooks {
		hd, err := splitDocs("# Source: " + h.Path + "\n" + h.Manifest)
		if err != nil {
			return nil, err
		}
		for i := range hd {
			hd[i].hook = true
		}
		docs = append(docs, hd...)
	}
	for _, d := range docs {
		obj, err := decode(d.raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", d.source, err, d.raw)
		}
		d.obj = obj
		out.objects = append(out.objects, d)
	}
	return out, nil
}

// splitDocs splits a manifest stream into documents, keeping the
// "# Source:" comment Helm writes before each.
func splitDocs(manifest string) ([]object, error) {
	var out []object
	rd := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split manifests: %w", err)
		}
		src := ""
		for _, line := range strings.Split(string(doc), "\n") {
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				src = s
			}
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		out = append(out, object{source: src, raw: doc})
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// strictScheme holds client-go's types and the CRD type.
func strictScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{scheme.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

var (
	decodeScheme = strictScheme()
	// Strict: an unknown or duplicated field fails, as kubectl's field
	// validation would.
	strictYAML = json.NewSerializerWithOptions(json.DefaultMetaFactory, decodeScheme, decodeScheme,
		json.SerializerOptions{Yaml: true, Strict: true})
)

// decode turns one manifest into its typed object; kinds of other CRDs
// (the Prometheus Operator's) stay unstructured.
func decode(doc []byte) (runtime.Object, error) {
	u := &unstructured.Unstructured{}
	if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	gvk := u.GroupVersionKind()
	if gvk.Kind == "" || gvk.Version == "" {
		return nil, fmt.Errorf("no apiVersion or kind")
	}
	if !decodeScheme.Recognizes(gvk) {
		return u, nil
	}
	obj, _, err := strictYAML.Decode(doc, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", gvk, err)
	}
	return obj, nil
}

// merge returns a deep copy of base with over's keys set, recursively.
func merge(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = merge(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
