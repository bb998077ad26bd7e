package suggest

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// selectorInfo caches a workload's selector.
type selectorInfo struct {
	done bool
	sel  metav1.LabelSelector
}

// selectorOf returns the pod selector that stands for a workload: its
// stable labels, plus "key DoesNotExist" for a label of each other workload
// of the namespace whose labels include all of these (so that a selector
// for {app: a} does not also pick {app: a, tier: b}). The result is shared:
// callers copy before changing it.
func (o *Observer) selectorOf(e *entity) metav1.LabelSelector {
	if e.selector.done {
		return e.selector.sel
	}
	e.selector.done = true
	sel := metav1.LabelSelector{}
	if len(e.stable) > 0 {
		sel.MatchLabels = cloneLabels(e.stable)
	}
	anyKeys := o.keysOfPods(e)
	var exclude, shared []string
	for _, v := range o.byNS[e.key.namespace] {
		if v == e || !containsLabels(v.stable, e.stable) {
			continue
		}
		k := ""
		for _, key := range sortedKeys(v.stable) {
			if _, ok := anyKeys[key]; !ok {
				k = key
				break
			}
		}
		if k == "" {
			shared = append(shared, v.key.workload)
			continue
		}
		exclude = append(exclude, k)
	}
	slices.Sort(exclude)
	for _, k := range slices.Compact(exclude) {
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: k, Operator: metav1.LabelSelectorOpDoesNotExist})
	}
	if len(shared) > 0 {
		slices.Sort(shared)
		o.note(NoteSharedSelector, e.name(), fmt.Sprintf(
			"no stable label tells it from %s in namespace %s (both carry %s): the rules written for either apply to both",
			strings.Join(shared, ", "), e.key.namespace, formatLabels(e.stable)))
	}
	if len(e.stable) == 0 {
		what := "every pod of the namespace"
		if len(exclude) > 0 {
			what = "the pods of the namespace without the labels " + strings.Join(slices.Compact(exclude), ", ")
		}
		who := "no stable labels to select it by"
		if e.bare {
			who = "a bare pod without labels"
		}
		o.note(NoteUnlabeledPod, e.name(), who+": selected as "+what+"; label its pods and run again")
	}
	e.selector.sel = sel
	return sel
}

// keysOfPods is every stable label key some pod of the workload carries:
// a DoesNotExist on any of them would deselect one of its own pods.
func (o *Observer) keysOfPods(e *entity) map[string]struct{} {
	keys := make(map[string]struct{}, len(e.stable))
	for k := range e.stable {
		keys[k] = struct{}{}
	}
	for k := range e.anyKeys {
		keys[k] = struct{}{}
	}
	return keys
}

// containsLabels reports whether have carries every label of want.
func containsLabels(have, want map[string]string) bool {
	if len(have) < len(want) {
		return false
	}
	for k, v := range want {
		if w, ok := have[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func formatLabels(m map[string]string) string {
	if len(m) == 0 {
		return "no labels"
	}
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// namespaceSelector selects one namespace by the label the API server sets.
func namespaceSelector(ns string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{NamespaceNameLabel: ns}}
}

type noteKey struct {
	kind    NoteKind
	subject string
}

func (o *Observer) note(kind NoteKind, subject, detail string) {
	k := noteKey{kind, subject}
	if _, ok := o.notes[k]; !ok {
		o.notes[k] = Note{Kind: kind, Subject: subject, Detail: detail}
	}
}

func (o *Observer) sortedNotes() []Note {
	out := make([]Note, 0, len(o.notes))
	for _, n := range o.notes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Note) int {
		if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
			return c
		}
		return strings.Compare(a.Subject, b.Subject)
	})
	return out
}
