package suggest

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// The fields of a CiliumNetworkPolicy (cilium.io/v2) the renderer may
// write; strict decoding into them refuses anything else. Cilium's own Go
// types would pull a large part of Cilium into the module: these mirror
// its API (pkg/policy/api) for what suggest uses.
type cnp struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       cnpSpec           `json:"spec"`
}

type cnpSpec struct {
	EndpointSelector *metav1.LabelSelector `json:"endpointSelector"`
	Ingress          []cnpRule             `json:"ingress"`
	Egress           []cnpRule             `json:"egress"`
}

type cnpRule struct {
	FromEndpoints []metav1.LabelSelector `json:"fromEndpoints"`
	ToEndpoints   []metav1.LabelSelector `json:"toEndpoints"`
	FromCIDRSet   []cnpCIDR              `json:"fromCIDRSet"`
	ToCIDRSet     []cnpCIDR              `json:"toCIDRSet"`
	ToFQDNs       []struct {
		MatchName string `json:"matchName"`
	} `json:"toFQDNs"`
	ToPorts []struct {
		Ports []struct {
			Port     string `json:"port"`
			EndPort  int32  `json:"endPort"`
			Protocol string `json:"protocol"`
		} `json:"ports"`
		Rules *struct {
			DNS []struct {
				MatchPattern string `json:"matchPattern"`
			} `json:"dns"`
		} `json:"rules"`
	} `json:"toPorts"`
	ICMPs []struct {
		Fields []struct {
			Family string `json:"family"`
			Type   int    `json:"type"`
		} `json:"fields"`
	} `json:"icmps"`
}

type cnpCIDR struct {
	CIDR   string   `json:"cidr"`
	Except []string `json:"except"`
}

// validateCilium decodes every document strictly and checks what Cilium's
// rule validation checks for these fields: one kind of peer per rule, ICMP
// rules without toPorts, ports and ranges, DNS rules on port 53 only and
// without ranges, CIDRs, selectors.
func validateCilium(t errorer, data []byte) int {
	t.Helper()
	n := 0
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		doc = bytes.TrimPrefix(doc, []byte("---\n"))
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var d cnp
		if err := yaml.UnmarshalStrict(doc, &d); err != nil {
			t.Errorf("not a CiliumNetworkPolicy we write:\n%s\n%v", doc, err)
			continue
		}
		n++
		if d.APIVersion != "cilium.io/v2" || d.Kind != "CiliumNetworkPolicy" || d.Spec.EndpointSelector == nil {
			t.Errorf("%s: %s %s, endpointSelector %v", d.Metadata.Name, d.APIVersion, d.Kind, d.Spec.EndpointSelector)
			continue
		}
		if len(d.Spec.Ingress) == 0 && len(d.Spec.Egress) == 0 {
			t.Errorf("%s: a rule needs ingress or egress", d.Metadata.Name)
		}
		errs := validateSelector(d.Spec.EndpointSelector, field.NewPath("spec", "endpointSelector"))
		for i, r := range d.Spec.Ingress {
			errs = append(errs, checkCiliumRule(r, true, field.NewPath("spec", "ingress").Index(i))...)
		}
		for i, r := range d.Spec.Egress {
			errs = append(errs, checkCiliumRule(r, false, field.NewPath("spec", "egress").Index(i))...)
		}
		for _, e := range errs {
			t.Errorf("%s: %v", d.Metadata.Name, e)
		}
	}
	return n
}

// withoutSource drops Cilium's label source prefix ("k8s:", "any:") from
// selector keys: what remains must be a Kubernetes label key.
func withoutSource(s *metav1.LabelSelector) *metav1.LabelSelector {
	out := s.DeepCopy()
	strip := func(k string) string {
		for _, src := range []string{"k8s:", "any:"} {
			k = strings.TrimPrefix(k, src)
		}
		return k
	}
	if out.MatchLabels != nil {
		out.MatchLabels = map[string]string{}
		for k, v := range s.MatchLabels {
			out.MatchLabels[strip(k)] = v
		}
	}
	for i := range out.MatchExpressions {
		out.MatchExpressions[i].Key = strip(out.MatchExpressions[i].Key)
	}
	return out
}

