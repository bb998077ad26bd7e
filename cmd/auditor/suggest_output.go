package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/suggest"
)

// writeSuggestion prints the policies (or the diff) to stdout, or one file
// per policy into --output-dir.
func writeSuggestion(stdout, stderr io.Writer, o *suggestOptions, sg *suggest.Suggestion, objs correlate.Objects) error {
	if o.diff {
		d := suggest.Diff("current/"+o.namespace, suggest.CurrentYAML(objs.NetworkPolicies, o.namespace),
			"suggested/"+o.namespace, string(sg.RenderYAML()))
		if _, err := io.WriteString(stdout, d); err != nil {
			return failure(fmt.Errorf("write diff: %w", err))
		}
		return nil
	}
	docs := renderDocs(sg, o.format)
	if o.outDir == "" {
		for _, d := range docs {
			if _, err := stdout.Write(d.data); err != nil {
				return failure(fmt.Errorf("write policies: %w", err))
			}
		}
		return nil
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return failure(fmt.Errorf("create %s: %w", o.outDir, err))
	}
	for _, d := range docs {
		path := filepath.Join(o.outDir, d.name+".yaml")
		if err := os.WriteFile(path, d.data, 0o644); err != nil {
			return failure(fmt.Errorf("write %s: %w", path, err))
		}
	}
	fmt.Fprintf(stderr, "auditor: suggest: wrote %d files to %s\n", len(docs), o.outDir)
	return nil
}

type renderedDoc struct {
	name string
	data []byte
}

// renderDocs renders each policy as a document of its own; concatenated
// they are exactly the multi-document stream.
func renderDocs(sg *suggest.Suggestion, format string) []renderedDoc {
	out := make([]renderedDoc, 0, len(sg.Policies))
	for i := range sg.Policies {
		one := *sg
		one.Policies = sg.Policies[i : i+1]
		data := one.RenderYAML()
		if format == formatCilium {
			data = one.RenderCilium()
		}
		out = append(out, renderedDoc{name: sg.Policies[i].Name, data: data})
	}
	return out
}

func writeReportFile(path string, r *suggest.Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// writeNotes reports on stderr what could not be selected stably.
func writeNotes(w io.Writer, notes []suggest.Note) {
	for _, n := range notes {
		fmt.Fprintf(w, "auditor: note [%s] %s: %s\n", n.Kind, n.Subject, n.Detail)
	}
}

// maxListed bounds each list of findings printed on stderr; --report has
// them all (up to suggest.MaxFindings).
const maxListed = 10

// writeReplaySummary prints the proof by replay.
func writeReplaySummary(w io.Writer, r *suggest.Report, format string) {
	fmt.Fprintf(w, "auditor: suggest: %d policies for namespace %s from %d %s between %s and %s (external %s)\n",
		r.Policies, r.Namespace, r.Flows.Observed, plural(r.Flows.Observed, "flow", "flows"), r.Window.Start.UTC().Format(time.RFC3339), r.Window.End.UTC().Format(time.RFC3339), r.External)
	if format == formatCilium {
		fmt.Fprintln(w, "auditor: replay: judged as NetworkPolicies holding the same rules (toFQDNs as the addresses observed)")
	}
	f, e := r.Flows, r.Edges
	fmt.Fprintf(w, "auditor: replay: %d of %d observed flows allowed (%d distinct)", f.Allowed, f.Observed, f.Distinct)
	if f.Dropped > 0 {
		fmt.Fprintf(w, "; of %d dropped %s %d stay denied, %d would be allowed", f.Dropped, plural(f.Dropped, "flow", "flows"), f.DroppedDenied, f.DroppedAllowed)
	}
	if f.Excluded > 0 {
		fmt.Fprintf(w, "; %d %s to the metadata service not learned (%d allowed anyway)", f.Excluded, plural(f.Excluded, "flow", "flows"), f.ExcludedAllowed)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "auditor: replay: %d unobserved workload edges allowed, %d to or from addresses, of %d probed (%d DNS fallbacks by design)\n",
		e.AllowedUnobserved, e.AllowedUnobservedAddress, e.Probed, e.DNSFallback)
	list(w, "NOT ALLOWED (bug)", r.NotAllowed)
	list(w, "blocked by the other side's current policies: add a rule there", r.BlockedElsewhere)
	list(w, "dropped (or not learned) flows the suggestion would allow", r.DroppedAllowed)
	list(w, "allowed but never observed", r.Unobserved)
}

func list(w io.Writer, title string, fs []suggest.Finding) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintf(w, "auditor: replay: %s:\n", title)
	for i, f := range fs {
		if i == maxListed {
			fmt.Fprintf(w, "  ... and %d more (see --report)\n", len(fs)-maxListed)
			break
		}
		port := f.Protocol
		if f.Port != 0 {
			port += fmt.Sprintf("/%d", f.Port)
		}
		var extra []string
		if f.Records > 0 {
			extra = append(extra, fmt.Sprintf("%d %s", f.Records, plural(f.Records, "flow", "flows")))
		}
		extra = append(extra, f.Explanation)
		fmt.Fprintf(w, "  %s -> %s %s: %s\n", f.Src, f.Dst, port, strings.Join(extra, "; "))
	}
}
