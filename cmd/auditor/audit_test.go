package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cliResult is what a user sees of one run: stdout, stderr (the error
// printed as main prints it) and the exit status.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the auditor in-process with args, as main would.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	err := root.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		fmt.Fprintf(&errb, "auditor: %v\n", err)
		code = 2
		var ex *exitError
		if errors.As(err, &ex) {
			code = ex.code
		}
	}
	return cliResult{out.String(), errb.String(), code}
}

const (
	exampleSnapshot = "../../examples/snapshot.yaml"
	exampleFlows    = "../../examples/flows.jsonl"
	backendSnapshot = "testdata/audit-backends.yaml"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// auditLine is the part of a jsonl object the tests read.
type auditLine struct {
	SrcIP    string `json:"src_ip"`
	SrcPort  int    `json:"src_port"`
	DstIP    string `json:"dst_ip"`
	DstPort  int    `json:"dst_port"`
	Protocol string `json:"protocol"`
	Src, Dst struct {
		IP          string            `json:"ip"`
		Port        int               `json:"port"`
		Kind        string            `json:"kind"`
		Namespace   string            `json:"namespace"`
		Pod         string            `json:"pod"`
		Workload    string            `json:"workload"`
		Labels      map[string]string `json:"labels"`
		Service     string            `json:"service"`
		ServicePort int               `json:"service_port"`
		FQDN        string            `json:"fqdn"`
	}
	Observed    string `json:"observed"`
	Egress      string `json:"egress"`
	Ingress     string `json:"ingress"`
	Verdict     string `json:"verdict"`
	Violation   string `json:"violation"`
	Explanation string `json:"explanation"`
}

func parseJSONL(t *testing.T, s string) []auditLine {
	t.Helper()
	var out []auditLine
	for i, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if line == "" {
			continue
		}
		var l auditLine
		dec := json.NewDecoder(strings.NewReader(line))
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("output line %d is not JSON: %v\n%s", i+1, err, line)
		}
		out = append(out, l)
	}
	return out
}

func mustAudit(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, "", append([]string{"audit"}, args...)...)
	if r.code != 0 {
		t.Fatalf("auditor audit %v: exit %d\n%s", args, r.code, r.stderr)
	}
	return r
}

func TestAuditJSONLKeepsInputOrderAndFields(t *testing.T) {
	// Enough flows for several batches on several workers.
	var in strings.Builder
	const n = 20000
	for i := range n {
		switch i % 3 {
		case 0: // triage -> kube-dns through its ClusterIP
			fmt.Fprintf(&in, `{"src_ip":"10.244.1.10","src_port":%d,"dst_ip":"10.96.0.10","dst_port":53,"protocol":"UDP","observed":"forwarded"}`+"\n", 10000+i)
		case 1: // specialist -> specialist, bare Hubble flow
			fmt.Fprintf(&in, `{"IP":{"source":"10.244.1.11","destination":"10.244.2.11"},"l4":{"TCP":{"source_port":%d,"destination_port":8000}},"verdict":"FORWARDED"}`+"\n", 10000+i)
		default: // a GetFlowsResponse to an LLM API
			fmt.Fprintf(&in, `{"flow":{"IP":{"source":"10.244.1.10","destination":"203.0.113.10"},"l4":{"TCP":{"source_port":%d,"destination_port":443}},"verdict":"FORWARDED"},"node_name":"node-1"}`+"\n", 10000+i)
		}
	}
	flows := writeFile(t, "flows.jsonl", in.String())
	r := mustAudit(t, "--snapshot", exampleSnapshot, "--flows", flows, "-o", "jsonl")
	lines := parseJSONL(t, r.stdout)
	if len(lines) != n {
		t.Fatalf("%d output lines for %d flows", len(lines), n)
	}
	for i, l := range lines {
		if l.SrcPort != 10000+i {
			t.Fatalf("line %d has src_port %d: output out of input order", i+1, l.SrcPort)
		}
		want := [3]string{"allow", "deny", "allow"}[i%3]
		if l.Verdict != want || l.Explanation == "" || l.Protocol == "" || l.SrcIP == "" || l.DstIP == "" || l.DstPort == 0 {
			t.Fatalf("line %d: %+v (want verdict %s and every field)", i+1, l, want)
		}
	}
	// Every documented field is present in the raw JSON.
	var raw map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"src_ip", "src_port", "dst_ip", "dst_port", "protocol", "src", "dst", "egress", "ingress", "verdict", "explanation", "observed", "time_first"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("output lacks %q: %v", k, raw)
		}
	}
	denied := 0
	for i := range n {
		if i%3 == 1 {
			denied++
		}
	}
	if want := fmt.Sprintf("audited %d flows: %d allowed, %d denied (violations: %d would-deny, 0 denied, 0 anomalous-egress)\n", n, n-denied, denied, denied); r.stderr != want {
		t.Errorf("summary:\n got %q\nwant %q", r.stderr, want)
	}
}

