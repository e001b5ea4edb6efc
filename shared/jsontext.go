package shared

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// MaxSafeInteger is 2^53-1, the largest integer every JSON implementation
// reads exactly (RFC 7493, I-JSON, section 2.2).
const MaxSafeInteger = 1<<53 - 1

// MaxDepth is how deeply a record may nest arrays and objects (the record's
// own object is level 1). A sealed line nests one level deeper.
const MaxDepth = 32

// maxLineDepth bounds the parser on sealed lines: a line is the entry object
// around an event of at most MaxDepth levels.
const maxLineDepth = MaxDepth + 1

// ErrNotCanonical is wrapped when input is not I-JSON, breaks the number
// rule, or a sealed line is not in canonical form.
var ErrNotCanonical = errors.New("not canonical JSON")

// JSONError says where a JSON text breaks a rule of docs/FORMAT.md section 3.
// It wraps ErrNotCanonical.
type JSONError struct {
	// Path names the member or element, e.g. "decision.metadata.amount" or
	// "list[2]" ("" for the top level).
	Path string
	// Offset is the byte offset in the text where the problem was found.
	Offset int
	Reason string
	// overBudget: the text holds more values than parseOptions.maxValues
	// (another reading of it cannot succeed either).
	overBudget bool
}

func (e *JSONError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("%v: %s: %s", ErrNotCanonical, e.Path, e.Reason)
	}
	return fmt.Sprintf("%v: at byte %d: %s", ErrNotCanonical, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrNotCanonical) true.
func (e *JSONError) Unwrap() error { return ErrNotCanonical }

// jsonKind is the type of a parsed JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonTrue
	jsonFalse
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	return [...]string{"null", "true", "false", "number", "string", "array", "object"}[k]
}

// jsonValue is one parsed JSON value. Numbers keep their canonical text
// (which the number rule makes equal in value to the input literal), strings
// their decoded text, objects their members in input order.
type jsonValue struct {
	kind    jsonKind
	text    string // number: canonical text; string: decoded value
	elems   []jsonValue
	members []jsonMember
	// raw is an array's or object's own canonical bytes when the text was
	// parsed in canonical mode (a slice of the input, not a copy).
	raw []byte
}

// canonicalBytes returns v's canonical JSON: the input's own bytes when it
// was parsed in canonical mode, else written anew.
func canonicalBytes(v *jsonValue) []byte {
	if v.raw != nil {
		return v.raw
	}
	return appendCanonical(nil, v)
}

type jsonMember struct {
	name  string
	value jsonValue
}

// member returns the value of the member called name (exact match).
func (v *jsonValue) member(name string) (*jsonValue, bool) {
	for i := range v.members {
		if v.members[i].name == name {
			return &v.members[i].value, true
		}
	}
	return nil, false
}

// parseOptions select the rules a text is held to.
type parseOptions struct {
	// maxDepth is the deepest nesting accepted.
	maxDepth int
	// lenientNumbers skips the number rule (exact value, safe integers): only
	// for reading lines an older version wrote, never for verifying.
	lenientNumbers bool
	// canonical requires the text to be in canonical form already (a sealed
	// line): it is checked while parsing, which is the same as writing the
	// parsed value canonically and comparing bytes, without doing either.
	canonical bool
	// maxValues, when not 0, is the most values (of any kind, members'
	// values included) the text may hold: the parser stops at the next one
	// instead of keeping it. valuesOf names what cannot hold more, for
	// the error.
	maxValues int
	valuesOf  string
}

// errNotCanonicalForm is the reason for canonical-mode refusals.
const errNotCanonicalForm = "not in canonical form: "

