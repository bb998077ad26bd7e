package suggest

import (
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	networkingv1 "k8s.io/api/networking/v1"
)

// Diff returns a unified diff from one text to another with three lines of
// context, or "" when they are equal.
func Diff(fromName, from, toName, to string) string {
	if from == to {
		return ""
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(from), FromFile: fromName,
		B: difflib.SplitLines(to), ToFile: toName,
		Context: 3,
	})
	if err != nil {
		// difflib only fails writing to its buffer, which cannot fail.
		return ""
	}
	return d
}

// CurrentYAML renders a namespace's current policies the way suggestions
// are rendered (sorted by name, user-set fields only), so that the two
// compare line by line.
func CurrentYAML(policies []*networkingv1.NetworkPolicy, namespace string) string {
	var docs []Document
	for _, np := range policies {
		if np.Namespace == namespace {
			docs = append(docs, Document{Policy: np})
		}
	}
	slices.SortFunc(docs, func(a, b Document) int { return strings.Compare(a.Policy.Name, b.Policy.Name) })
	return string(RenderNetworkPolicies(docs))
}
