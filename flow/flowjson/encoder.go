package flowjson

import (
	"reflect"
	"unsafe"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Encoder writes records as Append and AppendFlat do, remembering the
// encoding of each pod endpoint's identity (kind, namespace, pod, node,
// workload, labels) by the addresses of its strings and label map:
// resolved records share their pod's, and sorting and escaping them for
// every flow costs more than the rest of the endpoint. A label map must not
// change once an Encoder has written it. An Encoder is for one goroutine.
type Encoder struct {
	identities map[identityKey][]byte
}

// maxEncodedIdentities bounds the cache; it starts over when full.
const maxEncodedIdentities = 1 << 14

// NewEncoder returns an Encoder with an empty cache.
func NewEncoder() *Encoder {
	return &Encoder{identities: make(map[identityKey][]byte)}
}

// Append is Append with the endpoint cache.
func (e *Encoder) Append(dst []byte, r *flow.Record) []byte {
	dst = append(dst, '{')
	return appendFields(dst, r, e)
}

// AppendFlat is AppendFlat with the endpoint cache.
func (e *Encoder) AppendFlat(dst []byte, f Flat, r *flow.Record) []byte {
	return appendFlat(dst, f, r, e)
}

// appendIdentity is appendIdentity, cached: a pod's endpoint comes with the
// same strings and label map every time (its resolution's), so their
// addresses identify the encoded text. The key holds the addresses, which
// keeps the strings and the map alive: an address cannot come to stand for
// other text while its entry exists.
func (e *Encoder) appendIdentity(dst []byte, ep *flow.Endpoint) []byte {
	k := identityKey{labels: reflect.ValueOf(ep.Labels).UnsafePointer()}
	for i, s := range [...]string{string(ep.Kind), ep.Namespace, ep.Pod, ep.Node, ep.Workload} {
		k.strs[i] = strRef{unsafe.StringData(s), len(s)}
	}
	if enc, ok := e.identities[k]; ok {
		return append(dst, enc...)
	}
	start := len(dst)
	dst = appendIdentity(dst, ep)
	if len(e.identities) >= maxEncodedIdentities {
		clear(e.identities)
	}
	e.identities[k] = append([]byte(nil), dst[start:]...)
	return dst
}

type identityKey struct {
	labels unsafe.Pointer
	strs   [5]strRef
}

type strRef struct {
	p *byte
	n int
}
