package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/flow-auditor/flow-auditor/collector/ebpf"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/demo"
	"github.com/flow-auditor/flow-auditor/enrich"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/graph"
	"github.com/flow-auditor/flow-auditor/internal/browsertest"
	"github.com/flow-auditor/flow-auditor/internal/testutil"
	"github.com/flow-auditor/flow-auditor/policy"
)

// TestDemoEndToEnd runs `auditor demo --non-interactive` twice, without
// and with --enforce (the second run also shows that a run leaves nothing
// behind that stops the next), and checks what it wrote as a user would:
// the flows, the suggested policies, the graph.
func TestDemoEndToEnd(t *testing.T) {
	testutil.RequirePrivileged(t, "the demo creates network namespaces and loads eBPF programs")
	if err := ebpf.CheckSupport(); err != nil {
		testutil.Unavailable(t, err.Error())
	}
	for _, enforce := range []bool{false, true} {
		name := "observe"
		if enforce {
			name = "enforce"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"demo", "--non-interactive", "--out", dir}
			if enforce {
				args = append(args, "--enforce")
			}
			start := time.Now()
			res := runCLI(t, "", args...)
			t.Logf("auditor %s: exit %d in %s", strings.Join(args, " "), res.code, time.Since(start).Round(100*time.Millisecond))
			if res.code != 0 {
				t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
			d := readDemo(t, dir)
			d.checkAttacks(t, enforce)
			d.checkNormal(t)
			d.checkSuggestion(t)
			d.checkTornDown(t)
			t.Run("graph in chromium", func(t *testing.T) { d.checkGraph(t, enforce) })
		})
	}
}

// demoRun is what one run wrote.
type demoRun struct {
	dir     string
	s       *demo.Scenario
	recs    []flow.Record
	summary demo.Summary
	// attack[i] and normal hold the records, each turned to its
	// connection's direction (Src opened it).
	attack [][]flow.Record
	normal []flow.Record
}

func readDemo(t *testing.T, dir string) *demoRun {
	t.Helper()
	d := &demoRun{dir: dir, s: demo.AIAgents()}
	d.attack = make([][]flow.Record, len(d.s.Attacks))
	for _, f := range []string{demo.FileSnapshot, demo.FileFlows, demo.FilePolicies, demo.FileReplay, demo.FileGraph, demo.FileGraphSVG, demo.FileSummary} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("file %s not written: %v", f, err)
		}
	}
	f, err := os.Open(filepath.Join(dir, demo.FileFlows))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r flow.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("flows: %v: %s", err, sc.Text())
		}
		d.recs = append(d.recs, r)
		c := r
		if graph.IsReply(&r) {
			c.Src, c.Dst = r.Dst, r.Src
		}
		if i, ok := d.s.IsAttack(&c); ok {
			d.attack[i] = append(d.attack[i], c)
		} else {
			d.normal = append(d.normal, c)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, demo.FileSummary))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d.summary); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d flow records: %d of normal connections, %d of the attacks", len(d.recs), len(d.normal), len(d.recs)-len(d.normal))
	return d
}

var violationRank = map[string]int{"": 0, "anomalous-egress": 1, "would-deny": 2, "denied": 3}

