package correlate

import (
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// validateObject refuses what the API server would never have stored and
// what resolution depends on: a missing name, an address that does not
// parse. It gives a namespaced object without a namespace "default", as
// `kubectl apply -f` would. NetworkPolicies are validated by the policy
// engine, which knows their rules.
func validateObject(obj runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Errorf("no metadata: %w", err)
	}
	if m.GetName() == "" {
		return errors.New("metadata.name: required")
	}
	kind := kindOf(obj)
	if clusterScoped(kind) {
		if m.GetNamespace() != "" {
			return fmt.Errorf("metadata.namespace: a %s has no namespace", kind)
		}
	} else if m.GetNamespace() == "" {
		m.SetNamespace(corev1.NamespaceDefault)
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Status.PodIP != "" {
			if err := checkIP("status.podIP", o.Status.PodIP); err != nil {
				return err
			}
		}
		for i, ip := range o.Status.PodIPs {
			if err := checkIP(fmt.Sprintf("status.podIPs[%d].ip", i), ip.IP); err != nil {
				return err
			}
		}
	case *corev1.Service:
		for i, ip := range serviceIPs(o) {
			if ip == corev1.ClusterIPNone {
				continue
			}
			if err := checkIP(fmt.Sprintf("spec.clusterIPs[%d]", i), ip); err != nil {
				return err
			}
		}
	case *corev1.Node:
		for i, a := range o.Status.Addresses {
			if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
				continue
			}
			if err := checkIP(fmt.Sprintf("status.addresses[%d].address", i), a.Address); err != nil {
				return err
			}
		}
		for i, c := range o.Spec.PodCIDRs {
			if _, err := netip.ParsePrefix(c); err != nil {
				return fmt.Errorf("spec.podCIDRs[%d]: invalid CIDR %q", i, c)
			}
		}
	case *discoveryv1.EndpointSlice:
		switch o.AddressType {
		case discoveryv1.AddressTypeFQDN:
			return nil
		case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		default:
			return fmt.Errorf("addressType: unsupported value %q (want IPv4, IPv6 or FQDN)", o.AddressType)
		}
		for i := range o.Endpoints {
			for j, a := range o.Endpoints[i].Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || (o.AddressType == discoveryv1.AddressTypeIPv4) != ip.Unmap().Is4() {
					return fmt.Errorf("endpoints[%d].addresses[%d]: invalid %s address %q", i, j, o.AddressType, a)
				}
			}
		}
	}
	return nil
}

func checkIP(field, s string) error {
	if _, err := netip.ParseAddr(s); err != nil {
		return fmt.Errorf("%s: invalid IP address %q", field, s)
	}
	return nil
}

func kindOf(obj runtime.Object) string {
	switch obj.(type) {
	case *corev1.Namespace:
		return "Namespace"
	case *corev1.Node:
		return "Node"
	}
	return obj.GetObjectKind().GroupVersionKind().Kind
}
