package policy

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/selection"
)

// namespaceNameLabel is set by the API server on every namespace to its name.
const namespaceNameLabel = "kubernetes.io/metadata.name"

type matchOp uint8

const (
	opIn matchOp = iota // also Equals
	opNotIn
	opExists
	opDoesNotExist
)

type requirement struct {
	key    string
	op     matchOp
	values []string
}

// selector is a label selector parsed by apimachinery and flattened into a
// slice so that matching is a few map lookups with no allocation. No
// requirements means it selects everything.
type selector struct {
	reqs []requirement
}

func compileSelector(ls *metav1.LabelSelector) (selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return selector{}, err
	}
	reqs, _ := sel.Requirements()
	out := selector{reqs: make([]requirement, 0, len(reqs))}
	for _, r := range reqs {
		var op matchOp
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			op = opIn
		case selection.NotEquals, selection.NotIn:
			op = opNotIn
		case selection.Exists:
			op = opExists
		case selection.DoesNotExist:
			op = opDoesNotExist
		default:
			return selector{}, fmt.Errorf("unsupported selector operator %q", r.Operator())
		}
		vals := r.ValuesUnsorted()
		slices.Sort(vals)
		out.reqs = append(out.reqs, requirement{key: r.Key(), op: op, values: slices.Compact(vals)})
	}
	return out, nil
}

func (s *selector) empty() bool { return len(s.reqs) == 0 }

// matchesPod matches a pod's labels.
func (s *selector) matchesPod(labels map[string]string) bool {
	for i := range s.reqs {
		v, ok := labels[s.reqs[i].key]
		if !s.reqs[i].matches(v, ok) {
			return false
		}
	}
	return true
}

// matchesNamespace matches a namespace's labels, where
// kubernetes.io/metadata.name always exists and equals the name, as the API
// server guarantees, even for a namespace the engine was not given.
func (s *selector) matchesNamespace(labels map[string]string, name string) bool {
	for i := range s.reqs {
		var v string
		var ok bool
		if s.reqs[i].key == namespaceNameLabel {
			v, ok = name, true
		} else {
			v, ok = labels[s.reqs[i].key]
		}
		if !s.reqs[i].matches(v, ok) {
			return false
		}
	}
	return true
}

func (r *requirement) matches(v string, ok bool) bool {
	switch r.op {
	case opIn:
		return ok && slices.Contains(r.values, v)
	case opNotIn:
		return !ok || !slices.Contains(r.values, v)
	case opExists:
		return ok
	default:
		return !ok
	}
}
