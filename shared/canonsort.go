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
	return canonicalSortedWith(in, maxDepth, out, nil, false)
}

// A topMember is a string member canonicalSortedWith adds to the
// top-level object when that object has no member of its name.
type topMember struct {
	name  []byte // as it is written between quotes: no escape needed
	value string
	// refused: a text that holds the member itself is not taken (ok
	// false), and the strict parser names the error.
	refused bool
}

// canonicalSortedWith is canonicalSorted, adding each of extra that the
// top-level object leaves out (at its place in the sorted order), as if
// it had been in the input; with spaces it also drops the whitespace JSON
// allows between tokens (space, tab, line feed, carriage return), as the
// strict parser does.
func canonicalSortedWith(in []byte, maxDepth int, out []byte, extra []topMember, spaces bool) (_ []byte, ok bool) {
	w := sortWriter{out: out, spaces: spaces}
	if len(extra) > len(w.extra) {
		return out, false
	}
	w.nExtra = copy(w.extra[:], extra)
	w.sc.in, w.sc.maxDepth = in, maxDepth
	if !w.value(1) {
		return out, false
	}
	if w.space(); w.sc.pos != len(in) {
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
	// extra[:nExtra] are the members to add (held here, not in a slice
	// of the caller's, which would be one more allocation per text).
	extra  [4]topMember
	nExtra int
	spaces bool // whitespace between tokens is skipped
	values int  // values begun
}

// space skips whitespace between tokens, when the writer takes it.
func (w *sortWriter) space() {
	if !w.spaces {
		return
	}
	s := &w.sc
	for s.pos < len(s.in) {
		switch s.in[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// member is one member written: its name and its text (name, colon,
// value) in out.
type member struct {
	name             []byte
	outStart, outEnd int
}

func (w *sortWriter) value(depth int) bool {
	s := &w.sc
	w.space()
	// No record or metadata that is valid holds more values than a sealed
	// line (maxLineValues); the writer keeps every member of an object to
	// sort it, so it hands a larger text to the strict parser, which
	// stops there too.
	if w.values++; s.pos >= len(s.in) || w.values > maxLineValues {
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
	if w.space(); s.pos < len(s.in) && s.in[s.pos] == ']' {
		s.pos++
		w.out = append(w.out, ']')
		return true
	}
	for {
		if !w.value(depth + 1) {
			return false
		}
		w.space()
		more, ok := s.delimiter(']')
		if !ok {
			return false
		}
		if !more {
			w.out = append(w.out, ']')
			return true
		}
		w.out = append(w.out, ',')
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
	var local [16]member
	members := local[:0]
	sorted := true
	// add records the member written from m.outStart on.
	add := func(m member) {
		m.outEnd = len(w.out)
		if n := len(members); n > 0 && !sortedNames(members[n-1].name, m.name) {
			sorted = false
		}
		members = append(members, m)
	}
	if w.space(); s.pos < len(s.in) && s.in[s.pos] == '}' {
		s.pos++
	} else {
		for done := false; !done; {
			if w.space(); s.pos >= len(s.in) || s.in[s.pos] != '"' {
				return false
			}
			if len(members) > 0 {
				w.out = append(w.out, ',')
			}
			nameStart := s.pos + 1
			ok, escaped := s.string()
			if !ok || escaped {
				return false // an escaped name is left to the strict parser
			}
			m := member{name: s.in[nameStart : s.pos-1], outStart: len(w.out)}
			w.out = append(w.out, s.in[nameStart-1:s.pos]...) // "name"
			if w.space(); s.pos >= len(s.in) || s.in[s.pos] != ':' {
				return false
			}
			s.pos++
			w.out = append(w.out, ':')
			if !w.value(depth + 1) {
				return false
			}
			add(m)
			w.space()
			more, ok := s.delimiter('}')
			if !ok {
				return false
			}
			done = !more
		}
	}
	if depth == 1 {
		for _, x := range w.extra[:w.nExtra] {
			if slices.ContainsFunc(members, func(m member) bool { return string(m.name) == string(x.name) }) {
				if x.refused {
					return false
				}
				continue
			}
			if len(members) > 0 {
				w.out = append(w.out, ',')
			}
			m := member{name: x.name, outStart: len(w.out)}
			w.out = append(append(append(w.out, '"'), x.name...), '"', ':')
			w.out = appendString(w.out, x.value)
			add(m)
		}
	}
	return w.close(open, members, sorted)
}

// close ends the object opened at out[open], whose members were written
// one after the other with commas between them: when they are not in
// sorted order it writes them again in that order.
func (w *sortWriter) close(open int, members []member, sorted bool) bool {
	if !sorted {
		// n log n: an object of a thousand members in reverse order took
		// 25 ms sorted by insertion.
		slices.SortFunc(members, func(a, b member) int {
			switch {
			case sortedNames(a.name, b.name):
				return -1
			case sortedNames(b.name, a.name):
				return 1
			}
			return 0
		})
		for i := 1; i < len(members); i++ {
			if !sortedNames(members[i-1].name, members[i].name) {
				return false // equal names: never canonical
			}
		}
		base := open + 1
		if w.scratch == nil {
			// One buffer for every object of the text, as large as the
			// caller expects the whole text to be.
			w.scratch = make([]byte, 0, cap(w.out))
		}
		w.scratch = append(w.scratch[:0], w.out[base:]...)
		w.out = w.out[:base]
		for i, m := range members {
			if i > 0 {
				w.out = append(w.out, ',')
			}
			w.out = append(w.out, w.scratch[m.outStart-base:m.outEnd-base]...)
		}
	}
	w.out = append(w.out, '}')
	return true
}
