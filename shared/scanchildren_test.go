package shared

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// childrenReference is children as it was first written: every recorded
// member's parent read, names compared as strings. children is held to it.
func childrenReference(s *canonScanner, parent int, names []string, out []int) bool {
	k := 0
	for i := 0; i < s.n; i++ {
		if s.members[i].parent != parent {
			continue
		}
		m := &s.members[i]
		if k == len(names) || string(s.in[m.nameStart:m.nameEnd]) != names[k] {
			return false
		}
		out[k] = i
		k++
	}
	return k == len(names)
}

// checkChildren fails t when children and the reference differ on any
// parent of the scanned text and any of names lists: the recorded names
// of each object and edits of them (one dropped, one added, one changed
// in a byte, the lists of other objects).
func checkChildren(t *testing.T, s *canonScanner, rng *rand.Rand) {
	t.Helper()
	var lists [][]string
	for p := -1; p < s.n; p++ {
		var names []string
		for i := 0; i < s.n; i++ {
			if s.members[i].parent == p {
				names = append(names, string(s.in[s.members[i].nameStart:s.members[i].nameEnd]))
			}
		}
		lists = append(lists, names)
		if len(names) > 0 {
			drop := rng.IntN(len(names))
			lists = append(lists, append(append([]string{}, names[:drop]...), names[drop+1:]...))
			lists = append(lists, append(append([]string{}, names...), "z"))
			changed := append([]string{}, names...)
			if b := []byte(changed[drop]); len(b) > 0 {
				b[rng.IntN(len(b))] ^= byte(1 << rng.IntN(8))
				changed[drop] = string(b)
			} else {
				changed[drop] = "a"
			}
			lists = append(lists, changed)
		}
	}
	for p := -1; p < s.n; p++ {
		for _, names := range lists {
			out, wout := make([]int, len(names)), make([]int, len(names))
			got, want := s.children(p, memberNames(names...), out), childrenReference(s, p, names, wout)
			if got != want || got && !equalInts(out, wout) {
				t.Fatalf("%q parent %d names %q: children %v %v, reference %v %v", s.in, p, names, got, out, want, wout)
			}
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// children (the members' links, and named's word compare) gives what
// reading every member's parent gives: on the seed lines and records, and
// on random canonical objects nested three deep with names of 0 to 20
// bytes, the text cut short of 16 bytes after them.
func TestChildrenIsTheParentScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	lines, records := fastSeeds(t)
	texts := append(lines, records...)
	var object func(depth int) string
	object = func(depth int) string {
		n := rng.IntN(5)
		var names []string
		for range n {
			names = append(names, strings.Repeat(string(rune('a'+rng.IntN(3))), rng.IntN(21)))
		}
		names = sortedUnique(names)
		var b strings.Builder
		b.WriteByte('{')
		for i, name := range names {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + name + `":`)
			switch {
			case depth < 4 && rng.IntN(2) == 0:
				b.WriteString(object(depth + 1))
			case rng.IntN(3) == 0:
				b.WriteString("[" + object(depth+1) + "]")
			default:
				b.WriteString("1")
			}
		}
		b.WriteByte('}')
		return b.String()
	}
	for range 3000 {
		texts = append(texts, []byte(object(1)))
	}
	for _, text := range texts {
		var s canonScanner
		if !s.scan(text, MaxDepth, 3) {
			continue
		}
		checkChildren(t, &s, rng)
	}
}

func sortedUnique(names []string) []string {
	var out []string
	for _, n := range names {
		i := 0
		for i < len(out) && out[i] < n {
			i++
		}
		if i < len(out) && out[i] == n {
			continue
		}
		out = append(out[:i], append([]string{n}, out[i:]...)...)
	}
	return out
}

// named is a string compare for names of 0 to 20 bytes, each byte of them
// changed, with any bytes after the name, at every distance from the end
// of the input.
func TestNamedIsStringCompare(t *testing.T) {
	for n := 0; n <= 20; n++ {
		name := strings.Repeat("x", n)
		want := memberNames(name)[0]
		for tail := 0; tail <= 20; tail++ {
			for edit := -1; edit < n+tail; edit++ {
				for _, c := range []byte{'x', 'y', 0, 0xff} {
					in := []byte(`"` + name + strings.Repeat("x", tail))
					if edit >= 0 {
						in[1+edit] = c
					}
					m := scanMember{nameStart: 1, nameEnd: 1 + n}
					s := canonScanner{in: in}
					if got, ref := s.named(&m, &want), string(in[1:1+n]) == name; got != ref {
						t.Fatalf("name %q in %q: named %v, compare %v", name, in, got, ref)
					}
					for l := 0; l <= 20 && 1+l <= len(in); l++ {
						m := scanMember{nameStart: 1, nameEnd: 1 + l}
						if got, ref := s.named(&m, &want), string(in[1:1+l]) == name; got != ref {
							t.Fatalf("name %q against %q: named %v, compare %v", name, in[1:1+l], got, ref)
						}
					}
				}
			}
		}
	}
}

// The scanner's member order is the strict parser's, name pair by name
// pair: equal, prefixes, first bytes equal or not, below and above 0xee
// (the characters U+E000 and up, whose UTF-16 order is not their UTF-8
// order), and the empty name.
func TestScanNameOrderIsStrict(t *testing.T) {
	names := []string{"", "a", "b", "z", "aa", "ab", "ba", "A", "_", "~", "é", "ê", "\u0800", "\ud7ff", "\ue000", "ﬀ", "\uffef", "😀", "𐀀", "a😀", "aﬀ"}
	for _, x := range names {
		for _, y := range names {
			in := []byte(`{"` + x + `":1,"` + y + `":2}`)
			_, err := parseJSON(in, parseOptions{maxDepth: MaxDepth, canonical: true})
			if got, want := canonicalText(in, MaxDepth), err == nil; got != want {
				t.Errorf("%s: the scanner says canonical %v, the strict parser %v (%v)", in, got, want, err)
			}
		}
	}
}
