package suggest

import (
	"encoding/json"
	"testing"
)

// TestScenarioAudit: the article's hand-written policies against the
// scenario's traffic.
func TestScenarioAudit(t *testing.T) {
	c := loadCluster(t, "testdata/scenario/snapshot.yaml")
	o := NewObserver(c.input("ai-agents", ExternalExact))
	c.feed(o, readFlows(t, "testdata/scenario/flows.jsonl"))
	r, err := o.Audit(c.objs.NetworkPolicies, c.objs.Namespaces)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "scenario/audit.json", append(out, '\n'))

	// DNS over TCP was allowed but never used.
	found := false
	for _, u := range r.Unused {
		if u.Policy == "ai-agents/ai-agent-egress" && u.Direction == "egress" && u.Rule == 0 && u.Port == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("unused TCP/53 of ai-agent-egress not reported: %+v", r.Unused)
	}
	if len(r.OpenEgress) != 1 || r.OpenEgress[0].Rule != 2 || r.OpenEgress[0].Flows != 12 {
		t.Errorf("open egress = %+v, want ai-agent-egress rule 2 with the 12 LLM flows", r.OpenEgress)
	}
	if len(r.Unisolated) != 0 {
		t.Errorf("default deny isolates every workload, got %+v", r.Unisolated)
	}
	want := map[string]bool{
		"ai-agents/Deployment/triage-agent -> ai-agents/Deployment/specialist-agent": true, // no egress rule names specialists
		"ai-agents/Deployment/triage-agent -> ai-agents/Deployment/tool-service":     true,
		"ai-agents/Deployment/specialist-agent -> ai-agents/Deployment/tool-service": true,
		"ai-agents/Deployment/tool-service -> 169.254.20.10":                         true,
		"ai-agents/Deployment/tool-service -> databases/StatefulSet/postgresql":      true,
		"node 10.0.0.11 -> ai-agents/Deployment/specialist-agent":                    true,
	}
	seen := map[string]bool{}
	for _, d := range r.Denied {
		k := d.Src + " -> " + d.Dst
		if !want[k] {
			t.Errorf("unexpected denied flow %s (%s)", k, d.Explanation)
		}
		seen[k] = true
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("observed flow %s denied by current policy not reported", k)
		}
	}
}