// checkAttacks: each attack is flagged with its kind and an explanation
// that names why; with enforcement, what policy denies is dropped by
// netfilter and never answered.
func (d *demoRun) checkAttacks(t *testing.T, enforce bool) {
	t.Helper()
	for i, a := range d.s.Attacks {
		recs := d.attack[i]
		if len(recs) == 0 {
			t.Errorf("attack %q: no flow record", a.Name)
			continue
		}
		worst := recs[0]
		for _, r := range recs {
			if violationRank[r.Violation] > violationRank[worst.Violation] {
				worst = r
			}
		}
		want := a.Violation
		if enforce && a.PolicyDenies {
			want = "denied"
		}
		if worst.Violation != want {
			t.Errorf("attack %q: violation %q, want %q (%s)", a.Name, worst.Violation, want, worst.Explanation)
		}
		wantWords := slices.Clone(a.Classes)
		if a.PolicyDenies {
			wantWords = append(wantWords, "egress denied")
		}
		if a.From == demo.KeySpec1 && a.To == demo.KeySpec2 {
			wantWords = append(wantWords, "ingress denied: isolated by ai-agents/allow-gateway-to-agents, ai-agents/allow-triage-to-specialists")
		}
		for _, w := range wantWords {
			if !strings.Contains(worst.Explanation, w) {
				t.Errorf("attack %q: explanation %q does not say %q", a.Name, worst.Explanation, w)
			}
		}
		if h := d.s.Host(a.To); h != nil && h.FQDN != "" && !slices.ContainsFunc(recs, func(r flow.Record) bool { return r.Dst.FQDN == h.FQDN }) {
			t.Errorf("attack %q: no record names %s", a.Name, h.FQDN)
		}
		answered := slices.ContainsFunc(recs, func(r flow.Record) bool { return r.Answered != nil && *r.Answered })
		dropped := slices.ContainsFunc(recs, func(r flow.Record) bool { return r.Observed == flow.Dropped && r.DropReason == "NETFILTER_DROP" })
		switch {
		case enforce && a.PolicyDenies && (answered || !dropped):
			t.Errorf("attack %q under enforcement: answered %v, NETFILTER_DROP %v; want dropped, never answered", a.Name, answered, dropped)
		case !(enforce && a.PolicyDenies) && (!answered || dropped):
			t.Errorf("attack %q: answered %v, dropped %v; want it through", a.Name, answered, dropped)
		}
	}
}

// checkNormal: normal traffic happened, every call of the scenario, and
// none of it is flagged.
func (d *demoRun) checkNormal(t *testing.T) {
	t.Helper()
	for _, c := range d.s.Normal {
		src, dst := d.s.Addr(c.From), d.s.Addr(c.To)
		n := 0
		for _, r := range d.normal {
			if r.Src.IP == src && r.Dst.IP == dst && r.Dst.Port == c.Port.Port && r.Observed == flow.Forwarded {
				n++
			}
		}
		if n < 3 {
			t.Errorf("normal call %s -> %s %s/%d: %d records, want it made again and again", c.From, c.To, c.Port.Protocol, c.Port.Port, n)
		}
	}
	flagged := 0
	for _, r := range d.normal {
		if r.Violation != "" {
			flagged++
			if flagged <= 5 {
				t.Errorf("normal flow flagged: %s:%d -> %s:%d %s: %s: %s", r.Src.IP, r.Src.Port, r.Dst.IP, r.Dst.Port, r.Protocol, r.Violation, r.Explanation)
			}
		}
	}
	if flagged > 0 {
		t.Errorf("%d normal flow records flagged, want none", flagged)
	}
}

// checkSuggestion replays the flows against the suggested policies (with
// the other namespaces' current ones): every normal connection allowed,
// every attack denied.
func (d *demoRun) checkSuggestion(t *testing.T) {
	t.Helper()
	snap, err := correlate.LoadSnapshot(filepath.Join(d.dir, demo.FileSnapshot))
	if err != nil {
		t.Fatal(err)
	}
	objs := snap.Objects()
	sugg, err := correlate.LoadSnapshot(filepath.Join(d.dir, demo.FilePolicies))
	if err != nil {
		t.Fatalf("the suggested policies do not load: %v", err)
	}
	var pols []*networkingv1.NetworkPolicy
	for _, np := range objs.NetworkPolicies {
		if np.Namespace != demo.NSAgents {
			pols = append(pols, np)
		}
	}
	pols = append(pols, sugg.Objects().NetworkPolicies...)
	if len(sugg.Objects().NetworkPolicies) < 2 {
		t.Fatalf("%d suggested policies", len(sugg.Objects().NetworkPolicies))
	}
	engine, err := policy.New(pols, objs.Namespaces)
	if err != nil {
		t.Fatal(err)
	}
	ix := correlate.BuildIndex(objs, correlate.IndexOptions{})
	judgeConn := func(r flow.Record) flow.Record {
		wire := flow.Record{TimeFirst: r.TimeFirst, TimeLast: r.TimeLast, Protocol: r.Protocol,
			Src: flow.Endpoint{IP: r.Src.IP, Port: r.Src.Port}, Dst: flow.Endpoint{IP: r.Dst.IP, Port: r.Dst.Port}}
		var res correlate.Resolution
		var v policy.Verdict
		j := enrich.Judge{Engine: engine, Explain: true}
		ix.ResolveRecord(&wire, &res)
		j.Evaluate(&wire, &res, &v)
		return wire
	}
	seen := map[string]bool{}
	allowed := 0
	for _, r := range d.normal {
		key := fmt.Sprintf("%s %s -> %s:%d", r.Protocol, r.Src.IP, r.Dst.IP, r.Dst.Port)
		if seen[key] {
			continue
		}
		seen[key] = true
		if j := judgeConn(r); j.Verdict != "allow" {
			t.Errorf("the suggestion denies normal traffic %s: %s", key, j.Explanation)
		} else {
			allowed++
		}
	}
	for i, a := range d.s.Attacks {
		if len(d.attack[i]) == 0 {
			continue
		}
		if j := judgeConn(d.attack[i][0]); j.Verdict != "deny" {
			t.Errorf("the suggestion allows attack %q: %s", a.Name, j.Explanation)
		}
	}
	t.Logf("replay: %d distinct normal flows allowed by %d suggested policies, %d attacks denied", allowed, len(sugg.Objects().NetworkPolicies), len(d.s.Attacks))
}

