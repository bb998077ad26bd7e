package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const (
	scenarioSnapshot = "../../suggest/testdata/scenario/snapshot.yaml"
	scenarioFlows    = "../../suggest/testdata/scenario/flows.jsonl"
	scenarioGolden   = "../../suggest/testdata/scenario/suggest-exact.yaml"
)

func suggestArgs(extra ...string) []string {
	return append([]string{"suggest", "-n", "ai-agents", "--snapshot", scenarioSnapshot, "--flows", scenarioFlows}, extra...)
}

// TestSuggestScenario: the command prints exactly the library's golden
// policies, and the proof by replay on stderr.
func TestSuggestScenario(t *testing.T) {
	res := runCLI(t, "", suggestArgs()...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	want, err := os.ReadFile(scenarioGolden)
	if err != nil {
		t.Fatal(err)
	}
	if res.stdout != string(want) {
		t.Errorf("stdout differs from %s", scenarioGolden)
	}
	for _, s := range []string{
		"replay: 100 of 100 observed flows allowed",
		"of 5 dropped flows 5 stay denied",
		"0 unobserved workload edges allowed",
		"ai-agents/Deployment/tool-service -> databases/StatefulSet/postgresql TCP/5432",
		"note [node-peer] node 10.0.0.11",
	} {
		if !strings.Contains(res.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, res.stderr)
		}
	}
	if again := runCLI(t, "", suggestArgs()...); again.stdout != res.stdout {
		t.Error("a second run printed other bytes")
	}
}

func TestSuggestOutputDirAndReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policies")
	report := filepath.Join(t.TempDir(), "replay.json")
	res := runCLI(t, "", suggestArgs("-o", dir, "--report", report)...)
	if res.code != 0 || res.stdout != "" {
		t.Fatalf("exit %d, stdout %q: %s", res.code, res.stdout, res.stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	wantNames := []string{"flow-auditor-default-deny.yaml", "flow-auditor-specialist-agent.yaml", "flow-auditor-tool-service.yaml", "flow-auditor-triage-agent.yaml"}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Fatalf("files %v, want %v", names, wantNames)
	}
	// The files, in print order, are the stream stdout would have held.
	var all strings.Builder
	for _, n := range []string{wantNames[0], wantNames[1], wantNames[2], wantNames[3]} {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
	}
	golden, _ := os.ReadFile(scenarioGolden)
	if all.String() != string(golden) {
		t.Error("the files together differ from the stdout stream")
	}
	var r struct {
		Flows struct {
			Observed, Allowed, NotAllowed int
		} `json:"flows"`
		Edges struct {
			AllowedUnobserved int `json:"allowed_unobserved"`
		} `json:"edges"`
		BlockedElsewhere []struct{ Src, Dst string } `json:"blocked_elsewhere"`
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Flows.Observed != 100 || r.Flows.Allowed != 100 || r.Edges.AllowedUnobserved != 0 || len(r.BlockedElsewhere) != 1 {
		t.Errorf("report: %+v", r)
	}
}

func TestSuggestFormatsAndDiff(t *testing.T) {
	res := runCLI(t, "", suggestArgs("--format", "cilium")...)
	if res.code != 0 || !strings.Contains(res.stdout, "kind: CiliumNetworkPolicy") || !strings.Contains(res.stdout, "matchName: api.openai.com") {
		t.Errorf("cilium: exit %d\n%s", res.code, res.stdout)
	}
	res = runCLI(t, "", suggestArgs("--external", "public")...)
	if res.code != 0 || !strings.Contains(res.stdout, `cidr: "0.0.0.0/0"`) || !strings.Contains(res.stdout, `- "169.254.0.0/16"`) {
		t.Errorf("public: exit %d\n%s", res.code, res.stdout)
	}
	res = runCLI(t, "", suggestArgs("--diff")...)
	if res.code != 0 || !strings.HasPrefix(res.stdout, "--- current/ai-agents\n+++ suggested/ai-agents\n") ||
		!strings.Contains(res.stdout, "-  name: ai-agent-egress") || !strings.Contains(res.stdout, "+  name: flow-auditor-triage-agent") {
		t.Errorf("diff: exit %d\n%s", res.code, res.stdout)
	}
}

func TestSuggestExamples(t *testing.T) {
	res := runCLI(t, "", "suggest", "-n", "ai-agents", "--snapshot", exampleSnapshot, "--flows", exampleFlows)
	if res.code != 0 || !strings.Contains(res.stdout, "name: flow-auditor-triage-agent") {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	// The example's metadata read is reported, not learned.
	if strings.Contains(res.stdout, "169.254.169.254") || !strings.Contains(res.stderr, "note [metadata]") {
		t.Errorf("metadata flow learned or not reported:\n%s", res.stderr)
	}
}

// TestSuggestBadInput: each gives exit 2, one clear line, and no policy.
func TestSuggestBadInput(t *testing.T) {
	empty := writeFile(t, "empty.jsonl", "")
	strangers := writeFile(t, "strangers.jsonl",
		`{"time_first":"2026-06-01T00:00:00Z","time_last":"2026-06-01T00:00:01Z","src":{"ip":"192.0.2.1","port":40000},"dst":{"ip":"192.0.2.2","port":80},"protocol":"TCP","packets":1,"bytes":60,"observed":"forwarded"}`+"\n")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no pods":        {[]string{"suggest", "-n", "nowhere", "--snapshot", scenarioSnapshot, "--flows", scenarioFlows}, `namespace "nowhere" has no pods`},
		"no flows":       {[]string{"suggest", "-n", "ai-agents", "--snapshot", scenarioSnapshot, "--flows", empty}, "no flow records"},
		"no pod named":   {[]string{"suggest", "-n", "ai-agents", "--snapshot", scenarioSnapshot, "--flows", strangers}, `names a pod of namespace "ai-agents"`},
		"no namespace":   {[]string{"suggest", "--snapshot", scenarioSnapshot, "--flows", scenarioFlows}, "--namespace is required"},
		"no flows flag":  {[]string{"suggest", "-n", "ai-agents", "--snapshot", scenarioSnapshot}, "--flows is required"},
		"external":       {suggestArgs("--external", "everywhere"), "unknown external mode"},
		"format":         {suggestArgs("--format", "calico"), "want networkpolicy or cilium"},
		"diff of cilium": {suggestArgs("--diff", "--format", "cilium"), "--diff compares NetworkPolicies"},
		"bad flow line":  {[]string{"suggest", "-n", "ai-agents", "--snapshot", scenarioSnapshot, "--flows", writeFile(t, "bad.jsonl", "{not json\n")}, "bad.jsonl:1"},
	} {
		res := runCLI(t, "", tc.args...)
		if res.code != 2 || res.stdout != "" || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%s: exit %d, stdout %d bytes, stderr %q; want exit 2, no stdout, %q", name, res.code, len(res.stdout), res.stderr, tc.want)
		}
	}
}

