package shared

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// This file is the fast path for reading text that is canonical JSON
// already (sealed lines, and records the producer library wrote): a
// scanner that checks canonical form under docs/FORMAT.md section 3 in one
// pass, without building a tree and without allocating, and remembers
// where the members of the first few levels are.
//
// The scanner only ever says "canonical, and here are the members" or "not
// sure". It has no error messages: on "not sure" the caller runs the strict
// parser (parseJSON), whose decision and message stand. It also says "not
// sure" for the rare shapes it does not handle (an escaped member name, a
// number that is not a short integer or a short plain decimal, more
// members than it remembers), so what it accepts is a subset of what the
// strict parser accepts in canonical mode. FuzzScanCanonical and
// FuzzParseLineFast hold it to that.

// maxScanMembers is how many members the scanner remembers. A sealed event
// line has 25 of them at the levels that are recorded.
const maxScanMembers = 40

// scanMember is one member of a recorded object: its name (between the
// quotes) and its value (the whole value text, quotes included).
type scanMember struct {
	parent               int // index of the member whose value holds it, -1 at the top level
	next                 int // index of the next member of the same object, 0 for none
	nameStart, nameEnd   int
	valueStart, valueEnd int
	escaped              bool // a string value holds an escape
}

// canonScanner checks one canonical JSON text. Members of objects at depth
// recordDepth or less (the top-level object is depth 1) are remembered in
// order of appearance, unless they sit inside an array.
type canonScanner struct {
	in          []byte
	pos         int
	maxDepth    int
	recordDepth int
	members     [maxScanMembers]scanMember
	n           int
}

// noRecord is the parent of values whose members are not remembered.
const noRecord = -2

// canonicalText reports whether in is exactly canonical JSON nesting at
// most maxDepth levels, as far as the scanner can tell ("not sure" is
// false).
func canonicalText(in []byte, maxDepth int) bool {
	var s canonScanner
	return s.scan(in, maxDepth, 0)
}

// scan reports whether in is exactly canonical JSON under the rules of
// docs/FORMAT.md section 3, nesting at most maxDepth levels.
func (s *canonScanner) scan(in []byte, maxDepth, recordDepth int) bool {
	s.in, s.pos, s.maxDepth, s.recordDepth, s.n = in, 0, maxDepth, recordDepth, 0
	if !s.value(1, -1) {
		return false
	}
	return s.pos == len(s.in)
}

func (s *canonScanner) value(depth, parent int) bool {
	if s.pos >= len(s.in) {
		return false
	}
	switch c := s.in[s.pos]; {
	case c == '{':
		return s.object(depth, parent)
	case c == '[':
		return s.array(depth)
	case c == '"':
		ok, _ := s.string()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 'n':
		return s.literal("null")
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	}
	return false
}

