package demo

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// loadCluster writes the scenario's snapshot and reads it back, as a user
// of the file would.
func loadCluster(t *testing.T) (*Scenario, correlate.Objects, *correlate.Index, *policy.Engine) {
	t.Helper()
	s := AIAgents()
	path := filepath.Join(t.TempDir(), FileSnapshot)
	if err := WriteSnapshot(path, s.Objects(time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	snap, err := correlate.LoadSnapshot(path)
	if err != nil {
		t.Fatalf("the snapshot does not load back: %v", err)
	}
	if ign := snap.Ignored(); len(ign) > 0 {
		t.Errorf("objects of the snapshot the auditor ignores: %v", ign)
	}
	objs := snap.Objects()
	engine, err := policy.New(objs.NetworkPolicies, objs.Namespaces)
	if err != nil {
		t.Fatal(err)
	}
	return s, objs, correlate.BuildIndex(objs, correlate.IndexOptions{}), engine
}

func judge(ix *correlate.Index, engine *policy.Engine, s *Scenario, c Call) judgement {
	return Judge(ix, engine, &flow.Record{
		Src:      flow.Endpoint{IP: s.Addr(c.From), Port: 40000},
		Dst:      flow.Endpoint{IP: s.Addr(c.To), Port: c.Port.Port},
		Protocol: flow.Protocol(c.Port.Protocol),
	})
}

func TestSnapshotDescribesTheCluster(t *testing.T) {
	s, objs, ix, _ := loadCluster(t)
	if len(objs.Pods) != len(s.Pods) || len(objs.Namespaces) != 4 || len(objs.Owners) == 0 {
		t.Fatalf("%d pods, %d namespaces, %d controllers", len(objs.Pods), len(objs.Namespaces), len(objs.Owners))
	}
	var names []string
	for _, np := range objs.NetworkPolicies {
		names = append(names, np.Name)
	}
	for _, want := range ArticlePolicies {
		if !slices.Contains(names, want) {
			t.Errorf("policy %s of the article missing: %v", want, names)
		}
	}
	for _, p := range s.Pods {
		target := ix.Resolve(p.IP, time.Now())
		rec := flow.Endpoint{IP: p.IP}
		target.Fill(&rec)
		if rec.Kind != flow.KindPod || rec.Namespace != p.Namespace || rec.Pod != p.Name || rec.Workload != p.Workload {
			t.Errorf("%s resolves to %+v, want pod %s/%s of %s", p.IP, rec, p.Namespace, p.Name, p.Workload)
		}
	}
	for _, h := range s.Hosts {
		if ix.Resolve(h.IP, time.Now()) != nil {
			t.Errorf("outside host %s resolves to a cluster object", h.IP)
		}
	}
}

// TestPoliciesAllowTheNormalCallsAndDenyTheAttacks checks the scenario
// itself: normal behaviour is what policy allows, and the attacks that
// enforcement must drop are what it denies.
func TestPoliciesAllowTheNormalCallsAndDenyTheAttacks(t *testing.T) {
	s, _, ix, engine := loadCluster(t)
	dns := Call{From: KeyTriage, To: KeyDNS, Port: udp(53)}
	for _, c := range append(slices.Clone(s.Normal), dns) {
		if j := judge(ix, engine, s, c); j.Verdict != "allow" {
			t.Errorf("normal call %s -> %s %s/%d: %s: %s", c.From, c.To, c.Port.Protocol, c.Port.Port, j.Verdict, j.Explanation)
		}
	}
	for _, a := range s.Attacks {
		j := judge(ix, engine, s, a.Call)
		if want := map[bool]string{true: "deny", false: "allow"}[a.PolicyDenies]; j.Verdict != want {
			t.Errorf("attack %q: %s (%s), want %s", a.Name, j.Verdict, j.Explanation, want)
		}
	}
}

// TestEnforcementRulesFollowThePolicies checks the generated iptables rules
// against the engine: every allowed pair has its rule, nothing an attack
// needs has one, and the chain ends in a drop.
func TestEnforcementRulesFollowThePolicies(t *testing.T) {
	s, _, ix, engine := loadCluster(t)
	allow := allowList(s, ix, engine, time.Now())
	has := func(c Call) bool {
		return slices.ContainsFunc(allow, func(r allowRule) bool {
			return r.Src == s.Addr(c.From) && r.Dst == s.Addr(c.To) && r.Port == c.Port.Port && string(r.Protocol) == string(c.Port.Protocol)
		})
	}
	for _, c := range s.Normal {
		if !has(c) {
			t.Errorf("no rule lets %s reach %s on %s/%d", c.From, c.To, c.Port.Protocol, c.Port.Port)
		}
	}
	for _, a := range s.Attacks {
		if has(a.Call) == a.PolicyDenies {
			t.Errorf("attack %q: rule present = %v", a.Name, has(a.Call))
		}
	}
	rules := iptablesRules(allow, func(a netip.Addr) string { return a.String() })
	lines := strings.Split(strings.TrimSpace(rules), "\n")
	if lines[len(lines)-1] != "COMMIT" || !strings.HasSuffix(lines[len(lines)-2], "-j DROP") {
		t.Errorf("the rules do not end with a drop and COMMIT:\n%s", strings.Join(lines[len(lines)-3:], "\n"))
	}
	accepts := strings.Count(rules, "-j ACCEPT\n")
	if accepts != len(allow)+1 { // and the conntrack rule for replies
		t.Errorf("%d ACCEPT rules for %d allowed pairs", accepts, len(allow))
	}
	spec1, spec2 := s.Pod(KeySpec1).IP, s.Pod(KeySpec2).IP
	if strings.Contains(rules, fmt.Sprintf("-s %s/32 -d %s/32", spec1, spec2)) {
		t.Error("a rule lets one specialist reach the other")
	}
}

func TestDNSAnswersTheScenarioNames(t *testing.T) {
	s := AIAgents()
	names := s.Names()
	for name, ip := range names {
		got := queryDNS(t, name, names)
		if got != ip {
			t.Errorf("%s answered %v, want %v", name, got, ip)
		}
	}
	if got := queryDNS(t, "unknown.example", names); got.IsValid() {
		t.Errorf("an unknown name answered %v, want NXDOMAIN", got)
	}
}

func TestConfigCheck(t *testing.T) {
	good := Config{Out: "x", Normal: DefaultNormal, Learning: DefaultLearning, Interval: DefaultInterval}
	if err := good.Check(); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
	for _, c := range []Config{
		{Out: "", Normal: DefaultNormal, Learning: DefaultLearning, Interval: DefaultInterval},
		{Out: "x", Normal: 3 * time.Second, Learning: 3 * time.Second, Interval: DefaultInterval},
		{Out: "x", Normal: DefaultNormal, Learning: DefaultLearning, Interval: 0},
	} {
		if err := c.Check(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// queryDNS asks answerDNS for name's A record; invalid for NXDOMAIN.
func queryDNS(t *testing.T, name string, names map[string]netip.Addr) netip.Addr {
	t.Helper()
	q := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: 7, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name + "."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
	}
	msg, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out, err := answerDNS(msg, names)
	if err != nil {
		t.Fatal(err)
	}
	var resp dnsmessage.Message
	if err := resp.Unpack(out); err != nil {
		t.Fatal(err)
	}
	if resp.Header.ID != 7 || !resp.Header.Response {
		t.Fatalf("answer header %+v", resp.Header)
	}
	if resp.Header.RCode == dnsmessage.RCodeNameError {
		return netip.Addr{}
	}
	if len(resp.Answers) != 1 {
		t.Fatalf("%d answers for %s", len(resp.Answers), name)
	}
	return netip.AddrFrom4(resp.Answers[0].Body.(*dnsmessage.AResource).A)
}
