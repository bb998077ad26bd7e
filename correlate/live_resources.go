package correlate

import (
	"context"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// liveResource is one informer and what the inventory knows of its health.
type liveResource struct {
	name         string // the API resource, e.g. "pods"
	informer     cache.SharedIndexInformer
	registration cache.ResourceEventHandlerRegistration

	mu      sync.Mutex
	err     error  // last list/watch error, nil once the API answers again
	callErr error  // last error a list or watch call returned, counted already
	reason  string // classification of err, for metrics and logs
	denied  bool   // err is a 401/403: retrying will not help until RBAC changes
}

// listWatcher is what a typed client offers for one resource.
type listWatcher[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

func newResource[L runtime.Object](l *Live, name string, example runtime.Object, api listWatcher[L], tweak func(*metav1.ListOptions)) *liveResource {
	r := &liveResource{name: name}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			if tweak != nil {
				tweak(&opts)
			}
			obj, err := api.List(ctx, opts)
			l.apiCalled(ctx, r, err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			if tweak != nil {
				tweak(&opts)
			}
			w, err := api.Watch(ctx, opts)
			l.apiCalled(ctx, r, err)
			return w, err
		},
	}
	r.informer = cache.NewSharedIndexInformerWithOptions(
		// The clientset says whether it can stream lists (fakes cannot).
		cache.ToListWatcherWithWatchListSemantics(lw, l.cfg.Client),
		example,
		cache.SharedIndexInformerOptions{},
	)
	return r
}

func (l *Live) buildResources() []*liveResource {
	c := l.cfg.Client
	var podTweak func(*metav1.ListOptions)
	if l.cfg.PodScope == PodsNode {
		sel := fields.OneTermEqualSelector("spec.nodeName", l.cfg.NodeName).String()
		podTweak = func(o *metav1.ListOptions) { o.FieldSelector = sel }
	}
	rs := []*liveResource{
		newResource(l, "namespaces", &corev1.Namespace{}, c.CoreV1().Namespaces(), nil),
		newResource(l, "pods", &corev1.Pod{}, c.CoreV1().Pods(metav1.NamespaceAll), podTweak),
		newResource(l, "services", &corev1.Service{}, c.CoreV1().Services(metav1.NamespaceAll), nil),
		newResource(l, "endpointslices", &discoveryv1.EndpointSlice{}, c.DiscoveryV1().EndpointSlices(metav1.NamespaceAll), nil),
		newResource(l, "networkpolicies", &networkingv1.NetworkPolicy{}, c.NetworkingV1().NetworkPolicies(metav1.NamespaceAll), nil),
		newResource(l, "nodes", &corev1.Node{}, c.CoreV1().Nodes(), nil),
	}
	if !l.cfg.SkipWorkloads {
		rs = append(rs,
			newResource(l, "replicasets", &appsv1.ReplicaSet{}, c.AppsV1().ReplicaSets(metav1.NamespaceAll), nil),
			newResource(l, "deployments", &appsv1.Deployment{}, c.AppsV1().Deployments(metav1.NamespaceAll), nil),
			newResource(l, "statefulsets", &appsv1.StatefulSet{}, c.AppsV1().StatefulSets(metav1.NamespaceAll), nil),
			newResource(l, "daemonsets", &appsv1.DaemonSet{}, c.AppsV1().DaemonSets(metav1.NamespaceAll), nil),
			newResource(l, "jobs", &batchv1.Job{}, c.BatchV1().Jobs(metav1.NamespaceAll), nil),
			newResource(l, "cronjobs", &batchv1.CronJob{}, c.BatchV1().CronJobs(metav1.NamespaceAll), nil),
			newResource(l, "replicationcontrollers", &corev1.ReplicationController{}, c.CoreV1().ReplicationControllers(metav1.NamespaceAll), nil),
		)
	}
	return rs
}

func (r *liveResource) lastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *liveResource) forbidden() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.denied
}