// TestAuditNamespacePolicyReport: audit --namespace reports on the
// namespace's own policies.
func TestAuditNamespacePolicyReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	res := runCLI(t, "", "audit", "--snapshot", scenarioSnapshot, "--flows", scenarioFlows, "-n", "ai-agents", "-o", "table", "--privilege-report", path)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, s := range []string{
		"Over-privilege: allowed, never used (1)",
		"ai-agents/ai-agent-egress  egress[0] port 1",
		"Workloads no policy isolates (0)",
		"Egress open to every address (1)",
		"Forwarded flows current policy denies (7 edges)",
	} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("table lacks %q:\n%s", s, res.stdout)
		}
	}
	var r struct {
		Unused     []struct{ Policy string } `json:"unused"`
		OpenEgress []struct{ Flows int }     `json:"open_egress"`
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r); err != nil || len(r.Unused) != 1 || len(r.OpenEgress) != 1 || r.OpenEgress[0].Flows != 12 {
		t.Errorf("report %s: %v %+v", data, err, r)
	}
	// jsonl keeps stdout for the flows: the report is one line on stderr.
	res = runCLI(t, "", "audit", "--snapshot", scenarioSnapshot, "--flows", scenarioFlows, "-n", "ai-agents", "-o", "jsonl")
	if res.code != 0 || strings.Contains(res.stdout, "Over-privilege") || !strings.Contains(res.stderr, "1 unused rule parts") {
		t.Errorf("jsonl: exit %d, stderr %s", res.code, res.stderr)
	}
}
