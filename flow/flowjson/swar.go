package flowjson

// Word-at-a-time scanning: flow records are mostly plain ASCII, and
// checking eight bytes at once for the few that need attention is several
// times faster than a byte loop. The helpers below are the classic
// "has a byte less than n / equal to c" bit tricks on 64-bit words.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load8 reads s[i:i+8] as a little-endian word (the compiler turns the
// shifts into one load).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

func load8b(b []byte, i int) uint64 {
	_ = b[i+7]
	return uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
		uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
}

// hasLess reports whether some byte of w is below n (n <= 128); bytes of
// 0x80 and above also count, which callers treat as "look closer" too.
func hasLess(w uint64, n byte) bool { return (w-ones*uint64(n))&highs != 0 }

// hasByte reports whether some byte of w equals c.
func hasByte(w uint64, c byte) bool {
	x := w ^ (ones * uint64(c))
	return (x-ones)&^x&highs != 0
}

// htmlSafeWord reports whether all eight bytes of w are ASCII that
// AppendString copies unescaped.
func htmlSafeWord(w uint64) bool {
	return w&highs == 0 && !hasLess(w, 0x20) && !hasByte(w, '"') && !hasByte(w, '\\') &&
		!hasByte(w, '<') && !hasByte(w, '>') && !hasByte(w, '&')
}

// plainWord reports whether all eight bytes of w are ASCII that a string
// may hold without escapes: no quote, backslash or control byte.
func plainWord(w uint64) bool {
	return w&highs == 0 && !hasLess(w, 0x20) && !hasByte(w, '"') && !hasByte(w, '\\')
}