// parseJSON parses one JSON text under the rules of docs/FORMAT.md section
// 3: RFC 8259 grammar, UTF-8 without BOM, no duplicate member names (compared
// exactly), no lone surrogates or noncharacters (I-JSON), at most maxDepth
// levels, and every number keeping its exact value through canonicalisation.
func parseJSON(raw []byte, o parseOptions) (jsonValue, error) {
	p := &jsonParser{in: raw, opts: o}
	if n := bytes.Count(raw, []byte(":")); n < 1<<16 {
		p.arena = make([]jsonMember, 0, n) // at least one ':' per member
	}
	if o.canonical {
		p.str = string(raw) // one copy; unescaped strings are slices of it
	}
	p.space()
	v, err := p.value(1)
	if err != nil {
		return jsonValue{}, err
	}
	p.space()
	if p.pos != len(p.in) {
		return jsonValue{}, p.fail("data after the top-level value")
	}
	if p.canonErr {
		return jsonValue{}, &JSONError{Reason: errNotCanonicalForm + "whitespace outside strings"}
	}
	return v, nil
}

type jsonParser struct {
	in   []byte
	str  string // in canonical mode, the input as a string
	pos  int
	opts parseOptions
	// path is the member names and element indexes down to the value being
	// parsed; it is only turned into text for an error.
	path []pathSegment
	// canonErr records whitespace seen in canonical mode (reported once the
	// value is read, so that a syntax error is named first).
	canonErr bool
	// stack holds the members of the objects being parsed; a finished
	// object's members move to arena, which is sized once for the whole
	// text, so an object costs no allocation of its own.
	stack []jsonMember
	arena []jsonMember
	// values counts the values begun, for opts.maxValues.
	values int
}

type pathSegment struct {
	name  string
	index int // -1 for a member
}

func (p *jsonParser) fail(format string, args ...any) error {
	return &JSONError{Path: p.pathString(), Offset: p.pos, Reason: fmt.Sprintf(format, args...)}
}

func (p *jsonParser) pathString() string {
	var b strings.Builder
	for _, s := range p.path {
		if s.index >= 0 {
			fmt.Fprintf(&b, "[%d]", s.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
	}
	return b.String()
}

func (p *jsonParser) space() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			if p.opts.canonical {
				p.canonErr = true
			}
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (jsonValue, error) {
	if p.pos >= len(p.in) {
		return jsonValue{}, p.fail("unexpected end of input")
	}
	if p.values++; p.opts.maxValues > 0 && p.values > p.opts.maxValues {
		err := p.fail("more than %d values: no valid %s holds as many", p.opts.maxValues, p.opts.valuesOf)
		err.(*JSONError).overBudget = true
		return jsonValue{}, err
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.string()
		return jsonValue{kind: jsonString, text: s}, err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case p.literal("null"):
		return jsonValue{kind: jsonNull}, nil
	case p.literal("true"):
		return jsonValue{kind: jsonTrue}, nil
	case p.literal("false"):
		return jsonValue{kind: jsonFalse}, nil
	default:
		if p.pos == 0 && bytes.HasPrefix(p.in, []byte("\xef\xbb\xbf")) {
			return jsonValue{}, p.fail("byte order mark")
		}
		return jsonValue{}, p.fail("unexpected %q", rune(c))
	}
}

func (p *jsonParser) literal(word string) bool {
	if bytes.HasPrefix(p.in[p.pos:], []byte(word)) {
		p.pos += len(word)
		return true
	}
	return false
}

// manyMembers is the member count from which an object's names are kept
// in a set to find a duplicate, instead of compared with each before.
const manyMembers = 32

func (p *jsonParser) object(depth int) (jsonValue, error) {
	if depth > p.opts.maxDepth {
		return jsonValue{}, p.fail("nested deeper than %d levels", p.opts.maxDepth)
	}
	start := p.pos
	p.pos++ // '{'
	v := jsonValue{kind: jsonObject}
	base := len(p.stack)
	defer func() { p.stack = p.stack[:base] }()
	var seen map[string]struct{} // names of a long object, outside canonical mode
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		if p.opts.canonical {
			v.raw = p.in[start:p.pos]
		}
		return v, nil
	}
	for {
		p.space()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return jsonValue{}, p.fail("want a member name")
		}
		name, err := p.string()
		if err != nil {
			return jsonValue{}, err
		}
		members := p.stack[base:]
		if p.opts.canonical && len(members) > 0 {
			// Sorted strictly: no duplicate can pass.
			if c := compareUTF16(members[len(members)-1].name, name); c >= 0 {
				if c == 0 {
					return jsonValue{}, p.fail("duplicate member name %q", name)
				}
				return jsonValue{}, p.fail(errNotCanonicalForm+"member %q is not sorted after %q", clip(name), clip(members[len(members)-1].name))
			}
		} else if len(members) < manyMembers {
			for _, m := range members {
				if m.name == name {
					return jsonValue{}, p.fail("duplicate member name %q", name)
				}
			}
		} else {
			// A long object's names go in a set: comparing each with all
			// before was quadratic (2.4 s of CPU for a 200 KB record of
			// 16,000 unsorted members, which anyone who can produce to the
			// decisions topic can send).
			if seen == nil {
				seen = make(map[string]struct{}, 2*manyMembers)
				for _, m := range members {
					seen[m.name] = struct{}{}
				}
			}
			if _, dup := seen[name]; dup {
				return jsonValue{}, p.fail("duplicate member name %q", name)
			}
			seen[name] = struct{}{}
		}
		p.space()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return jsonValue{}, p.fail("want ':' after member name %q", name)
		}
		p.pos++
		p.space()
		p.path = append(p.path, pathSegment{name: name, index: -1})
		mv, err := p.value(depth + 1)
		if err != nil {
			return jsonValue{}, err
		}
		p.path = p.path[:len(p.path)-1]
		p.stack = append(p.stack, jsonMember{name: name, value: mv})
		p.space()
		if p.pos >= len(p.in) {
			return jsonValue{}, p.fail("unterminated object")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			if p.opts.canonical {
				v.raw = p.in[start:p.pos]
			}
			members := p.stack[base:]
			if len(p.arena)+len(members) <= cap(p.arena) {
				a := len(p.arena)
				p.arena = append(p.arena, members...)
				v.members = p.arena[a:len(p.arena):len(p.arena)]
			} else {
				v.members = append([]jsonMember(nil), members...)
			}
			return v, nil
		default:
			return jsonValue{}, p.fail("want ',' or '}' in object")
		}
	}
}

