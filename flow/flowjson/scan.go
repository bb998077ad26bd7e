package flowjson

import "unicode/utf8"

// scanner walks one JSON value for the fast path. Every method reports
// false on anything it does not handle; the caller then gives up and lets
// encoding/json decide, so the scanner never has to explain an error.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips whitespace and then the byte c.
func (s *scanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// strStop[c] is true for the bytes that end the plain run of a string:
// the closing quote, an escape, a control byte or the start of a non-ASCII
// sequence.
var strStop = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// str reads a string without escapes and returns its raw bytes. Strings
// with escapes or invalid UTF-8 are left to encoding/json.
func (s *scanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for s.i+8 <= len(s.b) && plainWord(load8b(s.b, s.i)) {
		s.i += 8
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		if !strStop[c] {
			s.i++
			continue
		}
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			return v, true
		case c >= utf8.RuneSelf:
			ascii = false
			s.i++
		default: // escape or control byte
			return nil, false
		}
	}
	return nil, false
}

// uint reads a non-negative integer no greater than max, in the plain form
// encoding/json accepts for unsigned fields (no sign, fraction or exponent).
func (s *scanner) uint(max uint64) (uint64, bool) {
	s.ws()
	start := s.i
	var v uint64
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c < '0' || c > '9' {
			break
		}
		if v > (max-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		s.i++
	}
	n := s.i - start
	if n == 0 || (n > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return v, true
}

func (s *scanner) boolean() (bool, bool) {
	s.ws()
	switch {
	case hasPrefix(s.b[s.i:], "true"):
		s.i += 4
		return true, true
	case hasPrefix(s.b[s.i:], "false"):
		s.i += 5
		return false, true
	}
	return false, false
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

// skipValue skips any JSON value, checking only enough structure to find
// its end; TopLevelKeys uses it to look past values it does not need.
func (s *scanner) skipValue(depth int) bool {
	if depth > 64 {
		return false
	}
	switch s.peek() {
	case '"':
		return s.skipString()
	case '{':
		s.i++
		if s.consume('}') {
			return true
		}
		for {
			if !s.skipString() || !s.consume(':') || !s.skipValue(depth+1) {
				return false
			}
			if s.consume('}') {
				return true
			}
			if !s.consume(',') {
				return false
			}
		}
	case '[':
		s.i++
		if s.consume(']') {
			return true
		}
		for {
			if !s.skipValue(depth + 1) {
				return false
			}
			if s.consume(']') {
				return true
			}
			if !s.consume(',') {
				return false
			}
		}
	case 0:
		return false
	default:
		// number, true, false, null: up to the next delimiter
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.i > start
			}
			s.i++
		}
		return s.i > start
	}
}

// skipString skips a string, escapes included.
func (s *scanner) skipString() bool {
	if !s.consume('"') {
		return false
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			s.i++
			return true
		case '\\':
			s.i++
		}
		s.i++
	}
	return false
}

// TopLevelKeys calls fn with the raw bytes of each key of the JSON object
// in b, in order, until fn returns false. It reports false when b is not an
// object it can walk (encoding/json then says why). Keys are raw: a key
// with escapes is passed still escaped, which only makes it unrecognised.
func TopLevelKeys(b []byte, fn func(key []byte) bool) bool {
	s := scanner{b: b}
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		s.ws()
		start := s.i
		if !s.skipString() {
			return false
		}
		if !fn(s.b[start+1 : s.i-1]) {
			return true
		}
		if !s.consume(':') || !s.skipValue(0) {
			return false
		}
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}
