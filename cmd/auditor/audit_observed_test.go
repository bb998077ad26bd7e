package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

// fakeCluster is a cluster whose inventory is the example snapshot and
// whose agents' ObservedTraffic is obs.
type fakeCluster struct {
	obs []baseline.Observation
	err error
}

func (f *fakeCluster) addFlags(*pflag.FlagSet) {}

func (f *fakeCluster) load(context.Context) (correlate.Inventory, error) {
	return correlate.LoadSnapshot(exampleSnapshot)
}

func (f *fakeCluster) observations(context.Context, string) ([]baseline.Observation, error) {
	return f.obs, f.err
}

var _ observationReader = (*fakeCluster)(nil)

func runAuditWith(t *testing.T, live inventoryLoader, args ...string) cliResult {
	t.Helper()
	cmd := newAuditCmd(live)
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	code := 0
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		errb.WriteString("auditor: " + err.Error() + "\n")
		code = 2
		var ex *exitError
		if errors.As(err, &ex) {
			code = ex.code
		}
	}
	return cliResult{out.String(), errb.String(), code}
}

var observedAt = time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)

// entry is one peer entry as baseline.Read returns it.
func entry(node string, src, dst flow.Endpoint, port uint16, flows uint64) baseline.Observation {
	dst.Port = port
	return baseline.Observation{
		Record: flow.Record{
			TimeFirst: observedAt, TimeLast: observedAt.Add(time.Hour), Node: node, Protocol: flow.TCP,
			Src: src, Dst: dst, Packets: 10 * flows, Bytes: 1000 * flows, Observed: flow.Forwarded,
		},
		Flows: flows,
	}
}

func workloadEnd(ns, workload string, labels map[string]string) flow.Endpoint {
	return flow.Endpoint{Kind: flow.KindPod, Namespace: ns, Workload: workload, Labels: labels}
}

func externalEnd(ip, fqdn string) flow.Endpoint {
	return flow.Endpoint{Kind: flow.KindExternal, IP: netip.MustParseAddr(ip), FQDN: fqdn}
}

// observedLine is an audit line from ObservedTraffic.
type observedLine struct {
	auditLine
	ObservedFlows int      `json:"observed_flows"`
	Nodes         []string `json:"nodes"`
	Unresolved    []string `json:"unresolved"`
}

func parseObserved(t *testing.T, s string) map[string]observedLine {
	t.Helper()
	out := make(map[string]observedLine)
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		var l observedLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, line)
		}
		dst := l.Dst.Namespace + "/" + l.Dst.Workload
		if l.Dst.Workload == "" {
			dst = l.Dst.IP
		}
		out[l.Src.Namespace+"/"+l.Src.Workload+" -> "+dst] = l
	}
	return out
}

var (
	triage     = workloadEnd("ai-agents", "Deployment/triage-agent", map[string]string{"app": "ai-agent", "role": "triage-agent"})
	specialist = workloadEnd("ai-agents", "Deployment/specialist-agent", map[string]string{"app": "ai-agent", "role": "specialist-agent"})
	gateway    = workloadEnd("api-gateway", "Deployment/gateway", map[string]string{"app": "gateway"})
	retired    = workloadEnd("ai-agents", "Deployment/retired-agent", map[string]string{"app": "ai-agent", "role": "retired-agent"})
	postgres   = workloadEnd("databases", "StatefulSet/postgresql", map[string]string{"app": "postgresql"})
)

// exampleBaseline is what the example cluster's agents could have written.
func exampleBaseline() []baseline.Observation {
	return []baseline.Observation{
		entry("node-1", triage, externalEnd("203.0.113.10", "api.llm-provider.example"), 443, 3),
		entry("node-2", gateway, triage, 8000, 2),
		// One edge, seen from specialist pods on both nodes.
		entry("node-1", specialist, specialist, 8000, 2),
		entry("node-2", specialist, specialist, 8000, 3),
		entry("node-1", triage, specialist, 8000, 4),
		// A workload rolled away since: no pod of it is left.
		entry("node-1", retired, externalEnd("10.20.30.40", ""), 8080, 1),
		entry("node-2", gateway, postgres, 5432, 1),
	}
}

