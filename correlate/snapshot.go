package correlate

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Snapshot is an Inventory read from files: what `kubectl get
// namespaces,pods,services,endpointslices,networkpolicies,nodes -A -o yaml`
// (or -o json) prints, or multi-document YAML streams of such objects, and
// the workload controllers (ReplicaSets, Deployments, StatefulSets,
// DaemonSets, Jobs, CronJobs) when present.
type Snapshot struct {
	objects Objects
	ignored []string
}

// Objects returns the snapshot's objects, defaulted, each kind sorted by
// namespace and name. Callers must not modify them.
func (s *Snapshot) Objects() Objects { return s.objects }

// Ignored lists the objects of kinds the scheme knows but the auditor does
// not read (ConfigMaps, Endpoints, ...), as "Kind namespace/name (where)".
func (s *Snapshot) Ignored() []string { return s.ignored }

// NewSnapshot wraps objects that are already in memory (tests, or another
// source) as an Inventory, defaulting them in place as ApplyDefaults does.
func NewSnapshot(objs Objects) *Snapshot {
	for _, o := range objs.Namespaces {
		ApplyDefaults(o)
	}
	for _, o := range objs.Pods {
		ApplyDefaults(o)
	}
	for _, o := range objs.Services {
		ApplyDefaults(o)
	}
	for _, o := range objs.EndpointSlices {
		ApplyDefaults(o)
	}
	for _, o := range objs.NetworkPolicies {
		ApplyDefaults(o)
	}
	return &Snapshot{objects: objs}
}

// LoadSnapshot reads snapshot files ("-" is standard input). Objects in
// later files replace those of the same kind, namespace and name in earlier
// ones, as `kubectl apply` would. Errors name the file and the document.
func LoadSnapshot(paths ...string) (*Snapshot, error) {
	if len(paths) == 0 {
		return nil, errors.New("load snapshot: no files given")
	}
	b := newSnapshotBuilder()
	for _, p := range paths {
		name, data, err := readSnapshotFile(p)
		if err != nil {
			return nil, err
		}
		if err := b.parse(name, data); err != nil {
			return nil, err
		}
	}
	return b.snapshot(), nil
}

func readSnapshotFile(path string) (string, []byte, error) {
	if path == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return "", nil, fmt.Errorf("read snapshot from stdin: %w", err)
		}
		return "stdin", data, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("read snapshot: %w", err)
	}
	return path, data, nil
}

// ParseSnapshot reads one snapshot from memory; name is used in errors.
func ParseSnapshot(name string, data []byte) (*Snapshot, error) {
	b := newSnapshotBuilder()
	if err := b.parse(name, data); err != nil {
		return nil, err
	}
	return b.snapshot(), nil
}

// DocumentError is a snapshot document (or an item of a List in it) that
// could not be read.
type DocumentError struct {
	File string
	// Line is where the document starts in File; 0 when unknown.
	Line int
	// Document counts the file's non-empty documents from 1; Item counts
	// the items of a List from 1 (0: the document is no List).
	Document, Item        int
	Kind, Namespace, Name string
	Err                   error
}

// Error reads `file:line: document 3, item 2 (kind Pod ns/name): what`.
func (e *DocumentError) Error() string {
	var sb strings.Builder
	sb.WriteString(e.File)
	if e.Line > 0 {
		sb.WriteString(":" + strconv.Itoa(e.Line))
	}
	sb.WriteString(": document " + strconv.Itoa(e.Document))
	if e.Item > 0 {
		sb.WriteString(", item " + strconv.Itoa(e.Item))
	}
	if e.Kind != "" {
		sb.WriteString(" (kind " + e.Kind)
		switch {
		case e.Namespace != "" && e.Name != "":
			sb.WriteString(" " + e.Namespace + "/" + e.Name)
		case e.Name != "":
			sb.WriteString(" " + e.Name)
		}
		sb.WriteString(")")
	}
	sb.WriteString(": ")
	sb.WriteString(e.Err.Error())
	return sb.String()
}

func (e *DocumentError) Unwrap() error { return e.Err }

// snapshotBuilder collects decoded objects across files; a later object of
// the same kind, namespace and name replaces an earlier one.
type snapshotBuilder struct {
	namespaces map[objKey]*corev1.Namespace
	pods       map[objKey]*corev1.Pod
	services   map[objKey]*corev1.Service
	slices     map[objKey]*discoveryv1.EndpointSlice
	policies   map[objKey]*networkingv1.NetworkPolicy
	nodes      map[objKey]*corev1.Node
	owners     map[ownerKey]OwnerObject
	ignored    []string
}

func newSnapshotBuilder() *snapshotBuilder {
	return &snapshotBuilder{
		namespaces: map[objKey]*corev1.Namespace{},
		pods:       map[objKey]*corev1.Pod{},
		services:   map[objKey]*corev1.Service{},
		slices:     map[objKey]*discoveryv1.EndpointSlice{},
		policies:   map[objKey]*networkingv1.NetworkPolicy{},
		nodes:      map[objKey]*corev1.Node{},
		owners:     map[ownerKey]OwnerObject{},
	}
}

func (b *snapshotBuilder) snapshot() *Snapshot {
	owners := make([]OwnerObject, 0, len(b.owners))
	for _, o := range b.owners {
		owners = append(owners, o)
	}
	slices.SortFunc(owners, func(a, b OwnerObject) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return &Snapshot{
		objects: Objects{
			Namespaces:      sorted(b.namespaces),
			Pods:            sorted(b.pods),
			Services:        sorted(b.services),
			EndpointSlices:  sorted(b.slices),
			NetworkPolicies: sorted(b.policies),
			Nodes:           sorted(b.nodes),
			Owners:          owners,
		},
		ignored: b.ignored,
	}
}

func sorted[T metav1.Object](m map[objKey]T) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b T) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return out
}
