package shared

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// CheckpointOrigin is the first line of every checkpoint body.
const CheckpointOrigin = "aegis-audit/checkpoint/v1"

// ErrBadCheckpoint is wrapped when a checkpoint does not parse or its
// signature does not verify against the trusted key.
var ErrBadCheckpoint = errors.New("bad checkpoint")

// ErrBadKey is wrapped when a key file does not hold a key of the expected
// kind.
var ErrBadKey = errors.New("bad key")

// VerifierKey is a checkpoint verifier (public) key in the signed-note
// format: "<name>+<key hash, 8 hex>+<base64 of 0x01 and the 32-byte Ed25519
// public key>" (docs/FORMAT.md section 7).
type VerifierKey struct {
	Name string
	// Hash is the first 4 bytes, big-endian, of SHA-256(name || "\n" ||
	// 0x01 || public key).
	Hash   uint32
	Public ed25519.PublicKey
	// Text is the key as written.
	Text string
}

// ID is the key's "<name>+<hash>" form, used in messages.
func (k VerifierKey) ID() string { return fmt.Sprintf("%s+%08x", k.Name, k.Hash) }

// ParseVerifierKey reads a verifier key under the rules of docs/FORMAT.md
// section 7: a valid name (ValidIdentifier), the key hash as exactly 8
// lowercase hex digits and equal to the hash of name and key, the key as
// canonical standard base64 of the algorithm byte 0x01 and 32 key bytes.
func ParseVerifierKey(s string) (VerifierKey, error) {
	bad := func(format string, args ...any) (VerifierKey, error) {
		return VerifierKey{}, fmt.Errorf("%w: verifier key %s: %s", ErrBadKey, KeyLabel(s), fmt.Sprintf(format, args...))
	}
	if strings.HasPrefix(s, "PRIVATE+KEY+") {
		return bad("this is a private (signer) key, not the public verifier key")
	}
	// The name has no '+' and the hash is 8 hex digits; the key is the
	// rest, and base64 may contain '+'.
	name, rest, ok1 := strings.Cut(s, "+")
	hashText, keyText, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return bad("want <name>+<8 hex digits>+<base64 key>")
	}
	if !ValidIdentifier(name) {
		return bad("name is not 1 to 128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit")
	}
	h, err := strconv.ParseUint(hashText, 16, 32)
	if err != nil || len(hashText) != 8 || strings.ToLower(hashText) != hashText {
		return bad("key hash is not 8 lowercase hex digits")
	}
	key, err := decodeBase64(keyText)
	if err != nil {
		return bad("key: %v", err)
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != 1 {
		return bad("key is not the algorithm byte 0x01 and a 32-byte Ed25519 public key")
	}
	if want := keyHash(name, key); uint32(h) != want {
		return bad("key hash is %s, but SHA-256 of name, newline and key gives %08x", hashText, want)
	}
	if !canonicalPoint(key[1:]) {
		return bad("key is not the canonical encoding of a point of Ed25519")
	}
	return VerifierKey{Name: name, Hash: uint32(h), Public: ed25519.PublicKey(key[1:]), Text: s}, nil
}

// canonicalPoint reports whether b is the canonical encoding of a point of
// edwards25519 (RFC 8032 section 5.1.3, strictly): y below p, a square root
// x of (y^2-1)/(d*y^2+1) exists, and the sign bit is 0 when x is 0. Go's
// crypto/ed25519 also accepts some non-canonical encodings; refusing them
// in keys leaves every verifier decoding the same point.
func canonicalPoint(b []byte) bool {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	le := make([]byte, 32)
	for i := range le {
		le[i] = b[31-i]
	}
	sign := le[0] >> 7
	le[0] &= 0x7f
	y := new(big.Int).SetBytes(le)
	if y.Cmp(p) >= 0 {
		return false
	}
	mod := func(x *big.Int) *big.Int { return x.Mod(x, p) }
	d := mod(new(big.Int).Mul(big.NewInt(-121665), new(big.Int).ModInverse(big.NewInt(121666), p)))
	y2 := mod(new(big.Int).Mul(y, y))
	u := mod(new(big.Int).Sub(y2, big.NewInt(1)))
	v := mod(new(big.Int).Add(new(big.Int).Mul(d, y2), big.NewInt(1)))
	x2 := mod(new(big.Int).Mul(u, new(big.Int).ModInverse(v, p)))
	if x2.Sign() == 0 {
		return sign == 0
	}
	return new(big.Int).ModSqrt(x2, p) != nil
}

