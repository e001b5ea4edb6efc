package shared

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A chain's checkpoint key can be rotated (docs/FORMAT.md sections 2.4 and
// 7.4). The hand-over is an entry of the chain: a KEY entry at seq R names
// the new verifier key and the first seq it signs, R+1, and is the last
// line of its object, so the retiring key's own checkpoint at R signs it.
// A verifier trusts a Keyset: each key for a range of seqs. A checkpoint
// verifies only with the key whose range holds the seq it signs, so a key
// stolen after its retirement cannot sign anything a verifier accepts
// after its range; and the keyset's boundaries must be exactly the chain's
// KEY entries, so neither side can move a hand-over alone.

// ErrRetiredKey is wrapped (with ErrBadCheckpoint) when a checkpoint is
// signed by a trusted key outside the seqs the keyset trusts it for.
var ErrRetiredKey = errors.New("checkpoint signed by a key outside its seq range")

// KeyRange is one key of a Keyset and the checkpoint seqs it signs: From
// to To inclusive, or From on when Open.
type KeyRange struct {
	Key  VerifierKey
	From uint64
	To   uint64
	Open bool
}

// Contains reports whether the key signs checkpoints of seq.
func (r KeyRange) Contains(seq uint64) bool {
	return seq >= r.From && (r.Open || seq <= r.To)
}

func (r KeyRange) String() string {
	if r.Open {
		return fmt.Sprintf("%s for seqs %d on", r.Key.ID(), r.From)
	}
	return fmt.Sprintf("%s for seqs %d to %d", r.Key.ID(), r.From, r.To)
}

// Keyset is the set of checkpoint keys a verifier trusts, each for a seq
// range: contiguous from seq 0, oldest first, only the last may be open.
type Keyset struct {
	Ranges []KeyRange
}

// SingleKeyset trusts k for every seq: a chain whose key never changed.
func SingleKeyset(k VerifierKey) Keyset {
	return Keyset{Ranges: []KeyRange{{Key: k, Open: true}}}
}

// KeyFileSpace is what is trimmed around the text of a key file
// (docs/FORMAT.md section 7.1): spaces, tabs, CRs and LFs, no other
// character (Go's TrimSpace would also take a no-break space, U+0085 and
// more, where another verifier's trimming takes others: the spec names
// these four so that every verifier reads a file alike).
const KeyFileSpace = " \t\r\n"

// ParseKeyset reads a keyset file (docs/FORMAT.md section 7.4): either one
// verifier key alone with only KeyFileSpace around it (a .pub file:
// trusted for every seq), or lines "<verifier key> <first seq> <last seq
// or ->" (fields separated by runs of spaces and tabs, which with CRs are
// also trimmed from each end of a line), blank lines and lines whose
// first other character is '#' ignored. Ranges start at 0, follow each
// other without gap or overlap, only the last may be open ("-"), and no
// key appears twice.
func ParseKeyset(text string) (Keyset, error) {
	bad := func(line int, format string, args ...any) (Keyset, error) {
		where := "keyset"
		if line > 0 {
			where = fmt.Sprintf("keyset line %d", line)
		}
		return Keyset{}, fmt.Errorf("%w: %s: %s", ErrBadKey, where, fmt.Sprintf(format, args...))
	}
	if !utf8.ValidString(text) { // section 7.4: a keyset file is UTF-8 text
		return bad(0, "not UTF-8 text")
	}
	if t := strings.Trim(text, KeyFileSpace); t != "" && !strings.ContainsAny(t, " \t\n\r#") {
		k, err := ParseVerifierKey(t)
		if err != nil {
			return Keyset{}, err
		}
		return SingleKeyset(k), nil
	}
	var ks Keyset
	seen := map[string]bool{}
	for i, raw := range strings.Split(text, "\n") {
		n := i + 1
		line := strings.Trim(raw, " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(f) != 3 {
			if len(f) == 1 {
				return bad(n, "want \"<verifier key> <first seq> <last seq or ->\", got 1 field (a file of one key alone holds that key and nothing else: no comment, no other line)")
			}
			return bad(n, "want \"<verifier key> <first seq> <last seq or ->\", got %d fields", len(f))
		}
		k, err := ParseVerifierKey(f[0])
		if err != nil {
			return bad(n, "%v", err)
		}
		r := KeyRange{Key: k}
		if r.From, err = parseSeqText(f[1]); err != nil {
			return bad(n, "first seq: %v", err)
		}
		if f[2] == "-" {
			r.Open = true
		} else if r.To, err = parseSeqText(f[2]); err != nil {
			return bad(n, "last seq: %v", err)
		} else if r.To < r.From {
			return bad(n, "last seq %d is below the first seq %d", r.To, r.From)
		}
		switch {
		case len(ks.Ranges) == 0 && r.From != 0:
			return bad(n, "the first key's range starts at seq %d, want 0 (the genesis checkpoint)", r.From)
		case len(ks.Ranges) > 0 && ks.Ranges[len(ks.Ranges)-1].Open:
			return bad(n, "follows an open range (\"-\"): only the last key's range may be open")
		case len(ks.Ranges) > 0 && r.From != ks.Ranges[len(ks.Ranges)-1].To+1:
			return bad(n, "range starts at seq %d, want %d: ranges follow each other without gap or overlap", r.From, ks.Ranges[len(ks.Ranges)-1].To+1)
		case seen[k.ID()] || seen[string(k.Public)]:
			return bad(n, "key %s appears twice: a retired key is never trusted again", k.ID())
		}
		seen[k.ID()], seen[string(k.Public)] = true, true
		ks.Ranges = append(ks.Ranges, r)
	}
	if len(ks.Ranges) == 0 {
		return bad(0, "no key")
	}
	return ks, nil
}

