package shared

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
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

// Key parsing errors name a key by its name and hash, never by its key
// bytes: a private key given as the verifier key must not be printed.
func TestKeyErrorsDoNotEchoKeyMaterial(t *testing.T) {
	secret := vecSignerKey[len(vecSignerKey)-44:]
	public := vecVerifierKey[len(vecVerifierKey)-44:]
	flip := func(s string) string { return s[:len(s)-3] + "AAA" }
	cases := map[string]func() error{
		"private as verifier":      func() error { _, err := ParseVerifierKey(vecSignerKey); return err },
		"private as keyset":        func() error { _, err := ParseKeyset(vecSignerKey); return err },
		"private in a keyset line": func() error { _, err := ParseKeyset(vecSignerKey + " 0 -"); return err },
		"bad public key bytes":     func() error { _, err := ParseVerifierKey(flip(vecVerifierKey)); return err },
		"bad public key hash": func() error {
			_, err := ParseVerifierKey("aegis-prod+00000000+" + public)
			return err
		},
		"broken private key":     func() error { _, err := NewSigner(flip(vecSignerKey)); return err },
		"broken private pub of":  func() error { _, err := VerifierKeyOf(flip(vecSignerKey)); return err },
		"private without prefix": func() error { _, err := ParseVerifierKey(vecSignerKey[len("PRIVATE+KEY+"):]); return err },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			err := f()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, k := range []string{secret[:16], secret[20:36], public[:16], public[20:36], flip(secret)[28:]} {
				if strings.Contains(err.Error(), k) {
					t.Fatalf("error echoes key bytes %q: %v", k, err)
				}
			}
			if !strings.Contains(err.Error(), "aegis-prod") {
				t.Fatalf("error does not name the key: %v", err)
			}
		})
	}
}