// KeyLabel names a key text in a message by its name and hash only, never
// its key bytes: the text may be a private key given where a public one
// was expected, and messages reach terminals, logs and CI output.
func KeyLabel(s string) string {
	kind := ""
	if rest, ok := strings.CutPrefix(s, "PRIVATE+KEY+"); ok {
		kind, s = "(a private key) ", rest
	}
	name, rest, _ := strings.Cut(s, "+")
	hash, _, _ := strings.Cut(rest, "+")
	switch {
	case !ValidIdentifier(name):
		return kind + "(no valid name)"
	case len(hash) == 8 && strings.Trim(hash, "0123456789abcdef") == "":
		return kind + strconv.Quote(name+"+"+hash)
	default:
		return kind + strconv.Quote(name)
	}
}

func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// NewSigner reads a checkpoint signing (private) key in the signed-note
// format ("PRIVATE+KEY+<name>+<hash>+<key>"); its name must be a valid
// identifier.
func NewSigner(skey string) (note.Signer, error) {
	if _, err := ParseVerifierKey(skey); err == nil {
		return nil, fmt.Errorf("%w: this is a public (verifier) key, not the private signer key", ErrBadKey)
	}
	if !strings.HasPrefix(skey, "PRIVATE+KEY+") {
		return nil, fmt.Errorf("%w: not a signer key (want PRIVATE+KEY+<name>+<hash>+<key>)", ErrBadKey)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("%w: signer key %s: %v", ErrBadKey, KeyLabel(skey), err)
	}
	if !ValidIdentifier(s.Name()) {
		return nil, fmt.Errorf("%w: signer key name %q is not 1 to 128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", ErrBadKey, s.Name())
	}
	return s, nil
}

// Checkpoint commits to a chain head. It is published as a signed note
// (Ed25519) whose text is:
//
//	aegis-audit/checkpoint/v1
//	chain <chain id>
//	seq <decimal>
//	hash <64 hex>
//	offset <Kafka offset of the record sealed at seq; -1 for genesis>
//	object <S3 key of the object whose last entry is seq>
//	root <Merkle tree hash of the object's entry hashes>
//	time <timestamp>
type Checkpoint struct {
	Chain  string
	Seq    uint64
	Hash   Hash
	Offset int64
	Object string
	// Root is MerkleRoot of the hashes of the object's entries, in order.
	Root Hash
	Time time.Time
}

// Head is the chain head the checkpoint signs.
func (c Checkpoint) Head() Head {
	return Head{Chain: c.Chain, Seq: c.Seq, Hash: c.Hash, Offset: c.Offset}
}

// Body returns the note text that is signed.
func (c Checkpoint) Body() string {
	return fmt.Sprintf("%s\nchain %s\nseq %d\nhash %s\noffset %d\nobject %s\nroot %s\ntime %s\n",
		CheckpointOrigin, c.Chain, c.Seq, c.Hash, c.Offset, c.Object, c.Root, FormatTime(c.Time))
}

// Sign returns the signed note of c.
func (c Checkpoint) Sign(signer note.Signer) ([]byte, error) {
	if _, err := parseCheckpointBody(c.Body()); err != nil {
		return nil, err
	}
	msg, err := note.Sign(&note.Note{Text: c.Body()}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint seq %d: %w", c.Seq, err)
	}
	return msg, nil
}

// sigPrefix starts a signature line: an em dash (U+2014) and a space.
const sigPrefix = "\u2014 "

// OpenCheckpoint verifies msg under the rules of docs/FORMAT.md section 7
// and parses its text: the text, a blank line, and exactly one signature
// line "— <name> <base64(key hash || signature)>" by the trusted key,
// whose Ed25519 signature over the text verifies.
func OpenCheckpoint(msg []byte, trusted VerifierKey) (Checkpoint, error) {
	bad := func(format string, args ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: %s", ErrBadCheckpoint, fmt.Sprintf(format, args...))
	}
	if !utf8.Valid(msg) || bytes.ContainsFunc(msg, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }) {
		return bad("not a signed note: not UTF-8 text of lines (no control character but newline)")
	}
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return bad("not a signed note: no blank line before the signature")
	}
	text, sig := msg[:split+1], msg[split+2:]
	if bytes.Count(sig, []byte("\n")) != 1 || !bytes.HasSuffix(sig, []byte("\n")) {
		return bad("want exactly one signature line, ending in a newline")
	}
	line, ok := strings.CutPrefix(string(sig[:len(sig)-1]), sigPrefix)
	name, b64, ok2 := strings.Cut(line, " ")
	if !ok || !ok2 {
		return bad("signature line is not \"\u2014 <name> <base64>\"")
	}
	raw, err := decodeBase64(b64)
	if err != nil || len(raw) != 4+ed25519.SignatureSize {
		return bad("signature is not canonical base64 of a 4-byte key hash and a 64-byte Ed25519 signature")
	}
	signedBy := fmt.Sprintf("%s+%08x", name, binary.BigEndian.Uint32(raw))
	if signedBy != trusted.ID() {
		return bad("signed by key %s, not by the trusted key %s", signedBy, trusted.ID())
	}
	if !ed25519.Verify(trusted.Public, text, raw[4:]) {
		return bad("the signature by %s does not verify: the text was changed or the signature forged", trusted.ID())
	}
	return parseCheckpointBody(string(text))
}

