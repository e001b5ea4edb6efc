package shared

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// specialBytes' lowest mark is the first byte of the word that is not a
// plainByte one (none when all are, which is plainWord): every byte value at every place
// among plain bytes, with any value in a place after it, and random
// words of edge bytes and of mostly plain ones.
func TestSpecialBytesFirstMark(t *testing.T) {
	check := func(w [8]byte) {
		t.Helper()
		want := 8
		for i, c := range w {
			if !plainByte[c] {
				want = i
				break
			}
		}
		got := 8
		if m := specialBytes(binary.LittleEndian.Uint64(w[:])); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != want {
			t.Fatalf("% x: first marked byte %d, first not plain %d", w, got, want)
		}
	}
	plain := [8]byte{'a', ' ', '~', '!', '#', '[', ']', '0'}
	for place := range 8 {
		for c := range 256 {
			w := plain
			w[place] = byte(c)
			check(w)
			for after := place + 1; after < 8; after++ {
				for d := range 256 {
					w2 := w
					w2[after] = byte(d)
					check(w2)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(13, 14))
	edge := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xa2, 0xdc, 0xfe, 0xff, 'a'}
	for range 2_000_000 {
		var w [8]byte
		for j := range w {
			w[j] = edge[r.IntN(len(edge))]
		}
		check(w)
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		for i := range w {
			if r.IntN(6) != 0 {
				w[i] = 0x20 + w[i]%0x60
			}
		}
		check(w)
	}
}

// scanString finds the same end and verdict whatever the place of the
// byte that stops it: strings of up to 40 plain bytes with one special
// byte (or none) at every place, and the input cut at every length.
func TestScanStringEveryPlace(t *testing.T) {
	specials := []string{`"`, `\"`, `\n`, `\u001f`, `\u0020`, `\x`, "\x00", "\x1f", "\x7f", "é", "\xff", "\xef\xbf\xbe", "😀", "\xed\xa0\x80"}
	for n := 0; n <= 40; n++ {
		for at := 0; at <= n; at++ {
			for _, sp := range specials {
				str := make([]byte, 0, n+8)
				for i := 0; i < n; i++ {
					if i == at {
						str = append(str, sp...)
					}
					str = append(str, byte('a'+i%26))
				}
				in := append([]byte(`"`), append(str, `"}`...)...)
				for cut := 1; cut <= len(in); cut++ {
					ok, esc, end := scanString(in[:cut], 1)
					wok, wesc, wend := scanStringBytewise(in[:cut], 1)
					if ok != wok || esc != wesc || (ok && end != wend) {
						t.Fatalf("%q: scanString %v %v %d, byte by byte %v %v %d", in[:cut], ok, esc, end, wok, wesc, wend)
					}
				}
			}
		}
	}
}

// scanStringBytewise is scanString reading one byte at a time.
func scanStringBytewise(in []byte, i int) (ok, escaped bool, end int) {
	for {
		for i < len(in) && plainByte[in[i]] {
			i++
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
