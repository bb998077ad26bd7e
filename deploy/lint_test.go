package deploy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

var update = flag.Bool("update", false, "copy the sources into the chart (crds/, files/) instead of comparing")

// TestChartLints runs the Helm SDK's linter (`helm lint --strict`: a
// warning fails too) with the default and the production values.
func TestChartLints(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(kubetest.DefaultKubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range map[string]map[string]any{
		"values.yaml":            nil,
		"values-production.yaml": productionValues(t),
		"every toggle on":        allOn(),
	} {
		l := lint.AllWithKubeVersion(chartDir, values, releaseNS, kv)
		for _, m := range l.Messages {
			if m.Severity > support.InfoSev {
				t.Errorf("%s: %s", name, m)
			} else {
				t.Logf("%s: %s", name, m)
			}
		}
	}
}

// chartCopies are the files the chart carries a copy of, because Helm reads
// nothing outside the chart directory: the source (left) is the one to
// edit; `go test ./deploy -run TestChartCopies -update` refreshes the copy.
var chartCopies = map[string]string{
	"crds/observedtraffic.yaml":          filepath.Join(chartDir, "crds/observedtraffic.yaml"),
	"prometheus/flow-auditor.rules.yaml": filepath.Join(chartDir, "files/flow-auditor.rules.yaml"),
	"grafana/flow-auditor.json":          filepath.Join(chartDir, "files/flow-auditor-dashboard.json"),
}

// TestChartCopiesMatchSources: one source of truth for the CRD, the rules
// and the dashboard.
func TestChartCopiesMatchSources(t *testing.T) {
	for src, dst := range chartCopies {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its source deploy/%s: run go test ./deploy -run TestChartCopies -update", dst, src)
		}
	}
}

// TestChartInstallsTheCRD: the rendered CRD is the ObservedTraffic one the
// agent writes.
func TestChartInstallsTheCRD(t *testing.T) {
	r := render(t, nil)
	crds := r.all("CustomResourceDefinition")
	if len(crds) != 1 || !strings.HasPrefix(crds[0].source, "flow-auditor/crds/") {
		t.Fatalf("want one CRD from crds/, got %d", len(crds))
	}
	if crds[0].name() != "observedtraffics.flowauditor.io" {
		t.Errorf("CRD %s, want observedtraffics.flowauditor.io", crds[0].name())
	}
}

// TestMonitoringObjectsNeedTheirCRDs: the ServiceMonitor and the
// PrometheusRule render only where the cluster serves their kinds, and the
// notes say so otherwise.
func TestMonitoringObjectsNeedTheirCRDs(t *testing.T) {
	on := map[string]any{
		"serviceMonitor": map[string]any{"enabled": true},
		"prometheusRule": map[string]any{"enabled": true},
	}
	without := render(t, on)
	for _, k := range []string{"ServiceMonitor", "PrometheusRule"} {
		if n := len(without.all(k)); n != 0 {
			t.Errorf("%s rendered without its CRD", k)
		}
		if !strings.Contains(without.notes, "does not serve monitoring.coreos.com/v1 "+k) {
			t.Errorf("notes do not warn that no %s was created:\n%s", k, without.notes)
		}
	}
	with := render(t, on, monitoringAPIs...)
	sm := one[*unstructured.Unstructured](t, with, "ServiceMonitor", daemonSetName)
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v", eps)
	}
	ep := eps[0].(map[string]any)
	if ep["port"] != "metrics" || ep["honorLabels"] != true {
		t.Errorf("ServiceMonitor endpoint %v: want port metrics with honorLabels (the agent's namespace label names the audited pod's)", ep)
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	var selected []string
	for _, o := range with.all("Service") {
		svc := o.obj.(*corev1.Service)
		if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
			selected = append(selected, svc.Name)
		}
	}
	if !slices.Equal(selected, []string{daemonSetName}) {
		t.Errorf("ServiceMonitor selects Services %v, want only %s", selected, daemonSetName)
	}
	if len(with.all("PrometheusRule")) != 1 {
		t.Error("no PrometheusRule with its CRD served")
	}
	if off := render(t, nil, monitoringAPIs...); len(off.all("ServiceMonitor"))+len(off.all("PrometheusRule")) != 0 {
		t.Error("monitoring objects rendered although their toggles are off")
	}
}

// TestValuesSchemaRefusesMistakes: values.schema.json stops a typo or a
// wrong value at install time instead of an agent that will not start.
func TestValuesSchemaRefusesMistakes(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"misspelled key":    {"agent": map[string]any{"sourse": "hubble"}},
		"unknown source":    {"agent": map[string]any{"source": "pcap"}},
		"bad duration":      {"agent": map[string]any{"interval": "5 seconds"}},
		"not a flag":        {"agent": map[string]any{"extraArgs": []any{"agent"}}},
		"port out of range": {"metrics": map[string]any{"port": 70000}},
	} {
		if _, err := renderErr(t, values); err == nil {
			t.Errorf("%s: %v rendered", name, values)
		}
	}
}
