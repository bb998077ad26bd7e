package main

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of the audit tests")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/auditor -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (go test ./cmd/auditor -run Golden -update rewrites it):\n%s", path, got)
	}
}

// The quick start's command on the shipped examples: normal traffic
// allowed, the attacks denied, with explanations a reader can follow.
func TestAuditExamplesGolden(t *testing.T) {
	jsonl := mustAudit(t, "--snapshot", exampleSnapshot, "--flows", exampleFlows, "-o", "jsonl")
	table := mustAudit(t, "--snapshot", exampleSnapshot, "--flows", exampleFlows, "-o", "table")
	golden(t, "audit-examples.golden.jsonl", jsonl.stdout)
	golden(t, "audit-examples.golden.txt", table.stdout+"--- stderr\n"+table.stderr)

	lines := parseJSONL(t, jsonl.stdout)
	if len(lines) != countLines(t, exampleFlows) {
		t.Fatalf("%d output lines", len(lines))
	}
	type expect struct {
		what        string
		srcPod, dst string // pod name prefixes; dst may be an address
		port        int
		service     string // the Service dialled, if any
		verdict     string
		violation   string
		explanation []string // snippets
	}
	checks := []expect{
		// Normal traffic.
		{"gateway to triage through its Service", "gateway-", "triage-agent-", 8000, "ai-agents/triage-agent", "allow", "", []string{"service ai-agents/triage-agent", "ingress allowed by ai-agents/allow-gateway-to-agents"}},
		{"gateway to triage's pod (a Hubble flow)", "gateway-", "triage-agent-", 8000, "", "allow", "", []string{"ingress allowed by ai-agents/allow-gateway-to-agents"}},
		{"agent DNS through kube-dns's ClusterIP", "triage-agent-", "coredns-", 53, "kube-system/kube-dns", "allow", "", []string{"service kube-system/kube-dns 10.96.0.10:53/UDP", "all 2 backends allow", "egress allowed by ai-agents/allow-agent-egress rule 0"}},
		{"specialist to postgresql through its Service", "specialist-agent-", "postgresql-0", 5432, "databases/postgresql", "allow", "", []string{"egress allowed by ai-agents/allow-agent-egress rule 1"}},
		{"specialist to postgresql's pod (a bare Hubble flow)", "specialist-agent-", "postgresql-0", 5432, "", "allow", "", []string{"egress allowed by ai-agents/allow-agent-egress rule 1"}},
		{"postgresql's reply, judged as the specialist's connection", "postgresql-0", "specialist-agent-", 50432, "", "allow", "", []string{"reply, judged as its connection from ai-agents/specialist-agent-"}},
		{"agent to the LLM API", "triage-agent-", "203.0.113.10", 443, "", "allow", "", []string{"egress allowed by ai-agents/allow-agent-egress rule 2"}},
		{"kubelet probe from the pod's node", "", "triage-agent-", 8000, "", "allow", "", []string{"traffic from the pod's own node"}},
		// What the article's policies get wrong: they open the specialists'
		// ingress to the triage agent but not the triage agent's egress.
		{"triage to specialists (blocked by triage's egress)", "triage-agent-", "specialist-agent-", 8000, "ai-agents/specialist-agent", "deny", "would-deny", []string{"egress denied: isolated by ai-agents/allow-agent-egress, ai-agents/default-deny-all, no rule allows", "ingress allowed by ai-agents/allow-triage-to-specialists"}},
		// The attacks.
		{"specialist to specialist", "specialist-agent-5c6b8d9f7b-m8q2r", "specialist-agent-5c6b8d9f7b-t4w9z", 8000, "", "deny", "would-deny", []string{"ingress denied: isolated by", "allow-triage-to-specialists"}},
		{"specialist to specialist, dropped by the network", "specialist-agent-5c6b8d9f7b-t4w9z", "specialist-agent-5c6b8d9f7b-m8q2r", 8000, "", "deny", "denied", nil},
		{"agent to a private internal address", "triage-agent-", "10.20.30.40", 8080, "", "deny", "would-deny", []string{"egress denied", "anomalous egress: private-range"}},
		{"agent reading cloud metadata", "specialist-agent-", "169.254.169.254", 80, "", "deny", "would-deny", []string{"egress denied", "anomalous egress: metadata"}},
		// A new LLM endpoint on 443 is within the article's policy (TCP 443
		// anywhere public): only the agent's learned baseline flags it.
		{"agent to a new LLM endpoint", "triage-agent-", "198.51.100.77", 443, "", "allow", "", nil},
	}
	for _, c := range checks {
		found := 0
		for _, l := range lines {
			src, dst := l.Src, l.Dst
			if !strings.HasPrefix(src.Pod, c.srcPod) || (c.srcPod == "" && src.Kind != "node") {
				continue
			}
			if (!strings.HasPrefix(dst.Pod, c.dst) && dst.IP != c.dst) || dst.Port != c.port || dst.Service != c.service {
				continue
			}
			found++
			if l.Verdict != c.verdict || l.Violation != c.violation {
				t.Errorf("%s: verdict %s violation %q, want %s %q\n%s", c.what, l.Verdict, l.Violation, c.verdict, c.violation, l.Explanation)
			}
			for _, s := range c.explanation {
				if !strings.Contains(l.Explanation, s) {
					t.Errorf("%s: explanation lacks %q:\n%s", c.what, s, l.Explanation)
				}
			}
		}
		if found != 1 {
			t.Errorf("%s: %d such flows in the examples, want 1", c.what, found)
		}
	}
}
