package shared

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
)

// parseHashReference is ParseHash as it was first written: one hexDigit
// look-up a digit. ParseHash is held to it.
func parseHashReference(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("hash %q: want %d hex digits", clip(s), 2*len(h))
	}
	var bad byte
	for i := range h {
		hi, lo := hexDigit[s[2*i]], hexDigit[s[2*i+1]]
		bad |= hi | lo
		h[i] = hi<<4 | lo&0x0f
	}
	if bad > 0x0f {
		return Hash{}, fmt.Errorf("hash %q: not lowercase hex", clip(s))
	}
	return h, nil
}

// hexWord decodes and refuses as hexDigit does: every byte value in
// every place of a word of digits, and random words.
func TestHexWordIsHexDigit(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const digits = "0123456789abcdef"
	check := func(b [8]byte) {
		t.Helper()
		w := stringWord(string(b[:]))
		v, bad := hexWord(w)
		wantBad := false
		var want uint32
		for i := 0; i < 8; i += 2 {
			hi, lo := hexDigit[b[i]], hexDigit[b[i+1]]
			wantBad = wantBad || hi > 0x0f || lo > 0x0f
			want |= uint32(hi<<4|lo&0x0f) << (4 * i)
		}
		if (bad != 0) != wantBad || !wantBad && v != want {
			t.Fatalf("%q: hexWord %08x bad %x, want %08x bad %v", b, v, bad, want, wantBad)
		}
	}
	for place := range 8 {
		for c := range 256 {
			for range 4 {
				var b [8]byte
				for i := range b {
					b[i] = digits[rng.IntN(16)]
				}
				b[place] = byte(c)
				check(b)
			}
		}
	}
	for range 1000000 {
		var b [8]byte
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				b[i] = digits[rng.IntN(16)]
			}
		}
		check(b)
	}
}

// ParseHash gives the reference's hash and error on hashes, and on
// hashes with any byte changed and of other lengths.
func TestParseHashIsReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const digits = "0123456789abcdef"
	for range 20000 {
		b := make([]byte, 64)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		switch rng.IntN(4) {
		case 0:
			b[rng.IntN(64)] = byte(rng.IntN(256))
		case 1:
			b = append(b, make([]byte, 6)...)[:rng.IntN(70)]
		case 2:
			b = append(b, digits[rng.IntN(16)])
		}
		got, err := ParseHash(string(b))
		want, werr := parseHashReference(string(b))
		if got != want || fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("%q: ParseHash %x (%v), reference %x (%v)", b, got, err, want, werr)
		}
	}
}

// hexEncodeWord writes what hex.Encode writes: every byte value in every
// place of the word, and random words.
func TestHexEncodeWordIsHexEncode(t *testing.T) {
	check := func(x uint32) {
		t.Helper()
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], x)
		var got [8]byte
		binary.LittleEndian.PutUint64(got[:], hexEncodeWord(x))
		if want := hex.EncodeToString(b[:]); string(got[:]) != want {
			t.Fatalf("% x: hexEncodeWord %q, hex.Encode %q", b, got, want)
		}
	}
	for place := range 4 {
		for c := range 256 {
			for _, other := range []uint32{0, 0xffffffff, 0x9a9a9a9a, 0x0f0f0f0f, 0xf0f0f0f0} {
				check(other&^(0xff<<(8*place)) | uint32(c)<<(8*place))
			}
		}
	}
	rng := rand.New(rand.NewPCG(15, 16))
	for range 1000000 {
		check(rng.Uint32())
	}
}