// SignedBy returns the "<name>+<hash>" of the key that signed a checkpoint
// note, without verifying it, for error messages.
func SignedBy(msg []byte) string {
	i := bytes.LastIndex(msg, []byte("\n\n"+sigPrefix))
	if i < 0 {
		return "(unsigned)"
	}
	fields := strings.Fields(string(msg[i+2+len(sigPrefix):]))
	if len(fields) < 2 {
		return "(unreadable)"
	}
	raw, err := decodeBase64(fields[1])
	if err != nil || len(raw) < 4 {
		return fields[0] + "+(unreadable)"
	}
	return fmt.Sprintf("%s+%08x", fields[0], binary.BigEndian.Uint32(raw))
}

// ErrFirstBuildsCheckpoint is wrapped (with ErrBadCheckpoint) for a
// checkpoint of the form the first builds wrote, 2026-11-27 to 2026-11-29
// 03:46 UTC (six or seven lines, no root): their chains are not read.
var ErrFirstBuildsCheckpoint = errors.New("as the checkpoints of the builds before 2026-11-29 had")

func parseCheckpointBody(text string) (Checkpoint, error) {
	var c Checkpoint
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 8 || lines[0] != CheckpointOrigin || !strings.HasSuffix(text, "\n") {
		if (len(lines) == 6 || len(lines) == 7) && lines[0] == CheckpointOrigin && !strings.Contains(text, "\nroot ") {
			// The first builds (2026-11-27 to 2026-11-29 03:46 UTC)
			// wrote checkpoints without root (and at first offset) lines.
			return c, fmt.Errorf("%w: text is not the 8 lines of a %s checkpoint: it has no root line, %w; "+
				"chains they sealed are not read by later builds (README, Upgrading)", ErrBadCheckpoint, CheckpointOrigin, ErrFirstBuildsCheckpoint)
		}
		return c, fmt.Errorf("%w: text is not the 8 lines of a %s checkpoint", ErrBadCheckpoint, CheckpointOrigin)
	}
	field := func(i int, name string) (string, error) {
		v, ok := strings.CutPrefix(lines[i], name+" ")
		if !ok || v == "" {
			return "", fmt.Errorf("%w: line %d: want %q", ErrBadCheckpoint, i+1, name+" <value>")
		}
		return v, nil
	}
	var err error
	var seq, hash, offset, root, tm string
	if c.Chain, err = field(1, "chain"); err != nil {
		return c, err
	}
	if !ValidIdentifier(c.Chain) {
		return c, fmt.Errorf("%w: chain %q is not a valid chain id", ErrBadCheckpoint, clip(c.Chain))
	}
	if seq, err = field(2, "seq"); err != nil {
		return c, err
	}
	if c.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil || c.Seq > MaxSafeInteger {
		return c, fmt.Errorf("%w: seq %q is not a decimal in [0, 2^53-1]", ErrBadCheckpoint, clip(seq))
	}
	if hash, err = field(3, "hash"); err != nil {
		return c, err
	}
	if c.Hash, err = ParseHash(hash); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if offset, err = field(4, "offset"); err != nil {
		return c, err
	}
	if c.Offset, err = strconv.ParseInt(offset, 10, 64); err != nil || c.Offset < -1 || c.Offset > MaxSafeInteger {
		return c, fmt.Errorf("%w: offset %q is not a decimal in [-1, 2^53-1]", ErrBadCheckpoint, clip(offset))
	}
	if c.Object, err = field(5, "object"); err != nil {
		return c, err
	}
	if strings.Contains(c.Object, " ") {
		return c, fmt.Errorf("%w: object %q holds a space", ErrBadCheckpoint, clip(c.Object))
	}
	if root, err = field(6, "root"); err != nil {
		return c, err
	}
	if c.Root, err = ParseHash(root); err != nil {
		return c, fmt.Errorf("%w: root: %v", ErrBadCheckpoint, err)
	}
	if tm, err = field(7, "time"); err != nil {
		return c, err
	}
	if c.Time, err = ParseTime(tm); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if c.Body() != text {
		return c, fmt.Errorf("%w: text is not in canonical form (decimal without leading zeros, time without trailing zeros in the fraction)", ErrBadCheckpoint)
	}
	if (c.Seq == 0) != (c.Offset == -1) {
		return c, fmt.Errorf("%w: offset is -1 exactly for the genesis checkpoint (seq 0)", ErrBadCheckpoint)
	}
	return c, nil
}
