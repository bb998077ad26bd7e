package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/graph"
	"github.com/flow-auditor/flow-auditor/policy"
)

// TestGraphOfTheExamples draws the shipped example in every format: the
// same edges, coloured as `auditor audit` judges the flows.
func TestGraphOfTheExamples(t *testing.T) {
	res := runCLI(t, "", "graph", "-n", "ai-agents", "--snapshot", exampleSnapshot, "--flows", exampleFlows, "-o", "html")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	d, err := graph.ReadDrawn(strings.NewReader(res.stdout))
	if err != nil {
		t.Fatal(err)
	}
	const ai = "ai-agents/Deployment/"
	for _, want := range []string{
		ai + "triage-agent -> external/10.20.30.40 would-deny 1 TCP/8080",
		ai + "specialist-agent -> external/169.254.169.254 would-deny 1 TCP/80",
		ai + "specialist-agent -> " + ai + "specialist-agent denied 2 TCP/8000",
		ai + "triage-agent -> external/api.llm-provider.example allowed 1 TCP/443",
		"api-gateway/Deployment/gateway -> " + ai + "triage-agent allowed 2 TCP/8000",
		ai + "specialist-agent -> databases/StatefulSet/postgresql allowed 2 TCP/5432",
	} {
		if !slices.Contains(d.Edges, want) {
			t.Errorf("no edge %q in:\n%s", want, strings.Join(d.Edges, "\n"))
		}
	}
	if d.Rows != len(d.Edges) || len(d.Nodes) == 0 {
		t.Errorf("%d nodes, %d edges, %d table rows", len(d.Nodes), len(d.Edges), d.Rows)
	}
	if !strings.Contains(res.stderr, "auditor: graph of ai-agents: ") {
		t.Errorf("stderr: %q", res.stderr)
	}
	for _, format := range []string{"dot", "mermaid", "svg"} {
		r := runCLI(t, "", "graph", "-n", "ai-agents", "--snapshot", exampleSnapshot, "--flows", exampleFlows, "-o", format)
		if r.code != 0 || !strings.Contains(r.stdout, "api.llm-provider.example") {
			t.Errorf("-o %s: exit %d, stdout %.200q", format, r.code, r.stdout)
		}
	}
	svg := runCLI(t, "", "graph", "-n", "ai-agents", "--snapshot", exampleSnapshot, "--flows", exampleFlows, "-o", "svg")
	ds, err := graph.ReadDrawn(strings.NewReader(svg.stdout))
	if err != nil || !slices.Equal(ds.Edges, d.Edges) {
		t.Errorf("the SVG draws other edges than the page: %v %v", err, ds)
	}
}

// TestGraphKeepsTheAgentsAnomalies: an anomalous-egress verdict comes from
// the agent's baseline, which the files cannot rebuild; it stays unless
// policy finds worse.
func TestGraphKeepsTheAgentsAnomalies(t *testing.T) {
	flows := writeFile(t, "flows.jsonl", strings.Join([]string{
		// Policy allows TCP 443 to public addresses: the agent's anomaly stays.
		`{"time_first":"2025-06-02T12:00:00Z","time_last":"2025-06-02T12:00:01Z","src":{"ip":"10.244.1.10","port":40000},"dst":{"ip":"198.51.100.99","port":443,"fqdn":"new.example"},"protocol":"TCP","initiator":"src","packets":3,"bytes":180,"observed":"forwarded","violation":"anomalous-egress","explanation":"anomalous egress: new-destination"}`,
		// Policy denies the metadata service: would-deny beats the anomaly.
		`{"time_first":"2025-06-02T12:00:02Z","time_last":"2025-06-02T12:00:03Z","src":{"ip":"10.244.1.10","port":40001},"dst":{"ip":"169.254.169.254","port":80},"protocol":"TCP","initiator":"src","packets":3,"bytes":180,"observed":"forwarded","violation":"anomalous-egress"}`,
		// Nothing said: allowed.
		`{"time_first":"2025-06-02T12:00:04Z","time_last":"2025-06-02T12:00:05Z","src":{"ip":"10.244.1.10","port":40002},"dst":{"ip":"203.0.113.10","port":443},"protocol":"TCP","initiator":"src","packets":3,"bytes":180,"observed":"forwarded"}`,
	}, "\n")+"\n")
	res := runCLI(t, "", "graph", "-n", "ai-agents", "--snapshot", exampleSnapshot, "--flows", flows, "-o", "svg")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	d, err := graph.ReadDrawn(strings.NewReader(res.stdout))
	if err != nil {
		t.Fatal(err)
	}
	const triage = "ai-agents/Deployment/triage-agent -> "
	want := []string{
		triage + "external/169.254.169.254 would-deny 1 TCP/80",
		triage + "external/203.0.113.10 allowed 1 TCP/443",
		triage + "external/new.example anomalous 1 TCP/443",
	}
	if !slices.Equal(d.Edges, want) {
		t.Errorf("edges:\n%s\nwant:\n%s", strings.Join(d.Edges, "\n"), strings.Join(want, "\n"))
	}
}

func TestGraphBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no namespace", []string{"--snapshot", exampleSnapshot, "--flows", exampleFlows}, "--namespace is required"},
		{"snapshot without flows", []string{"-n", "ai-agents", "--snapshot", exampleSnapshot}, "--snapshot needs --flows"},
		{"unknown format", []string{"-n", "ai-agents", "--snapshot", exampleSnapshot, "--flows", exampleFlows, "-o", "png"}, `--output "png"`},
		{"nothing in the namespace", []string{"-n", "nowhere", "--snapshot", exampleSnapshot, "--flows", exampleFlows}, "no flow from or to a pod of namespace nowhere"},
		{"bad flow line", []string{"-n", "ai-agents", "--snapshot", exampleSnapshot, "--flows", writeFile(t, "bad.jsonl", "{not json\n")}, "bad.jsonl:1"},
	} {
		res := runCLI(t, "", append([]string{"graph"}, c.args...)...)
		if res.code != 2 || res.stdout != "" || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout, %q", c.name, res.code, res.stdout, res.stderr, c.want)
		}
	}
}

// TestObservationsAreJudgedByTheirWorkloads: the cluster's ObservedTraffic
// names workloads, not pods; two pods of one workload are still two pods.
func TestObservationsAreJudgedByTheirWorkloads(t *testing.T) {
	snap, err := correlate.LoadSnapshot(exampleSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	objs := snap.Objects()
	engine, err := policy.New(objs.NetworkPolicies, objs.Namespaces)
	if err != nil {
		t.Fatal(err)
	}
	agent := func(role string) flow.Endpoint {
		return flow.Endpoint{Kind: flow.KindPod, Namespace: "ai-agents", Workload: "Deployment/" + role,
			Labels: map[string]string{"app": "ai-agent", "role": role, "tier": "ai-agent", "network-policy": "restricted"}}
	}
	for _, c := range []struct {
		src, dst  flow.Endpoint
		port      uint16
		violation string
	}{
		{agent("specialist-agent"), agent("specialist-agent"), 8000, "would-deny"},
		{agent("triage-agent"), agent("specialist-agent"), 8000, "would-deny"}, // the article's egress policy
		{agent("triage-agent"), flow.Endpoint{Kind: flow.KindExternal, IP: netip.MustParseAddr("203.0.113.10")}, 443, ""},
		{agent("triage-agent"), flow.Endpoint{Kind: flow.KindExternal, IP: netip.MustParseAddr("10.1.2.3")}, 443, "would-deny"},
	} {
		ob := baseline.Observation{Record: flow.Record{Src: c.src, Dst: c.dst, Protocol: flow.TCP}, Flows: 3}
		ob.Dst.Port = c.port
		judgeObservation(engine, &ob)
		if ob.Violation != c.violation || ob.Explanation == "" {
			t.Errorf("%s -> %s:%d: violation %q (%s), want %q", c.src.Workload, c.dst.Workload+c.dst.IP.String(), c.port, ob.Violation, ob.Explanation, c.violation)
		}
	}
}