// parseSeqText reads a decimal seq in [0, 2^53-1] without leading zeros.
func parseSeqText(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > MaxSafeInteger || strconv.FormatUint(v, 10) != s {
		return 0, fmt.Errorf("%q is not a decimal in [0, 2^53-1] without leading zeros", clip(s))
	}
	return v, nil
}

// String writes the keyset in the file format ParseKeyset reads.
func (ks Keyset) String() string {
	var b strings.Builder
	for _, r := range ks.Ranges {
		to := "-"
		if !r.Open {
			to = strconv.FormatUint(r.To, 10)
		}
		fmt.Fprintf(&b, "%s %d %s\n", r.Key.Text, r.From, to)
	}
	return b.String()
}

// First is the key of seq 0, the one the genesis entry names.
func (ks Keyset) First() VerifierKey { return ks.Ranges[0].Key }

// For returns the range whose key signs checkpoints of seq.
func (ks Keyset) For(seq uint64) (KeyRange, bool) {
	for _, r := range ks.Ranges {
		if r.Contains(seq) {
			return r, true
		}
	}
	return KeyRange{}, false
}

// byID returns the range of the key with id "<name>+<hash>".
func (ks Keyset) byID(id string) (KeyRange, bool) {
	for _, r := range ks.Ranges {
		if r.Key.ID() == id {
			return r, true
		}
	}
	return KeyRange{}, false
}

// Has reports whether k (same name, hash and public key) is in the keyset.
func (ks Keyset) Has(k VerifierKey) bool {
	r, ok := ks.byID(k.ID())
	return ok && bytes.Equal(r.Key.Public, k.Public)
}