func TestAuditObservedTrafficJudgesEachEdge(t *testing.T) {
	live := &fakeCluster{obs: exampleBaseline()}
	r := runAuditWith(t, live, "-n", "ai-agents", "-o", "jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := parseObserved(t, r.stdout)
	if len(lines) != 5 {
		t.Fatalf("%d edges, want 5 (the postgresql one is outside ai-agents):\n%s", len(lines), r.stdout)
	}

	llm := lines["ai-agents/Deployment/triage-agent -> 203.0.113.10"]
	if llm.Verdict != "allow" || llm.Violation != "" || llm.ObservedFlows != 3 || llm.Dst.FQDN != "api.llm-provider.example" {
		t.Errorf("triage -> LLM API: %+v", llm)
	}
	// Judged as the workload's real pod, with its labels.
	if llm.Src.Pod != "triage-agent-7d9f8b6c5d-x2k4p" || llm.Src.IP != "10.244.1.10" || llm.Src.Labels["pod-template-hash"] != "7d9f8b6c5d" {
		t.Errorf("triage side: %+v", llm.Src)
	}
	if gw := lines["api-gateway/Deployment/gateway -> ai-agents/Deployment/triage-agent"]; gw.Verdict != "allow" || gw.ObservedFlows != 2 ||
		!strings.Contains(gw.Explanation, "ingress allowed by ai-agents/allow-gateway-to-agents") {
		t.Errorf("gateway -> triage: %+v", gw)
	}

	self := lines["ai-agents/Deployment/specialist-agent -> ai-agents/Deployment/specialist-agent"]
	if self.Verdict != "deny" || self.Violation != "would-deny" || self.Egress != "deny" || self.Ingress != "deny" ||
		self.ObservedFlows != 5 || !slices.Equal(self.Nodes, []string{"node-1", "node-2"}) {
		t.Errorf("specialist -> specialist: %+v", self)
	}
	if self.Src.Pod == "" || self.Src.Pod == self.Dst.Pod {
		t.Errorf("specialist -> specialist judged between pods %q and %q, want two of its pods", self.Src.Pod, self.Dst.Pod)
	}

	deny := lines["ai-agents/Deployment/triage-agent -> ai-agents/Deployment/specialist-agent"]
	const why = "egress denied: isolated by ai-agents/allow-agent-egress, ai-agents/default-deny-all, no rule allows"
	if deny.Verdict != "deny" || deny.Egress != "deny" || deny.Ingress != "allow" || deny.ObservedFlows != 4 || !strings.HasPrefix(deny.Explanation, why) {
		t.Errorf("triage -> specialist: %+v", deny)
	}

	gone := lines["ai-agents/Deployment/retired-agent -> 10.20.30.40"]
	if gone.Verdict != "deny" || !slices.Equal(gone.Unresolved, []string{"src"}) || gone.Src.Pod != "" || gone.Src.Labels["role"] != "retired-agent" ||
		!strings.HasPrefix(gone.Explanation, "ai-agents/Deployment/retired-agent has no pod in the inventory, judged by the labels its agent recorded: "+why) {
		t.Errorf("retired -> 10.20.30.40: %+v", gone)
	}

	const summary = "audited 15 flows: 5 allowed, 10 denied (violations: 10 would-deny, 0 denied, 0 anomalous-egress); 1 flow not touching namespace ai-agents left out" +
		"; from the cluster's ObservedTraffic: 6 entries merged into 5 edges, 1 unresolved (a workload with no pod left, judged by its recorded labels)\n"
	if !strings.HasPrefix(r.stderr, summary) {
		t.Errorf("stderr:\n%s\nwant it to start with\n%s", r.stderr, summary)
	}
}

// The table counts each edge as the flows it adds up, most frequent first.
func TestAuditObservedTrafficTable(t *testing.T) {
	r := runAuditWith(t, &fakeCluster{obs: exampleBaseline()}, "-o", "table")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := []string{
		"NAMESPACE    FLOWS  ALLOWED  DENIED",
		"ai-agents    15     5        10",
		"api-gateway  3      3        0",
		"databases    1      1        0",
		"",
		"ai-agents: 10 denied flows, by workload",
		"  FLOWS  SOURCE                       DESTINATION                  PORT      DENIED BY       VIOLATION",
		"  5      Deployment/specialist-agent  Deployment/specialist-agent  TCP/8000  egress+ingress  would-deny",
		"  4      Deployment/triage-agent      Deployment/specialist-agent  TCP/8000  egress          would-deny",
		"  1      Deployment/retired-agent     external 10.20.30.40         TCP/8080  egress          would-deny",
	}
	rows := strings.Split(r.stdout, "\n")
	if len(rows) < len(want) {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for i, w := range want {
		if strings.TrimRight(rows[i], " ") != w {
			t.Errorf("row %d:\n got %q\nwant %q\n%s", i, rows[i], w, r.stdout)
		}
	}

	// -o json: the summary says what the entries were.
	r = runAuditWith(t, &fakeCluster{obs: exampleBaseline()}, "-o", "json")
	var doc struct {
		Flows   []observedLine `json:"flows"`
		Summary struct {
			Flows    int             `json:"flows"`
			Denied   int             `json:"denied"`
			Observed observedSummary `json:"observed"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("exit %d, not JSON: %v\n%s", r.code, err, r.stdout)
	}
	if len(doc.Flows) != 6 || doc.Summary.Flows != 16 || doc.Summary.Denied != 10 || doc.Summary.Observed != (observedSummary{Entries: 7, Edges: 6, Unresolved: 1}) {
		t.Errorf("%d flows, summary %+v", len(doc.Flows), doc.Summary)
	}
}

// A workload calling itself with one pod left is judged between two of its
// pods: a pod may always reach itself, two pods of it may not.
func TestAuditObservedTrafficWorkloadToItselfWithOnePod(t *testing.T) {
	r := runAuditWith(t, &fakeCluster{obs: []baseline.Observation{entry("node-1", triage, triage, 8000, 2)}}, "-o", "jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	l := parseObserved(t, r.stdout)["ai-agents/Deployment/triage-agent -> ai-agents/Deployment/triage-agent"]
	if l.Verdict != "deny" || l.Egress != "deny" || l.Ingress != "deny" || len(l.Unresolved) != 0 ||
		!strings.HasPrefix(l.Explanation, "ai-agents/Deployment/triage-agent has one pod now, judged as a flow between two of its pods: egress denied") {
		t.Errorf("%+v", l)
	}
}

func TestAuditObservedTrafficNothingObserved(t *testing.T) {
	outside := []baseline.Observation{entry("node-2", gateway, postgres, 5432, 1)}
	for _, tc := range []struct {
		name string
		obs  []baseline.Observation
		args []string
		want string
	}{
		{"none at all", nil, nil, "no observed traffic in the cluster's ObservedTraffic objects; run the agents or pass --flows"},
		{"none for the namespace", outside, []string{"-n", "ai-agents"},
			"no observed traffic for namespace ai-agents in the cluster's ObservedTraffic objects; run the agents or pass --flows"},
		{"with --snapshot", outside, []string{"--snapshot", exampleSnapshot}, "--flows is required with --snapshot"},
	} {
		for _, format := range []string{"jsonl", "json", "table"} {
			r := runAuditWith(t, &fakeCluster{obs: tc.obs}, append(tc.args, "-o", format)...)
			if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s, -o %s: exit %d, stdout %q, stderr %s", tc.name, format, r.code, r.stdout, r.stderr)
			}
		}
	}
}