// checkTornDown: no namespace of the run is left.
func (d *demoRun) checkTornDown(t *testing.T) {
	t.Helper()
	prefix := strings.TrimSuffix(d.summary.Namespaces, "*")
	if len(prefix) < 4 {
		t.Fatalf("summary names namespaces %q", d.summary.Namespaces)
	}
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}

// checkGraph opens the graph in Chromium: the DOM holds one node per
// workload and outside peer of the flows and one edge per client and
// server, coloured as the flows say.
func (d *demoRun) checkGraph(t *testing.T, enforce bool) {
	bin := browsertest.Chromium(t)
	path := filepath.Join(d.dir, demo.FileGraph)
	page := browsertest.Open(t, bin, path)
	if len(page.Console) > 0 {
		t.Errorf("the page logged:\n%s", strings.Join(page.Console, "\n"))
	}
	got, err := graph.ReadDrawn(strings.NewReader(page.DOM))
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(demo.NSAgents)
	for i := range d.recs {
		b.Add(&d.recs[i])
	}
	want := b.Graph().Drawn()
	nodes, edges := got.Nodes, got.Edges
	if !slices.Equal(nodes, want.Nodes) || !slices.Equal(edges, want.Edges) || got.Rows != want.Rows {
		t.Errorf("DOM: nodes\n%s\nedges\n%s\n(%d table rows); want nodes\n%s\nedges\n%s",
			strings.Join(nodes, "\n"), strings.Join(edges, "\n"), got.Rows, strings.Join(want.Nodes, "\n"), strings.Join(want.Edges, "\n"))
	}
	// The picture says what the flows say about the scenario.
	denied := "would-deny"
	if enforce {
		denied = "denied"
	}
	const ai = "ai-agents/Deployment/"
	for _, want := range []string{
		ai + "specialist-agent -> " + ai + "specialist-agent " + denied,
		ai + "triage-agent -> external/" + d.s.Host(demo.KeyInternal).IP.String() + " " + denied,
		ai + "specialist-agent -> external/" + d.s.Host(demo.KeyMetadata).IP.String() + " " + denied,
		ai + "triage-agent -> external/api.unvetted-llm.example anomalous",
		ai + "triage-agent -> external/api.llm-provider.example allowed",
		"api-gateway/Deployment/gateway -> " + ai + "triage-agent allowed",
		ai + "tool-service -> databases/StatefulSet/postgresql allowed",
	} {
		if !slices.ContainsFunc(edges, func(e string) bool { return strings.HasPrefix(e, want+" ") }) {
			t.Errorf("the graph has no edge %q", want)
		}
	}
	img := browsertest.Screenshot(t, bin, path, 1600, 1000)
	shot := filepath.Join(d.dir, "graph-screenshot.png")
	browsertest.SavePNG(t, img, shot)
	t.Logf("graph: %d nodes, %d edges; screenshot %s", len(nodes), len(edges), shot)
}
