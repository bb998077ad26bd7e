package correlate

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// trimObject is the informers' transform: it keeps only what resolution,
// workload identity and policy evaluation read, so that a cluster's pods and
// nodes cost little memory. Informers hand it objects nobody else has seen
// yet, so it trims in place; it is idempotent.
func trimObject(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		trimMeta(&o.ObjectMeta, false)
		o.Spec = corev1.PodSpec{
			NodeName:           o.Spec.NodeName,
			HostNetwork:        o.Spec.HostNetwork,
			ServiceAccountName: o.Spec.ServiceAccountName,
			Hostname:           o.Spec.Hostname,
			Subdomain:          o.Spec.Subdomain,
			// Container ports give named ports their numbers.
			Containers:     trimContainers(o.Spec.Containers),
			InitContainers: trimContainers(o.Spec.InitContainers),
		}
		o.Status = corev1.PodStatus{
			Phase:     o.Status.Phase,
			HostIP:    o.Status.HostIP,
			HostIPs:   o.Status.HostIPs,
			PodIP:     o.Status.PodIP,
			PodIPs:    o.Status.PodIPs,
			StartTime: o.Status.StartTime,
		}
	case *corev1.Node:
		trimMeta(&o.ObjectMeta, false)
		o.Spec = corev1.NodeSpec{PodCIDR: o.Spec.PodCIDR, PodCIDRs: o.Spec.PodCIDRs}
		// Images, conditions and capacity are most of a node's bytes.
		o.Status = corev1.NodeStatus{Addresses: o.Status.Addresses}
	case *corev1.Namespace:
		trimMeta(&o.ObjectMeta, true)
	case *corev1.Service:
		trimMeta(&o.ObjectMeta, true)
	case *discoveryv1.EndpointSlice:
		trimMeta(&o.ObjectMeta, false)
	case *networkingv1.NetworkPolicy:
		trimMeta(&o.ObjectMeta, true)
	case *appsv1.ReplicaSet:
		trimMeta(&o.ObjectMeta, false)
		o.Spec = appsv1.ReplicaSetSpec{Template: trimTemplate(o.Spec.Template)}
		o.Status = appsv1.ReplicaSetStatus{}
	case *appsv1.Deployment:
		trimMeta(&o.ObjectMeta, false)
		o.Spec = appsv1.DeploymentSpec{Template: trimTemplate(o.Spec.Template)}
		o.Status = appsv1.DeploymentStatus{}
	case *appsv1.StatefulSet:
		trimMeta(&o.ObjectMeta, false)
		o.Spec = appsv1.StatefulSetSpec{Template: trimTemplate(o.Spec.Template)}
		o.Status = appsv1.StatefulSetStatus{}
	case *appsv1.DaemonSet:
		trimMeta(&o.ObjectMeta, false)
		o.Spec = appsv1.DaemonSetSpec{Template: trimTemplate(o.Spec.Template)}
		o.Status = appsv1.DaemonSetStatus{}
	case *corev1.ReplicationController:
		trimMeta(&o.ObjectMeta, false)
		var tmpl *corev1.PodTemplateSpec
		if o.Spec.Template != nil {
			t := trimTemplate(*o.Spec.Template)
			tmpl = &t
		}
		o.Spec = corev1.ReplicationControllerSpec{Template: tmpl}
		o.Status = corev1.ReplicationControllerStatus{}
	case *batchv1.Job:
		trimMeta(&o.ObjectMeta, false)
		o.Spec = batchv1.JobSpec{Template: trimTemplate(o.Spec.Template)}
		o.Status = batchv1.JobStatus{}
	case *batchv1.CronJob:
		trimMeta(&o.ObjectMeta, false)
		o.Spec = batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: trimTemplate(o.Spec.JobTemplate.Spec.Template)},
		}}
		o.Status = batchv1.CronJobStatus{}
	}
	return obj, nil
}

// trimMeta drops managedFields always, and annotations on the kinds that are
// numerous (they can hold whole last-applied manifests); the few namespaces,
// services and policies keep theirs for explanations.
func trimMeta(m *metav1.ObjectMeta, keepAnnotations bool) {
	m.ManagedFields = nil
	if !keepAnnotations {
		m.Annotations = nil
	}
}

func trimContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy}
	}
	return out
}

// trimTemplate keeps a controller's pod template labels: the workload's
// identity is made of them.
func trimTemplate(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: t.Labels}}
}