func TestAuditClusterIPTranslation(t *testing.T) {
	flows := writeFile(t, "f.jsonl",
		`{"src_ip":"10.244.1.5","src_port":40000,"dst_ip":"10.96.0.50","dst_port":80,"protocol":"TCP","observed":"forwarded"}`+"\n"+
			`{"src_ip":"10.244.1.5","src_port":40001,"dst_ip":"10.244.1.6","dst_port":8080,"protocol":"TCP","observed":"forwarded"}`+"\n")
	r := mustAudit(t, "--snapshot", backendSnapshot, "--flows", flows)
	lines := parseJSONL(t, r.stdout)
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	svc := lines[0]
	// The flat fields keep what was dialled; dst names the backend, with
	// the service port translated to the target port (a named port here).
	if svc.DstIP != "10.96.0.50" || svc.DstPort != 80 {
		t.Errorf("flat dst %s:%d, want the ClusterIP 10.96.0.50:80", svc.DstIP, svc.DstPort)
	}
	if svc.Dst.Service != "shop/web" || svc.Dst.ServicePort != 80 || svc.Dst.Port != 8080 {
		t.Errorf("dst service %q port %d -> %d, want shop/web 80 -> 8080", svc.Dst.Service, svc.Dst.ServicePort, svc.Dst.Port)
	}
	// One of the two backends denies: the flow is denied, and the record
	// names the backend that does.
	if svc.Verdict != "deny" || svc.Ingress != "deny" || svc.Dst.Pod != "web-b" || svc.Dst.IP != "10.244.1.7" || svc.Violation != "would-deny" {
		t.Errorf("service flow: %+v", svc)
	}
	for _, want := range []string{"service shop/web 10.96.0.50:80/TCP", "backend shop/web-b 10.244.1.7:8080", "2 backends, every one must allow", "isolated by shop/web-b-frontend-only"} {
		if !strings.Contains(svc.Explanation, want) {
			t.Errorf("explanation %q lacks %q", svc.Explanation, want)
		}
	}
	// The allowing backend, dialled directly, is allowed.
	if direct := lines[1]; direct.Verdict != "allow" || direct.Dst.Pod != "web-a" || direct.Dst.Service != "" {
		t.Errorf("direct flow: %+v", direct)
	}

	// A Service whose backends all allow: kube-dns in the example.
	flows = writeFile(t, "dns.jsonl", `{"src_ip":"10.244.1.10","src_port":5000,"dst_ip":"10.96.0.10","dst_port":53,"protocol":"UDP"}`+"\n")
	dns := parseJSONL(t, mustAudit(t, "--snapshot", exampleSnapshot, "--flows", flows).stdout)[0]
	if dns.Verdict != "allow" || dns.Dst.Namespace != "kube-system" || !strings.HasPrefix(dns.Dst.Pod, "coredns-") ||
		!strings.Contains(dns.Explanation, "all 2 backends allow") {
		t.Errorf("dns flow: %+v", dns)
	}
}

