package server

import (
	"fmt"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"k8s.io/apimachinery/pkg/labels"
)

// labelMatch implements Hubble's label filters: Kubernetes label selectors
// whose keys may carry a Cilium source ("k8s:app=x", "reserved:world");
// a key without a source matches a label from any source ("app=x").
//
// Kubernetes selector keys cannot hold ':', so the selector's keys are
// rewritten to "source.key" ("any.key" without a source) and the flow's
// labels are looked up through the same naming.
func labelMatch(selectors []string, get func(*flowpb.Flow) []string) (match, error) {
	parsed := make([]labels.Selector, 0, len(selectors))
	for _, s := range selectors {
		sel, err := labels.Parse(rewriteSelectorKeys(s))
		if err != nil {
			return nil, fmt.Errorf("label selector %q: %w", s, err)
		}
		parsed = append(parsed, sel)
	}
	return func(f *flowpb.Flow) bool {
		ls := ciliumLabels(get(f))
		for _, sel := range parsed {
			if sel.Matches(ls) {
				return true
			}
		}
		return false
	}, nil
}

// rewriteSelectorKeys rewrites the key of every requirement of a selector:
// "k8s:app in (a,b),!reserved:host,tier" becomes
// "k8s.app in (a,b),!reserved.host,any.tier". Values are left alone.
func rewriteSelectorKeys(sel string) string {
	var out strings.Builder
	for i, req := range splitRequirements(sel) {
		if i > 0 {
			out.WriteByte(',')
		}
		// A requirement is [space][!]key[op values]; the key ends at a space
		// or an operator character.
		body := strings.TrimLeft(req, " \t")
		out.WriteString(req[:len(req)-len(body)])
		if strings.HasPrefix(body, "!") {
			out.WriteByte('!')
			body = strings.TrimLeft(body[1:], " \t")
		}
		end := strings.IndexAny(body, " \t=!<>")
		if end < 0 {
			end = len(body)
		}
		key := body[:end]
		if src, k, ok := strings.Cut(key, ":"); ok {
			key = src + "." + k
		} else if key != "" {
			key = "any." + key
		}
		out.WriteString(key)
		out.WriteString(body[end:])
	}
	return out.String()
}

// splitRequirements splits a selector at the commas that are not inside
// a value list in parentheses.
func splitRequirements(sel string) []string {
	var (
		parts []string
		depth int
		start int
	)
	for i, r := range sel {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, sel[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, sel[start:])
}

// ciliumLabels answers selector lookups of "source.key" against a flow's
// labels, "source:key=value" strings ("source:key" for a label without a
// value). "any.key" matches the key under any source.
type ciliumLabels []string

func (ls ciliumLabels) Has(key string) bool {
	_, ok := ls.Lookup(key)
	return ok
}

func (ls ciliumLabels) Get(key string) string {
	v, _ := ls.Lookup(key)
	return v
}

func (ls ciliumLabels) Lookup(key string) (string, bool) {
	wantSrc, wantKey, ok := strings.Cut(key, ".")
	if !ok {
		return "", false
	}
	for _, l := range ls {
		// The source ends at the first ':' before any '=' (values may hold
		// ':'); Cilium reads a label without a source as a Kubernetes one.
		src, rest := "k8s", l
		if i := strings.IndexByte(l, ':'); i >= 0 {
			if eq := strings.IndexByte(l, '='); eq < 0 || i < eq {
				src, rest = l[:i], l[i+1:]
			}
		}
		k, v, _ := strings.Cut(rest, "=")
		if k == wantKey && (wantSrc == "any" || wantSrc == src) {
			return v, true
		}
	}
	return "", false
}
