package policy

import (
	"strconv"
	"strings"
)

// Decision is what policy decides for one side (egress or ingress) of a flow.
type Decision uint8

// Decisions. None means the side is not a pod (a node or an external
// address): it has no policy of its own.
const (
	None Decision = iota
	Allow
	Deny
)

// String returns "none", "allow" or "deny".
func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	default:
		return "none"
	}
}

// MarshalText makes a Decision encode as its String in JSON and YAML.
func (d Decision) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Reason says why a side got its Decision.
type Reason uint8

// Reasons.
const (
	// ReasonNotPod: the side is a node or an external address (Decision None).
	ReasonNotPod Reason = iota
	// ReasonNotIsolated: no policy isolates the pod in this direction (Allow).
	ReasonNotIsolated
	// ReasonRule: a rule of an isolating policy allows the flow (Allow, see Side.By).
	ReasonRule
	// ReasonNoRule: the pod is isolated and no rule allows the flow (Deny).
	ReasonNoRule
	// ReasonSelf: a pod talking to itself is always allowed (Allow).
	ReasonSelf
	// ReasonLocalNode: traffic from a pod's own node is always allowed (Allow, ingress).
	ReasonLocalNode
)

// String returns the reason as a short identifier: "not-pod",
// "not-isolated", "rule", "no-rule", "self" or "local-node".
func (r Reason) String() string {
	switch r {
	case ReasonNotIsolated:
		return "not-isolated"
	case ReasonRule:
		return "rule"
	case ReasonNoRule:
		return "no-rule"
	case ReasonSelf:
		return "self"
	case ReasonLocalNode:
		return "local-node"
	default:
		return "not-pod"
	}
}

// MarshalText makes a Reason encode as its String in JSON and YAML.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// MaxIsolating is how many isolating policies a Side keeps by name; the
// count in Side.NumIsolating is always complete.
const MaxIsolating = 16

// RuleRef names the rule that allowed a flow.
type RuleRef struct {
	// Policy is "namespace/name".
	Policy string
	// Rule indexes spec.ingress or spec.egress.
	Rule int
	// Peer indexes the rule's from/to list, or is -1 when the rule has no peers.
	Peer int
	// Port indexes the rule's ports list, or is -1 when the rule has no ports.
	Port int
}

// Side is the verdict of one direction: the source's egress or the
// destination's ingress.
type Side struct {
	Decision Decision
	Reason   Reason
	// Kind is the kind of the peer this side belongs to (the source for
	// egress, the destination for ingress).
	Kind PeerKind
	// By is the allowing rule when Reason == ReasonRule.
	By RuleRef
	// NumIsolating counts the policies that select the pod for this direction.
	NumIsolating int
	// isolating holds the first MaxIsolating of them in namespace/name order;
	// pointers into the engine keep Evaluate free of allocations.
	isolating [MaxIsolating]*compiledPolicy
}

// Isolating returns the names ("namespace/name") of the policies that isolate
// the pod in this direction, sorted, at most MaxIsolating of them.
func (s Side) Isolating() []string {
	n := min(s.NumIsolating, MaxIsolating)
	out := make([]string, n)
	for i := range n {
		out[i] = s.isolating[i].key
	}
	return out
}

// Verdict is the engine's judgement of one flow.
type Verdict struct {
	Egress  Side
	Ingress Side
}

// Allowed reports whether the flow is allowed: neither side denies it.
func (v Verdict) Allowed() bool {
	return v.Egress.Decision != Deny && v.Ingress.Decision != Deny
}

// Explain returns a one-line human explanation, for example
// "egress allowed by ai-agents/allow-egress rule 0 peer 1 port 0; ingress
// denied: isolated by ai-agents/deny-all, ai-agents/specialist-ingress, no
// rule allows".
func (v Verdict) Explain() string {
	var b strings.Builder
	v.Egress.explain(&b, "egress", "source")
	b.WriteString("; ")
	v.Ingress.explain(&b, "ingress", "destination")
	return b.String()
}

func (s *Side) explain(b *strings.Builder, dir, role string) {
	b.WriteString(dir)
	switch s.Reason {
	case ReasonNotPod:
		b.WriteString(" none: ")
		b.WriteString(role)
		if s.Kind == Node {
			b.WriteString(" is a node")
		} else {
			b.WriteString(" is external")
		}
	case ReasonNotIsolated:
		b.WriteString(" allowed: no policy isolates the ")
		b.WriteString(role)
	case ReasonRule:
		b.WriteString(" allowed by ")
		b.WriteString(s.By.Policy)
		b.WriteString(" rule ")
		b.WriteString(strconv.Itoa(s.By.Rule))
		if s.By.Peer < 0 {
			b.WriteString(" any peer")
		} else {
			b.WriteString(" peer ")
			b.WriteString(strconv.Itoa(s.By.Peer))
		}
		if s.By.Port < 0 {
			b.WriteString(" any port")
		} else {
			b.WriteString(" port ")
			b.WriteString(strconv.Itoa(s.By.Port))
		}
	case ReasonNoRule:
		b.WriteString(" denied: isolated by ")
		b.WriteString(strings.Join(s.Isolating(), ", "))
		if extra := s.NumIsolating - MaxIsolating; extra > 0 {
			b.WriteString(" and ")
			b.WriteString(strconv.Itoa(extra))
			b.WriteString(" more")
		}
		b.WriteString(", no rule allows")
	case ReasonSelf:
		b.WriteString(" allowed: a pod may always talk to itself")
	case ReasonLocalNode:
		b.WriteString(" allowed: traffic from the pod's own node")
	}
}