func TestAuditUnresolvedIsExternal(t *testing.T) {
	flows := writeFile(t, "f.jsonl", strings.Join([]string{
		// Neither end is in the snapshot.
		`{"src_ip":"192.0.2.50","src_port":1234,"dst_ip":"198.51.100.9","dst_port":443,"protocol":"TCP"}`,
		// An agent to an address no one holds: allowed by the 443 ipBlock.
		`{"src_ip":"10.244.1.10","src_port":1235,"dst_ip":"192.0.2.9","dst_port":443,"protocol":"TCP"}`,
		// Hubble calls the destination a pod, but the snapshot does not know
		// its address: judged as external, and said so.
		`{"IP":{"source":"10.244.1.10","destination":"10.244.9.9"},"l4":{"TCP":{"source_port":1236,"destination_port":443}},"destination":{"namespace":"ai-agents","pod_name":"ghost"}}`,
	}, "\n"))
	lines := parseJSONL(t, mustAudit(t, "--snapshot", exampleSnapshot, "--flows", flows).stdout)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want every flow", len(lines))
	}
	if l := lines[0]; l.Src.Kind != "external" || l.Dst.Kind != "external" || l.Egress != "none" || l.Ingress != "none" || l.Verdict != "allow" {
		t.Errorf("external to external: %+v", l)
	}
	if l := lines[1]; l.Dst.Kind != "external" || l.Egress != "allow" || l.Verdict != "allow" || !strings.Contains(l.Explanation, "allow-agent-egress rule 2") {
		t.Errorf("agent to unknown public address: %+v", l)
	}
	// 10.244.9.9 is private: the 443 rule excepts 10.0.0.0/8.
	if l := lines[2]; l.Dst.Kind != "external" || l.Verdict != "deny" || l.Ingress != "none" || !strings.Contains(l.Explanation, "destination is external") {
		t.Errorf("unknown pod: %+v", l)
	}
}

