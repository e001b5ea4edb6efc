package sealer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/shared"
)

func genKey(t *testing.T, name string) (string, string) {
	t.Helper()
	s, v, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// prepared returns the entry PrepareRecord makes of raw at offset.
func prepared(t *testing.T, raw []byte, offset int64) *shared.Entry {
	t.Helper()
	e, err := shared.PrepareRecord("prod", shared.Source{Topic: "aegis.decisions.prod", Offset: offset, Timestamp: time.Now()}, raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The sealer's configuration of keys is checked at New: the keyset must
// trust the signer key, and a staged key must be another key.
func TestKeySettingsAreChecked(t *testing.T) {
	s1, v1 := genKey(t, "k1")
	s2, v2 := genKey(t, "k2")
	for _, tc := range []struct {
		name              string
		signer, next, set string
		want              string
	}{
		{"one key", s1, "", v1, ""},
		{"staged", s1, s2, v1, ""},
		{"after the rotation", s2, "", fmt.Sprintf("%s 0 9\n%s 10 -\n", v1, v2), ""},
		{"keyset without the signer", s2, "", v1, "VerifierKey (k1+"}, // then: does not trust the signer key's public key k2+...
		{"staged is the signer", s1, s1, v1, "NextSignerKey is the signer key"},
		{"a public key as the staged key", s1, v2, v1, "NextSignerKey"},
		{"a broken keyset", s1, "", v1 + " 1 -\n", "VerifierKey"},
		{"the keyset's new key still staged", s1, s2, fmt.Sprintf("%s 0 9\n%s 10 -\n", v1, v2), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newKeyState(tc.signer, tc.next, tc.set)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// A key-change request becomes a KEY entry only for the staged key, once;
// after the hand-over the new key signs from the next seq and the old one
// up to the KEY entry; a key the sealer does not hold is never used.
func TestKeyChangeRequestsAreDecidedInOrder(t *testing.T) {
	s1, v1 := genKey(t, "k1")
	s2, v2 := genKey(t, "k2")
	_, v3 := genKey(t, "k3")
	k2, _ := shared.ParseVerifierKey(v2)
	k3, _ := shared.ParseVerifierKey(v3)

	// refused checks that ks seals raw as INVALID, for the reason want.
	refused := func(what string, ks *keyState, raw []byte, want string) {
		t.Helper()
		e := prepared(t, raw, 1)
		ks.decide(e)
		if e.Type != shared.EntryInvalid || !strings.Contains(e.Invalid.Reason, want) {
			t.Fatalf("%s: %s %+v, want INVALID for %q", what, e.Type, e.Invalid, want)
		}
	}
	unstaged, err := newKeyState(s1, "", v1)
	if err != nil {
		t.Fatal(err)
	}
	refused("without a staged key", unstaged, shared.KeyChangeRequest("prod", k2), "no key staged")
	ks, err := newKeyState(s1, s2, v1)
	if err != nil {
		t.Fatal(err)
	}
	refused("another key", ks, shared.KeyChangeRequest("prod", k3), "not the key this sealer has staged")
	refused("another chain's request", ks, []byte(`{"environment":"dev","type":"key_change","verifier_key":"`+v2+`"}`), "environment")
	refused("an extra member", ks, []byte(`{"environment":"prod","type":"key_change","verifier_key":"`+v2+`","x":1}`), "x")

	hand := prepared(t, shared.KeyChangeRequest("prod", k2), 4)
	ks.decide(hand)
	if hand.Type != shared.EntryKey {
		t.Fatalf("the staged key's request: %s %+v", hand.Type, hand.Invalid)
	}
	if _, err := (shared.Head{Chain: "prod", Seq: 40, Offset: 3}).SealNext(hand, time.Now()); err != nil {
		t.Fatal(err)
	}
	if hand.Seq != 41 || hand.Key.FromSeq != 42 {
		t.Fatalf("KEY entry at seq %d from seq %d", hand.Seq, hand.Key.FromSeq)
	}
	if changed, err := ks.handOver(hand); !changed || err != nil {
		t.Fatalf("hand-over: %v %v", changed, err)
	}
	if changed, err := ks.handOver(hand); changed || err != nil {
		t.Fatalf("the same hand-over again (recovery): %v %v", changed, err)
	}
	for seq, want := range map[uint64]string{0: "k1", 41: "k1", 42: "k2", 1 << 40: "k2"} {
		s, err := ks.signerFor(seq)
		if err != nil || s.Name() != want {
			t.Fatalf("seq %d signed by %v (%v), want %s", seq, s, err, want)
		}
	}
	refused("a second request for the same key", ks, shared.KeyChangeRequest("prod", k2), "handed over to it already")

	// A sealer holding only the retired key cannot sign after the hand-over.
	old, err := newKeyState(s1, "", ks.keyset().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.signerFor(42); !errors.Is(err, ErrKeyNotHeld) {
		t.Fatalf("the retired key for seq 42: %v", err)
	}
}

// renamedSigner is skey's private key under another name: the same
// Ed25519 key, another key id.
func renamedSigner(t *testing.T, skey, name string) string {
	t.Helper()
	pub, err := shared.VerifierKeyOf(skey)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.SplitN(pub.Text, "+", 3)[2])
	h := sha256.Sum256(append([]byte(name+"\n"), raw...))
	seed := strings.SplitN(strings.TrimPrefix(skey, "PRIVATE+KEY+"), "+", 3)[2]
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, binary.BigEndian.Uint32(h[:4]), seed)
}

// A staged key whose public key the keyset trusts already under another
// name (a retired key's seed staged again as "k1b") cannot be handed over
// to: a keyset never holds one public key twice (docs/FORMAT.md section
// 7.4), so no keyset could verify the chain after such a KEY entry.
// Before, decide compared key ids only and sealed the KEY entry; the
// hand-over then failed, after the object was written, and the sealer
// stopped at that object at every start: a chain no verifier and no
// sealer could go past, from one record any producer may publish.
func TestAStagedKeyTheKeysetHoldsUnderAnotherNameIsRefused(t *testing.T) {
	s1, v1 := genKey(t, "k1")
	s2, v2 := genKey(t, "k2")
	keyset := fmt.Sprintf("%s 0 9\n%s 10 -\n", v1, v2)
	again := renamedSigner(t, s1, "k1b")
	k1b, err := shared.VerifierKeyOf(again)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newKeyState(s2, again, keyset); err == nil || !strings.Contains(err.Error(), "NextSignerKey") {
		t.Errorf("a sealer staging %s with the keyset %q: %v, want NextSignerKey refused", k1b.ID(), keyset, err)
	}
	// And in order, should a keyset come to hold it while it is staged.
	set, err := shared.ParseKeyset(keyset)
	if err != nil {
		t.Fatal(err)
	}
	ks := &keyState{trusted: set, staged: &k1b}
	e := prepared(t, shared.KeyChangeRequest("prod", k1b), 20)
	ks.decide(e)
	if e.Type == shared.EntryKey {
		t.Fatalf("a KEY entry handing over to %s, whose public key the keyset trusts as k1 for seqs 0 to 9", k1b.ID())
	}
}
