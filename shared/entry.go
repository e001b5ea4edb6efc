package shared

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// FormatVersion is the version of the entry format in docs/FORMAT.md.
const FormatVersion = 1

// FormatRevision is the revision of docs/FORMAT.md this implementation
// follows (its Revisions section): the newest row there.
const FormatRevision = "2026-12-01.4"

// EntryHashPrefix separates entry hashes from every other SHA-256 use.
const EntryHashPrefix = "aegis-audit/entry/v1\x00"

// EntryType is the kind of a sealed entry.
type EntryType string

const (
	// EntryGenesis is seq 0 of every chain.
	EntryGenesis EntryType = "genesis"
	// EntryEvent seals a valid Envelope.
	EntryEvent EntryType = "event"
	// EntryInvalid seals a topic record that is not a valid Envelope.
	EntryInvalid EntryType = "invalid"
	// EntryKey hands the chain's checkpoints over to a new key (a
	// key-change request the sealer honoured): see keyset.go.
	EntryKey EntryType = "key"
)

// MaxInvalidRaw is the largest invalid record kept whole (base64) in an
// INVALID entry; larger ones keep only their SHA-256 and size.
const MaxInvalidRaw = 64 << 10

// MaxInvalidReason is the most bytes of an INVALID entry's reason the
// sealer writes; a longer one is cut at a character boundary and says how
// long it was. A reason may quote the record (a member name, its path),
// Go-quoted and then escaped in the line: one member name of 450,000
// U+0085 in a record of 900 KB made a sealed line of 3 MB, which the
// sealer could not publish to the sealed topic (the broker's 1 MB limit),
// and it failed every transaction after it for good
// (TestAttack33AReasonQuotingAHugeMemberNameIsPublished).
const MaxInvalidReason = 1024

// Hash is a SHA-256 digest, written as 64 lowercase hex digits.
type Hash [sha256.Size]byte

// ZeroHash is the prev of the genesis entry.
var ZeroHash Hash

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes h as lowercase hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads exactly 64 lowercase hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ParseHash reads a hash written by Hash.String.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("hash %q: want %d hex digits", clip(s), 2*len(h))
	}
	// Eight digits at a time (hexWord), and one test a hash: a verifier
	// decodes two hashes a line, and a branch a digit (digits and letters
	// come in no order a CPU predicts) cost a tenth of its time.
	var bad uint64
	for i := 0; i < len(h); i += 4 {
		v, ok := hexWord(stringWord(s[2*i : 2*i+8]))
		bad |= ok
		binary.LittleEndian.PutUint32(h[i:], v)
	}
	if bad != 0 {
		return Hash{}, fmt.Errorf("hash %q: not lowercase hex", clip(s))
	}
	return h, nil
}

// hexWord decodes the eight bytes of w (little-endian: the first digit
// is the low byte) as lowercase hex digits, the first digit the highest
// nibble of v's low byte (v is the four bytes decoded, little-endian).
// bad is 0 when all eight are lowercase hex digits.
//
// Each byte test adds a constant to the bytes below 0x80 that stays
// within the byte, whose high bit then says "at least": no carry crosses
// a byte unless one is 0x80 or above, which is refused whatever the rest
// says. TestHexWordIsHexDigit holds it to hexDigit.
func hexWord(w uint64) (v uint32, bad uint64) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// w + ones*(0x80-c): the high bit of each byte below 0x80 says it is
	// c or more. A byte of 0x80 and above makes bad (and may carry into
	// the next byte's tests, which then no longer matter).
	digit := (w + ones*(0x80-'0')) &^ (w + ones*(0x80-'9'-1))
	letter := (w + ones*(0x80-'a')) &^ (w + ones*(0x80-'f'-1)) & highs
	bad = (^(digit | letter) | w) & highs  // not a digit or letter, or a byte of 0x80 and above
	n := w&(ones*0x0f) + letter>>7*9       // each byte its digit's value
	n = (n<<4 | n>>8) & 0x00ff00ff00ff00ff // each 16 bits a byte: first digit, second
	n = (n | n>>8) & 0x0000ffff0000ffff
	n |= n >> 16
	return uint32(n), bad
}

// hexEncodeWord is the eight lowercase hex digits of the four bytes of x
// (little-endian: the first byte is the low one), the first digit the
// low byte: hex.Encode of them, read as a little-endian word. Each byte
// goes to 16 bits, each nibble to a byte, and each nibble to its digit
// ('0' + n, and 'a' - '0' - 10 more from 10 on: n + 6 carries into bit 4
// exactly then), no sum leaving its byte. TestHexEncodeWordIsHexEncode
// holds it to hex.Encode.
func hexEncodeWord(x uint32) uint64 {
	const lows = 0x000f000f000f000f
	v := uint64(x)
	v = (v | v<<16) & 0x0000ffff0000ffff
	v = (v | v<<8) & 0x00ff00ff00ff00ff // byte j of x in bits 16j to 16j+7
	v = v>>4&lows | (v&lows)<<8         // its high nibble, then its low nibble, a byte each
	letters := (v + 0x0606060606060606) >> 4 & 0x0101010101010101
	return v + 0x3030303030303030 + letters*('a'-'0'-10)
}

