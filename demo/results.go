package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/flow/flowjson"
	"github.com/flow-auditor/flow-auditor/graph"
)

// Files the demo writes into Config.Out.
const (
	FileSnapshot = "snapshot.yaml"
	FileFlows    = "flows.jsonl"
	FilePolicies = "policies-ai-agents.yaml"
	FileReplay   = "replay-ai-agents.json"
	FileGraphSVG = "graph-ai-agents.svg"
	FileGraph    = "graph-ai-agents.html"
	FileEnforce  = "enforce.rules"
	FileSummary  = "summary.json"
)

// Summary is what the demo did and found, written to summary.json.
type Summary struct {
	Enforce    bool      `json:"enforce"`
	Namespaces string    `json:"namespaces"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	AllowRules int       `json:"allow_rules,omitempty"`
	Normal     struct {
		Calls       int `json:"calls"`
		Connections int `json:"connections"`
		// Flagged are normal connections that carried a violation: the
		// goal is none.
		Flagged int `json:"flagged"`
	} `json:"normal"`
	Attacks []AttackResult `json:"attacks"`
	Replay  struct {
		Policies       int `json:"policies"`
		Observed       int `json:"observed"`
		Allowed        int `json:"allowed"`
		Distinct       int `json:"distinct"`
		AttacksDenied  int `json:"attacks_denied"`
		AttacksAllowed int `json:"attacks_allowed"`
	} `json:"replay"`
	Metrics []change `json:"metrics"`
	Files   []string `json:"files"`
}

func (s *Summary) file(path string) { s.Files = append(s.Files, path) }

// AttackResult is one attack: what happened on the network, what the
// agent reported, and what the suggested policies say.
type AttackResult struct {
	Name     string `json:"name"`
	From     string `json:"from"`
	To       string `json:"to"`
	Port     string `json:"port"`
	Outcome  string `json:"outcome"`
	Expected string `json:"expected"`
	// Violation, Classes, Explanation, Observed and DropReason are the
	// agent's, from the connection's worst record.
	Violation   string   `json:"violation"`
	Classes     []string `json:"classes,omitempty"`
	Explanation string   `json:"explanation"`
	Observed    string   `json:"observed"`
	DropReason  string   `json:"drop_reason,omitempty"`
	Flagged     bool     `json:"flagged"`
	// Suggested is the suggested policies' verdict.
	Suggested judgement `json:"suggested"`
}

// attackEvents returns the events of attack i's connections.
func attackEvents(s *Scenario, evs []event, i int) []event {
	var out []event
	for k := range evs {
		ev := &evs[k]
		rec := flow.Record{Src: *ev.client(), Dst: *ev.server(), Protocol: ev.Record.Protocol}
		if j, ok := s.IsAttack(&rec); ok && j == i {
			out = append(out, *ev)
		}
	}
	return out
}

var severity = map[string]int{"": 0, "anomalous-egress": 1, "would-deny": 2, "denied": 3}

// worst returns the event with the strongest violation, nil when none has
// one.
func worst(evs []event) *event {
	var w *event
	for i := range evs {
		if evs[i].Record.Violation == "" {
			continue
		}
		if w == nil || severity[evs[i].Record.Violation] > severity[w.Record.Violation] {
			w = &evs[i]
		}
	}
	return w
}

// expected returns the violation an attack must carry in this run.
func (r *run) expected(a *Attack) string {
	if r.cfg.Enforce && a.PolicyDenies {
		return "denied"
	}
	return a.Violation
}

// report judges the run: the attacks flagged, no normal flow flagged, the
// metrics; suggests and proves policies; writes the files.
func (r *run) report(objs correlate.Objects, ix *correlate.Index, attackStart time.Time) error {
	evs := r.coll.all()
	var problems []string

	r.p.phase("what the auditor flagged")
	attackRecs := make([]*flow.Record, len(r.s.Attacks))
	for i := range r.s.Attacks {
		a := &r.s.Attacks[i]
		res := &r.sum.Attacks[i]
		res.Expected = r.expected(a)
		w := worst(attackEvents(r.s, evs, i))
		if w == nil {
			res.Violation = "(not reported)"
			problems = append(problems, fmt.Sprintf("attack %q: no violation reported", a.Name))
			r.p.printf("  MISSED  %s: no violation reported\n", a.Name)
			continue
		}
		rec := w.Record
		if w.Reply {
			rec.Src, rec.Dst = rec.Dst, rec.Src
		}
		attackRecs[i] = &rec
		res.Violation, res.Classes, res.Explanation = rec.Violation, w.Classes.Names(), rec.Explanation
		res.Observed, res.DropReason = string(rec.Observed), rec.DropReason
		res.Flagged = res.Violation == res.Expected && containsAll(res.Classes, a.Classes)
		if r.cfg.Enforce && a.PolicyDenies && res.DropReason != "NETFILTER_DROP" {
			res.Flagged = false
		}
		mark := "FLAGGED"
		if !res.Flagged {
			mark = "WRONG"
			problems = append(problems, fmt.Sprintf("attack %q: %s %v, want %s %v", a.Name, res.Violation, res.Classes, res.Expected, a.Classes))
		}
		r.p.printf("  %-7s %s\n          %s -> %s %s: %s", mark, a.Name, name(&rec.Src), name(&rec.Dst), res.Port, verdictOf(w))
		if rec.Observed == flow.Dropped {
			r.p.printf(", dropped by the kernel (%s)", rec.DropReason)
		}
		r.p.printf("\n          why: %s\n", rec.Explanation)
	}
	flagged := map[string]bool{}
	conns := map[string]bool{}
	var normal []flow.Record
	for i := range evs {
		ev := &evs[i]
		rec := flow.Record{Src: *ev.client(), Dst: *ev.server(), Protocol: ev.Record.Protocol}
		if _, ok := r.s.IsAttack(&rec); ok {
			continue
		}
		key := fmt.Sprintf("%s %s:%d %s:%d", rec.Protocol, rec.Src.IP, rec.Src.Port, rec.Dst.IP, rec.Dst.Port)
		conns[key] = true
		if ev.Record.Violation != "" && !flagged[key] {
			flagged[key] = true
			r.p.printf("  UNEXPECTED violation on normal traffic: %s -> %s %s/%d: %s: %s\n",
				name(&rec.Src), name(&rec.Dst), rec.Protocol, rec.Dst.Port, ev.Record.Violation, ev.Record.Explanation)
		}
		if ev.Record.TimeLast.Before(attackStart) {
			normal = append(normal, ev.Record)
		}
	}
	r.sum.Normal.Connections, r.sum.Normal.Flagged = len(conns), len(flagged)
	if len(flagged) > 0 {
		problems = append(problems, fmt.Sprintf("%d normal connections flagged", len(flagged)))
	}
	r.p.printf("  normal traffic: %d connections, %d flagged\n", len(conns), len(flagged))

	r.p.phase("metrics that changed (a scrape of the agent's /metrics before and after)")
	for _, c := range r.sum.Metrics {
		r.p.printf("  %-110s %+g\n", c.Series, c.Delta)
	}

	r.p.phase("suggested policies for ai-agents, learned from the normal phase, proven by replay")
	pr, err := prove(objs, ix, normal, attackRecs)
	if err != nil {
		return err
	}
	policiesPath := filepath.Join(r.cfg.Out, FilePolicies)
	if err := os.WriteFile(policiesPath, pr.YAML, 0o644); err != nil {
		return fmt.Errorf("write the policies: %w", err)
	}
	replayPath := filepath.Join(r.cfg.Out, FileReplay)
	if err := writeJSON(replayPath, pr.Report); err != nil {
		return err
	}
	r.sum.file(policiesPath)
	r.sum.file(replayPath)
	for _, p := range pr.Suggestion.Policies {
		what := "default deny, ingress and egress"
		if p.Workload != "" {
			what = fmt.Sprintf("%s: %d ingress and %d egress rules", p.Workload, len(p.Ingress), len(p.Egress))
		}
		r.p.printf("  %-40s %s\n", p.Name, what)
	}
	rep := pr.Report
	r.sum.Replay.Policies, r.sum.Replay.Observed, r.sum.Replay.Allowed, r.sum.Replay.Distinct =
		len(pr.Suggestion.Policies), rep.Flows.Observed, rep.Flows.Allowed, rep.Flows.Distinct
	r.p.printf("  replay: %d of %d normal flow records allowed (%d distinct flows); %d unobserved workload edges allowed\n",
		rep.Flows.Allowed, rep.Flows.Observed, rep.Flows.Distinct, rep.Edges.AllowedUnobserved)
	if !rep.Ok() {
		problems = append(problems, fmt.Sprintf("the suggestion does not allow %d normal flows", rep.Flows.NotAllowed))
	}
	for i, j := range pr.Attacks {
		r.sum.Attacks[i].Suggested = j
		switch j.Verdict {
		case "deny":
			r.sum.Replay.AttacksDenied++
		case "allow":
			r.sum.Replay.AttacksAllowed++
			problems = append(problems, fmt.Sprintf("the suggestion allows attack %q", r.s.Attacks[i].Name))
		}
		r.p.printf("  attack %-58s %s by the suggestion: %s\n", r.s.Attacks[i].Name, verdictWord(j.Verdict), j.Explanation)
	}

	if err := r.writeFiles(evs); err != nil {
		return err
	}
	r.p.phase("files written to %s", r.cfg.Out)
	for _, f := range r.sum.Files {
		r.p.printf("  %s\n", f)
	}
	r.p.printf("  reuse them: auditor audit --snapshot %s --flows %s --namespace ai-agents\n",
		filepath.Join(r.cfg.Out, FileSnapshot), filepath.Join(r.cfg.Out, FileFlows))
	if len(problems) > 0 {
		return errors.New("demo: " + strings.Join(problems, "; "))
	}
	r.p.printf("\n  every attack flagged, no normal flow flagged, the suggested policies allow all normal flows and deny every attack\n")
	return nil
}

func verdictWord(v string) string {
	switch v {
	case "deny":
		return "denied"
	case "allow":
		return "ALLOWED"
	}
	return v
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// writeFiles writes the flows, the graph and the summary.
func (r *run) writeFiles(evs []event) error {
	var b []byte
	for i := range evs {
		b = flowjson.Append(b, &evs[i].Record)
		b = append(b, '\n')
	}
	flowsPath := filepath.Join(r.cfg.Out, FileFlows)
	if err := os.WriteFile(flowsPath, b, 0o644); err != nil {
		return fmt.Errorf("write the flows: %w", err)
	}
	r.sum.file(flowsPath)

	gb := graph.NewBuilder(NSAgents)
	for i := range evs {
		gb.Add(&evs[i].Record)
	}
	g := gb.Graph()
	for _, f := range []struct{ name, format string }{{FileGraph, graph.FormatHTML}, {FileGraphSVG, graph.FormatSVG}} {
		path := filepath.Join(r.cfg.Out, f.name)
		out, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("write the graph: %w", err)
		}
		err = graph.Write(out, g, f.format)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write the graph: %w", err)
		}
		r.sum.file(path)
	}
	summaryPath := filepath.Join(r.cfg.Out, FileSummary)
	r.sum.file(summaryPath)
	r.sum.Finished = time.Now().UTC()
	return writeJSON(summaryPath, &r.sum)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
