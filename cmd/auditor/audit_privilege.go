package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/suggest"
)

// privilegeOptions are the flags of audit's namespace report: with
// --namespace, audit also checks the namespace's current policies against
// the flows (rules nothing used, workloads nothing isolates, egress open to
// every address, observed flows they deny).
type privilegeOptions struct {
	jsonPath string
}

func (p *privilegeOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&p.jsonPath, "privilege-report", "", "with --namespace: write the namespace's policy report (unused rules, unisolated workloads, open egress, denied flows) as JSON to this file; the table output shows it too")
}

// privilegeAudit gathers the flows of one namespace while audit judges
// them. A nil *privilegeAudit (no --namespace) does nothing.
type privilegeAudit struct {
	opts      privilegeOptions
	namespace string
	objs      correlate.Objects
	ix        *correlate.Index
	res       correlate.Resolution
	obs       *suggest.Observer
}

// start begins the namespace report; nil without a namespace.
func (p *privilegeOptions) start(objs correlate.Objects, ix *correlate.Index, namespace string) *privilegeAudit {
	if namespace == "" {
		return nil
	}
	return &privilegeAudit{
		opts: *p, namespace: namespace, objs: objs, ix: ix,
		obs: suggest.NewObserver(suggest.Input{
			Namespace:     namespace,
			Pods:          suggest.PodsFrom(objs, ix),
			DNSAddresses:  suggest.DNSAddressesFrom(objs),
			StableLabels:  correlate.StableLabels,
			AllowMetadata: true, // the audit judges every flow
		}),
	}
}

// observe takes a batch of records in input order (after audit judged
// them: they are resolved again here, the way suggest resolves them).
func (a *privilegeAudit) observe(recs []flow.Record) {
	if a == nil {
		return
	}
	for i := range recs {
		a.obs.AddRecord(a.ix, &a.res, &recs[i])
	}
}

// finish writes the report: after the table on a terminal, to the JSON
// file when asked, and a one-line count on stderr otherwise.
func (a *privilegeAudit) finish(stdout, stderr io.Writer, format string) error {
	if a == nil {
		return nil
	}
	r, err := a.obs.Audit(a.objs.NetworkPolicies, a.objs.Namespaces)
	if err != nil {
		return failure(err)
	}
	if a.opts.jsonPath != "" {
		data, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return failure(fmt.Errorf("encode policy report: %w", err))
		}
		if err := os.WriteFile(a.opts.jsonPath, append(data, '\n'), 0o644); err != nil {
			return failure(fmt.Errorf("write policy report: %w", err))
		}
	}
	if format == formatTable {
		if err := writePrivilegeTable(stdout, r); err != nil {
			return failure(fmt.Errorf("write output: %w", err))
		}
		return nil
	}
	fmt.Fprintf(stderr, "auditor: namespace %s policies: %d unused rule parts, %d unisolated workloads, %d egress rules open to every address, %d denied edges (details: -o table or --privilege-report FILE)\n",
		r.Namespace, len(r.Unused), len(r.Unisolated), len(r.OpenEgress), len(r.Denied))
	return nil
}

// writePrivilegeTable prints the namespace report as sections of a table.
func writePrivilegeTable(w io.Writer, r *suggest.PrivilegeReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nNamespace %s: %d current %s judged against %d observed %s\n", r.Namespace, r.Policies, plural(r.Policies, "policy", "policies"),
		r.Records.Forwarded, plural(r.Records.Forwarded, "flow", "flows"))

	fmt.Fprintf(tw, "\nOver-privilege: allowed, never used (%d)\n", len(r.Unused))
	if len(r.Unused) > 0 {
		fmt.Fprintln(tw, "POLICY\tRULE\tWHAT")
		for _, u := range r.Unused {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Policy, ruleRef(u), u.Detail)
		}
	}
	fmt.Fprintf(tw, "\nWorkloads no policy isolates (%d)\n", len(r.Unisolated))
	if len(r.Unisolated) > 0 {
		fmt.Fprintln(tw, "WORKLOAD\tPODS\tINGRESS\tEGRESS")
		for _, u := range r.Unisolated {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", u.Workload, u.Pods, isolated(u.Ingress), isolated(u.Egress))
		}
	}
	fmt.Fprintf(tw, "\nEgress open to every address (%d)\n", len(r.OpenEgress))
	if len(r.OpenEgress) > 0 {
		fmt.Fprintln(tw, "POLICY\tRULE\tFLOWS\tWHAT")
		for _, u := range r.OpenEgress {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", u.Policy, ruleRef(u), u.Flows, u.Detail)
		}
	}
	fmt.Fprintf(tw, "\nForwarded flows current policy denies (%d %s)\n", len(r.Denied), plural(len(r.Denied), "edge", "edges"))
	if len(r.Denied) > 0 {
		fmt.Fprintln(tw, "SOURCE\tDESTINATION\tPORT\tFLOWS\tDENIED AT\tWHY")
		for _, d := range r.Denied {
			port := d.Protocol
			if d.Port != 0 {
				port += fmt.Sprintf("/%d", d.Port)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.Src, d.Dst, port, d.Records, d.Side, d.Explanation)
		}
	}
	return tw.Flush()
}

func ruleRef(u suggest.RuleFinding) string {
	s := fmt.Sprintf("%s[%d]", u.Direction, u.Rule)
	var parts []string
	if u.Peer >= 0 {
		parts = append(parts, fmt.Sprintf("peer %d", u.Peer))
	}
	if u.Port >= 0 {
		parts = append(parts, fmt.Sprintf("port %d", u.Port))
	}
	if len(parts) > 0 {
		s += " " + strings.Join(parts, ", ")
	}
	return s
}

func isolated(b bool) string {
	if b {
		return "isolated"
	}
	return "open"
}
