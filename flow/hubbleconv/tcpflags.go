package hubbleconv

import (
	"fmt"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// TCP flag names in the order a flow record lists them: the order of the
// bits in the TCP header (NS last, as Cilium orders its fields).
var tcpFlagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"}

// FormatTCPFlags renders Hubble's TCP flags as a flow record spells them:
// flag names joined by commas, e.g. "SYN,ACK". No flags give "".
func FormatTCPFlags(f *flowpb.TCPFlags) string {
	if f == nil {
		return ""
	}
	set := [...]bool{f.FIN, f.SYN, f.RST, f.PSH, f.ACK, f.URG, f.ECE, f.CWR, f.NS}
	var b strings.Builder
	for i, on := range set {
		if !on {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tcpFlagNames[i])
	}
	return b.String()
}

// ParseTCPFlags reads a flow record's tcp_flags (names separated by commas,
// any order and case) into Hubble's form. "" gives nil.
func ParseTCPFlags(s string) (*flowpb.TCPFlags, error) {
	if s == "" {
		return nil, nil
	}
	f := &flowpb.TCPFlags{}
	for name := range strings.SplitSeq(s, ",") {
		switch strings.ToUpper(strings.TrimSpace(name)) {
		case "FIN":
			f.FIN = true
		case "SYN":
			f.SYN = true
		case "RST":
			f.RST = true
		case "PSH":
			f.PSH = true
		case "ACK":
			f.ACK = true
		case "URG":
			f.URG = true
		case "ECE":
			f.ECE = true
		case "CWR":
			f.CWR = true
		case "NS":
			f.NS = true
		default:
			return nil, fmt.Errorf("unknown TCP flag %q in %q", name, s)
		}
	}
	return f, nil
}
