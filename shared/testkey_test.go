package shared

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// testKey derives a checkpoint key pair from a fixed seed, so vectors are
// reproducible: the signer (private) key text and the verifier key text.
func testKey(name, seedText string) (skey, vkey string) {
	seed := sha256.Sum256([]byte(seedText))
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	h := keyHash(name, append([]byte{1}, pub...))
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(append([]byte{1}, seed[:]...)))
	vkey = fmt.Sprintf("%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(append([]byte{1}, pub...)))
	return skey, vkey
}

// The vectors' key: the seed is published in testdata/vectors so anyone
// can re-sign the checkpoint vectors.
const vecKeySeed = "aegis-audit test vector key (never use for a real chain)"

var vecSignerKey, vecVerifierKey = testKey("aegis-prod", vecKeySeed)

// The second vectors key, which the rotation vectors hand over to.
const vecKey2Seed = "aegis-audit second test vector key (never use for a real chain)"

var vecSignerKey2, vecVerifierKey2 = testKey("aegis-prod-2", vecKey2Seed)

func vecSigner(t testing.TB) note.Signer {
	t.Helper()
	s, err := NewSigner(vecSignerKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func vecVerifier(t testing.TB) VerifierKey {
	t.Helper()
	v, err := ParseVerifierKey(vecVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