func (s *canonScanner) literal(word string) bool {
	if len(s.in)-s.pos < len(word) || string(s.in[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

func (s *canonScanner) object(depth, parent int) bool {
	if depth > s.maxDepth {
		return false
	}
	s.pos++ // '{'
	if s.pos < len(s.in) && s.in[s.pos] == '}' {
		s.pos++
		return true
	}
	record := parent != noRecord && depth <= s.recordDepth
	prevStart, prevEnd := -1, -1
	prevChild := -1 // the last member of this object recorded
	for {
		if s.pos >= len(s.in) || s.in[s.pos] != '"' {
			return false
		}
		nameStart := s.pos + 1
		ok, escaped := s.string()
		if !ok || escaped {
			return false // an escaped name is left to the strict parser
		}
		nameEnd := s.pos - 1
		// Names whose first bytes differ below 0xee are sorted by those
		// bytes (sortedNames' first case, without its call).
		if prevStart >= 0 && !(prevStart < prevEnd && nameStart < nameEnd && s.in[prevStart] < s.in[nameStart] && s.in[nameStart] < 0xee) &&
			!sortedNames(s.in[prevStart:prevEnd], s.in[nameStart:nameEnd]) {
			return false
		}
		prevStart, prevEnd = nameStart, nameEnd
		if s.pos >= len(s.in) || s.in[s.pos] != ':' {
			return false
		}
		s.pos++
		child := noRecord
		if record {
			if s.n == len(s.members) {
				return false
			}
			child = s.n
			s.n++
			s.members[child] = scanMember{parent: parent, nameStart: nameStart, nameEnd: nameEnd, valueStart: s.pos}
			if prevChild >= 0 {
				s.members[prevChild].next = child
			}
			prevChild = child
		}
		if s.pos < len(s.in) && s.in[s.pos] == '"' {
			ok, escaped := s.string()
			if !ok {
				return false
			}
			if child >= 0 {
				s.members[child].escaped = escaped
			}
		} else if !s.value(depth+1, child) {
			return false
		}
		if child >= 0 {
			s.members[child].valueEnd = s.pos
		}
		if more, ok := s.delimiter('}'); !more {
			return ok
		}
	}
}

// delimiter reads what follows a member or an element: a comma (more) or
// the closing byte of its object or array; ok is false for anything else.
func (s *canonScanner) delimiter(closing byte) (more, ok bool) {
	if s.pos < len(s.in) {
		switch s.in[s.pos] {
		case ',':
			s.pos++
			return true, true
		case closing:
			s.pos++
			return false, true
		}
	}
	return false, false
}

// sortedNames reports a < b in the order of UTF-16 code units, in one pass
// without allocating when it can. UTF-8 byte order is that order except
// between U+E000..U+FFFF and the characters above U+FFFF, whose UTF-8 lead
// bytes are 0xEE..0xEF and 0xF0..0xF4: where the first differing bytes are
// both below 0xEE (or differ in a continuation byte after the same lead
// byte: the same kind of character) the bytes decide.
func sortedNames(a, b []byte) bool {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	switch {
	case i == n:
		return len(a) < len(b)
	case a[i] < 0xee && b[i] < 0xee:
		return a[i] < b[i]
	}
	return compareUTF16(string(a), string(b)) < 0
}

func (s *canonScanner) array(depth int) bool {
	if depth > s.maxDepth {
		return false
	}
	s.pos++ // '['
	if s.pos < len(s.in) && s.in[s.pos] == ']' {
		s.pos++
		return true
	}
	for {
		if !s.value(depth+1, noRecord) {
			return false
		}
		if more, ok := s.delimiter(']'); !more {
			return ok
		}
	}
}

// string reads a string at '"' written as canonical JSON writes it: valid
// UTF-8 without noncharacters, and only the escapes RFC 8785 writes (which
// can be neither surrogates nor noncharacters).
func (s *canonScanner) string() (ok, escaped bool) {
	ok, escaped, s.pos = scanString(s.in, s.pos+1)
	return ok, escaped
}

// scanString reads the string whose text starts at i (after its '"') and
// returns where the reading stopped: after the closing quote when ok.
// It is string's loop without a deferred write of the position (a tenth
// of the cost of a short string).
func scanString(in []byte, i int) (ok, escaped bool, end int) {
	for {
		// Eight bytes at a time while none of them needs a look, then
		// straight to the first one that does (the lowest byte
		// specialBytes marks); byte by byte in the last seven.
		for i+8 <= len(in) {
			if m := specialBytes(binary.LittleEndian.Uint64(in[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i+8 > len(in) {
			for i < len(in) && plainByte[in[i]] {
				i++
			}
		}
		if i >= len(in) {
			return false, escaped, i
		}
		switch c := in[i]; {
		case c == '"':
			return true, escaped, i + 1
		case c == '\\':
			escaped = true
			if i+1 >= len(in) {
				return false, escaped, i
			}
			switch in[i+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if !canonicalControlEscape(in[i:]) {
					return false, escaped, i
				}
				i += 6
			default:
				return false, escaped, i
			}
		case c < 0x20:
			return false, escaped, i
		default:
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size <= 1 || isNoncharacter(r) {
				return false, escaped, i
			}
			i += size
		}
	}
}

// plainWord reports whether the eight bytes of w are all plainByte ones:
// none is below 0x20, '"', '\\' or 0x80 and above. Each test is the
// "has a byte less than n" and "has a zero byte" bit tricks, which can
// mark bytes after the first one wrongly but never miss that some byte
// matches: a word they pass is plain, one they fail is read byte by byte.
// TestSpecialBytesFirstMark holds it to plainByte.
func plainWord(w uint64) bool { return specialBytes(w) == 0 }

// specialBytes marks with its high bit each byte of w that is not a
// plainByte one, and may mark bytes above (after) a marked one wrongly:
// a borrow in the bit tricks starts only at a byte that matches. So it is
// 0 exactly when w is plain, and its lowest mark is w's first byte that
// is not plain. TestSpecialBytesFirstMark holds it to plainByte.
func specialBytes(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	control := (w - ones*0x20) &^ w // a byte below 0x20 (given no high bit)
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	return (control | (quote-ones)&^quote | (backslash-ones)&^backslash | w) & highs
}

// plainByte marks the bytes a canonical string holds as they are, one
// byte one character: printable ASCII but '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// canonicalControlEscape reports whether esc starts with \u00xx in lower
// case for a control character that has no short escape.
func canonicalControlEscape(esc []byte) bool {
	if len(esc) < 6 || esc[2] != '0' || esc[3] != '0' || (esc[4] != '0' && esc[4] != '1') {
		return false
	}
	lo, ok := lowerHex(esc[5])
	if !ok {
		return false
	}
	switch r := (esc[4]-'0')<<4 | lo; r {
	case '\b', '\f', '\n', '\r', '\t':
		return false
	}
	return true
}

// number reads a number literal that is its own canonical text: a short
// integer (smallInteger) or a short plain decimal (shortDecimal). Any
// other literal is left to the strict parser.
func (s *canonScanner) number() bool {
	start := s.pos
	for s.pos < len(s.in) {
		c := s.in[s.pos]
		if !(c >= '0' && c <= '9' || c == '-' || c == '.' || c == 'e' || c == 'E' || c == '+') {
			break
		}
		s.pos++
	}
	lit := s.in[start:s.pos]
	return smallIntegerBytes(lit) || shortDecimal(lit)
}

// smallIntegerBytes is smallInteger on bytes.
func smallIntegerBytes(lit []byte) bool {
	d := lit
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 1 && d[0] == '0' {
		return len(lit) == 1
	}
	if len(d) == 0 || len(d) > 15 || d[0] == '0' {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// shortDecimal reports a literal -?I.F that is its own canonical text at a
// glance: I is 0 or has no leading zero, F does not end in 0, at most 15
// significant digits, and when I is 0 at most 5 zeros lead F. Any decimal
// of at most 15 significant digits is the shortest text of the double
// nearest to it (a double is 15.95 decimal digits precise), so its digits
// are the canonical digits, and ECMAScript writes such a value (10^-6 <=
// |x| < 10^15) in this plain form.
func shortDecimal(lit []byte) bool {
	if len(lit) > 0 && lit[0] == '-' {
		lit = lit[1:]
	}
	dot := bytes.IndexByte(lit, '.')
	if dot <= 0 || dot == len(lit)-1 {
		return false
	}
	intPart, frac := lit[:dot], lit[dot+1:]
	for _, part := range [][]byte{intPart, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	if frac[len(frac)-1] == '0' {
		return false
	}
	sig := len(intPart) + len(frac)
	if intPart[0] == '0' {
		if len(intPart) != 1 {
			return false
		}
		zeros := 0
		for zeros < len(frac) && frac[zeros] == '0' {
			zeros++
		}
		if zeros > 5 {
			return false
		}
		sig = len(frac) - zeros
	}
	return sig <= 15
}

// children fills out with the indexes of the remembered members of the
// object held by member parent (-1: the top level), and reports whether
// their names are exactly names, in that order.
//
// It walks the object's own members only: the first is recorded right
// after parent (an object's members are recorded as they are read, and
// its value is read right after the member that holds it), and each links
// to the next (member 0, the first recorded, is never a next one). A
// member recorded right after parent whose parent is another one means
// parent's value has no recorded members. TestChildrenIsTheParentScan
// holds it to reading every recorded member's parent.
func (s *canonScanner) children(parent int, names []memberName, out []int) bool {
	i := parent + 1
	if i >= s.n || s.members[i].parent != parent {
		return len(names) == 0
	}
	for k := range names {
		m := &s.members[i]
		if !s.named(m, &names[k]) {
			return false
		}
		out[k] = i
		if i = m.next; i == 0 {
			return k == len(names)-1
		}
	}
	return false // more members than names
}

// memberName is a member name children expects, with its first 16 bytes
// as two little-endian words and the masks of the bytes it has in each.
type memberName struct {
	s            string
	w0, w1       uint64
	m0, m1       uint64
	fitsTwoWords bool
}

// memberNames makes the memberNames of names.
func memberNames(names ...string) []memberName {
	out := make([]memberName, len(names))
	for k, name := range names {
		var b [16]byte
		copy(b[:], name)
		n := min(len(name), 16)
		mask := func(bytes int) uint64 {
			if bytes >= 8 {
				return ^uint64(0)
			}
			return 1<<(8*bytes) - 1
		}
		out[k] = memberName{s: name, w0: binary.LittleEndian.Uint64(b[:8]), w1: binary.LittleEndian.Uint64(b[8:]),
			m0: mask(n), m1: mask(max(n-8, 0)), fitsTwoWords: len(name) <= 16}
	}
	return out
}

// named reports whether member m's name is name: the lengths, then the
// name's words under their masks when the input holds 16 bytes from the
// name's start (a name of at most 16 bytes is then its masked words),
// else the bytes. TestNamedIsStringCompare holds it to comparing strings.
func (s *canonScanner) named(m *scanMember, name *memberName) bool {
	if m.nameEnd-m.nameStart != len(name.s) {
		return false
	}
	if at := m.nameStart; name.fitsTwoWords && at >= 0 && at+16 <= len(s.in) {
		w := s.in[at : at+16]
		return binary.LittleEndian.Uint64(w)&name.m0 == name.w0 && binary.LittleEndian.Uint64(w[8:])&name.m1 == name.w1
	}
	return string(s.in[m.nameStart:m.nameEnd]) == name.s
}

// value returns member i's value text.
func (s *canonScanner) valueOf(i int) []byte {
	return s.in[s.members[i].valueStart:s.members[i].valueEnd]
}

// str returns member i's string value as a substring of text (the
// scanner's input as a string), and whether it is a string without
// escapes (whose value is then exactly its bytes).
func (s *canonScanner) str(text string, i int) (string, bool) {
	m := &s.members[i]
	if m.escaped || s.in[m.valueStart] != '"' {
		return "", false
	}
	return text[m.valueStart+1 : m.valueEnd-1], true
}

// isObject reports whether member i's value is an object.
func (s *canonScanner) isObject(i int) bool { return s.in[s.members[i].valueStart] == '{' }

// isNumber reports whether member i's value is a number.
func (s *canonScanner) isNumber(i int) bool {
	c := s.in[s.members[i].valueStart]
	return c == '-' || c >= '0' && c <= '9'
}