func (p *jsonParser) array(depth int) (jsonValue, error) {
	if depth > p.opts.maxDepth {
		return jsonValue{}, p.fail("nested deeper than %d levels", p.opts.maxDepth)
	}
	start := p.pos
	p.pos++ // '['
	v := jsonValue{kind: jsonArray}
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		if p.opts.canonical {
			v.raw = p.in[start:p.pos]
		}
		return v, nil
	}
	for i := 0; ; i++ {
		p.space()
		p.path = append(p.path, pathSegment{index: i})
		ev, err := p.value(depth + 1)
		if err != nil {
			return jsonValue{}, err
		}
		p.path = p.path[:len(p.path)-1]
		v.elems = append(v.elems, ev)
		p.space()
		if p.pos >= len(p.in) {
			return jsonValue{}, p.fail("unterminated array")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			if p.opts.canonical {
				v.raw = p.in[start:p.pos]
			}
			return v, nil
		default:
			return jsonValue{}, p.fail("want ',' or ']' in array")
		}
	}
}

// string reads a quoted string and returns its value.
func (p *jsonParser) string() (string, error) {
	p.pos++ // '"'
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		if c == '"' {
			s := p.in[start:p.pos]
			if err := p.checkText(s, start); err != nil {
				return "", err
			}
			p.pos++
			if p.opts.canonical {
				return p.str[start : p.pos-1], nil
			}
			return string(s), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	p.pos = start
	var b []byte
	for {
		if p.pos >= len(p.in) {
			return "", p.fail("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c < 0x20:
			return "", p.fail("control character U+%04X in a string must be escaped", c)
		case c == '\\':
			at := p.pos
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			if p.opts.canonical && !canonicalEscape(p.in[at:p.pos], r) {
				p.pos = at
				return "", p.fail(errNotCanonicalForm+"escape %q where canonical JSON writes it otherwise", p.in[at:min(at+6, len(p.in))])
			}
			if isNoncharacter(r) {
				return "", p.fail("noncharacter U+%04X is not allowed (I-JSON)", r)
			}
			b = utf8.AppendRune(b, r)
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.fail("invalid UTF-8")
			}
			if isNoncharacter(r) {
				return "", p.fail("noncharacter U+%04X is not allowed (I-JSON)", r)
			}
			b = append(b, p.in[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
}

// checkText checks unescaped string bytes: valid UTF-8 and no noncharacters.
func (p *jsonParser) checkText(s []byte, start int) error {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size <= 1 {
			p.pos = start + i
			return p.fail("invalid UTF-8")
		}
		if isNoncharacter(r) {
			p.pos = start + i
			return p.fail("noncharacter U+%04X is not allowed (I-JSON)", r)
		}
		i += size
	}
	return nil
}

// escape reads one escape sequence (at '\') and returns its character. A
// \u escape of a high surrogate must be followed by one of a low surrogate.
func (p *jsonParser) escape() (rune, error) {
	if p.pos+1 >= len(p.in) {
		return 0, p.fail("unterminated escape")
	}
	c := p.in[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := p.hex4()
		if err != nil {
			return 0, err
		}
		switch {
		case utf16.IsSurrogate(r) && r < 0xdc00:
			if p.pos+1 < len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
				p.pos += 2
				lo, err := p.hex4()
				if err != nil {
					return 0, err
				}
				if lo >= 0xdc00 && lo <= 0xdfff {
					return utf16.DecodeRune(r, lo), nil
				}
			}
			return 0, p.fail("lone surrogate \\u%04x (I-JSON)", r)
		case utf16.IsSurrogate(r):
			return 0, p.fail("lone surrogate \\u%04x (I-JSON)", r)
		}
		return r, nil
	}
	return 0, p.fail("invalid escape \\%c", c)
}

func (p *jsonParser) hex4() (rune, error) {
	if p.pos+4 > len(p.in) {
		return 0, p.fail("short \\u escape")
	}
	var r rune
	for _, c := range p.in[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, p.fail("invalid \\u escape")
		}
	}
	p.pos += 4
	return r, nil
}

// canonicalEscape reports whether esc is how RFC 8785 writes r: the short
// forms for '"', '\\' and the five control characters that have them,
// \u00xx in lower-case hex for the other control characters, and nothing
// else escaped.
func canonicalEscape(esc []byte, r rune) bool {
	switch r {
	case '"', '\\':
		return len(esc) == 2
	case '\b', '\f', '\n', '\r', '\t':
		return len(esc) == 2
	}
	if r >= 0x20 || len(esc) != 6 {
		return false
	}
	const hexDigits = "0123456789abcdef"
	return string(esc) == `\u00`+string(hexDigits[r>>4])+string(hexDigits[r&0xf])
}

// isNoncharacter reports the 66 Unicode noncharacters, which I-JSON refuses.
func isNoncharacter(r rune) bool {
	return r >= 0xfdd0 && r <= 0xfdef || r&0xfffe == 0xfffe
}

// number reads a number literal and applies the number rule.
func (p *jsonParser) number() (jsonValue, error) {
	start := p.pos
	if p.in[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if n := digits(); n == 0 || n > 1 && p.in[intStart] == '0' {
		return jsonValue{}, p.fail("malformed number")
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return jsonValue{}, p.fail("malformed number")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return jsonValue{}, p.fail("malformed number")
		}
	}
	if p.opts.canonical {
		lit := p.str[start:p.pos]
		if plainNumber(lit) {
			return jsonValue{kind: jsonNumber, text: lit}, nil
		}
		canon, err := canonicalNumber(lit, p.opts.lenientNumbers)
		if err != nil {
			p.pos = start
			return jsonValue{}, p.fail("%v", err)
		}
		if canon != lit {
			p.pos = start
			return jsonValue{}, p.fail(errNotCanonicalForm+"number %s is written %s in canonical JSON", clip(lit), canon)
		}
		return jsonValue{kind: jsonNumber, text: lit}, nil
	}
	lit := string(p.in[start:p.pos])
	if plainNumber(lit) {
		return jsonValue{kind: jsonNumber, text: lit}, nil
	}
	canon, err := canonicalNumber(lit, p.opts.lenientNumbers)
	if err != nil {
		p.pos = start
		return jsonValue{}, p.fail("%v", err)
	}
	return jsonValue{kind: jsonNumber, text: canon}, nil
}

// plainNumber reports a literal that is its own canonical text at a
// glance, without converting it: 0, or a plain decimal (no exponent) of at
// most 15 significant digits, with no leading zero, no trailing zero after
// the point, at least 1e-6 and below 1e15 in magnitude, optionally
// negative. Two different decimals of at most 15 significant digits are
// never the same double (DBL_DIG), so the shortest digits of the double
// such a literal denotes are its own, which ECMAScript writes without an
// exponent between 1e-6 and 1e21, exactly as the literal is written; one
// without a point is an integer within ±(2^53-1). Numbers like these are
// most of what metadata holds, and the conversion canonicalNumber makes
// was a fifth of the producer's cost per event. TestPlainNumberIsCanonical
// and FuzzPlainNumber hold it to canonicalNumber.
func plainNumber(lit string) bool {
	if lit == "0" {
		return true
	}
	d := strings.TrimPrefix(lit, "-")
	intPart, frac, point := strings.Cut(d, ".")
	if len(intPart) == 0 || len(intPart) > 15 || len(intPart) > 1 && intPart[0] == '0' || !allDigits(intPart) {
		return false
	}
	if !point {
		return intPart != "0" // "-0" is written 0
	}
	if len(frac) == 0 || frac[len(frac)-1] == '0' || !allDigits(frac) {
		return false
	}
	significant := len(intPart) + len(frac)
	if intPart == "0" {
		zeros := len(frac) - len(strings.TrimLeft(frac, "0"))
		if zeros > 5 { // below 1e-6: written with an exponent
			return false
		}
		significant = len(frac) - zeros
	}
	return significant <= 15
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// canonicalNumber returns the canonical (ECMAScript) text of a well-formed
// JSON number literal under the number rule of docs/FORMAT.md: the literal
// must be within the range of an IEEE 754 double, the canonical text must
// have exactly the literal's decimal value, and a canonical text written as
// an integer must be within ±(2^53-1).
func canonicalNumber(lit string, lenient bool) (string, error) {
	// The literal is reduced to its significant digits and exponent first:
	// strconv.ParseFloat misreads literals of more than 800 digits or with
	// exponents beyond 10000 (it drops what does not fit its buffer), and a
	// canonical text never has more than 17 significant digits.
	neg, digits, exp, ok := decimal(lit)
	if !ok {
		return "", fmt.Errorf("number %s is beyond the range of a double; send it as a string", clip(lit))
	}
	if digits == "" {
		return "0", nil
	}
	// More than 17 digits can never be a canonical text; only the message
	// needs the double, for which 40 digits are plenty.
	tooLong := len(digits) > 17
	if tooLong && len(digits) > 40 {
		exp += int64(len(digits) - 40)
		digits = digits[:40]
	}
	short := digits + "e" + strconv.FormatInt(exp, 10)
	if neg {
		short = "-" + short
	}
	f, err := strconv.ParseFloat(short, 64)
	if err != nil {
		return "", fmt.Errorf("number %s is beyond the range of a double; send it as a string", clip(lit))
	}
	canon, err := jcs.NumberToJSON(f)
	if err != nil {
		return "", fmt.Errorf("number %s: %v", clip(lit), err)
	}
	if lenient {
		return canon, nil
	}
	if tooLong || !sameDecimal(lit, canon) {
		return "", fmt.Errorf("number %s is not exactly a double: canonical JSON would write %s; send it as a string", clip(lit), canon)
	}
	if !strings.ContainsAny(canon, ".e") {
		if d := strings.TrimPrefix(canon, "-"); len(d) > 16 || len(d) == 16 && d > "9007199254740991" {
			return "", fmt.Errorf("number %s is the integer %s, beyond ±(2^53-1); send it as a string", clip(lit), canon)
		}
	}
	return canon, nil
}

// clip shortens a literal for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// sameDecimal reports whether two well-formed JSON number literals have the
// same exact decimal value (any zero equals any zero).
func sameDecimal(a, b string) bool {
	sa, da, ea, oka := decimal(a)
	sb, db, eb, okb := decimal(b)
	if !oka || !okb {
		return false
	}
	if da == "" || db == "" {
		return da == db
	}
	return sa == sb && da == db && ea == eb
}

// decimal reduces a number literal to sign, significant digits (no leading
// or trailing zeros; "" for zero) and the power of ten of the last digit.
func decimal(lit string) (neg bool, digits string, exp int64, ok bool) {
	s := lit
	if neg = strings.HasPrefix(s, "-"); neg {
		s = s[1:]
	}
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits = strings.TrimLeft(intPart+frac, "0")
	trimmed := strings.TrimRight(digits, "0")
	if trimmed == "" {
		return false, "", 0, true
	}
	if hasExp {
		var err error
		if exp, err = strconv.ParseInt(expText, 10, 64); err != nil || exp > 1<<40 || exp < -(1<<40) {
			return false, "", 0, false
		}
	}
	exp += int64(len(digits)-len(trimmed)) - int64(len(frac))
	return neg, trimmed, exp, true
}

// appendCanonical writes v as RFC 8785 canonical JSON.
func appendCanonical(b []byte, v *jsonValue) []byte {
	switch v.kind {
	case jsonNull:
		return append(b, "null"...)
	case jsonTrue:
		return append(b, "true"...)
	case jsonFalse:
		return append(b, "false"...)
	case jsonNumber:
		return append(b, v.text...)
	case jsonString:
		return appendString(b, v.text)
	case jsonArray:
		b = append(b, '[')
		for i := range v.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, &v.elems[i])
		}
		return append(b, ']')
	}
	members := v.members
	if !slices.IsSortedFunc(members, compareMembers) {
		members = slices.Clone(members)
		slices.SortFunc(members, compareMembers)
	}
	b = append(b, '{')
	for i := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, members[i].name)
		b = append(b, ':')
		b = appendCanonical(b, &members[i].value)
	}
	return append(b, '}')
}

