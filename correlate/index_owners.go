package correlate

import (
	"maps"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UpsertOwner adds or updates a workload controller (see OwnerFrom). The
// pods below it in the owner chain get their workload identity again; an
// update that changes nothing identity is made of (a status update) costs
// nothing.
func (ix *Index) UpsertOwner(o OwnerObject, at time.Time) {
	n := ix.begin(at)
	defer ix.end()
	if ix.addOwnerLocked(o) {
		ix.refreshOwnedLocked(ownerKey{o.Namespace, o.Kind, o.Name}, n)
	}
}

// addOwnerLocked adds or replaces an owner and reports whether anything
// workload identity is made of changed.
func (ix *Index) addOwnerLocked(o OwnerObject) bool {
	key := ownerKey{o.Namespace, o.Kind, o.Name}
	old, ok := ix.owners.Get(o.Kind, o.Namespace, o.Name)
	if ok && sameOwner(old, &o) {
		return false
	}
	if ok {
		ix.unlinkOwnerLocked(key, old)
	}
	ix.owners.Add(o)
	if o.Owner != nil {
		parent := ownerKey{o.Namespace, o.Owner.Kind, o.Owner.Name}
		m := ix.ownerChildren[parent]
		if m == nil {
			m = make(map[ownerKey]struct{})
			ix.ownerChildren[parent] = m
		}
		m[key] = struct{}{}
	}
	return true
}

// DeleteOwner removes a workload controller.
func (ix *Index) DeleteOwner(kind, namespace, name string, at time.Time) {
	n := ix.begin(at)
	defer ix.end()
	key := ownerKey{namespace, kind, name}
	old, ok := ix.owners.Get(kind, namespace, name)
	if !ok {
		return
	}
	ix.unlinkOwnerLocked(key, old)
	ix.owners.Remove(kind, namespace, name)
	ix.refreshOwnedLocked(key, n)
}

func (ix *Index) unlinkOwnerLocked(key ownerKey, o *OwnerObject) {
	if o.Owner == nil {
		return
	}
	parent := ownerKey{o.Namespace, o.Owner.Kind, o.Owner.Name}
	if m := ix.ownerChildren[parent]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(ix.ownerChildren, parent)
		}
	}
}

func sameOwner(a, b *OwnerObject) bool {
	if a.Kind != b.Kind || a.Namespace != b.Namespace || a.Name != b.Name || a.UID != b.UID {
		return false
	}
	if (a.Owner == nil) != (b.Owner == nil) || (a.Owner != nil && *a.Owner != *b.Owner) {
		return false
	}
	return maps.Equal(a.TemplateLabels, b.TemplateLabels)
}

// refreshOwnedLocked rebuilds the targets of the pods controlled by key or
// by a controller below it (a Deployment's ReplicaSets' pods).
func (ix *Index) refreshOwnedLocked(key ownerKey, at int64) {
	if ix.bulk {
		return
	}
	seen := map[ownerKey]bool{key: true}
	level := []ownerKey{key}
	for depth := 0; depth < maxOwnerDepth && len(level) > 0; depth++ {
		var next []ownerKey
		for _, k := range level {
			for _, st := range ix.podsByCtrl[k] {
				ix.upsertPodLocked(st.pod, at, st.snapshot)
			}
			for child := range ix.ownerChildren[k] {
				if !seen[child] {
					seen[child] = true
					next = append(next, child)
				}
			}
		}
		level = next
	}
}

// controllerKey is the controller a pod names, if any.
func controllerKey(namespace string, refs []metav1.OwnerReference) (ownerKey, bool) {
	for i := range refs {
		if r := &refs[i]; r.Controller != nil && *r.Controller {
			return ownerKey{namespace, r.Kind, r.Name}, true
		}
	}
	return ownerKey{}, false
}