// stringWord is the first eight bytes of s (at least eight) as a
// little-endian word, in one load.
func stringWord(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hexDigit is the value of a lowercase hex digit, 0xff for any other byte.
var hexDigit = func() (t [256]byte) {
	for c := range t {
		t[c] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

func lowerHex(c byte) (byte, bool) {
	v := hexDigit[c]
	return v, v <= 0x0f
}

// Source says where on Kafka a sealed record was read.
type Source struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
}

// Genesis is the payload of the seq 0 entry.
type Genesis struct {
	// CreatedAt is when the chain was initialised.
	CreatedAt time.Time `json:"created_at"`
	// KeyName is the signed-note key name that signs the chain's checkpoints.
	KeyName string `json:"key_name"`
	// VerifierKey is the public verifier key (golang.org/x/mod/sumdb/note
	// format), for reference only: verifiers must use a key they trust.
	VerifierKey string `json:"verifier_key"`
}

// Invalid is the payload of an INVALID entry: a topic record that could not
// be sealed as an event. Raw is the record itself unless it is larger than
// MaxInvalidRaw.
type Invalid struct {
	Reason string `json:"reason"`
	Size   int    `json:"size"`
	SHA256 Hash   `json:"sha256"`
	// Raw is the standard base64 of the record's bytes ("" when too large).
	Raw string `json:"raw,omitempty"`
}

// Entry is one sealed line. Its JSON field names are the wire format.
type Entry struct {
	V        int       `json:"v"`
	Chain    string    `json:"chain"`
	Seq      uint64    `json:"seq"`
	Type     EntryType `json:"type"`
	Prev     Hash      `json:"prev"`
	SealedAt time.Time `json:"sealed_at"`
	Source   *Source   `json:"source,omitempty"`

	Genesis *Genesis        `json:"genesis,omitempty"`
	Event   json.RawMessage `json:"event,omitempty"`
	Invalid *Invalid        `json:"invalid,omitempty"`
	Key     *KeyChange      `json:"key,omitempty"`

	Hash Hash `json:"hash"`

	// eventCanonical records that Event is known to be canonical already.
	eventCanonical bool
	// decisionID and eventID are the event's ids when SealRecord or
	// ParseLine decoded it.
	decisionID, eventID string
	// raw is the record of a prepared KEY entry.
	raw []byte
}

// CanonicalBody returns the canonical bytes of the entry without "hash". The
// members are written directly in their sorted order (chain, event|genesis,
// invalid, prev, sealed_at, seq, source, type, v); only the event, which
// comes from outside, goes through the general canonicaliser. ParseLine
// checks every line with the general canonicaliser, and the fuzz tests
// check that the two agree. A KEY entry's key member comes after invalid.
func (e *Entry) CanonicalBody() ([]byte, error) {
	b, _, err := e.canonicalBody()
	return b, err
}

// canonicalBody is CanonicalBody that also says where the hash member
// goes: before the top-level "invalid" member of an INVALID entry, else
// before the top-level "prev" (see withHash).
func (e *Entry) canonicalBody() (b []byte, hashAt int, err error) {
	// Room for the members, and for the hash member that Line and
	// SealNext insert in place.
	return e.appendCanonicalBody(make([]byte, 0, e.LineSizeHint(e.Chain)))
}

// LineSizeHint is about the length of e's sealed line in chain (room for
// its members and its hash): a size to allocate for, not a bound.
func (e *Entry) LineSizeHint(chain string) int {
	return 512 + len(chain) + len(e.Event) + e.invalidLen() + hashMemberLen
}

// appendCanonicalBody appends e's canonical body to b; hashAt is where in
// the result the hash member goes.
func (e *Entry) appendCanonicalBody(b []byte) (_ []byte, hashAt int, err error) {
	if e.Seq > MaxSafeInteger || e.Source != nil && (e.Source.Offset > MaxSafeInteger || e.Source.Offset < 0) {
		return nil, 0, fmt.Errorf("entry seq %d: seq or offset outside [0, 2^53-1]", e.Seq)
	}
	b = append(b, `{"chain":`...)
	b = appendString(b, e.Chain)
	switch {
	case e.Event != nil:
		canon := []byte(e.Event)
		if !e.eventCanonical {
			var err error
			if canon, err = Canonicalize(e.Event); err != nil {
				return nil, 0, fmt.Errorf("entry seq %d: event: %w", e.Seq, err)
			}
		}
		b = append(b, `,"event":`...)
		b = append(b, canon...)
	case e.Genesis != nil:
		b = append(b, `,"genesis":{"created_at":`...)
		b = appendTime(b, e.Genesis.CreatedAt)
		b = append(b, `,"key_name":`...)
		b = appendString(b, e.Genesis.KeyName)
		b = append(b, `,"verifier_key":`...)
		b = appendString(b, e.Genesis.VerifierKey)
		b = append(b, '}')
	}
	if e.Invalid != nil {
		hashAt = len(b)
		b = append(b, `,"invalid":{`...)
		if e.Invalid.Raw != "" {
			b = append(b, `"raw":`...)
			b = appendString(b, e.Invalid.Raw)
			b = append(b, ',')
		}
		b = append(b, `"reason":`...)
		b = appendString(b, e.Invalid.Reason)
		b = append(b, `,"sha256":"`...)
		b = hex.AppendEncode(b, e.Invalid.SHA256[:])
		b = append(b, `","size":`...)
		b = strconv.AppendInt(b, int64(e.Invalid.Size), 10)
		b = append(b, '}')
	}
	if e.Key != nil {
		if e.Invalid == nil {
			hashAt = len(b)
		}
		b = append(b, `,"key":{"from_seq":`...)
		b = strconv.AppendUint(b, e.Key.FromSeq, 10)
		b = append(b, `,"verifier_key":`...)
		b = appendString(b, e.Key.VerifierKey)
		b = append(b, '}')
	}
	if e.Invalid == nil && e.Key == nil {
		hashAt = len(b)
	}
	b = append(b, `,"prev":"`...)
	b = hex.AppendEncode(b, e.Prev[:])
	b = append(b, `","sealed_at":`...)
	b = appendTime(b, e.SealedAt)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	if e.Source != nil {
		b = append(b, `,"source":{"offset":`...)
		b = strconv.AppendInt(b, e.Source.Offset, 10)
		b = append(b, `,"partition":`...)
		b = strconv.AppendInt(b, int64(e.Source.Partition), 10)
		b = append(b, `,"timestamp":`...)
		b = appendTime(b, e.Source.Timestamp)
		b = append(b, `,"topic":`...)
		b = appendString(b, e.Source.Topic)
		b = append(b, '}')
	}
	b = append(b, `,"type":`...)
	b = appendString(b, string(e.Type))
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, int64(e.V), 10)
	return append(b, '}'), hashAt, nil
}

// ComputeHash returns SHA-256(EntryHashPrefix || prev || CanonicalBody).
func (e *Entry) ComputeHash() (Hash, error) {
	body, err := e.CanonicalBody()
	if err != nil {
		return Hash{}, err
	}
	return hashBody(e.Prev, body), nil
}

// hashBody returns SHA-256(EntryHashPrefix || prev || the body's parts in
// order).
func hashBody(prev Hash, body ...[]byte) Hash {
	h := sha256.New()
	h.Write([]byte(EntryHashPrefix))
	h.Write(prev[:])
	for _, b := range body {
		h.Write(b)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// Line returns the sealed line: canonical JSON of the entry including its
// hash, without a trailing newline.
func (e *Entry) Line() ([]byte, error) {
	body, at, err := e.canonicalBody()
	if err != nil {
		return nil, err
	}
	return insertHash(body, at, e.Hash), nil
}

// hashMemberLen is the length of `,"hash":"<64 hex digits>"`.
const hashMemberLen = len(`,"hash":""`) + 2*len(Hash{})

// appendTime writes t as FormatTime does, as a JSON string (its
// characters need no escape).
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}
	// RFC 3339 in UTC with the fraction's trailing zeros cut, as
	// time.RFC3339Nano writes it, without the general formatter (two of
	// these in every sealed line were a fifth of the time to write it).
	// TestAppendTimeIsRFC3339Nano holds the two to each other.
	hour, minute, sec := t.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	if ns := t.Nanosecond(); ns != 0 {
		width := 9
		for ns%10 == 0 {
			ns /= 10
			width--
		}
		b = append(b, '.')
		b = appendDigits(b, ns, width)
	}
	return append(b, 'Z', '"')
}

// appendDigits writes v (0 <= v < 10^width) in exactly width decimal
// digits, zeros first.
func appendDigits(b []byte, v, width int) []byte {
	n := len(b) + width
	b = append(b, "000000000"[:width]...)
	for i := n - 1; v > 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

func (e *Entry) invalidLen() int {
	if e.Invalid == nil {
		return 0
	}
	return len(e.Invalid.Raw) + len(e.Invalid.Reason) + 128
}

// withHash inserts the "hash" member into a canonical body at its sorted
// place: just before the top-level "invalid" member of an INVALID entry or
// "key" of a KEY entry, else just before the top-level "prev". The last occurrence is the top-level
// one: everything after it in a canonical body is fixed-key members whose
// string values cannot contain an unescaped quote. The body's array is
// reused when it has room.
func withHash(body []byte, t EntryType, h Hash) ([]byte, error) {
	marker := `,"prev":"`
	switch t {
	case EntryInvalid:
		marker = `,"invalid":{`
	case EntryKey:
		marker = `,"key":{`
	}
	i := bytes.LastIndex(body, []byte(marker))
	if i < 0 {
		return nil, fmt.Errorf("entry body has no %s member", marker)
	}
	return insertHash(body, i, h), nil
}

// insertHash inserts the hash member at byte at of body, in body's array
// when it has room.
func insertHash(body []byte, at int, h Hash) []byte {
	n := len(body)
	out := slices.Grow(body, hashMemberLen)[:n+hashMemberLen]
	copy(out[at+hashMemberLen:], out[at:n])
	m := append(out[at:at:at+hashMemberLen], `,"hash":"`...)
	m = hex.AppendEncode(m, h[:])
	_ = append(m, '"')
	return out
}

// Head is the end of a chain: the last sealed entry's seq and hash and the
// Kafka offset of the last record it covers (-1 when none yet).
type Head struct {
	Chain  string
	Seq    uint64
	Hash   Hash
	Offset int64
}

// seal fills the chain fields of e as the successor of h and computes its hash.
func (h Head) seal(e *Entry) (*Entry, error) {
	e.V = FormatVersion
	e.Chain = h.Chain
	e.Seq = h.Seq + 1
	e.Prev = h.Hash
	e.SealedAt = e.SealedAt.UTC()
	if e.Key != nil {
		e.Key.FromSeq = e.Seq + 1
	}
	var err error
	if e.Hash, err = e.ComputeHash(); err != nil {
		return nil, err
	}
	return e, nil
}

// Next returns the head after e.
func (h Head) Next(e *Entry) Head {
	n := Head{Chain: h.Chain, Seq: e.Seq, Hash: e.Hash, Offset: h.Offset}
	if e.Source != nil {
		n.Offset = e.Source.Offset
	}
	return n
}

// NewGenesis builds the seq 0 entry of chain, whose checkpoints verifierKey
// (a signed-note verifier key named keyName) signs.
func NewGenesis(chain string, createdAt time.Time, keyName, verifierKey string) (*Entry, error) {
	if err := checkIdentifier("chain", chain); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	vk, err := ParseVerifierKey(verifierKey)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	if vk.Name != keyName {
		return nil, fmt.Errorf("genesis: verifier key is named %q, not %q", vk.Name, keyName)
	}
	e := &Entry{
		V: FormatVersion, Chain: chain, Seq: 0, Type: EntryGenesis, Prev: ZeroHash,
		SealedAt: createdAt.UTC(),
		Genesis:  &Genesis{CreatedAt: createdAt.UTC(), KeyName: keyName, VerifierKey: verifierKey},
	}
	if e.Hash, err = e.ComputeHash(); err != nil {
		return nil, err
	}
	return e, nil
}

// SealRecord seals one record read from the decisions topic as the successor
// of h. A record that is a valid Envelope of chain h.Chain becomes an EVENT
// entry holding the record's canonical bytes; anything else becomes an
// INVALID entry with the reason. A Kafka timestamp outside the years
// 0000..9999 cannot be written in an entry: it is clamped to the nearest
// bound and the record sealed as INVALID, with the timestamp in the reason.
// SealRecord never fails on bad input: the only errors are internal
// encoding failures.
func SealRecord(h Head, src Source, raw []byte, sealedAt time.Time) (*Entry, error) {
	e, err := PrepareRecord(h.Chain, src, raw)
	if err != nil {
		return nil, err
	}
	e.SealedAt = sealedAt
	return h.seal(e)
}

// PrepareRecord does the part of SealRecord that does not depend on the
// entry's place in the chain: it reads the record (an EVENT of chain with
// its canonical bytes, or an INVALID entry with the reason) and sets its
// source. Records can be prepared in parallel; SealNext then chains them in
// order.
func PrepareRecord(chain string, src Source, raw []byte) (*Entry, error) {
	return PrepareRecordInto(nil, chain, src, raw)
}

// EntrySlot is room for one prepared entry and its source. A caller that
// prepares many records allocates their slots together (one allocation,
// not one per record) and hands each to PrepareRecordInto; the entry
// returned may live in its slot, so the slot must not be reused while the
// entry is in use.
type EntrySlot struct{ es entryWithSource }

// PrepareRecordInto is PrepareRecord building the entry in slot when it
// can (nil: a new allocation).
func PrepareRecordInto(slot *EntrySlot, chain string, src Source, raw []byte) (*Entry, error) {
	if !validTopic(src.Topic) || src.Partition < 0 || src.Offset < 0 || src.Offset > MaxSafeInteger {
		return nil, fmt.Errorf("seal record: source %s/%d offset %d is not a Kafka record position", src.Topic, src.Partition, src.Offset)
	}
	// The fast path takes a record in canonical form that breaks no rule
	// and builds the entry the code below would; anything else is read,
	// and its reason written, below.
	var es *entryWithSource
	if slot != nil {
		es = &slot.es
	}
	if e, ok := prepareFast(es, chain, src, raw); ok {
		return e, nil
	}
	return prepareStrict(chain, src, raw), nil
}

// prepareStrict is PrepareRecord's general path, for any bytes.
func prepareStrict(chain string, src Source, raw []byte) *Entry {
	e := &Entry{Type: EntryEvent, Source: &src}
	next, isKey, err := parseKeyRequest(raw, chain)
	var env *Envelope
	var canon []byte
	if !isKey {
		env, canon, err = parseEnvelope(raw)
		if err == nil && env.Environment != chain {
			err = fmt.Errorf("%w: environment %q does not belong to chain %q", ErrInvalidEvent, env.Environment, chain)
		}
	}
	if ts := src.Timestamp; ts.Before(EarliestTime) || ts.After(LatestTime) {
		err = fmt.Errorf("kafka record timestamp %d ms is outside the years 0000..9999; source.timestamp is clamped", ts.UnixMilli())
		src.Timestamp = clampTime(ts)
	}
	switch {
	case err != nil:
		e.Refuse(raw, err.Error())
	case isKey:
		// A KEY entry only if the sealer holds the key staged: it decides
		// in order (Refuse otherwise), see sealer.
		e.Type, e.Key = EntryKey, &KeyChange{VerifierKey: next.Text}
		e.raw = raw
	default:
		e.Event, e.eventCanonical, e.decisionID, e.eventID = canon, true, env.DecisionID(), env.EventID
	}
	return e
}

// Refuse turns a prepared entry into the INVALID entry of its record raw,
// with reason.
func (e *Entry) Refuse(raw []byte, reason string) {
	e.Type, e.Event, e.Key = EntryInvalid, nil, nil
	e.eventCanonical, e.decisionID, e.eventID = false, "", ""
	e.Invalid = &Invalid{Reason: cutReason(reason), Size: len(raw), SHA256: sha256.Sum256(raw)}
	if len(raw) <= MaxInvalidRaw {
		e.Invalid.Raw = base64.StdEncoding.EncodeToString(raw)
	}
}

// cutReason cuts reason to MaxInvalidReason bytes, at a character
// boundary, saying how long it was.
func cutReason(reason string) string {
	if len(reason) <= MaxInvalidReason {
		return reason
	}
	return fmt.Sprintf("%s... (%d bytes in all)", ClipUTF8(reason, MaxInvalidReason), len(reason))
}

// ClipUTF8 returns s cut to at most n bytes, at the start of a character
// (a UTF-8 sequence is never split).
func ClipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Raw is the record a prepared KEY entry was read from (nil otherwise),
// for Refuse.
func (e *Entry) Raw() []byte { return e.raw }

// SealNext places a prepared entry e as the successor of h, sealed at
// sealedAt: it fills the chain fields, computes the hash and returns the
// line, writing the canonical body once.
func (h Head) SealNext(e *Entry, sealedAt time.Time) ([]byte, error) {
	_, line, err := h.SealNextAppend(make([]byte, 0, e.LineSizeHint(h.Chain)), e, sealedAt)
	return line, err
}

// SealNextAppend is SealNext writing the line at the end of dst, so that
// the lines of an object can be written into its body one after the other
// (give dst the room: a line that does not fit moves dst). It returns dst
// extended and the line, a slice of it.
func (h Head) SealNextAppend(dst []byte, e *Entry, sealedAt time.Time) (out, line []byte, err error) {
	e.V, e.Chain, e.Seq, e.Prev, e.SealedAt = FormatVersion, h.Chain, h.Seq+1, h.Hash, sealedAt.UTC()
	if e.Key != nil {
		k := *e.Key // prepared entries are copied shallowly: never write through
		k.FromSeq = e.Seq + 1
		e.Key = &k
	}
	start := len(dst)
	out, at, err := e.appendCanonicalBody(dst)
	if err != nil {
		return dst, nil, err
	}
	e.Hash = hashBody(e.Prev, out[start:])
	out = insertHash(out, at, e.Hash)
	return out, out[start:len(out):len(out)], nil
}

func clampTime(t time.Time) time.Time {
	switch {
	case t.Before(EarliestTime):
		return EarliestTime
	case t.After(LatestTime):
		return LatestTime.Truncate(time.Millisecond)
	}
	return t
}

// Envelope decodes the event of an EVENT entry.
func (e *Entry) Envelope() (*Envelope, error) {
	if e.Type != EntryEvent {
		return nil, fmt.Errorf("entry seq %d is %s, not an event", e.Seq, e.Type)
	}
	env, _, err := parseEnvelope(e.Event)
	if err != nil {
		return nil, fmt.Errorf("entry seq %d: event: %w", e.Seq, err)
	}
	return env, nil
}

// EventContent returns the event of an EVENT entry without its
// recorded_by member: what the event is, whoever it was recorded for. One
// event sent again under another credential (a retry after a token was
// renamed or rotated) has one content; the indexer holds an event id to
// one content, not to one set of bytes. env is the entry's envelope
// (Envelope), which callers hold already: the event is not read again.
// Without one (nil: an old line today's rules no longer read), or with
// the member not where canonical JSON puts it (no event that verifies),
// the content is the event's bytes: nothing an entry holds makes this
// fail.
func (e *Entry) EventContent(env *Envelope) []byte {
	if env == nil || env.RecordedBy == "" {
		return e.Event
	}
	// Canonical order puts recorded_by last but for type.
	member := appendString([]byte(`,"recorded_by":`), env.RecordedBy)
	tail := append(appendString(append(member, `,"type":`...), string(env.Type)), '}')
	if !bytes.HasSuffix(e.Event, tail) {
		return e.Event
	}
	n := len(e.Event) - len(tail)
	out := make([]byte, 0, len(e.Event)-len(member))
	return append(append(out, e.Event[:n]...), tail[len(member):]...)
}

// WithRecordedBy returns record, a canonical event of type typ without
// recorded_by, with recorded_by set to by, in its canonical place (last
// but for type), as Envelope.Record would write it: for a caller that
// holds the record it checked, not an envelope to encode again. A record
// that holds recorded_by already, or is not such an event, is refused
// (written twice, the member would make the event invalid).
func WithRecordedBy(record []byte, typ EventType, by string) ([]byte, error) {
	tail := append(appendString([]byte(`,"type":`), string(typ)), '}')
	notCanonical := fmt.Errorf("%w: record: not a canonical %s event", ErrInvalidEvent, typ)
	if !bytes.HasSuffix(record, tail) { // the top level's last member: nested objects end in "}}"
		return nil, notCanonical
	}
	// The canonical scanner reads the top level in one pass (a strict
	// parse was most of LogEvent's cost with Config.RecordedBy); the
	// strict parser decides what it does not take.
	var s canonScanner
	if s.scan(record, MaxDepth, 1) {
		for i := 0; i < s.n; i++ {
			if m := &s.members[i]; m.parent == -1 && string(record[m.nameStart:m.nameEnd]) == "recorded_by" {
				return nil, &FieldError{Field: "recorded_by", Reason: "is set already"}
			}
		}
	} else if env, canon, err := ParseRecord(record); err != nil {
		return nil, err
	} else if !bytes.Equal(canon, record) || env.Type != typ {
		return nil, notCanonical
	} else if env.RecordedBy != "" {
		return nil, &FieldError{Field: "recorded_by", Reason: "is set already"}
	}
	if err := CheckID("recorded_by", by); err != nil {
		return nil, err
	}
	n := len(record) - len(tail)
	out := make([]byte, 0, len(record)+len(by)+16)
	out = appendString(append(append(out, record[:n]...), `,"recorded_by":`...), by)
	return append(out, tail...), nil
}

// DecisionID returns the id of the decision an EVENT entry is about ("" for
// other entries). Entries made by SealRecord or ParseLine answer without
// decoding the event again.
func (e *Entry) DecisionID() string {
	if e.decisionID != "" || e.Type != EntryEvent {
		return e.decisionID
	}
	env, err := e.Envelope()
	if err != nil {
		return ""
	}
	return env.DecisionID()
}

// EventID returns the event id of an EVENT entry ("" for other entries).
func (e *Entry) EventID() string {
	if e.eventID != "" || e.Type != EntryEvent {
		return e.eventID
	}
	env, err := e.Envelope()
	if err != nil {
		return ""
	}
	return env.EventID
}

// ErrBadEntry is wrapped when a sealed line fails its own checks.
var ErrBadEntry = errors.New("bad sealed entry")

// ParseLine decodes a sealed line and checks everything the line alone can
// prove (docs/FORMAT.md sections 2 to 5): canonical form under the number
// rule, exactly the members of its type with exact names, every value's type
// and form, an event that meets the event schema of its chain, an INVALID
// payload whose size and sha256 match its raw bytes, and the hash. Links to
// other entries are checked by ChainVerifier.
func ParseLine(line []byte) (*Entry, error) { return parseLine(nil, nil, line, "", false) }

// ParseLineLenient is ParseLine without the number rule and the event
// schema: the line must still be canonical JSON, well formed and carry the
// hash of its own bytes. It reads lines that an older version wrote under
// looser rules, so the sealer can recover from them; verification always
// uses ParseLine.
func ParseLineLenient(line []byte) (*Entry, error) { return parseLine(nil, nil, line, "", true) }

// parseLine is ParseLine and ParseLineLenient. ParseObject gives the fast
// path its scanner (s), the line as a string (text) and room for its
// entry (es); others give nil, nil and "".
func parseLine(s *canonScanner, es *entryWithSource, line []byte, text string, lenient bool) (*Entry, error) {
	if !lenient {
		// The fast path accepts only what the strict path below accepts,
		// with the same entry; anything else is decided, and named, there.
		if e, at, ok := parseLineFast(s, es, line, text); ok {
			return e, checkLineHash(line, e, at)
		}
	}
	e, err := decodeLine(line, lenient)
	if err != nil {
		return nil, err
	}
	return e, checkLineHash(line, e, -1)
}

// maxLineValues bounds the JSON values the strict parser reads in a sealed
// line. A line that verifies holds its entry's fixed members (fewer than 40
// values: the entry, source, event, decision, invalid, genesis and key
// objects and their members) and at most one metadata object of at most
// MaxMetadataBytes bytes of canonical JSON, each of whose values takes at
// least one byte: fewer than MaxMetadataBytes + 40 values. A line holding
// more cannot verify, so reading stops there: the parser keeps 96 bytes and
// more for each value, and one line can be as long as its object (a hostile
// line of "0," in an array, 64 MiB, once took about 10 GB).
const maxLineValues = MaxMetadataBytes + 64

// maxLenientLineValues bounds the values of a line read leniently (the
// sealer's own objects, the indexer's sealed records): lines of versions
// before the metadata limit can hold more than maxLineValues, but not
// eight times as many (a metadata object of 128 Ki values is 256 KB or
// more, which no decision carries; a line holding more is refused, and a
// sealer whose last line it is stops and says so). Someone who can write
// the bucket, or the sealed topic, plants a huge line there: read without
// a bound, a 4 MiB one cost 1.2 GB (a 64 MiB object about 16 GB); now the
// parser stops at this many values, 65 to 90 MB however long the line.
const maxLenientLineValues = 1 << 17

// decodeLine is the strict path of ParseLine before the hash check: the
// general parser and decodeEntry.
func decodeLine(line []byte, lenient bool) (*Entry, error) {
	// Canonical mode checks that the line is exactly the canonical JSON of
	// its content as it parses (FuzzCanonicalMode holds it to writing the
	// content anew and comparing bytes).
	o := parseOptions{maxDepth: maxLineDepth, lenientNumbers: lenient, canonical: true,
		maxValues: maxLineValues, valuesOf: "sealed line"}
	if lenient {
		o.maxValues, o.valuesOf = maxLenientLineValues, "sealed line, of any version,"
	}
	v, err := parseJSON(line, o)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	e, err := decodeEntry(&v, lenient)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	return e, nil
}

// checkLineHash recomputes e's hash from the line's own bytes, not from the
// decoded struct, so that it covers exactly what is stored: the body is the
// line without its top-level hash member (see withHash), hashed in place.
// at is where that member starts, or -1 to find it (its last occurrence).
func checkLineHash(line []byte, e *Entry, at int) error {
	var member [hashMemberLen]byte
	n := copy(member[:], `,"hash":"`)
	for i := 0; i < len(e.Hash); i += 4 { // hex.Encode, eight digits at a time
		binary.LittleEndian.PutUint64(member[n+2*i:], hexEncodeWord(binary.LittleEndian.Uint32(e.Hash[i:])))
	}
	n += 2 * len(e.Hash)
	member[n] = '"'
	if at < 0 {
		at = bytes.LastIndex(line, member[:])
	}
	if at < 0 || at+len(member) > len(line) || !bytes.Equal(line[at:at+len(member)], member[:]) {
		return fmt.Errorf("%w: no top-level hash member", ErrBadEntry)
	}
	if want := hashBody(e.Prev, line[:at], line[at+len(member):]); want != e.Hash {
		return fmt.Errorf("%w: hash mismatch: line says %s, content hashes to %s", ErrBadEntry, e.Hash, want)
	}
	return nil
}

// decodeEntry reads a parsed line under section 2 of docs/FORMAT.md.
func decodeEntry(v *jsonValue, lenient bool) (*Entry, error) {
	e := &Entry{}
	if v.kind != jsonObject {
		return nil, fieldErr("line", "is %s, want an object", v.kind)
	}
	typ, err := getString(v, "", "type")
	if err != nil {
		return nil, err
	}
	e.Type = EntryType(typ)
	var payload []string
	switch e.Type {
	case EntryGenesis:
		payload = []string{"genesis"}
	case EntryEvent:
		payload = []string{"source", "event"}
	case EntryInvalid:
		payload = []string{"source", "invalid"}
	case EntryKey:
		payload = []string{"source", "key"}
	default:
		return nil, fieldErr("type", "unknown entry type %q", clip(typ))
	}
	if err := objectFields(v, "", append([]string{"v", "chain", "seq", "type", "prev", "sealed_at", "hash"}, payload...), nil); err != nil {
		return nil, err
	}
	if _, err := getInt(v, "", "v", FormatVersion, FormatVersion); err != nil {
		return nil, fmt.Errorf("unknown format version: %w", err)
	}
	e.V = FormatVersion
	if e.Chain, err = getString(v, "", "chain"); err != nil {
		return nil, err
	}
	if err := checkIdentifier("chain", e.Chain); err != nil {
		return nil, err
	}
	seq, err := getInt(v, "", "seq", 0, MaxSafeInteger)
	if err != nil {
		return nil, err
	}
	e.Seq = uint64(seq)
	if e.Prev, err = getHash(v, "", "prev"); err != nil {
		return nil, err
	}
	if e.Hash, err = getHash(v, "", "hash"); err != nil {
		return nil, err
	}
	if e.SealedAt, err = getTime(v, "", "sealed_at"); err != nil {
		return nil, err
	}
	if (e.Type == EntryGenesis) != (e.Seq == 0) {
		return nil, fieldErr("seq", "the genesis entry and only it has seq 0")
	}
	if e.Type == EntryGenesis && e.Prev != ZeroHash {
		return nil, fieldErr("prev", "the genesis entry's prev is 64 zeros")
	}
	switch e.Type {
	case EntryGenesis:
		e.Genesis, err = decodeGenesis(v)
	case EntryEvent:
		if e.Source, err = decodeSource(v); err != nil {
			return nil, err
		}
		ev, _ := v.member("event")
		e.Event, e.eventCanonical = canonicalBytes(ev), true
		if !lenient {
			env, eerr := decodeEnvelope(ev)
			if eerr != nil {
				return nil, fmt.Errorf("event: %w", eerr)
			}
			if env.Environment != e.Chain {
				return nil, fieldErr("event.environment", "%q is not the entry's chain %q", env.Environment, e.Chain)
			}
			e.decisionID, e.eventID = env.DecisionID(), env.EventID
		}
	case EntryInvalid:
		if e.Source, err = decodeSource(v); err != nil {
			return nil, err
		}
		e.Invalid, err = decodeInvalid(v)
	case EntryKey:
		if e.Source, err = decodeSource(v); err != nil {
			return nil, err
		}
		e.Key, err = decodeKeyChange(v, e.Seq)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

func decodeKeyChange(v *jsonValue, seq uint64) (*KeyChange, error) {
	kv, _ := v.member("key")
	if err := objectFields(kv, "key", []string{"from_seq", "verifier_key"}, nil); err != nil {
		return nil, err
	}
	k := &KeyChange{}
	from, err := getInt(kv, "key", "from_seq", 0, MaxSafeInteger)
	if err != nil {
		return nil, err
	}
	if k.FromSeq = uint64(from); k.FromSeq != seq+1 {
		return nil, fieldErr("key.from_seq", "is %d, want the entry's seq + 1 (%d): the new key signs from the next entry on", k.FromSeq, seq+1)
	}
	if k.VerifierKey, err = getString(kv, "key", "verifier_key"); err != nil {
		return nil, err
	}
	if _, err := ParseVerifierKey(k.VerifierKey); err != nil {
		return nil, fieldErr("key.verifier_key", "%v", err)
	}
	return k, nil
}

func decodeSource(v *jsonValue) (*Source, error) {
	sv, _ := v.member("source")
	if err := objectFields(sv, "source", []string{"topic", "partition", "offset", "timestamp"}, nil); err != nil {
		return nil, err
	}
	s := &Source{}
	var err error
	if s.Topic, err = getString(sv, "source", "topic"); err != nil {
		return nil, err
	}
	if !validTopic(s.Topic) {
		return nil, fieldErr("source.topic", "%q is not a Kafka topic name", clip(s.Topic))
	}
	p, err := getInt(sv, "source", "partition", 0, 1<<31-1)
	if err != nil {
		return nil, err
	}
	s.Partition = int32(p)
	if s.Offset, err = getInt(sv, "source", "offset", 0, MaxSafeInteger); err != nil {
		return nil, err
	}
	if s.Timestamp, err = getTime(sv, "source", "timestamp"); err != nil {
		return nil, err
	}
	return s, nil
}

func decodeGenesis(v *jsonValue) (*Genesis, error) {
	gv, _ := v.member("genesis")
	if err := objectFields(gv, "genesis", []string{"created_at", "key_name", "verifier_key"}, nil); err != nil {
		return nil, err
	}
	g := &Genesis{}
	var err error
	if g.CreatedAt, err = getTime(gv, "genesis", "created_at"); err != nil {
		return nil, err
	}
	if g.KeyName, err = getString(gv, "genesis", "key_name"); err != nil {
		return nil, err
	}
	if g.VerifierKey, err = getString(gv, "genesis", "verifier_key"); err != nil {
		return nil, err
	}
	vk, err := ParseVerifierKey(g.VerifierKey)
	if err != nil {
		return nil, fieldErr("genesis.verifier_key", "%v", err)
	}
	if vk.Name != g.KeyName {
		return nil, fieldErr("genesis.key_name", "%q is not the name of the verifier key (%q)", g.KeyName, vk.Name)
	}
	return g, nil
}

func decodeInvalid(v *jsonValue) (*Invalid, error) {
	iv, _ := v.member("invalid")
	if err := objectFields(iv, "invalid", []string{"reason", "size", "sha256"}, []string{"raw"}); err != nil {
		return nil, err
	}
	in := &Invalid{}
	var err error
	if in.Reason, err = getString(iv, "invalid", "reason"); err != nil {
		return nil, err
	}
	if in.Reason == "" {
		return nil, fieldErr("invalid.reason", "is empty")
	}
	size, err := getInt(iv, "invalid", "size", 0, MaxSafeInteger)
	if err != nil {
		return nil, err
	}
	in.Size = int(size)
	if in.SHA256, err = getHash(iv, "invalid", "sha256"); err != nil {
		return nil, err
	}
	if _, ok := iv.member("raw"); !ok {
		switch {
		case in.Size == 0 && in.SHA256 != sha256.Sum256(nil):
			return nil, fieldErr("invalid.sha256", "is not the SHA-256 of an empty record")
		case in.Size > 0 && in.Size <= MaxInvalidRaw:
			return nil, fieldErr("invalid.raw", "is required for a record of %d bytes (at most %d)", in.Size, MaxInvalidRaw)
		}
		return in, nil
	}
	if in.Raw, err = getString(iv, "invalid", "raw"); err != nil {
		return nil, err
	}
	raw, err := decodeBase64(in.Raw)
	switch {
	case err != nil:
		return nil, fieldErr("invalid.raw", "%v", err)
	case len(raw) == 0 || len(raw) > MaxInvalidRaw:
		return nil, fieldErr("invalid.raw", "is present for a record of %d bytes; it is kept only for 1 to %d bytes", len(raw), MaxInvalidRaw)
	case len(raw) != in.Size:
		return nil, fieldErr("invalid.size", "is %d, but raw holds %d bytes", in.Size, len(raw))
	case sha256.Sum256(raw) != in.SHA256:
		return nil, fieldErr("invalid.sha256", "is not the SHA-256 of raw")
	}
	return in, nil
}

// ErrChainBroken is wrapped when entries do not link into one chain.
var ErrChainBroken = errors.New("chain broken")

// ChainVerifier checks that entries, fed in order, form one gap-free chain
// from genesis (docs/FORMAT.md section 6).
type ChainVerifier struct {
	head    Head
	started bool
	source  *Source // topic and partition of the first record entry
}

// NewChainVerifier starts at genesis of chain.
func NewChainVerifier(chain string) *ChainVerifier {
	return &ChainVerifier{head: Head{Chain: chain, Offset: -1}}
}

// Head returns the last verified entry's head.
func (v *ChainVerifier) Head() Head { return v.head }

// StartAt starts the chain at e, the first entry that remains of a chain
// whose oldest objects were deleted (docs/FORMAT.md section 6.1): e is
// taken as the head with no link to an entry before it; Add checks every
// entry after it as usual.
func (v *ChainVerifier) StartAt(e *Entry) error {
	switch {
	case v.started:
		return fmt.Errorf("%w: the chain started already", ErrChainBroken)
	case e.Chain != v.head.Chain:
		return fmt.Errorf("%w: seq %d belongs to chain %q, want %q", ErrChainBroken, e.Seq, e.Chain, v.head.Chain)
	case e.Seq == 0 || e.Type == EntryGenesis || e.Source == nil:
		return fmt.Errorf("%w: a pruned chain starts at a record entry after seq 0, not at seq %d (%s)", ErrChainBroken, e.Seq, e.Type)
	}
	v.started, v.source = true, e.Source
	v.head = Head{Chain: e.Chain, Seq: e.Seq, Hash: e.Hash, Offset: e.Source.Offset}
	return nil
}

// Add checks that e is the next entry of the chain.
func (v *ChainVerifier) Add(e *Entry) error {
	if e.Chain != v.head.Chain {
		return fmt.Errorf("%w: seq %d belongs to chain %q, want %q", ErrChainBroken, e.Seq, e.Chain, v.head.Chain)
	}
	if !v.started {
		if e.Seq != 0 || e.Type != EntryGenesis {
			return fmt.Errorf("%w: chain starts at seq %d (%s), want genesis at seq 0", ErrChainBroken, e.Seq, e.Type)
		}
		if e.Prev != ZeroHash {
			return fmt.Errorf("%w: genesis prev is not zero", ErrChainBroken)
		}
		v.started = true
		v.head = Head{Chain: e.Chain, Seq: 0, Hash: e.Hash, Offset: -1}
		return nil
	}
	if e.Type == EntryGenesis {
		return fmt.Errorf("%w: second genesis at seq %d", ErrChainBroken, e.Seq)
	}
	if e.Seq != v.head.Seq+1 {
		return fmt.Errorf("%w: seq %d follows seq %d", ErrChainBroken, e.Seq, v.head.Seq)
	}
	if e.Prev != v.head.Hash {
		return fmt.Errorf("%w: seq %d prev %s is not the hash of seq %d (%s)", ErrChainBroken, e.Seq, e.Prev, v.head.Seq, v.head.Hash)
	}
	if v.source == nil {
		v.source = e.Source
	} else if e.Source.Topic != v.source.Topic || e.Source.Partition != v.source.Partition {
		return fmt.Errorf("%w: seq %d was read from %s/%d, the chain's records from %s/%d", ErrChainBroken, e.Seq,
			e.Source.Topic, e.Source.Partition, v.source.Topic, v.source.Partition)
	}
	if e.Source.Offset <= v.head.Offset {
		return fmt.Errorf("%w: seq %d source offset %d does not follow offset %d", ErrChainBroken, e.Seq, e.Source.Offset, v.head.Offset)
	}
	v.head = v.head.Next(e)
	return nil
}
