package hubbleconv

import (
	"sort"
	"strings"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Cilium label sources and reserved identities this package reads and writes.
const (
	sourceK8s      = "k8s"
	sourceReserved = "reserved"

	reservedHost       = "host"
	reservedRemoteNode = "remote-node"
	reservedWorld      = "world"

	// namespaceLabel is the label Cilium adds to every pod identity; it is
	// not one of the pod's own labels.
	namespaceLabel = "io.kubernetes.pod.namespace"
	// ciliumDerivedPrefix marks labels Cilium derives (namespace labels,
	// service account, cluster name); they are not the pod's own labels.
	ciliumDerivedPrefix = "io.cilium.k8s."
)

// splitLabel splits a Cilium label "source:key=value". A label without a
// source is a Kubernetes label, as Cilium treats it.
func splitLabel(l string) (source, key, value string) {
	source = sourceK8s
	// The source ends at the first ':' that comes before any '='; keys such
	// as "app.kubernetes.io/name" contain no ':' but values may.
	if i := strings.IndexByte(l, ':'); i >= 0 {
		if eq := strings.IndexByte(l, '='); eq < 0 || i < eq {
			source, l = l[:i], l[i+1:]
		}
	}
	key, value, _ = strings.Cut(l, "=")
	return source, key, value
}

// podLabels returns the pod's own labels from a Cilium label list, and the
// kind that reserved labels imply.
func podLabels(labels []string) (map[string]string, flow.Kind) {
	var out map[string]string
	kind := flow.KindUnknown
	for _, l := range labels {
		source, key, value := splitLabel(l)
		switch source {
		case sourceK8s:
			if key == namespaceLabel || strings.HasPrefix(key, ciliumDerivedPrefix) || key == "" {
				continue
			}
			if out == nil {
				out = make(map[string]string, len(labels))
			}
			out[key] = value
		case sourceReserved:
			switch {
			case key == reservedHost || key == reservedRemoteNode:
				kind = flow.KindNode
			case strings.HasPrefix(key, reservedWorld):
				// world, world-ipv4, world-ipv6
				kind = flow.KindExternal
			}
		}
	}
	return out, kind
}

// ciliumLabels renders labels as Cilium prints them, sorted so that the
// output is deterministic.
func ciliumLabels(labels map[string]string) []string {
	out := make([]string, 0, len(labels)+1)
	for k, v := range labels {
		out = append(out, sourceK8s+":"+k+"="+v)
	}
	sort.Strings(out)
	return out
}