func checkCiliumRule(r cnpRule, ingress bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	kinds := 0
	for _, k := range []int{len(r.FromEndpoints) + len(r.ToEndpoints), len(r.FromCIDRSet) + len(r.ToCIDRSet), len(r.ToFQDNs)} {
		if k > 0 {
			kinds++
		}
	}
	if kinds > 1 {
		errs = append(errs, field.Invalid(p, r, "combines kinds of peers in one rule"))
	}
	if ingress && (len(r.ToEndpoints) > 0 || len(r.ToCIDRSet) > 0 || len(r.ToFQDNs) > 0) {
		errs = append(errs, field.Invalid(p, r, "to-peers in an ingress rule"))
	}
	if len(r.ICMPs) > 0 && len(r.ToPorts) > 0 {
		errs = append(errs, field.Invalid(p, r, "ICMPs with toPorts"))
	}
	for _, s := range append(r.FromEndpoints, r.ToEndpoints...) {
		errs = append(errs, validateSelector(withoutSource(&s), p.Child("endpoints"))...)
	}
	for _, c := range append(r.FromCIDRSet, r.ToCIDRSet...) {
		cidr, err := netip.ParsePrefix(c.CIDR)
		if err != nil || cidr.Masked() != cidr {
			errs = append(errs, field.Invalid(p.Child("cidr"), c.CIDR, "not a CIDR"))
			continue
		}
		for _, e := range c.Except {
			ex, err := netip.ParsePrefix(e)
			if err != nil || !cidr.Contains(ex.Addr()) || ex.Bits() <= cidr.Bits() {
				errs = append(errs, field.Invalid(p.Child("except"), e, "not inside "+c.CIDR))
			}
		}
	}
	for _, tp := range r.ToPorts {
		dns := tp.Rules != nil && len(tp.Rules.DNS) > 0
		if dns && ingress {
			errs = append(errs, field.Invalid(p, r, "DNS rules on ingress"))
		}
		for _, port := range tp.Ports {
			n, err := strconv.Atoi(port.Port)
			switch {
			case err != nil || n < 1 || n > 65535:
				errs = append(errs, field.Invalid(p.Child("port"), port.Port, "not a port"))
			case port.EndPort != 0 && (port.EndPort < int32(n) || port.EndPort > 65535):
				errs = append(errs, field.Invalid(p.Child("endPort"), port.EndPort, "not a range end"))
			case dns && (n != 53 || port.EndPort != 0):
				errs = append(errs, field.Invalid(p.Child("port"), port.Port, "DNS rules need port 53, no range"))
			}
			switch port.Protocol {
			case "TCP", "UDP", "SCTP", "ANY":
			default:
				errs = append(errs, field.Invalid(p.Child("protocol"), port.Protocol, "unknown protocol"))
			}
		}
	}
	for _, ic := range r.ICMPs {
		for _, f := range ic.Fields {
			if f.Family != "IPv4" && f.Family != "IPv6" || f.Type < 0 || f.Type > 255 {
				errs = append(errs, field.Invalid(p.Child("icmps"), fmt.Sprint(f), "bad ICMP field"))
			}
		}
	}
	return errs
}

// errorer is the part of testing.T the validator reports to.
type errorer interface {
	Helper()
	Errorf(format string, args ...any)
}

// recorder counts the errors a validator reports.
type recorder struct{ errors int }

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.errors++ }

func TestCiliumScenarioValidates(t *testing.T) {
	for _, ext := range []ExternalMode{ExternalExact, ExternalPublic} {
		s, _ := scenario(t, ext)
		if n := validateCilium(t, s.RenderCilium()); n != len(s.Policies) {
			t.Errorf("%s: %d Cilium documents, want %d", ext, n, len(s.Policies))
		}
	}
}

// TestCiliumValidatorCatchesBadRules keeps the checks honest.
func TestCiliumValidatorCatchesBadRules(t *testing.T) {
	bad := []string{
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n  egress:\n  - toEndpoints: [{}]\n    toCIDRSet: [{cidr: 10.0.0.0/8}]\n",
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n  egress:\n  - toEndpoints: [{}]\n    toPorts: [{ports: [{port: \"54\", protocol: UDP}], rules: {dns: [{matchPattern: \"*\"}]}}]\n",
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n  egress:\n  - toCIDRSet: [{cidr: 10.0.0.0/8, except: [11.0.0.0/8]}]\n",
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n  egress:\n  - toEndpoints: [{}]\n    toPorts: [{ports: [{port: \"80\", endPort: 79, protocol: TCP}]}]\n",
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n  egress:\n  - toEndpoints: [{}]\n    toServices: []\n",
	}
	for i, doc := range bad {
		var rec recorder
		validateCilium(&rec, []byte(doc))
		if rec.errors == 0 {
			t.Errorf("bad document %d accepted:\n%s", i, doc)
		}
	}
}

func TestCiliumRandomWorldsValidate(t *testing.T) {
	opt := worldOptions{namespaces: 3, workloads: 5, replicas: 2, nodes: 2, messy: true}
	for seed := uint64(200); seed < 215; seed++ {
		w := genWorld(seed, opt)
		for _, ext := range []ExternalMode{ExternalExact, ExternalPublic} {
			s, _, err := runWorld(t, w, w.flows(300, "ns0", true), ext)
			if err != nil {
				continue
			}
			validateCilium(t, s.RenderCilium())
		}
	}
}
