// Package flowjson reads and writes the flow record's JSON form quickly.
// encoding/json is the reference: Append writes exactly the bytes that
// json.Marshal writes for a flow.Record, and Decoder accepts a subset of
// what json.Unmarshal accepts and decodes it to the same value. Auditing a
// million flows spends most of its time here, hence the hand-written code.
package flowjson

import (
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Append appends the JSON of r, as json.Marshal writes it, to dst.
func Append(dst []byte, r *flow.Record) []byte {
	dst = append(dst, '{')
	return appendFields(dst, r, nil)
}

// AppendFlat appends r's JSON preceded by flat copies of the addresses and
// ports given (src_ip, src_port, dst_ip, dst_port), for readers that want
// the 5-tuple without descending into src and dst.
func AppendFlat(dst []byte, f Flat, r *flow.Record) []byte {
	return appendFlat(dst, f, r, nil)
}

func appendFlat(dst []byte, f Flat, r *flow.Record, e *Encoder) []byte {
	dst = append(dst, `{"src_ip":`...)
	dst = appendAddr(dst, f.SrcIP)
	dst = append(dst, `,"src_port":`...)
	dst = strconv.AppendUint(dst, uint64(f.SrcPort), 10)
	dst = append(dst, `,"dst_ip":`...)
	dst = appendAddr(dst, f.DstIP)
	dst = append(dst, `,"dst_port":`...)
	dst = strconv.AppendUint(dst, uint64(f.DstPort), 10)
	dst = append(dst, ',')
	return appendFields(dst, r, e)
}

// Flat is the flat 5-tuple fields that audit output carries next to the
// record (and that a hand-written input line may use instead of src/dst).
type Flat struct {
	SrcIP   netip.Addr `json:"src_ip"`
	SrcPort uint16     `json:"src_port"`
	DstIP   netip.Addr `json:"dst_ip"`
	DstPort uint16     `json:"dst_port"`
}

// appendFields writes r's fields and the closing brace; the field order and
// omitempty rules mirror flow.Record's struct tags.
func appendFields(dst []byte, r *flow.Record, e *Encoder) []byte {
	dst = append(dst, `"time_first":`...)
	dst = appendTime(dst, r.TimeFirst)
	dst = append(dst, `,"time_last":`...)
	dst = appendTime(dst, r.TimeLast)
	dst = appendOptString(dst, `,"node":`, r.Node)
	dst = appendOptString(dst, `,"interface":`, r.Interface)
	dst = append(dst, `,"src":`...)
	dst = appendEndpoint(dst, &r.Src, e)
	dst = append(dst, `,"dst":`...)
	dst = appendEndpoint(dst, &r.Dst, e)
	dst = append(dst, `,"protocol":`...)
	dst = AppendString(dst, string(r.Protocol))
	if r.ICMPType != nil {
		dst = append(dst, `,"icmp_type":`...)
		dst = strconv.AppendUint(dst, uint64(*r.ICMPType), 10)
	}
	if r.ICMPCode != nil {
		dst = append(dst, `,"icmp_code":`...)
		dst = strconv.AppendUint(dst, uint64(*r.ICMPCode), 10)
	}
	dst = append(dst, `,"packets":`...)
	dst = strconv.AppendUint(dst, r.Packets, 10)
	dst = append(dst, `,"bytes":`...)
	dst = strconv.AppendUint(dst, r.Bytes, 10)
	dst = appendOptString(dst, `,"tcp_flags":`, r.TCPFlags)
	dst = appendOptString(dst, `,"initiator":`, r.Initiator)
	if r.Answered != nil {
		dst = append(dst, `,"answered":`...)
		dst = strconv.AppendBool(dst, *r.Answered)
	}
	dst = appendOptString(dst, `,"direction":`, r.Direction)
	dst = append(dst, `,"observed":`...)
	dst = AppendString(dst, string(r.Observed))
	dst = appendOptString(dst, `,"drop_reason":`, r.DropReason)
	dst = appendOptString(dst, `,"egress":`, r.Egress)
	dst = appendOptString(dst, `,"ingress":`, r.Ingress)
	dst = appendOptString(dst, `,"verdict":`, r.Verdict)
	dst = appendOptString(dst, `,"violation":`, r.Violation)
	dst = appendOptString(dst, `,"explanation":`, r.Explanation)
	return append(dst, '}')
}

func appendEndpoint(dst []byte, e *flow.Endpoint, enc *Encoder) []byte {
	dst = append(dst, `{"ip":`...)
	dst = appendAddr(dst, e.IP)
	dst = append(dst, `,"port":`...)
	dst = strconv.AppendUint(dst, uint64(e.Port), 10)
	if enc != nil && len(e.Labels) > 0 {
		dst = enc.appendIdentity(dst, e)
	} else {
		dst = appendIdentity(dst, e)
	}
	dst = appendOptString(dst, `,"service":`, e.Service)
	if e.ServicePort != 0 {
		dst = append(dst, `,"service_port":`...)
		dst = strconv.AppendUint(dst, uint64(e.ServicePort), 10)
	}
	dst = appendOptString(dst, `,"fqdn":`, e.FQDN)
	return append(dst, '}')
}

// appendIdentity writes what resolution says an endpoint is: kind,
// namespace, pod, node, workload and labels.
func appendIdentity(dst []byte, e *flow.Endpoint) []byte {
	dst = appendOptString(dst, `,"kind":`, string(e.Kind))
	dst = appendOptString(dst, `,"namespace":`, e.Namespace)
	dst = appendOptString(dst, `,"pod":`, e.Pod)
	dst = appendOptString(dst, `,"node":`, e.Node)
	dst = appendOptString(dst, `,"workload":`, e.Workload)
	if len(e.Labels) > 0 {
		dst = append(dst, `,"labels":`...)
		dst = appendLabels(dst, e.Labels)
	}
	return dst
}

// appendLabels writes a map with its keys sorted, as encoding/json does.
// Label maps are small: an insertion sort on a stack array avoids
// allocating for the usual handful of labels.
func appendLabels(dst []byte, m map[string]string) []byte {
	var small [16]string
	keys := small[:0]
	if len(m) > len(small) {
		keys = make([]string, 0, len(m))
	}
	for k := range m {
		keys = append(keys, k)
	}
	if len(keys) > len(small) {
		slices.Sort(keys)
	} else {
		for i := 1; i < len(keys); i++ {
			for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
			}
		}
	}
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		dst = AppendString(dst, m[k])
	}
	return append(dst, '}')
}

func appendOptString(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, key...)
	return AppendString(dst, v)
}

func appendAddr(dst []byte, a netip.Addr) []byte {
	dst = append(dst, '"')
	if a.IsValid() {
		dst = a.AppendTo(dst)
	}
	return append(dst, '"')
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// htmlSafe[b] is true for the ASCII bytes encoding/json copies unescaped.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// AppendString appends s as a JSON string escaped as encoding/json escapes
// it (HTML-safe, invalid UTF-8 replaced, U+2028 and U+2029 escaped).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	i := 0
	for i+8 <= len(s) && htmlSafeWord(load8(s, i)) {
		i += 8
	}
	for i < len(s) && s[i] < utf8.RuneSelf && htmlSafe[s[i]] {
		i++
	}
	if i == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i < len(s) {
		b := s[i]
		if b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
