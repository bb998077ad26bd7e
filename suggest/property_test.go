package suggest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/flow-auditor/flow-auditor/flow"
)

// run builds a suggestion for ns0 of a world and replays it.
func runWorld(t *testing.T, w *world, recs []flow.Record, ext ExternalMode) (*Suggestion, *Report, error) {
	t.Helper()
	c := newCluster(w.objs)
	o := NewObserver(c.input("ns0", ext))
	c.feed(o, recs)
	s, err := o.Suggest()
	if err != nil {
		return nil, nil, err
	}
	r, err := o.Replay(s, c.objs.NetworkPolicies, c.objs.Namespaces)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return s, r, nil
}

// TestPropertyCleanWorlds: on random clusters whose workloads each have a
// label set of their own, the suggestion allows every observed flow,
// allows no workload edge that was not observed (--external exact), is
// valid as the API server sees it, and is the same bytes for the same
// input in any order.
func TestPropertyCleanWorlds(t *testing.T) {
	opt := worldOptions{namespaces: 4, workloads: 5, replicas: 3, nodes: 3, otherPolicies: true}
	runs := 0
	for seed := uint64(1); seed <= 40; seed++ {
		w := genWorld(seed, opt)
		recs := w.flows(400, "ns0", false)
		s, r, err := runWorld(t, w, recs, ExternalExact)
		if err != nil {
			if errors.Is(err, ErrBadInput) {
				continue
			}
			t.Fatalf("seed %d: %v", seed, err)
		}
		runs++
		if r.Flows.NotAllowed != 0 || r.Flows.Allowed != r.Flows.Observed {
			t.Errorf("seed %d: replay allows %d of %d observed flows: %+v", seed, r.Flows.Allowed, r.Flows.Observed, r.NotAllowed)
		}
		if r.Edges.AllowedUnobserved != 0 {
			t.Errorf("seed %d: %d unobserved workload edges allowed: %+v\nnotes: %+v", seed, r.Edges.AllowedUnobserved, r.Unobserved, s.Notes)
		}
		if r.Edges.Probed == 0 {
			t.Errorf("seed %d: no edge probed", seed)
		}
		checkRendered(t, seed, s)

		// Same input, any order: same bytes.
		shuffled := append([]flow.Record(nil), recs...)
		rand.New(rand.NewPCG(seed, 7)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		s2, r2, err := runWorld(t, w, shuffled, ExternalExact)
		if err != nil {
			t.Fatalf("seed %d shuffled: %v", seed, err)
		}
		if a, b := s.RenderYAML(), s2.RenderYAML(); !bytes.Equal(a, b) {
			t.Errorf("seed %d: shuffled input gives other bytes:\n%s", seed, Diff("first", string(a), "shuffled", string(b)))
		}
		if a, b := s.RenderCilium(), s2.RenderCilium(); !bytes.Equal(a, b) {
			t.Errorf("seed %d: shuffled input gives other Cilium bytes", seed)
		}
		if r.Flows != r2.Flows || r.Edges != r2.Edges {
			t.Errorf("seed %d: shuffled input gives another replay: %+v %+v vs %+v %+v", seed, r.Flows, r.Edges, r2.Flows, r2.Edges)
		}
	}
	if runs < 30 {
		t.Fatalf("only %d of 40 worlds gave a suggestion", runs)
	}
}

// TestPropertyMessyWorlds: with shared label sets, unlabeled bare pods,
// hostNetwork pods and ICMP, the replay still allows every observed flow,
// and every unobserved workload edge it allows is one a note owns up to.
func TestPropertyMessyWorlds(t *testing.T) {
	opt := worldOptions{namespaces: 3, workloads: 6, replicas: 2, nodes: 2, messy: true, otherPolicies: true}
	for seed := uint64(100); seed < 130; seed++ {
		w := genWorld(seed, opt)
		for _, ext := range []ExternalMode{ExternalExact, ExternalPublic} {
			s, r, err := runWorld(t, w, w.flows(300, "ns0", true), ext)
			if errors.Is(err, ErrBadInput) {
				continue
			}
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if r.Flows.NotAllowed != 0 {
				t.Errorf("seed %d %s: %d observed flows not allowed: %+v", seed, ext, r.Flows.NotAllowed, r.NotAllowed)
			}
			for _, f := range r.Unobserved {
				if strings.Count(f.Src, "/") < 2 || strings.Count(f.Dst, "/") < 2 {
					continue // an address edge
				}
				if !explained(s.Notes, f) {
					t.Errorf("seed %d %s: unobserved edge %s -> %s %s/%d allowed with no note explaining it\nnotes: %+v",
						seed, ext, f.Src, f.Dst, f.Protocol, f.Port, s.Notes)
				}
			}
			checkRendered(t, seed, s)
		}
	}
}

// explained reports whether a note about a shared or missing selector, or
// about ICMP, names one side of the edge.
func explained(notes []Note, f Finding) bool {
	wl := func(name string) string { // "ns/Kind/name" -> "Kind/name"
		_, rest, _ := strings.Cut(name, "/")
		return rest
	}
	for _, n := range notes {
		switch n.Kind {
		case NoteSharedSelector, NoteUnlabeledPod, NoteICMP:
		default:
			continue
		}
		text := n.Subject + " " + n.Detail
		if strings.Contains(text, wl(f.Src)) || strings.Contains(text, wl(f.Dst)) {
			return true
		}
	}
	return false
}

// checkRendered decodes both renderings and validates the NetworkPolicies
// the way the API server would.
func checkRendered(t *testing.T, seed uint64, s *Suggestion) {
	t.Helper()
	decoded := decodeNetworkPolicies(t, s.RenderYAML())
	want := s.NetworkPolicies()
	if len(decoded) != len(want) {
		t.Fatalf("seed %d: decoded %d policies, want %d", seed, len(decoded), len(want))
	}
	for i := range want {
		if errs := validateNetworkPolicy(decoded[i]); len(errs) > 0 {
			t.Errorf("seed %d: %s invalid: %v", seed, decoded[i].Name, errs)
		}
		if !apiequality.Semantic.DeepEqual(decoded[i], want[i]) {
			t.Errorf("seed %d: %s does not decode to what was replayed", seed, want[i].Name)
		}
	}
	for i, doc := range bytes.Split(s.RenderCilium(), []byte("\n---\n")) {
		var m map[string]any
		if err := yaml.UnmarshalStrict(doc, &m); err != nil {
			t.Errorf("seed %d: Cilium document %d does not parse: %v", seed, i, err)
		}
	}
}
