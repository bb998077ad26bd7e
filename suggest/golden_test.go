package suggest

import (
	"encoding/json"
	"strings"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
)

// scenario runs the AI-agents scenario through suggest and replay.
func scenario(t *testing.T, ext ExternalMode) (*Suggestion, *Report) {
	t.Helper()
	c := loadCluster(t, "testdata/scenario/snapshot.yaml")
	o := NewObserver(c.input("ai-agents", ext))
	c.feed(o, readFlows(t, "testdata/scenario/flows.jsonl"))
	s, err := o.Suggest()
	if err != nil {
		t.Fatalf("suggest: %v", err)
	}
	r, err := o.Replay(s, c.objs.NetworkPolicies, c.objs.Namespaces)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return s, r
}

func TestScenarioGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ext    ExternalMode
		cilium bool
	}{
		{"exact", ExternalExact, false},
		{"public", ExternalPublic, false},
		{"cilium", ExternalExact, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, r := scenario(t, tc.ext)
			if tc.cilium {
				golden(t, "scenario/suggest-cilium.yaml", s.RenderCilium())
				return
			}
			out := s.RenderYAML()
			golden(t, "scenario/suggest-"+tc.name+".yaml", out)
			rep, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "scenario/report-"+tc.name+".json", append(rep, '\n'))

			// What the YAML says is exactly what the replay judged.
			decoded := decodeNetworkPolicies(t, out)
			want := s.NetworkPolicies()
			if len(decoded) != len(want) {
				t.Fatalf("decoded %d policies, want %d", len(decoded), len(want))
			}
			for i := range want {
				if errs := validateNetworkPolicy(decoded[i]); len(errs) > 0 {
					t.Errorf("policy %s is invalid: %v", decoded[i].Name, errs)
				}
				if !apiequality.Semantic.DeepEqual(decoded[i], want[i]) {
					t.Errorf("policy %s decodes to\n%+v\nwant\n%+v", want[i].Name, decoded[i], want[i])
				}
			}
		})
	}
}

// TestScenarioAttacksStayDenied: the four attacks of design.md, fed as
// dropped flows, appear in no rule and stay denied; everything observed is
// allowed and nothing unobserved is, with --external exact.
func TestScenarioAttacksStayDenied(t *testing.T) {
	s, r := scenario(t, ExternalExact)
	if r.Flows.NotAllowed != 0 || r.Flows.Allowed != r.Flows.Observed || r.Flows.Observed == 0 {
		t.Errorf("replay allowed %d of %d observed flows (%d not allowed)", r.Flows.Allowed, r.Flows.Observed, r.Flows.NotAllowed)
	}
	if r.Edges.AllowedUnobserved != 0 || r.Edges.AllowedUnobservedAddress != 0 {
		t.Errorf("suggestion allows %d unobserved workload edges and %d address edges: %+v",
			r.Edges.AllowedUnobserved, r.Edges.AllowedUnobservedAddress, r.Unobserved)
	}
	if r.Flows.Dropped != 5 || r.Flows.DroppedDenied != 5 || len(r.DroppedAllowed) != 0 {
		t.Errorf("dropped flows: %d, still denied %d, now allowed %+v; want all 5 attacks denied", r.Flows.Dropped, r.Flows.DroppedDenied, r.DroppedAllowed)
	}
	out := string(s.RenderYAML())
	for _, attack := range []string{"169.254.169.254", "10.20.30.40", "192.0.2.99", "new-llm.example"} {
		if strings.Contains(out, attack) {
			t.Errorf("suggestion mentions attack destination %s", attack)
		}
	}
	// specialist -> specialist: no specialist rule names specialists.
	for _, np := range s.NetworkPolicies() {
		if np.Spec.PodSelector.MatchLabels["role"] != "specialist-agent" {
			continue
		}
		for _, e := range np.Spec.Egress {
			for _, p := range e.To {
				if p.PodSelector != nil && p.PodSelector.MatchLabels["role"] == "specialist-agent" {
					t.Errorf("specialist egress allows specialists: %+v", e)
				}
			}
		}
	}
	// The database's own policy admits only specialists: tool-service's
	// observed flows to it are reported as a rule to add there.
	if len(r.BlockedElsewhere) != 1 || r.BlockedElsewhere[0].Dst != "databases/StatefulSet/postgresql" || r.BlockedElsewhere[0].Side != "ingress" {
		t.Errorf("blocked elsewhere = %+v, want tool-service -> postgresql denied at its ingress", r.BlockedElsewhere)
	}
}
