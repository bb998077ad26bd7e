package correlate

import (
	"maps"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestWorkloadOf(t *testing.T) {
	deployOwners := []OwnerObject{
		{Kind: "ReplicaSet", Namespace: "ai", Name: "triage-7d9f8b6c5d", UID: "rs-1",
			Owner:          &OwnerRef{Kind: "Deployment", Name: "triage", UID: "d-1"},
			TemplateLabels: map[string]string{"app": "ai-agent", "role": "triage", "pod-template-hash": "7d9f8b6c5d"}},
		{Kind: "Deployment", Namespace: "ai", Name: "triage", UID: "d-1",
			TemplateLabels: map[string]string{"app": "ai-agent", "role": "triage"}},
		{Kind: "Job", Namespace: "ai", Name: "compact-28912345", UID: "j-1",
			Owner: &OwnerRef{Kind: "CronJob", Name: "compact", UID: "cj-1"},
			TemplateLabels: map[string]string{"app": "compact", "batch.kubernetes.io/controller-uid": "j-1",
				"batch.kubernetes.io/job-name": "compact-28912345", "controller-uid": "j-1", "job-name": "compact-28912345"}},
		{Kind: "CronJob", Namespace: "ai", Name: "compact", UID: "cj-1",
			TemplateLabels: map[string]string{"app": "compact", "team": "memory"}},
		{Kind: "ReplicaSet", Namespace: "ai", Name: "bare-rs", UID: "rs-2",
			TemplateLabels: map[string]string{"app": "bare"}},
		{Kind: "ReplicaSet", Namespace: "ai", Name: "canary-5f6d7c8b9", UID: "rs-3",
			Owner: &OwnerRef{Kind: "Rollout", Name: "canary"}},
		{Kind: "StatefulSet", Namespace: "db", Name: "pg", UID: "ss-1",
			TemplateLabels: map[string]string{"app": "pg"}},
		{Kind: "DaemonSet", Namespace: "kube-system", Name: "kube-proxy", UID: "ds-1",
			TemplateLabels: map[string]string{"k8s-app": "kube-proxy"}},
		// A reference loop in bad input must end.
		{Kind: "ReplicaSet", Namespace: "ai", Name: "loop-a", Owner: &OwnerRef{Kind: "ReplicaSet", Name: "loop-b"}},
		{Kind: "ReplicaSet", Namespace: "ai", Name: "loop-b", Owner: &OwnerRef{Kind: "ReplicaSet", Name: "loop-a"}},
	}
	owners := NewOwners(deployOwners)

	cases := []struct {
		name   string
		pod    *corev1.Pod
		owners *Owners
		want   string
		stable map[string]string
	}{
		{"Deployment through its ReplicaSet",
			mkPod("ai", "triage-7d9f8b6c5d-x2k4p", nil, ownedBy("ReplicaSet", "triage-7d9f8b6c5d", "rs-1"),
				withLabels("app", "ai-agent", "role", "triage", "pod-template-hash", "7d9f8b6c5d", "injected", "x")),
			owners, "Deployment/triage", map[string]string{"app": "ai-agent", "role": "triage"}},
		{"Deployment inferred from the pod-template-hash",
			mkPod("ai", "triage-7d9f8b6c5d-x2k4p", nil, ownedBy("ReplicaSet", "triage-7d9f8b6c5d", ""),
				withLabels("app", "ai-agent", "pod-template-hash", "7d9f8b6c5d")),
			nil, "Deployment/triage", map[string]string{"app": "ai-agent"}},
		{"ReplicaSet name without the pod's hash is not inferred",
			mkPod("ai", "x-abcde", nil, ownedBy("ReplicaSet", "x-other", ""), withLabels("pod-template-hash", "abc")),
			nil, "ReplicaSet/x-other", nil},
		{"bare ReplicaSet", mkPod("ai", "bare-rs-abcde", nil, ownedBy("ReplicaSet", "bare-rs", "rs-2"), withLabels("app", "bare")),
			owners, "ReplicaSet/bare-rs", map[string]string{"app": "bare"}},
		{"ReplicaSet of another controller", mkPod("ai", "canary-5f6d7c8b9-q", nil, ownedBy("ReplicaSet", "canary-5f6d7c8b9", "rs-3"),
			withLabels("app", "canary", "rollouts-pod-template-hash", "5f6d7c8b9", "pod-template-hash", "5f6d7c8b9")),
			owners, "Rollout/canary", map[string]string{"app": "canary", "rollouts-pod-template-hash": "5f6d7c8b9"}},
		{"stale owner object (other UID) is not used",
			mkPod("ai", "triage-7d9f8b6c5d-x2k4p", nil, ownedBy("ReplicaSet", "triage-7d9f8b6c5d", "rs-old"),
				withLabels("app", "ai-agent", "pod-template-hash", "7d9f8b6c5d", "injected", "x")),
			owners, "Deployment/triage", map[string]string{"app": "ai-agent", "injected": "x"}},
		{"StatefulSet", mkPod("db", "pg-0", nil, ownedBy("StatefulSet", "pg", "ss-1"), withLabels("app", "pg",
			"controller-revision-hash", "pg-6b9d8f7c5d", "statefulset.kubernetes.io/pod-name", "pg-0", "apps.kubernetes.io/pod-index", "0")),
			owners, "StatefulSet/pg", map[string]string{"app": "pg"}},
		{"StatefulSet without its object", mkPod("db", "pg-0", nil, ownedBy("StatefulSet", "pg", ""), withLabels("app", "pg",
			"controller-revision-hash", "pg-6b9d8f7c5d", "statefulset.kubernetes.io/pod-name", "pg-0", "apps.kubernetes.io/pod-index", "0")),
			nil, "StatefulSet/pg", map[string]string{"app": "pg"}},
		{"DaemonSet", mkPod("kube-system", "kube-proxy-4kq8n", nil, ownedBy("DaemonSet", "kube-proxy", "ds-1"),
			withLabels("k8s-app", "kube-proxy", "controller-revision-hash", "6c8f9d7b5c", "pod-template-generation", "1")),
			owners, "DaemonSet/kube-proxy", map[string]string{"k8s-app": "kube-proxy"}},
		{"Job of a CronJob", mkPod("ai", "compact-28912345-abcde", nil, ownedBy("Job", "compact-28912345", "j-1"),
			withLabels("app", "compact", "batch.kubernetes.io/controller-uid", "j-1", "batch.kubernetes.io/job-name", "compact-28912345",
				"controller-uid", "j-1", "job-name", "compact-28912345", "batch.kubernetes.io/job-completion-index", "0")),
			owners, "CronJob/compact", map[string]string{"app": "compact", "team": "memory"}},
		{"Job named like a CronJob's, without the Job object", mkPod("ai", "compact-28912399-abcde", nil,
			ownedBy("Job", "compact-28912399", ""), withLabels("app", "compact", "job-name", "compact-28912399",
				"batch.kubernetes.io/job-name", "compact-28912399", "controller-uid", "u", "batch.kubernetes.io/controller-uid", "u")),
			owners, "Job/compact-28912399", map[string]string{"app": "compact"}},
		{"bare pod", mkPod("ai", "debug", nil, withLabels("run", "debug")), owners, "Pod/debug", map[string]string{"run": "debug"}},
		{"bare pod without labels", mkPod("ai", "debug", nil), nil, "Pod/debug", nil},
		{"owner loop", mkPod("ai", "loop-a-x", nil, ownedBy("ReplicaSet", "loop-a", "")), owners, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := WorkloadOf(c.pod, c.owners)
			if c.want == "" {
				// The loop: any answer, as long as it ends and names one.
				if w.Kind != "ReplicaSet" {
					t.Errorf("loop gave %s", w.String())
				}
				return
			}
			if w.String() != c.want || w.Namespace != c.pod.Namespace {
				t.Errorf("workload = %s in %q, want %s in %q", w.String(), w.Namespace, c.want, c.pod.Namespace)
			}
			if !maps.Equal(w.StableLabels, c.stable) {
				t.Errorf("stable labels = %v, want %v", w.StableLabels, c.stable)
			}
		})
	}
}

