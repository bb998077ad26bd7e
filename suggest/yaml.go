package suggest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// node is a YAML value built in the order it must be printed. The renderers
// build nodes from typed objects and print them with emit, which gives
// byte-for-byte deterministic output with comments where they belong: no
// generic marshaller can place a comment above one rule.
type node struct {
	scalar string // formatted scalar when isScalar
	kind   nodeKind
	keys   []string
	vals   []*node
	// notes holds the comment lines printed above each entry (mapping) or
	// item (sequence), index-aligned with vals.
	notes [][]string
}

type nodeKind uint8

const (
	scalarNode nodeKind = iota
	mapNode
	seqNode
)

func newMap() *node { return &node{kind: mapNode} }
func newSeq() *node { return &node{kind: seqNode} }

func str(s string) *node   { return &node{scalar: quote(s)} }
func num(i int64) *node    { return &node{scalar: strconv.FormatInt(i, 10)} }
func boolean(v bool) *node { return &node{scalar: strconv.FormatBool(v)} }

// set appends a mapping entry.
func (n *node) set(key string, v *node, comment ...string) *node {
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
	n.notes = append(n.notes, comment)
	return n
}

// add appends a sequence item.
func (n *node) add(v *node, comment ...string) *node {
	n.vals = append(n.vals, v)
	n.notes = append(n.notes, comment)
	return n
}

// emitDocument prints a top-level mapping as one YAML document.
func emitDocument(b *bytes.Buffer, header []string, root *node) {
	b.WriteString("---\n")
	writeComments(b, 0, header)
	emitMap(b, root, 0, "")
}

// emitMap prints the entries of a mapping at indent; the first line starts
// with first (the "- " of a sequence item) instead of spaces when given.
func emitMap(b *bytes.Buffer, m *node, indent int, first string) {
	for i, k := range m.keys {
		prefix := strings.Repeat(" ", indent)
		if i == 0 && first != "" {
			prefix = first
		}
		// A comment cannot sit between "- " and the first key: emitSeq
		// prints the first entry's comment above the item instead.
		if i > 0 || first == "" {
			writeComments(b, indent, m.notes[i])
		}
		b.WriteString(prefix)
		b.WriteString(quote(k))
		b.WriteByte(':')
		emitValue(b, m.vals[i], indent)
	}
}

// emitValue prints what follows "key:" for a value at the key's indent.
func emitValue(b *bytes.Buffer, v *node, indent int) {
	switch v.kind {
	case scalarNode:
		b.WriteByte(' ')
		b.WriteString(v.scalar)
		b.WriteByte('\n')
	case mapNode:
		if len(v.keys) == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteByte('\n')
		emitMap(b, v, indent+2, "")
	case seqNode:
		if len(v.vals) == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteByte('\n')
		// Sequences sit at their key's indent, as kubectl prints them.
		emitSeq(b, v, indent)
	}
}

func emitSeq(b *bytes.Buffer, s *node, indent int) {
	pad := strings.Repeat(" ", indent)
	for i, item := range s.vals {
		notes := s.notes[i]
		if item.kind == mapNode && len(item.keys) > 0 {
			notes = append(slicesClone(notes), item.notes[0]...)
		}
		writeComments(b, indent, notes)
		switch item.kind {
		case scalarNode:
			b.WriteString(pad + "- " + item.scalar + "\n")
		case mapNode:
			if len(item.keys) == 0 {
				b.WriteString(pad + "- {}\n")
				continue
			}
			emitMap(b, item, indent+2, pad+"- ")
		case seqNode:
			// Not produced by the renderers; print flow style to stay valid.
			b.WriteString(pad + "- []\n")
		}
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func writeComments(b *bytes.Buffer, indent int, lines []string) {
	pad := strings.Repeat(" ", indent)
	for _, l := range lines {
		b.WriteString(pad)
		b.WriteString("#")
		if l = sanitizeComment(l); l != "" {
			b.WriteByte(' ')
			b.WriteString(l)
		}
		b.WriteByte('\n')
	}
}

// sanitizeComment keeps a comment on one line: names and FQDNs come from the
// wire and must not be able to inject YAML.
func sanitizeComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
}

// quote returns s as a YAML scalar that every YAML 1.1 and 1.2 reader reads
// back as the same string: plain when that is unambiguous, otherwise a
// double-quoted JSON string (a subset of YAML's double-quoted style).
func quote(s string) string {
	if plainSafe(s) {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// plainSafe accepts strings that start with a letter and hold only letters,
// digits and . _ / - : no number, date, boolean or null can look like that
// except the YAML 1.1 booleans and null, which are listed.
func plainSafe(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '.' && c != '_' && c != '/' && c != '-' {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
