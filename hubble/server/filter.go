package server

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// match is one condition of a FlowFilter.
type match func(*flowpb.Flow) bool

// flowFilter is a compiled FlowFilter: every condition must hold.
type flowFilter []match

// filterList is a whitelist or blacklist: any of its filters matching is a match.
type filterList []flowFilter

func (l filterList) any(f *flowpb.Flow) bool {
	for _, ff := range l {
		if ff.all(f) {
			return true
		}
	}
	return false
}

func (ff flowFilter) all(f *flowpb.Flow) bool {
	for _, m := range ff {
		if !m(f) {
			return false
		}
	}
	return true
}

// selects applies Hubble's rule: a flow passes when the whitelist is empty
// or one of its filters matches, and no blacklist filter matches.
func selects(white, black filterList, f *flowpb.Flow) bool {
	return (len(white) == 0 || white.any(f)) && !black.any(f)
}

// builder compiles one FlowFilter field. Values within a field are
// alternatives (any may match); fields of one FlowFilter all must match.
type builder func(ff *flowpb.FlowFilter) (match, error)

// builders lists the FlowFilter fields this server supports, by proto name.
// A request that sets any other field is refused rather than answered as
// if the field were not there.
var builders = map[protoreflect.Name]builder{
	"source_ip":            func(ff *flowpb.FlowFilter) (match, error) { return ipMatch(ff.GetSourceIp(), srcIP) },
	"destination_ip":       func(ff *flowpb.FlowFilter) (match, error) { return ipMatch(ff.GetDestinationIp(), dstIP) },
	"source_pod":           func(ff *flowpb.FlowFilter) (match, error) { return nameMatch(ff.GetSourcePod(), srcPod) },
	"destination_pod":      func(ff *flowpb.FlowFilter) (match, error) { return nameMatch(ff.GetDestinationPod(), dstPod) },
	"source_service":       func(ff *flowpb.FlowFilter) (match, error) { return nameMatch(ff.GetSourceService(), srcSvc) },
	"destination_service":  func(ff *flowpb.FlowFilter) (match, error) { return nameMatch(ff.GetDestinationService(), dstSvc) },
	"source_label":         func(ff *flowpb.FlowFilter) (match, error) { return labelMatch(ff.GetSourceLabel(), srcLabels) },
	"destination_label":    func(ff *flowpb.FlowFilter) (match, error) { return labelMatch(ff.GetDestinationLabel(), dstLabels) },
	"source_fqdn":          func(ff *flowpb.FlowFilter) (match, error) { return fqdnMatch(ff.GetSourceFqdn(), srcNames) },
	"destination_fqdn":     func(ff *flowpb.FlowFilter) (match, error) { return fqdnMatch(ff.GetDestinationFqdn(), dstNames) },
	"source_workload":      func(ff *flowpb.FlowFilter) (match, error) { return workloadMatch(ff.GetSourceWorkload(), srcEP) },
	"destination_workload": func(ff *flowpb.FlowFilter) (match, error) { return workloadMatch(ff.GetDestinationWorkload(), dstEP) },
	"source_port":          func(ff *flowpb.FlowFilter) (match, error) { return portMatch(ff.GetSourcePort(), srcPort) },
	"destination_port":     func(ff *flowpb.FlowFilter) (match, error) { return portMatch(ff.GetDestinationPort(), dstPort) },
	"protocol":             func(ff *flowpb.FlowFilter) (match, error) { return protocolMatch(ff.GetProtocol()) },
	"verdict": func(ff *flowpb.FlowFilter) (match, error) {
		vs := ff.GetVerdict()
		return func(f *flowpb.Flow) bool { return slices.Contains(vs, f.GetVerdict()) }, nil
	},
	"drop_reason_desc": func(ff *flowpb.FlowFilter) (match, error) {
		rs := ff.GetDropReasonDesc()
		return func(f *flowpb.Flow) bool { return slices.Contains(rs, f.GetDropReasonDesc()) }, nil
	},
	"traffic_direction": func(ff *flowpb.FlowFilter) (match, error) {
		ds := ff.GetTrafficDirection()
		return func(f *flowpb.Flow) bool { return slices.Contains(ds, f.GetTrafficDirection()) }, nil
	},
	"ip_version": func(ff *flowpb.FlowFilter) (match, error) {
		vs := ff.GetIpVersion()
		return func(f *flowpb.Flow) bool { return f.GetIP() != nil && slices.Contains(vs, f.GetIP().GetIpVersion()) }, nil
	},
	"reply": func(ff *flowpb.FlowFilter) (match, error) {
		rs := ff.GetReply()
		return func(f *flowpb.Flow) bool {
			// A flow whose direction is unknown is neither a reply nor not
			// one, except that Hubble counts a dropped one as not a reply
			// (old clients filter on the deprecated field, false on drops).
			if f.GetIsReply() == nil && f.GetVerdict() != flowpb.Verdict_DROPPED {
				return false
			}
			return slices.Contains(rs, f.GetIsReply().GetValue())
		}, nil
	},
	"tcp_flags": func(ff *flowpb.FlowFilter) (match, error) { return tcpFlagsMatch(ff.GetTcpFlags()), nil },
	"node_name": func(ff *flowpb.FlowFilter) (match, error) { return nodeMatch(ff.GetNodeName()) },
}