func compareMembers(a, b jsonMember) int { return compareUTF16(a.name, b.name) }

// compareUTF16 orders strings by their UTF-16 code units (RFC 8785 3.2.3).
// UTF-8 byte order equals code point order, which differs from UTF-16 order
// only between a supplementary character (a surrogate pair, 0xD800..) and a
// BMP character at or above U+E000.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			if ua, ub := cmpUnit(ra), cmpUnit(rb); ua != ub {
				return ua - ub
			}
			return int(ra - rb) // two supplementary characters with one high surrogate
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

// cmpUnit is the first UTF-16 code unit of r, widened so that differences
// compare correctly.
func cmpUnit(r rune) int {
	if r >= 0x10000 {
		hi, _ := utf16.EncodeRune(r)
		return int(hi)
	}
	return int(r)
}

// appendString writes s as an RFC 8785 string: only '"', '\' and control
// characters are escaped, with the short forms where JSON has them.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start, i := 0, 0
	// Eight bytes at a time while none needs a look (plainWord).
	for ; i+8 <= len(s); i += 8 {
		if !plainWord(stringWord(s[i:])) {
			break
		}
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Canonicalize returns the RFC 8785 (JCS) form of raw under the rules of
// docs/FORMAT.md section 3: raw must be I-JSON (valid UTF-8, no duplicate
// member names, no lone surrogates or noncharacters), nest at most MaxDepth
// levels, and every number in it must keep its exact value through
// canonicalisation, with integers written within ±(2^53-1). Errors are
// *JSONError naming the offending member.
func Canonicalize(raw []byte) ([]byte, error) {
	v, err := parseJSON(raw, parseOptions{maxDepth: MaxDepth})
	if err != nil {
		return nil, err
	}
	return appendCanonical(make([]byte, 0, len(raw)), &v), nil
}
