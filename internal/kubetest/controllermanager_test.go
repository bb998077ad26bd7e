package kubetest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClusterGarbageCollectorCollectsDependents: with the garbage
// collector running, deleting an owner removes the objects it owns and
// leaves another owner's.
func TestClusterGarbageCollectorCollectsDependents(t *testing.T) {
	c := Start(t)
	c.StartGarbageCollector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cms := c.Client(t).CoreV1().ConfigMaps("default")
	create := func(name string, owner *corev1.ConfigMap) *corev1.ConfigMap {
		t.Helper()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if owner != nil {
			cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}}
		}
		cm, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm
	}
	doomed, kept := create("owner-a", nil), create("owner-b", nil)
	create("dependent-a", doomed)
	create("dependent-b", kept)

	if err := cms.Delete(ctx, doomed.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := cms.Get(ctx, "dependent-a", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("dependent-a not collected within 60s\n--- %s ---\n%s",
				c.controllerManager.logPath, c.controllerManager.logTail(4000))
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, name := range []string{"owner-b", "dependent-b"} {
		if _, err := cms.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