// compile turns a request's whitelist or blacklist into a filterList.
func compile(list []*flowpb.FlowFilter) (filterList, error) {
	out := make(filterList, 0, len(list))
	for i, ff := range list {
		var (
			compiled flowFilter
			err      error
		)
		ff.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			b, ok := builders[fd.Name()]
			if !ok {
				err = fmt.Errorf("filter %d: field %s is not supported by this server", i, fd.Name())
				return false
			}
			var m match
			if m, err = b(ff); err != nil {
				err = fmt.Errorf("filter %d: %s: %w", i, fd.Name(), err)
				return false
			}
			compiled = append(compiled, m)
			return true
		})
		if err != nil {
			return nil, err
		}
		out = append(out, compiled)
	}
	return out, nil
}

func srcEP(f *flowpb.Flow) *flowpb.Endpoint { return f.GetSource() }
func dstEP(f *flowpb.Flow) *flowpb.Endpoint { return f.GetDestination() }
func srcIP(f *flowpb.Flow) string           { return f.GetIP().GetSource() }
func dstIP(f *flowpb.Flow) string           { return f.GetIP().GetDestination() }
func srcNames(f *flowpb.Flow) []string      { return f.GetSourceNames() }
func dstNames(f *flowpb.Flow) []string      { return f.GetDestinationNames() }
func srcLabels(f *flowpb.Flow) []string     { return f.GetSource().GetLabels() }
func dstLabels(f *flowpb.Flow) []string     { return f.GetDestination().GetLabels() }
func srcPod(f *flowpb.Flow) (ns, name string) {
	return f.GetSource().GetNamespace(), f.GetSource().GetPodName()
}
func dstPod(f *flowpb.Flow) (ns, name string) {
	return f.GetDestination().GetNamespace(), f.GetDestination().GetPodName()
}
func srcSvc(f *flowpb.Flow) (ns, name string) {
	return f.GetSourceService().GetNamespace(), f.GetSourceService().GetName()
}
func dstSvc(f *flowpb.Flow) (ns, name string) {
	return f.GetDestinationService().GetNamespace(), f.GetDestinationService().GetName()
}
func srcPort(f *flowpb.Flow) (uint32, bool) { return l4Ports(f, true) }
func dstPort(f *flowpb.Flow) (uint32, bool) { return l4Ports(f, false) }

func ipMatch(values []string, get func(*flowpb.Flow) string) (match, error) {
	var prefixes []netip.Prefix
	for _, v := range values {
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, fmt.Errorf("invalid CIDR %q", v)
			}
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("invalid IP %q", v)
		}
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return func(f *flowpb.Flow) bool {
		a, err := netip.ParseAddr(get(f))
		if err != nil {
			return false
		}
		return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
	}, nil
}

// nameMatch implements Hubble's pod and service filters: "ns/prefix",
// "ns/" (the whole namespace), "/prefix" (any namespace) and "prefix"
// (which Hubble reads as the default namespace).
func nameMatch(values []string, get func(*flowpb.Flow) (ns, name string)) (match, error) {
	type want struct{ ns, prefix string }
	wants := make([]want, 0, len(values))
	for _, v := range values {
		if v == "" {
			return nil, fmt.Errorf("empty name")
		}
		ns, prefix, found := strings.Cut(v, "/")
		if !found {
			ns, prefix = "default", v
		}
		wants = append(wants, want{ns, prefix})
	}
	return func(f *flowpb.Flow) bool {
		ns, name := get(f)
		if ns == "" && name == "" {
			return false
		}
		for _, w := range wants {
			if (w.ns == "" || w.ns == ns) && strings.HasPrefix(name, w.prefix) {
				return true
			}
		}
		return false
	}, nil
}

func workloadMatch(values []*flowpb.Workload, get func(*flowpb.Flow) *flowpb.Endpoint) (match, error) {
	return func(f *flowpb.Flow) bool {
		for _, have := range get(f).GetWorkloads() {
			for _, w := range values {
				if (w.GetKind() == "" || w.GetKind() == have.GetKind()) &&
					(w.GetName() == "" || w.GetName() == have.GetName()) {
					return true
				}
			}
		}
		return false
	}, nil
}

// fqdnMatch matches DNS names with '*' standing for any run of name
// characters, case-insensitively, a trailing dot ignored (as Hubble does).
func fqdnMatch(patterns []string, get func(*flowpb.Flow) []string) (match, error) {
	alts := make([]string, 0, len(patterns))
	for _, p := range patterns {
		p = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(p)), ".")
		if p == "" {
			return nil, fmt.Errorf("empty FQDN pattern")
		}
		alts = append(alts, strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, `[-.0-9a-z_]*`))
	}
	re, err := regexp.Compile(`^(?:` + strings.Join(alts, "|") + `)$`)
	if err != nil {
		return nil, fmt.Errorf("FQDN patterns: %w", err)
	}
	return func(f *flowpb.Flow) bool {
		for _, n := range get(f) {
			if re.MatchString(strings.TrimSuffix(strings.ToLower(n), ".")) {
				return true
			}
		}
		return false
	}, nil
}

