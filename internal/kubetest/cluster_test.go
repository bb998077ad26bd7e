package kubetest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestClusterServesRBACAndSurvivesAPIServerRestart(t *testing.T) {
	c := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The kubeconfig file works the way kubectl would read it.
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		t.Fatalf("load %s: %v", c.Kubeconfig(), err)
	}
	admin := kubernetes.NewForConfigOrDie(cfg)
	v, err := admin.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	t.Logf("kube-apiserver %s at %s", v.GitVersion, c.Host())
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai-agents"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin creates a namespace: %v", err)
	}

	// A user nobody granted anything is refused by RBAC.
	ucfg, err := c.UserConfig("nobody")
	if err != nil {
		t.Fatal(err)
	}
	_, err = kubernetes.NewForConfigOrDie(ucfg).CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("unprivileged user lists pods: err = %v, want forbidden", err)
	}

	c.StopAPIServer()
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "ai-agents", metav1.GetOptions{}); err == nil {
		t.Fatal("API answered while stopped")
	}
	if err := c.StartAPIServer(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	// Same address, same credentials, same etcd: the namespace is still there.
	ns, err := admin.CoreV1().Namespaces().Get(ctx, "ai-agents", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if ns.Labels["kubernetes.io/metadata.name"] != "ai-agents" {
		t.Errorf("namespace labels %v: want the API server's defaulting", ns.Labels)
	}
}
