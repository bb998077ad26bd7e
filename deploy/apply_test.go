package deploy

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

// applier applies rendered manifests to a real API server the way
// `helm install` would: CRDs first, then everything else, with server-side
// apply.
type applier struct {
	t      *testing.T
	ctx    context.Context
	client kubernetes.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(t *testing.T, ctx context.Context, cfg *rest.Config) *applier {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 500, 1000
	client := kubernetes.NewForConfigOrDie(cfg)
	return &applier{
		t: t, ctx: ctx, client: client,
		dyn:    dynamic.NewForConfigOrDie(cfg),
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery())),
	}
}

// namespace creates a namespace with labels, if missing.
func (a *applier) namespace(name string, labels map[string]string) {
	a.t.Helper()
	_, err := a.client.CoreV1().Namespaces().Create(a.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !isAlreadyExists(err) {
		a.t.Fatal(err)
	}
}

// apply server-side applies one manifest; dryRun asks the server to run
// every admission step without storing it.
func (a *applier) apply(o object, dryRun bool) error {
	u := &unstructured.Unstructured{}
	if err := utilyaml.Unmarshal(o.raw, &u.Object); err != nil {
		return err
	}
	gvk := u.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err)
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		ns := u.GetNamespace()
		if ns == "" {
			ns = releaseNS
		}
		ri = a.dyn.Resource(m.Resource).Namespace(ns)
	}
	opts := metav1.ApplyOptions{FieldManager: "helm", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Apply(a.ctx, u.GetName(), u, opts); err != nil {
		return fmt.Errorf("%s %s (%s): %w", gvk.Kind, u.GetName(), o.source, err)
	}
	return nil
}

// install applies r: CRDs (waiting until they are served), then the
// release's objects; hooks only with a server-side dry run, since their
// pods need a kubelet. Kinds of CRDs the cluster lacks (the Prometheus
// Operator's) are skipped.
func (a *applier) install(r *rendered, dryRun bool) (applied int) {
	a.t.Helper()
	for _, o := range r.all("CustomResourceDefinition") {
		if err := a.apply(o, dryRun); err != nil {
			a.t.Fatal(err)
		}
		if !dryRun {
			a.waitEstablished(o.name())
		}
		applied++
	}
	a.mapper.Reset()
	for _, o := range r.objects {
		if o.kind() == "CustomResourceDefinition" {
			continue
		}
		if _, ok := o.obj.(*unstructured.Unstructured); ok {
			a.t.Logf("skipping %s %s: its CRD is not installed here", o.kind(), o.name())
			continue
		}
		if err := a.apply(o, dryRun || o.hook); err != nil {
			a.t.Error(err)
			continue
		}
		applied++
	}
	return applied
}

func (a *applier) waitEstablished(name string) {
	a.t.Helper()
	gvr := apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, err := a.dyn.Resource(gvr).Get(a.ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				if cm["type"] == "Established" && cm["status"] == "True" {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("CRD %s not established: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestChartAppliesToARealAPIServer installs the chart's manifests, CRD
// included, into a real kube-apiserver: with every toggle on as a
// server-side dry run, then with the default values for real. The helm
// test pod must also pass the "restricted" Pod Security level. Then it
// checks what the agent's ServiceAccount may do there (rbacLive).
func TestChartAppliesToARealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a := newApplier(t, ctx, c.Config())
	// hostNetwork, hostPath and added capabilities are beyond the
	// "baseline" Pod Security level: the agent's namespace must be
	// privileged (the README says so).
	a.namespace(releaseNS, map[string]string{"pod-security.kubernetes.io/enforce": "privileged"})
	for _, ns := range []string{"ai-agents", "databases", "monitoring"} {
		a.namespace(ns, nil)
	}

	// The CRD is installed for real first, so that the dry run can check
	// everything else.
	def := render(t, nil)
	n := a.install(&rendered{objects: def.all("CustomResourceDefinition")}, false)
	all := render(t, allOn(), monitoringAPIs...)
	n += a.install(all, true)
	prod := render(t, productionValues(t), monitoringAPIs...)
	n += a.install(prod, true)
	n += a.install(render(t, hubbleSource()), true)
	n += a.install(def, false)
	t.Logf("%d manifests accepted by kube-apiserver", n)
	if t.Failed() {
		return
	}

	// The pods the DaemonSet controller would create pass pod admission
	// (Pod Security, priority classes, ...) in every scenario.
	for name, r := range map[string]*rendered{"defaults": def, "every toggle on": all, "production": prod} {
		ds := one[*appsv1.DaemonSet](t, r, "DaemonSet", daemonSetName)
		pod := &corev1.Pod{ObjectMeta: ds.Spec.Template.ObjectMeta, Spec: ds.Spec.Template.Spec}
		pod.Name, pod.Namespace = ds.Name+"-x7k2p", releaseNS
		if _, err := a.client.CoreV1().Pods(releaseNS).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("%s: an agent pod is refused: %v", name, err)
		}
	}

	// The helm test pod needs nothing beyond the restricted level.
	a.namespace("restricted-check", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	for _, o := range def.all("Pod") {
		pod := o.obj.(*corev1.Pod).DeepCopy()
		pod.Namespace = "restricted-check"
		if _, err := a.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("helm test pod under Pod Security \"restricted\": %v", err)
		}
	}

	t.Run("RBAC grants exactly what the agent calls", func(t *testing.T) { rbacMatrix(t, ctx, c) })
	t.Run("the agent works with the chart's RBAC", func(t *testing.T) { agentWithChartRBAC(t, ctx, c, def) })
}