// nodeMatch matches node names with '*' globs. A "cluster/node" pattern is
// matched on its node part: this server is one node of one cluster.
func nodeMatch(patterns []string) (match, error) {
	alts := make([]string, 0, len(patterns))
	for _, p := range patterns {
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			p = p[i+1:]
		}
		if p == "" {
			p = "*"
		}
		alts = append(alts, strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, `.*`))
	}
	re, err := regexp.Compile(`^(?:` + strings.Join(alts, "|") + `)$`)
	if err != nil {
		return nil, fmt.Errorf("node name patterns: %w", err)
	}
	return func(f *flowpb.Flow) bool { return re.MatchString(f.GetNodeName()) }, nil
}

func l4Ports(f *flowpb.Flow, src bool) (uint32, bool) {
	var s, d uint32
	switch p := f.GetL4().GetProtocol().(type) {
	case *flowpb.Layer4_TCP:
		s, d = p.TCP.GetSourcePort(), p.TCP.GetDestinationPort()
	case *flowpb.Layer4_UDP:
		s, d = p.UDP.GetSourcePort(), p.UDP.GetDestinationPort()
	case *flowpb.Layer4_SCTP:
		s, d = p.SCTP.GetSourcePort(), p.SCTP.GetDestinationPort()
	default:
		return 0, false
	}
	if src {
		return s, true
	}
	return d, true
}

func portMatch(values []string, get func(*flowpb.Flow) (uint32, bool)) (match, error) {
	ports := make([]uint32, 0, len(values))
	for _, v := range values {
		p, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid port %q", v)
		}
		ports = append(ports, uint32(p))
	}
	return func(f *flowpb.Flow) bool {
		p, ok := get(f)
		return ok && slices.Contains(ports, p)
	}, nil
}

func protocolMatch(values []string) (match, error) {
	var checks []func(*flowpb.Layer4, *flowpb.Layer7) bool
	for _, v := range values {
		var c func(*flowpb.Layer4, *flowpb.Layer7) bool
		switch strings.ToLower(v) {
		case "tcp":
			c = func(l4 *flowpb.Layer4, _ *flowpb.Layer7) bool { return l4.GetTCP() != nil }
		case "udp":
			c = func(l4 *flowpb.Layer4, _ *flowpb.Layer7) bool { return l4.GetUDP() != nil }
		case "sctp":
			c = func(l4 *flowpb.Layer4, _ *flowpb.Layer7) bool { return l4.GetSCTP() != nil }
		case "icmp":
			c = func(l4 *flowpb.Layer4, _ *flowpb.Layer7) bool { return l4.GetICMPv4() != nil || l4.GetICMPv6() != nil }
		case "icmpv4":
			c = func(l4 *flowpb.Layer4, _ *flowpb.Layer7) bool { return l4.GetICMPv4() != nil }
		case "icmpv6":
			c = func(l4 *flowpb.Layer4, _ *flowpb.Layer7) bool { return l4.GetICMPv6() != nil }
		case "vrrp":
			c = func(l4 *flowpb.Layer4, _ *flowpb.Layer7) bool { return l4.GetVRRP() != nil }
		case "igmp":
			c = func(l4 *flowpb.Layer4, _ *flowpb.Layer7) bool { return l4.GetIGMP() != nil }
		case "dns":
			c = func(_ *flowpb.Layer4, l7 *flowpb.Layer7) bool { return l7.GetDns() != nil }
		case "http":
			c = func(_ *flowpb.Layer4, l7 *flowpb.Layer7) bool { return l7.GetHttp() != nil }
		default:
			return nil, fmt.Errorf("unknown protocol %q", v)
		}
		checks = append(checks, c)
	}
	return func(f *flowpb.Flow) bool {
		l4, l7 := f.GetL4(), f.GetL7()
		return slices.ContainsFunc(checks, func(c func(*flowpb.Layer4, *flowpb.Layer7) bool) bool { return c(l4, l7) })
	}, nil
}

// tcpFlagsMatch matches a flow whose TCP flags include every flag set in
// one of the values.
func tcpFlagsMatch(values []*flowpb.TCPFlags) match {
	bits := func(t *flowpb.TCPFlags) uint16 {
		var b uint16
		for i, on := range []bool{t.GetFIN(), t.GetSYN(), t.GetRST(), t.GetPSH(), t.GetACK(), t.GetURG(), t.GetECE(), t.GetCWR(), t.GetNS()} {
			if on {
				b |= 1 << i
			}
		}
		return b
	}
	wants := make([]uint16, 0, len(values))
	for _, v := range values {
		wants = append(wants, bits(v))
	}
	return func(f *flowpb.Flow) bool {
		tcp := f.GetL4().GetTCP()
		if tcp == nil {
			return false
		}
		have := bits(tcp.GetFlags())
		return slices.ContainsFunc(wants, func(w uint16) bool { return have&w == w })
	}
}
