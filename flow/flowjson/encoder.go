package flowjson

import (
	"reflect"
	"unsafe"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Encoder writes records as Append and AppendFlat do, remembering the
// encoding of each label map by identity: resolved records share their
// pod's label map, and sorting and escaping it for every flow costs more
// than the rest of the endpoint. A label map must not change once an
// Encoder has written it. An Encoder is for one goroutine.
type Encoder struct {
	labels map[unsafe.Pointer]encodedLabels
}

// encodedLabels holds the map itself, so that its address is not reused
// by another map while the entry exists.
type encodedLabels struct {
	m   map[string]string
	enc []byte
}

// maxEncodedLabels bounds the cache; it starts over when full.
const maxEncodedLabels = 1 << 14

// NewEncoder returns an Encoder with an empty cache.
func NewEncoder() *Encoder {
	return &Encoder{labels: make(map[unsafe.Pointer]encodedLabels)}
}

// Append is Append with the label cache.
func (e *Encoder) Append(dst []byte, r *flow.Record) []byte {
	dst = append(dst, '{')
	return appendFields(dst, r, e)
}

// AppendFlat is AppendFlat with the label cache.
func (e *Encoder) AppendFlat(dst []byte, f Flat, r *flow.Record) []byte {
	return appendFlat(dst, f, r, e)
}

func (e *Encoder) appendLabels(dst []byte, m map[string]string) []byte {
	id := reflect.ValueOf(m).UnsafePointer()
	if c, ok := e.labels[id]; ok {
		return append(dst, c.enc...)
	}
	start := len(dst)
	dst = appendLabels(dst, m)
	if len(e.labels) >= maxEncodedLabels {
		clear(e.labels)
	}
	e.labels[id] = encodedLabels{m: m, enc: append([]byte(nil), dst[start:]...)}
	return dst
}
