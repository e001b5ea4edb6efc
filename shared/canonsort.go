package shared

import "slices"

// canonicalSorted writes in as canonical JSON when it is canonical but for
// the order of object members: what a hand-written literal or a marshalled
// Go struct looks like. Every string, number and literal must already be
// in its canonical form (the scanner's rules); members are then written in
// the sorted order. ok is false for anything else (whitespace, an escaped
// member name, a duplicate name, a number or escape in another form, too
// deep): the caller then runs the strict parser, whose answer stands.
// FuzzCanonicalSorted holds it to Canonicalize.
func canonicalSorted(in []byte, maxDepth int, out []byte) (_ []byte, ok bool) {
	w := sortWriter{out: out}
	w.sc.in, w.sc.maxDepth = in, maxDepth
	if !w.value(1) || w.sc.pos != len(in) {
		return out, false
	}
	return w.out, true
}

// sortWriter reads with the canonical scanner and writes what it reads,
// each object's members in sorted order.
type sortWriter struct {
	sc      canonScanner
	out     []byte
	scratch []byte
}

// member is one member written: its name in the input and its text
// (name, colon, value) in out.
type member struct {
	nameStart, nameEnd int
	outStart, outEnd   int
}

func (w *sortWriter) value(depth int) bool {
	s := &w.sc
	if s.pos >= len(s.in) {
		return false
	}
	start := s.pos
	var ok bool
	switch c := s.in[s.pos]; {
	case c == '{':
		return w.object(depth)
	case c == '[':
		return w.array(depth)
	case c == '"':
		ok, _ = s.string()
	case c == '-' || c >= '0' && c <= '9':
		ok = s.number()
	case c == 'n':
		ok = s.literal("null")
	case c == 't':
		ok = s.literal("true")
	case c == 'f':
		ok = s.literal("false")
	}
	if ok {
		w.out = append(w.out, s.in[start:s.pos]...)
	}
	return ok
}

func (w *sortWriter) array(depth int) bool {
	s := &w.sc
	if depth > s.maxDepth {
		return false
	}
	s.pos++ // '['
	w.out = append(w.out, '[')
	if s.pos < len(s.in) && s.in[s.pos] == ']' {
		s.pos++
		w.out = append(w.out, ']')
		return true
	}
	for {
		if !w.value(depth + 1) {
			return false
		}
		if s.pos >= len(s.in) {
			return false
		}
		switch s.in[s.pos] {
		case ',':
			s.pos++
			w.out = append(w.out, ',')
		case ']':
			s.pos++
			w.out = append(w.out, ']')
			return true
		default:
			return false
		}
	}
}

func (w *sortWriter) object(depth int) bool {
	s := &w.sc
	if depth > s.maxDepth {
		return false
	}
	s.pos++ // '{'
	open := len(w.out)
	w.out = append(w.out, '{')
	if s.pos < len(s.in) && s.in[s.pos] == '}' {
		s.pos++
		w.out = append(w.out, '}')
		return true
	}
	var local [16]member
	members := local[:0]
	sorted := true
	for {
		if s.pos >= len(s.in) || s.in[s.pos] != '"' {
			return false
		}
		m := member{nameStart: s.pos + 1, outStart: len(w.out)}
		ok, escaped := s.string()
		if !ok || escaped {
			return false // an escaped name is left to the strict parser
		}
		m.nameEnd = s.pos - 1
		if s.pos >= len(s.in) || s.in[s.pos] != ':' {
			return false
		}
		s.pos++
		w.out = append(w.out, s.in[m.nameStart-1:m.nameEnd+2]...) // "name":
		if !w.value(depth + 1) {
			return false
		}
		m.outEnd = len(w.out)
		if n := len(members); n > 0 && !sortedNames(w.name(members[n-1]), w.name(m)) {
			sorted = false
		}
		members = append(members, m)
		if s.pos >= len(s.in) {
			return false
		}
		switch s.in[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return w.close(open, members, sorted)
		default:
			return false
		}
	}
}

func (w *sortWriter) name(m member) []byte { return w.sc.in[m.nameStart:m.nameEnd] }

// close writes the members of the object opened at out[open] in sorted
// order, commas between them, and the closing brace. Members were written
// one after the other, without commas.
func (w *sortWriter) close(open int, members []member, sorted bool) bool {
	if !sorted {
		// n log n: an object of a thousand members in reverse order took
		// 25 ms sorted by insertion.
		slices.SortFunc(members, func(a, b member) int {
			switch {
			case sortedNames(w.name(a), w.name(b)):
				return -1
			case sortedNames(w.name(b), w.name(a)):
				return 1
			}
			return 0
		})
		for i := 1; i < len(members); i++ {
			if !sortedNames(w.name(members[i-1]), w.name(members[i])) {
				return false // equal names: never canonical
			}
		}
	}
	w.scratch = append(w.scratch[:0], w.out[open+1:]...)
	base := open + 1
	w.out = w.out[:base]
	for i, m := range members {
		if i > 0 {
			w.out = append(w.out, ',')
		}
		w.out = append(w.out, w.scratch[m.outStart-base:m.outEnd-base]...)
	}
	w.out = append(w.out, '}')
	return true
}
