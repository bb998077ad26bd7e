package deploy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/template"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/flow-auditor/flow-auditor/metrics"
)

const rulesFile = "prometheus/flow-auditor.rules.yaml"

// loadRules parses the rules file with Prometheus's own loader, which
// also parses every expression and template.
func loadRules(t *testing.T) []rulefmt.Rule {
	t.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.LegacyValidation, promParser, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	var out []rulefmt.Rule
	for _, g := range groups.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// TestAlertRulesParseAndNameExportedMetrics type-checks every alert and
// checks each metric it names against the agent's registry.
func TestAlertRulesParseAndNameExportedMetrics(t *testing.T) {
	rules := loadRules(t)
	reg := metrics.NewRegistry()
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("recording rule %s: the file ships alerts only", r.Record)
			continue
		}
		if seen[r.Alert] {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		seen[r.Alert] = true
		expr, err := promParser.ParseExpr(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", r.Alert, err)
			continue
		}
		if expr.Type() != parser.ValueTypeVector {
			t.Errorf("%s: expression of type %s, an alert needs an instant vector", r.Alert, expr.Type())
		}
		checkExported(t, reg, r.Alert, metricNames(expr))

		switch sev := r.Labels["severity"]; sev {
		case "warning", "critical":
		default:
			t.Errorf("%s: severity %q, want warning or critical", r.Alert, sev)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		desc := r.Annotations["description"]
		if !strings.Contains(desc, "$labels.namespace") ||
			!(strings.Contains(desc, "$labels.workload") || strings.Contains(desc, "$labels.pod")) {
			t.Errorf("%s: the description must name the namespace and the workload (or the agent's pod): %q", r.Alert, desc)
		}
		if want := "#" + strings.ToLower(r.Alert); !strings.HasSuffix(r.Annotations["runbook_url"], want) {
			t.Errorf("%s: runbook_url %q does not point at the README's section %s", r.Alert, r.Annotations["runbook_url"], want)
		}
	}
	if rule := findRule(rules, "FlowAuditorMetadataServiceEgress"); rule == nil || rule.Labels["severity"] != "critical" {
		t.Error("egress to the metadata service must page: want FlowAuditorMetadataServiceEgress with severity critical")
	}
	t.Logf("%d alerts", len(rules))
}

func findRule(rules []rulefmt.Rule, name string) *rulefmt.Rule {
	for i := range rules {
		if rules[i].Alert == name {
			return &rules[i]
		}
	}
	return nil
}

// TestRunbookHasASectionPerAlert: each alert's runbook_url lands on a
// README section of that name.
func TestRunbookHasASectionPerAlert(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range loadRules(t) {
		if !bytes.Contains(readme, []byte("#### "+r.Alert+"\n")) {
			t.Errorf("README.md has no runbook section \"#### %s\"", r.Alert)
		}
	}
}

// TestPrometheusRuleIsTheRulesFile: the chart's PrometheusRule carries
// exactly the groups of the plain rules file.
func TestPrometheusRuleIsTheRulesFile(t *testing.T) {
	r := render(t, map[string]any{"prometheusRule": map[string]any{"enabled": true}}, monitoringAPIs...)
	pr := one[*unstructured.Unstructured](t, r, "PrometheusRule", daemonSetName)
	got, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Groups []any `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Groups) == 0 || !reflect.DeepEqual(got, want.Groups) {
		t.Errorf("PrometheusRule spec.groups differ from %s", rulesFile)
	}
}

// alert is one firing alert, its annotations expanded.
type alert struct {
	name        string
	labels      map[string]string
	annotations map[string]string
}

// firing evaluates rule at ts the way Prometheus's rule manager does: the
// expression must return a series at every evaluation (every 30s) over the
// rule's `for`; the annotations are expanded with the alert's labels and
// value.
func firing(t *testing.T, eng *promql.Engine, q storage.Queryable, r rulefmt.Rule, ts time.Time) []alert {
	t.Helper()
	hold := time.Duration(r.For)
	active := map[string]promql.Sample{}
	for at := ts.Add(-hold); !at.After(ts); at = at.Add(30 * time.Second) {
		now := map[string]promql.Sample{}
		for _, s := range instant(t, eng, q, r.Expr, at) {
			k := s.Metric.String()
			if _, ok := active[k]; ok || at.Equal(ts.Add(-hold)) {
				now[k] = s
			}
		}
		active = now
	}
	var out []alert
	for _, s := range active {
		lbls := s.Metric.Map()
		a := alert{name: r.Alert, labels: lbls, annotations: map[string]string{}}
		for k, v := range r.Labels {
			a.labels[k] = v
		}
		for k, text := range r.Annotations {
			defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
			exp := template.NewTemplateExpander(context.Background(), defs+text, "__alert_"+r.Alert,
				template.AlertTemplateData(lbls, nil, "", s), model.Time(ts.UnixMilli()),
				func(ctx context.Context, qs string, at time.Time) (promql.Vector, error) {
					return instant(t, eng, q, qs, at), nil
				}, nil, nil)
			v, err := exp.Expand()
			if err != nil {
				t.Errorf("%s: annotation %s: %v", r.Alert, k, err)
			}
			a.annotations[k] = v
		}
		out = append(out, a)
	}
	return out
}

// TestAlertsFireOnWhatTheAgentsReport feeds a Prometheus engine with what
// two agents' registries expose over 30 minutes of scrapes, the same
// counters the agent's sinks increment, and evaluates every alert: each
// fires on the event it is for, with the right labels, and its description
// names the namespace and the workload (or the agent). A quiet cluster
// fires nothing.
func TestAlertsFireOnWhatTheAgentsReport(t *testing.T) {
	rules := loadRules(t)
	eng := newEngine()

	noisy, end := simulateCluster(t, true)
	want := map[string]map[string]string{
		"FlowAuditorDeniedEgress":          {"namespace": "ai-agents", "workload": triageAgent},
		"FlowAuditorPolicyNotEnforced":     {"namespace": "ai-agents", "workload": specialistAgent},
		"FlowAuditorMetadataServiceEgress": {"namespace": "ai-agents", "workload": specialistAgent, "severity": "critical"},
		"FlowAuditorNewEgressDestination":  {"namespace": "ai-agents", "workload": triageAgent},
		"FlowAuditorEventsLost":            {"namespace": releaseNS, "pod": agentA.pod, "stage": "ingest", "cause": "queue-full"},
		"FlowAuditorAgentDown":             {"namespace": releaseNS, "pod": agentB.pod},
		"FlowAuditorAgentNotReady":         {"namespace": releaseNS, "pod": agentA.pod},
		"FlowAuditorMapNearlyFull":         {"namespace": releaseNS, "pod": agentA.pod, "map": "flows"},
	}
	for _, r := range rules {
		wantLabels, ok := want[r.Alert]
		if !ok {
			t.Errorf("alert %s has no scenario in this test", r.Alert)
			continue
		}
		got := firing(t, eng, noisy, r, end)
		if len(got) != 1 {
			t.Errorf("%s: %d alerts firing, want 1", r.Alert, len(got))
			continue
		}
		a := got[0]
		for k, v := range wantLabels {
			if a.labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q (labels %v)", r.Alert, k, a.labels[k], v, a.labels)
			}
		}
		desc := a.annotations["description"]
		who := wantLabels["workload"]
		if who == "" {
			who = wantLabels["pod"]
		}
		if !strings.Contains(desc, wantLabels["namespace"]) || !strings.Contains(desc, who) {
			t.Errorf("%s: description %q does not name namespace %s and %s", r.Alert, desc, wantLabels["namespace"], who)
		}
		for k, v := range a.annotations {
			if strings.Contains(v, "<no value>") || strings.Contains(v, "error expanding") {
				t.Errorf("%s: annotation %s expands to %q", r.Alert, k, v)
			}
		}
		t.Logf("%s: %s", r.Alert, a.annotations["summary"])
	}

	quiet, end := simulateCluster(t, false)
	for _, r := range rules {
		for _, a := range firing(t, eng, quiet, r, end) {
			t.Errorf("quiet cluster: %s fires with %v", r.Alert, a.labels)
		}
	}
}