func TestStableLabelsDropControllerLabels(t *testing.T) {
	in := map[string]string{"app": "a", "pod-template-hash": "h", "controller-revision-hash": "r",
		"pod-template-generation": "1", "statefulset.kubernetes.io/pod-name": "p", "apps.kubernetes.io/pod-index": "0",
		"batch.kubernetes.io/controller-uid": "u", "batch.kubernetes.io/job-name": "j", "batch.kubernetes.io/job-completion-index": "0",
		"controller-uid": "u", "job-name": "j", "version": "v2"}
	got := StableLabels(in)
	if want := map[string]string{"app": "a", "version": "v2"}; !maps.Equal(got, want) {
		t.Errorf("StableLabels = %v, want %v", got, want)
	}
	if len(in) != 12 {
		t.Error("input modified")
	}
	if StableLabels(map[string]string{"pod-template-hash": "h"}) != nil {
		t.Error("nothing stable should give nil")
	}
}

func TestOwnerFrom(t *testing.T) {
	yes := true
	ctrl := []metav1.OwnerReference{{Kind: "Deployment", Name: "d", UID: "du", Controller: &yes},
		{Kind: "Other", Name: "not-controller", UID: "x"}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}}}
	meta := func(name string, refs []metav1.OwnerReference) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name + "-uid"), OwnerReferences: refs}
	}
	cases := []struct {
		obj       any
		kind      string
		owner     string
		templated bool
	}{
		{&appsv1.ReplicaSet{ObjectMeta: meta("rs", ctrl), Spec: appsv1.ReplicaSetSpec{Template: tmpl}}, "ReplicaSet", "Deployment/d", true},
		{&appsv1.Deployment{ObjectMeta: meta("d", nil), Spec: appsv1.DeploymentSpec{Template: tmpl}}, "Deployment", "", true},
		{&appsv1.StatefulSet{ObjectMeta: meta("s", nil), Spec: appsv1.StatefulSetSpec{Template: tmpl}}, "StatefulSet", "", true},
		{&appsv1.DaemonSet{ObjectMeta: meta("ds", nil), Spec: appsv1.DaemonSetSpec{Template: tmpl}}, "DaemonSet", "", true},
		{&batchv1.Job{ObjectMeta: meta("j", []metav1.OwnerReference{{Kind: "CronJob", Name: "cj", Controller: &yes}}),
			Spec: batchv1.JobSpec{Template: tmpl}}, "Job", "CronJob/cj", true},
		{&batchv1.CronJob{ObjectMeta: meta("cj", nil), Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: tmpl}}}}, "CronJob", "", true},
		{&corev1.ReplicationController{ObjectMeta: meta("rc", nil)}, "ReplicationController", "", false},
	}
	for _, c := range cases {
		o, ok := OwnerFrom(c.obj)
		if !ok {
			t.Errorf("%T: not an owner", c.obj)
			continue
		}
		owner := ""
		if o.Owner != nil {
			owner = o.Owner.Kind + "/" + o.Owner.Name
		}
		if o.Kind != c.kind || o.Namespace != "ns" || o.UID == "" || owner != c.owner || (o.TemplateLabels["app"] == "a") != c.templated {
			t.Errorf("%T: %+v (owner %q)", c.obj, o, owner)
		}
	}
	if _, ok := OwnerFrom(&corev1.Pod{}); ok {
		t.Error("a Pod is no owner")
	}
}