// IDs lists the keyset's ranges, for messages.
func (ks Keyset) IDs() string {
	parts := make([]string, len(ks.Ranges))
	for i, r := range ks.Ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// HandOver returns the keyset after a KEY entry at seq last naming next:
// the open last range closed at last, next trusted from last+1 on.
func (ks Keyset) HandOver(last uint64, next VerifierKey) (Keyset, error) {
	cur := ks.Ranges[len(ks.Ranges)-1]
	switch {
	case !cur.Open:
		return ks, fmt.Errorf("%w: the keyset's last key %s is retired at seq %d: no key to hand over from", ErrBadKey, cur.Key.ID(), cur.To)
	case last < cur.From:
		return ks, fmt.Errorf("%w: a hand-over at seq %d is before the current key %s's first seq %d", ErrBadKey, last, cur.Key.ID(), cur.From)
	case ks.Knows(next):
		return ks, fmt.Errorf("%w: key %s is in the keyset already: a retired key is never trusted again", ErrBadKey, next.ID())
	}
	out := Keyset{Ranges: append([]KeyRange(nil), ks.Ranges...)}
	out.Ranges[len(out.Ranges)-1].Open, out.Ranges[len(out.Ranges)-1].To = false, last
	out.Ranges = append(out.Ranges, KeyRange{Key: next, From: last + 1, Open: true})
	return out, nil
}

// Knows reports whether k's id or its public key is in the keyset: a key
// the keyset cannot trust next, since no key appears in it twice
// (docs/FORMAT.md section 7.4).
func (ks Keyset) Knows(k VerifierKey) bool {
	_, ok := ks.byID(k.ID())
	return ok || ks.hasPublic(k.Public)
}

func (ks Keyset) hasPublic(pub ed25519.PublicKey) bool {
	for _, r := range ks.Ranges {
		if bytes.Equal(r.Key.Public, pub) {
			return true
		}
	}
	return false
}

// Open verifies a checkpoint note against the keyset (docs/FORMAT.md
// sections 7.2 and 7.4): it must carry the signature of the keyset key
// whose range holds the seq it signs. A key of the keyset signing outside
// its range (a retired key) fails with ErrRetiredKey.
func (ks Keyset) Open(msg []byte) (Checkpoint, error) {
	id := SignedBy(msg)
	r, ok := ks.byID(id)
	if !ok {
		return Checkpoint{}, fmt.Errorf("%w: signed by key %s, which the keyset does not trust (%s): a forgery, or a key rotated to after "+
			"this keyset was given (aegis verify names a hand-over and prints the keyset that trusts it)", ErrBadCheckpoint, id, ks.IDs())
	}
	cp, err := OpenCheckpoint(msg, r.Key)
	if err != nil {
		return cp, err
	}
	if !r.Contains(cp.Seq) {
		return cp, fmt.Errorf("%w: %w: checkpoint of seq %d is signed by %s, which the keyset trusts only %s",
			ErrBadCheckpoint, ErrRetiredKey, cp.Seq, r.Key.ID(), strings.TrimPrefix(r.String(), r.Key.ID()+" "))
	}
	return cp, nil
}

// KeyChange is the payload of a KEY entry: the verifier key that signs the
// chain's checkpoints from FromSeq (the entry's seq + 1) on.
type KeyChange struct {
	FromSeq     uint64 `json:"from_seq"`
	VerifierKey string `json:"verifier_key"`
}

// KeyChangeType is the "type" of a key-change request record on the
// decisions topic: {"type":"key_change","environment":"<chain>",
// "verifier_key":"<new key>"}. The sealer seals it as a KEY entry only if
// it holds the named key staged; otherwise as INVALID.
const KeyChangeType = "key_change"

// KeyChangeRequest builds the record that asks the chain's sealer to hand
// over to next (aegis rotate-key publishes it).
func KeyChangeRequest(chain string, next VerifierKey) []byte {
	b := []byte(`{"environment":`)
	b = appendString(b, chain)
	b = append(b, `,"type":"key_change","verifier_key":`...)
	b = appendString(b, next.Text)
	return append(b, '}')
}

// parseKeyRequest reads a key-change request record. ok is false when raw
// is not one (it is then read as an event); err says why a record of type
// key_change is not a valid request.
func parseKeyRequest(raw []byte, chain string) (VerifierKey, bool, error) {
	if !bytes.Contains(raw, []byte(KeyChangeType)) {
		return VerifierKey{}, false, nil
	}
	v, err := parseJSON(raw, recordOptions(false))
	if err != nil || v.kind != jsonObject {
		return VerifierKey{}, false, nil
	}
	if t, err := getString(&v, "", "type"); err != nil || t != KeyChangeType {
		return VerifierKey{}, false, nil
	}
	bad := func(err error) (VerifierKey, bool, error) {
		return VerifierKey{}, true, fmt.Errorf("key change request: %w", err)
	}
	if err := objectFields(&v, "", []string{"type", "environment", "verifier_key"}, nil); err != nil {
		return bad(err)
	}
	env, err := getString(&v, "", "environment")
	if err != nil {
		return bad(err)
	}
	if env != chain {
		return bad(fieldErr("environment", "%q does not belong to chain %q", clip(env), chain))
	}
	text, err := getString(&v, "", "verifier_key")
	if err != nil {
		return bad(err)
	}
	k, err := ParseVerifierKey(text)
	if err != nil {
		return bad(fieldErr("verifier_key", "%v", err))
	}
	return k, true, nil
}

// VerifierKeyOf derives the verifier (public) key of a signer key
// ("PRIVATE+KEY+<name>+<hash>+<base64 of 0x01 and the seed>"), so a sealer
// holding a staged private key knows the public key its KEY entry names.
func VerifierKeyOf(skey string) (VerifierKey, error) {
	if _, err := NewSigner(skey); err != nil {
		return VerifierKey{}, err
	}
	parts := strings.SplitN(strings.TrimPrefix(skey, "PRIVATE+KEY+"), "+", 3)
	seed, err := decodeBase64(parts[2])
	if err != nil || len(seed) != 1+ed25519.SeedSize || seed[0] != 1 {
		return VerifierKey{}, fmt.Errorf("%w: signer key %s: not the algorithm byte 0x01 and a 32-byte Ed25519 seed", ErrBadKey, parts[0])
	}
	pub := append([]byte{1}, ed25519.NewKeyFromSeed(seed[1:]).Public().(ed25519.PublicKey)...)
	return ParseVerifierKey(fmt.Sprintf("%s+%08x+%s", parts[0], keyHash(parts[0], pub), base64.StdEncoding.EncodeToString(pub)))
}
