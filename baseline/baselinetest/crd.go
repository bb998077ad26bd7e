// Package baselinetest helps tests that use ObservedTraffic objects on a
// real API server (internal/kubetest): it installs the CRD that ships in
// deploy/crds and waits until it is served.
package baselinetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CRDPath is the CRD manifest in the repository.
func CRDPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "crds", "observedtraffic.yaml")
}

// InstallCRD creates the ObservedTraffic CRD from deploy/crds and waits until
// the API server serves the resource.
func InstallCRD(t testing.TB, cfg *rest.Config) {
	t.Helper()
	data, err := os.ReadFile(CRDPath())
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatalf("decode %s: %v", CRDPath(), err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dyn.Resource(crdGVR).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the ObservedTraffic CRD: %v", err)
	}
	if err := waitServed(ctx, dyn); err != nil {
		t.Fatal(err)
	}
}

// waitServed polls until listing ObservedTraffic objects works.
func waitServed(ctx context.Context, dyn dynamic.Interface) error {
	var last error
	for {
		_, err := dyn.Resource(v1alpha1.GroupVersionResource()).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("the ObservedTraffic resource is not served: %w", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
