package correlate

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OwnerFrom turns a workload controller (ReplicaSet, Deployment,
// StatefulSet, DaemonSet, Job, CronJob, ReplicationController; pointers to
// the typed k8s.io/api objects) into an OwnerObject. It reports false for
// anything else.
func OwnerFrom(obj any) (OwnerObject, bool) {
	var (
		kind     string
		meta     *metav1.ObjectMeta
		template map[string]string
	)
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		kind, meta, template = "ReplicaSet", &o.ObjectMeta, o.Spec.Template.Labels
	case *appsv1.Deployment:
		kind, meta, template = "Deployment", &o.ObjectMeta, o.Spec.Template.Labels
	case *appsv1.StatefulSet:
		kind, meta, template = "StatefulSet", &o.ObjectMeta, o.Spec.Template.Labels
	case *appsv1.DaemonSet:
		kind, meta, template = "DaemonSet", &o.ObjectMeta, o.Spec.Template.Labels
	case *batchv1.Job:
		kind, meta, template = "Job", &o.ObjectMeta, o.Spec.Template.Labels
	case *batchv1.CronJob:
		kind, meta, template = "CronJob", &o.ObjectMeta, o.Spec.JobTemplate.Spec.Template.Labels
	case *corev1.ReplicationController:
		kind, meta = "ReplicationController", &o.ObjectMeta
		if o.Spec.Template != nil {
			template = o.Spec.Template.Labels
		}
	default:
		return OwnerObject{}, false
	}
	out := OwnerObject{
		Kind:           kind,
		Namespace:      meta.Namespace,
		Name:           meta.Name,
		UID:            string(meta.UID),
		TemplateLabels: template,
	}
	if ref := metav1.GetControllerOfNoCopy(meta); ref != nil {
		out.Owner = &OwnerRef{Kind: ref.Kind, Name: ref.Name, UID: string(ref.UID)}
	}
	return out, true
}