func TestAuditJSON(t *testing.T) {
	r := mustAudit(t, "--snapshot", exampleSnapshot, "--flows", exampleFlows, "-o", "json")
	var doc struct {
		Flows   []auditLine `json:"flows"`
		Summary jsonSummary `json:"summary"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("-o json is not one JSON document: %v\n%s", err, r.stdout)
	}
	in := countLines(t, exampleFlows)
	if len(doc.Flows) != in || doc.Summary.Flows != in {
		t.Fatalf("%d flows, summary %d, input %d", len(doc.Flows), doc.Summary.Flows, in)
	}
	allowed := 0
	for _, f := range doc.Flows {
		if f.Verdict == "allow" {
			allowed++
		}
	}
	if doc.Summary.Allowed != allowed || doc.Summary.Denied != in-allowed {
		t.Errorf("summary %+v, flows say %d allowed", doc.Summary, allowed)
	}
	var ai *jsonNamespace
	for i := range doc.Summary.Namespaces {
		if doc.Summary.Namespaces[i].Namespace == "ai-agents" {
			ai = &doc.Summary.Namespaces[i]
		}
	}
	if ai == nil || ai.Denied != doc.Summary.Denied || len(ai.DeniedEdges) == 0 {
		t.Fatalf("ai-agents summary: %+v", ai)
	}

	// No flows: still one valid document.
	empty := writeFile(t, "empty.jsonl", "\n\n")
	r = mustAudit(t, "--snapshot", exampleSnapshot, "--flows", empty, "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Flows) != 0 {
		t.Errorf("empty input: %v\n%s", err, r.stdout)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(parseJSONL(t, string(b)))
}

func TestAuditTableMostFrequentFirst(t *testing.T) {
	var in strings.Builder
	for range 3 { // specialist -> specialist, three times
		in.WriteString(`{"src_ip":"10.244.1.11","dst_ip":"10.244.2.11","dst_port":8000,"protocol":"TCP","observed":"forwarded"}` + "\n")
	}
	in.WriteString(`{"src_ip":"10.244.1.10","dst_ip":"10.20.30.40","dst_port":8080,"protocol":"TCP","observed":"dropped"}` + "\n")
	for range 2 { // gateway -> triage, allowed
		in.WriteString(`{"src_ip":"10.244.2.20","dst_ip":"10.244.1.10","dst_port":8000,"protocol":"TCP","observed":"forwarded"}` + "\n")
	}
	flows := writeFile(t, "f.jsonl", in.String())
	r := mustAudit(t, "--snapshot", exampleSnapshot, "--flows", flows, "-o", "table")
	rows := strings.Split(r.stdout, "\n")
	want := []string{
		"NAMESPACE    FLOWS  ALLOWED  DENIED",
		"ai-agents    6      2        4",
		"api-gateway  2      2        0",
		"",
		"ai-agents: 4 denied flows, by workload",
		"  FLOWS  SOURCE                       DESTINATION                  PORT      DENIED BY       VIOLATION",
		"  3      Deployment/specialist-agent  Deployment/specialist-agent  TCP/8000  egress+ingress  would-deny",
		"  1      Deployment/triage-agent      external 10.20.30.40         TCP/8080  egress          denied",
	}
	if len(rows) < len(want) {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for i, w := range want {
		if strings.TrimRight(rows[i], " ") != w {
			t.Errorf("table row %d:\n got %q\nwant %q\n%s", i, rows[i], w, r.stdout)
		}
	}
	// --top cuts the edges and says how many are left.
	r = mustAudit(t, "--snapshot", exampleSnapshot, "--flows", flows, "-o", "table", "--top", "1")
	if !strings.Contains(r.stdout, "... 1 more denied edge (see -o jsonl)") || strings.Contains(r.stdout, "10.20.30.40") {
		t.Errorf("--top 1:\n%s", r.stdout)
	}
}

func TestAuditDefaultFormatOffTerminalIsJSONL(t *testing.T) {
	r := mustAudit(t, "--snapshot", exampleSnapshot, "--flows", exampleFlows)
	if n := len(parseJSONL(t, r.stdout)); n != countLines(t, exampleFlows) {
		t.Errorf("%d jsonl lines", n)
	}
}

func TestAuditNamespaceFilter(t *testing.T) {
	r := mustAudit(t, "--snapshot", exampleSnapshot, "--flows", exampleFlows, "--namespace", "databases")
	lines := parseJSONL(t, r.stdout)
	if len(lines) == 0 {
		t.Fatal("no flows touch databases")
	}
	for _, l := range lines {
		if l.Src.Namespace != "databases" && l.Dst.Namespace != "databases" {
			t.Errorf("flow not touching databases: %+v", l)
		}
	}
	left := countLines(t, exampleFlows) - len(lines)
	if want := fmt.Sprintf("%d flows not touching namespace databases left out", left); !strings.Contains(r.stderr, want) {
		t.Errorf("summary %q lacks %q", r.stderr, want)
	}
}

func TestAuditFlagsFromEnvironmentAndStdin(t *testing.T) {
	t.Setenv("AUDITOR_SNAPSHOT", exampleSnapshot)
	t.Setenv("AUDITOR_OUTPUT", "jsonl")
	r := runCLI(t, `{"src_ip":"10.244.2.20","dst_ip":"10.244.1.10","dst_port":8000,"protocol":"TCP"}`+"\n", "audit", "--flows", "-")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if lines := parseJSONL(t, r.stdout); len(lines) != 1 || lines[0].Verdict != "allow" {
		t.Errorf("stdin flow: %s", r.stdout)
	}
}

func TestAuditBadInput(t *testing.T) {
	snap, err := os.ReadFile(exampleSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	// Breaking one spot of the example snapshot at a time.
	badSnapshot := func(name, old, new string) string {
		t.Helper()
		if !bytes.Contains(snap, []byte(old)) {
			t.Fatalf("snapshot lacks %q", old)
		}
		return writeFile(t, name, strings.Replace(string(snap), old, new, 1))
	}
	goodFlow := `{"src_ip":"10.244.2.20","dst_ip":"10.244.1.10","dst_port":8000,"protocol":"TCP"}`
	flows := func(lines ...string) string { return writeFile(t, "flows.jsonl", strings.Join(lines, "\n")+"\n") }

	cases := []struct {
		name string
		args []string
		want []string // in the error message
	}{
		{"malformed line", []string{"--snapshot", exampleSnapshot, "--flows", flows(goodFlow, goodFlow, `{"src_ip":"10.0.0.1",`)},
			[]string{"flows.jsonl:3: malformed JSON"}},
		{"unknown protocol", []string{"--snapshot", exampleSnapshot, "--flows", flows(goodFlow, `{"src_ip":"10.0.0.1","dst_ip":"10.0.0.2","protocol":"XYZ"}`)},
			[]string{`flows.jsonl:2: unknown protocol "XYZ"`}},
		{"invalid IP", []string{"--snapshot", exampleSnapshot, "--flows", flows(`{"flow":{"IP":{"source":"10.0.0.1","destination":"10.0.0.256"},"l4":{"UDP":{}}}}`)},
			[]string{`flows.jsonl:1: invalid destination IP "10.0.0.256"`}},
		{"invalid CIDR", []string{"--snapshot", badSnapshot("cidr.yaml", "cidr: 0.0.0.0/0", "cidr: 0.0.0.0/33"), "--flows", flows(goodFlow)},
			[]string{"NetworkPolicy ai-agents/allow-agent-egress", "0.0.0.0/33"}},
		{"invalid selector operator", []string{"--snapshot", badSnapshot("op.yaml", "    podSelector:\n      matchLabels:\n        app: ai-agent\n    policyTypes:\n    - Egress",
			"    podSelector:\n      matchExpressions:\n      - key: app\n        operator: Maybe\n        values: [ai-agent]\n    policyTypes:\n    - Egress"), "--flows", flows(goodFlow)},
			[]string{"NetworkPolicy ai-agents/allow-agent-egress", "Maybe"}},
		{"unknown kind", []string{"--snapshot", writeFile(t, "kind.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"), "--flows", flows(goodFlow)},
			[]string{"kind.yaml", "Widget"}},
		{"missing snapshot file", []string{"--snapshot", "/nonexistent/snap.yaml", "--flows", flows(goodFlow)}, []string{"/nonexistent/snap.yaml"}},
		{"missing flow file", []string{"--snapshot", exampleSnapshot, "--flows", "/nonexistent/flows.jsonl"}, []string{"/nonexistent/flows.jsonl"}},
		{"no flows", []string{"--snapshot", exampleSnapshot}, []string{"--flows is required"}},
		{"bad output", []string{"--snapshot", exampleSnapshot, "--flows", flows(goodFlow), "-o", "yaml"}, []string{`--output "yaml"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, format := range []string{"jsonl", "json", "table"} {
				args := append([]string{"audit"}, tc.args...)
				if !strings.Contains(strings.Join(tc.args, " "), "-o ") {
					args = append(args, "-o", format)
				}
				r := runCLI(t, "", args...)
				if r.code != 2 {
					t.Errorf("-o %s: exit %d, want 2\n%s", format, r.code, r.stderr)
				}
				if r.stdout != "" {
					t.Errorf("-o %s: stdout not empty:\n%s", format, r.stdout)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("-o %s: error %q lacks %q", format, r.stderr, w)
					}
				}
			}
		})
	}
}

