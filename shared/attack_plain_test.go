package shared

import (
	"encoding/binary"
	"math/rand"
	"testing"
)

func TestAttackPlainWordBoundaryBytes(t *testing.T) {
	alpha := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xa2, 0xdc, 0xfe, 0xff, 'a'}
	r := rand.New(rand.NewSource(2))
	var b [8]byte
	for i := 0; i < 3000000; i++ {
		plain := true
		for j := range b {
			b[j] = alpha[r.Intn(len(alpha))]
			plain = plain && plainByte[b[j]]
		}
		if plainWord(binary.LittleEndian.Uint64(b[:])) && !plain {
			t.Fatalf("plainWord passes %x", b)
		}
	}
}
