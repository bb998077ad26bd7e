package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flow-auditor/flow-auditor/metrics"
)

const dashboardFile = "grafana/flow-auditor.json"

type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type query struct {
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
}

type panel struct {
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []query `json:"targets"`
	Panels  []panel `json:"panels"` // a collapsed row's
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var grafanaVar = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// grafanaBuiltins are what Grafana substitutes in every query, with values
// that fit the simulated 30 minutes.
var grafanaBuiltins = map[string]string{"__rate_interval": "2m", "__interval": "30s", "__range": "30m"}

// TestDashboardPanelsQueryWhatTheAgentsExport parses every panel's query
// with Prometheus's parser, checks each metric against the agent's
// registry, then runs it on the simulated cluster: each returns series
// carrying the labels its legend names.
func TestDashboardPanelsQueryWhatTheAgentsExport(t *testing.T) {
	d := loadDashboard(t)
	reg := metrics.NewRegistry()
	vars := map[string]string{}
	for k, v := range grafanaBuiltins {
		vars[k] = v
	}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			vars[v.Name] = "prometheus"
		case "query":
			q, _ := v.Query.(map[string]any)
			qs, _ := q["query"].(string)
			m := regexp.MustCompile(`^label_values\(([a-z_:]+),\s*([a-z_]+)\)$`).FindStringSubmatch(qs)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, qs)
				continue
			}
			checkExported(t, reg, "variable "+v.Name, []string{m[1]})
			vars[v.Name] = ".*"
		}
	}
	store, end := simulateCluster(t, true)
	eng := newEngine()
	for _, p := range d.allPanels() {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource must be the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			q := grafanaVar.ReplaceAllStringFunc(tg.Expr, func(m string) string {
				name := grafanaVar.FindStringSubmatch(m)[1]
				v, ok := vars[name]
				if !ok {
					t.Errorf("panel %q: %s is no dashboard variable", p.Title, m)
				}
				return v
			})
			expr, err := promParser.ParseExpr(q)
			if err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
				continue
			}
			checkExported(t, reg, "panel "+p.Title, metricNames(expr))
			res := instant(t, eng, store, q, end)
			if len(res) == 0 {
				t.Errorf("panel %q: %s returns nothing on the simulated cluster", p.Title, q)
			}
			for _, s := range res {
				for _, l := range legendLabels(tg.LegendFormat) {
					if s.Metric.Get(l) == "" {
						t.Errorf("panel %q: legend names %s, missing from %s", p.Title, l, s.Metric)
					}
				}
			}
		}
	}
}

// TestDashboardHasThePanelsTheIssueAsksFor checks the panel titles and
// what each groups by.
func TestDashboardHasThePanelsTheIssueAsksFor(t *testing.T) {
	d := loadDashboard(t)
	want := map[string][]string{
		"Flows by verdict per namespace": {"namespace", "verdict"},
		"Violations over time":           {"kind"},
		"Egress anomalies over time":     {"class"},
		"Top workloads by denied egress": {"namespace", "workload"},
		"Lost events per node":           {"node"},
		"Map fill per node":              {"node", "map"},
	}
	for _, p := range d.allPanels() {
		by, ok := want[p.Title]
		if !ok {
			continue
		}
		delete(want, p.Title)
		for _, l := range by {
			if !slices.ContainsFunc(p.Targets, func(tg query) bool {
				return regexp.MustCompile(`by \([^)]*\b` + l + `\b`).MatchString(tg.Expr)
			}) {
				t.Errorf("panel %q does not group by %s", p.Title, l)
			}
		}
	}
	for title := range want {
		t.Errorf("no panel %q", title)
	}
}

// TestGrafanaDashboardConfigMap: the chart ships the same dashboard.
func TestGrafanaDashboardConfigMap(t *testing.T) {
	r := render(t, map[string]any{"grafanaDashboard": map[string]any{"enabled": true}})
	cm := one[*corev1.ConfigMap](t, r, "ConfigMap", daemonSetName+"-dashboard")
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("ConfigMap labels %v: Grafana's sidecar looks for grafana_dashboard=1", cm.Labels)
	}
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(cm.Data["flow-auditor.json"]) != strings.TrimSpace(string(raw)) {
		t.Errorf("the ConfigMap's dashboard differs from %s", dashboardFile)
	}
}