// A bad line after more output than the spool keeps in memory still leaves
// stdout empty.
func TestAuditBadLineAfterLargeOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~40 MB")
	}
	var in strings.Builder
	line := `{"src_ip":"10.244.1.10","src_port":1,"dst_ip":"10.96.0.10","dst_port":53,"protocol":"UDP"}` + "\n"
	n := 0
	for in.Len() < spoolMemory/2 {
		in.WriteString(line)
		n++
	}
	in.WriteString(`{"src_ip":"10.244.1.10","dst_ip":"10.96.0.10","protocol":"GRE"}` + "\n")
	r := runCLI(t, "", "audit", "--snapshot", exampleSnapshot, "--flows", writeFile(t, "big.jsonl", in.String()), "-o", "jsonl")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, fmt.Sprintf("big.jsonl:%d: unknown protocol \"GRE\"", n+1)) {
		t.Errorf("exit %d, %d bytes on stdout, stderr %q", r.code, len(r.stdout), r.stderr)
	}
}

// Without a live-cluster loader, --snapshot is required.
func TestAuditWithoutInventorySource(t *testing.T) {
	cmd := newAuditCmd(nil)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--flows", exampleFlows})
	err := cmd.ExecuteContext(context.Background())
	var ex *exitError
	if !errors.As(err, &ex) || ex.code != 2 || !strings.Contains(err.Error(), "--snapshot is required") || out.Len() != 0 {
		t.Errorf("err %v, output %q", err, out.String())
	}
}
