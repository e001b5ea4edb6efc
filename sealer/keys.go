package sealer

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/platform/setting"
	"github.com/aegisai/audit/shared"
)

// Key rotation (docs/FORMAT.md sections 2.4 and 7.4, docs/SECURITY.md):
//
//  1. The new key is staged: the sealer holds it as Config.NextSignerKey.
//  2. A key-change request naming its public key is published on the
//     decisions topic (aegis rotate-key). Like every record it is sealed in
//     order; the sealer seals it as a KEY entry only if the key is the one
//     it has staged and the keyset does not trust it yet, and as an INVALID
//     entry otherwise, so a producer that may write the topic cannot make
//     the chain hand over to a key nobody holds. The decision depends only
//     on the record and the sealer's configuration, so a second sealer of
//     the chain seals the same line (adopt compares lines byte for byte).
//  3. The KEY entry at seq R ends its object; that object's checkpoint is
//     signed by the retiring key, every later one by the new key.
//  4. Recovery follows the hand-over: when the newest checkpoint the
//     keyset trusts signs an object that ends in a KEY entry the keyset
//     does not know of yet, the keyset is extended as the entry says (it
//     is signed history) and the checkpoints are verified again.

// ErrKeyNotHeld means the chain's checkpoints must now be signed by a key
// this sealer does not hold, or the keyset and the chain disagree about a
// hand-over: the sealer stops rather than sign with the wrong key.
var ErrKeyNotHeld = errors.New("checkpoint key not held")

// keyState is the sealer's view of the chain's checkpoint keys: the keyset
// it trusts (extended at each hand-over) and the private keys it holds.
type keyState struct {
	mu      sync.Mutex
	trusted shared.Keyset
	signers map[string]note.Signer // by "<name>+<hash>"
	staged  *shared.VerifierKey    // NextSignerKey's public key
}

func newKeyState(signerKey, nextSignerKey, keyset string) (*keyState, error) {
	var errs []error
	ks := &keyState{signers: map[string]note.Signer{}}
	cur, err := holdKey(ks, signerKey)
	if err != nil {
		errs = append(errs, setting.Errorf("SignerKey", "%v", err))
	}
	if ks.trusted, err = shared.ParseKeyset(keyset); err != nil {
		errs = append(errs, setting.Errorf("VerifierKey", "%v", err))
	} else if cur.Name != "" && !ks.trusted.Has(cur) {
		errs = append(errs, setting.Errorf("VerifierKey", "(%s) does not trust the signer key's public key %s: give the chain's public key, or after a rotation its keyset",
			ks.trusted.IDs(), cur.ID()))
	}
	if nextSignerKey != "" {
		next, err := holdKey(ks, nextSignerKey)
		switch {
		case err != nil:
			errs = append(errs, setting.Errorf("NextSignerKey", "%v", err))
		case next.ID() == cur.ID() || bytes.Equal(next.Public, cur.Public):
			errs = append(errs, setting.Errorf("NextSignerKey", "is the signer key (%s): stage a new key (aegis keygen)", cur.ID()))
		case ks.trusted.Ranges != nil && ks.trusted.Knows(next) && !ks.trusted.Has(next):
			// The keyset's own key staged (after the hand-over, before
			// step 5 of the procedure) is fine; another name for one of
			// its public keys, or another key under one of its ids, can
			// never be handed over to.
			errs = append(errs, setting.Errorf("NextSignerKey", "(%s) shares its public key or its id with a key of the keyset: a keyset never trusts a key twice (docs/FORMAT.md section 7.4), stage a new key (aegis keygen)", next.ID()))
		default:
			ks.staged = &next
		}
	}
	return ks, errors.Join(errs...)
}

// holdKey adds a private key to ks and returns its public key.
func holdKey(ks *keyState, skey string) (shared.VerifierKey, error) {
	pub, err := shared.VerifierKeyOf(skey)
	if err != nil {
		return pub, err
	}
	signer, err := shared.NewSigner(skey)
	if err != nil {
		return pub, err
	}
	ks.signers[pub.ID()] = signer
	return pub, nil
}

// keyset returns the keyset trusted now.
func (ks *keyState) keyset() shared.Keyset {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.trusted
}

// open verifies a checkpoint with the keyset trusted now.
func (ks *keyState) open(msg []byte) (shared.Checkpoint, error) { return ks.keyset().Open(msg) }

// stagedUntrusted returns the staged key's public key while the keyset
// does not trust it (nil otherwise): a hand-over to it may have happened
// that the keyset does not know of.
func (ks *keyState) stagedUntrusted() *shared.VerifierKey {
	if ks.staged == nil || ks.keyset().Has(*ks.staged) {
		return nil
	}
	return ks.staged
}

// signerFor returns the private key that signs the checkpoint of seq.
func (ks *keyState) signerFor(seq uint64) (note.Signer, error) {
	set := ks.keyset()
	r, ok := set.For(seq)
	if !ok {
		return nil, fmt.Errorf("%w: no key of the keyset signs seq %d (%s): the chain's last key was retired without a successor", ErrKeyNotHeld, seq, set.IDs())
	}
	s, ok := ks.signers[r.Key.ID()]
	if !ok {
		return nil, fmt.Errorf("%w: the checkpoint of seq %d must be signed by %s (%s), which this sealer does not hold: give it as the signer key",
			ErrKeyNotHeld, seq, r.Key.ID(), r)
	}
	return s, nil
}

// decide settles a prepared KEY entry (a key-change request) in order:
// it stays a KEY entry only for the staged key, while the keyset's
// current key is open and does not trust that key yet; otherwise it
// becomes the INVALID entry of its record, with the reason.
func (ks *keyState) decide(e *shared.Entry) {
	if e.Type != shared.EntryKey {
		return
	}
	set := ks.keyset()
	want := e.Key.VerifierKey
	last := set.Ranges[len(set.Ranges)-1]
	var why string
	switch {
	case ks.staged == nil:
		why = "this sealer has no key staged (--next-signer-key-file)"
	case ks.staged.Text != want:
		why = "it is not the key this sealer has staged, " + ks.staged.ID()
	case set.Has(*ks.staged):
		why = "the chain's checkpoints are handed over to it already"
	case set.Knows(*ks.staged):
		why = "the keyset holds its public key already, under another name: a keyset never trusts a key twice"
	case !last.Open:
		why = "the keyset retires its last key " + last.Key.ID() + ": nothing to hand over from"
	default:
		return
	}
	e.Refuse(e.Raw(), fmt.Sprintf("key change request refused: %s", why))
}

// handOver records that the KEY entry e (the last of its object) was
// sealed: the current key signs up to e.Seq, the named key from e.Seq+1.
// It reports whether the keyset changed (false when it knew already).
func (ks *keyState) handOver(e *shared.Entry) (bool, error) {
	next, err := shared.ParseVerifierKey(e.Key.VerifierKey)
	if err != nil {
		return false, err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	r, ok := ks.trusted.For(e.Seq)
	if ok && !r.Open {
		if n, ok := ks.trusted.For(e.Seq + 1); r.To == e.Seq && ok && n.Key.Text == next.Text {
			return false, nil
		}
		return false, fmt.Errorf("%w: the chain hands over to %s after seq %d, the keyset trusts %s", ErrKeyNotHeld, next.ID(), e.Seq, r)
	}
	set, err := ks.trusted.HandOver(e.Seq, next)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrKeyNotHeld, err)
	}
	ks.trusted = set
	return true, nil
}
