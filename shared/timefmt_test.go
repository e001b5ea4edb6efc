package shared

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestAppendTimeIsRFC3339Nano: the sealer's own time writer writes what
// time.RFC3339Nano writes, for every instant an entry can hold (and the
// years beyond, which take the general formatter).
func TestAppendTimeIsRFC3339Nano(t *testing.T) {
	times := []time.Time{EarliestTime, LatestTime, time.Unix(0, 0), time.Date(2026, 11, 29, 0, 0, 0, 1, time.UTC),
		time.Date(2026, 2, 28, 23, 59, 59, 100_000_000, time.UTC), time.Date(2024, 2, 29, 12, 0, 0, 120_000_000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("x", 5*3600+1800)), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(9, 3, 4, 5, 6, 7, 80, time.UTC)}
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := EarliestTime.Unix(), LatestTime.Unix()
	for range 200_000 {
		ns := 0
		switch r.IntN(4) { // whole seconds, milliseconds, microseconds, any
		case 1:
			ns = r.IntN(1000) * 1_000_000
		case 2:
			ns = r.IntN(1_000_000) * 1000
		case 3:
			ns = r.IntN(1_000_000_000)
		}
		times = append(times, time.Unix(lo+r.Int64N(hi-lo+1), int64(ns)))
	}
	// Any instant in any zone, the years around the range's edges and far
	// past them (the outside attack's cases).
	zones := []*time.Location{time.UTC, time.FixedZone("x", -14*3600), time.FixedZone("y", 14*3600+59), time.Local}
	edges := []time.Time{time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC), EarliestTime, LatestTime,
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), {}, time.Unix(1<<62, 0), time.Unix(-1<<62, 0)}
	for i := range 300_000 {
		var tm time.Time
		switch i % 4 {
		case 0:
			tm = time.Unix(r.Int64N(400_000_000_000)-200_000_000_000, r.Int64N(1e9))
		case 1:
			tm = time.UnixMilli(r.Int64())
		case 2:
			tm = edges[r.IntN(len(edges))].Add(time.Duration(r.Int64N(2e9) - 1e9))
		default:
			ns := int64(r.IntN(10))
			for range r.IntN(9) {
				ns *= 10
			}
			tm = time.Unix(r.Int64()-1<<62, ns)
		}
		times = append(times, tm.In(zones[r.IntN(len(zones))]))
	}
	for _, tm := range times {
		want := `"` + tm.UTC().Format(time.RFC3339Nano) + `"`
		if got := string(appendTime([]byte("x"), tm)[1:]); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// TestAppendStringEscapesEveryPlace: appendString's eight-byte skip over
// plain words writes what a byte-by-byte RFC 8785 escaper writes, with the
// character that needs a look at every place of strings up to 40 bytes
// (inside the first word, at a word's edge, in the tail after the words).
func TestAppendStringEscapesEveryPlace(t *testing.T) {
	reference := func(s string) string {
		out := []byte{'"'}
		for _, c := range []byte(s) {
			switch {
			case c == '"' || c == '\\':
				out = append(out, '\\', c)
			case c == '\b':
				out = append(out, `\b`...)
			case c == '\f':
				out = append(out, `\f`...)
			case c == '\n':
				out = append(out, `\n`...)
			case c == '\r':
				out = append(out, `\r`...)
			case c == '\t':
				out = append(out, `\t`...)
			case c < 0x20:
				out = append(out, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			default:
				out = append(out, c)
			}
		}
		return string(append(out, '"'))
	}
	for n := range 41 {
		for place := range n {
			for _, c := range []byte{0x00, 0x01, '\n', 0x1f, '"', '\\', 0x7f, 0x80, 0xc3, 0xff, ' ', '~'} {
				b := []byte(strings.Repeat("a", n))
				b[place] = c
				if place+2 < n {
					b[place+2] = '"' // a second one after the first
				}
				if got, want := string(appendString([]byte("x"), string(b))), "x"+reference(string(b)); got != want {
					t.Fatalf("appendString(%q) = %s, want %s", b, got, want)
				}
			}
		}
	}
}
