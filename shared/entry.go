package shared

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FormatVersion is the version of the entry format in docs/FORMAT.md.
const FormatVersion = 1

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
)

// MaxInvalidRaw is the largest invalid record kept whole (base64) in an
// INVALID entry; larger ones keep only their SHA-256 and size.
const MaxInvalidRaw = 64 << 10

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
		return h, fmt.Errorf("hash %q: want %d hex digits", s, 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil || hex.EncodeToString(h[:]) != s {
		return h, fmt.Errorf("hash %q: not lowercase hex", s)
	}
	return h, nil
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

	Hash Hash `json:"hash"`

	// eventCanonical records that Event is known to be canonical already.
	eventCanonical bool
	// decisionID is the event's decision id when SealRecord parsed it.
	decisionID string
}

// CanonicalBody returns the canonical bytes of the entry without "hash". The
// members are written directly in their sorted order (chain, event|genesis,
// invalid, prev, sealed_at, seq, source, type, v); only the event, which
// comes from outside, goes through the general canonicaliser. ParseLine
// checks every line with the general canonicaliser, and the fuzz tests
// check that the two agree.
func (e *Entry) CanonicalBody() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(512 + len(e.Event))
	b.WriteString(`{"chain":`)
	writeString(&b, e.Chain)
	switch {
	case e.Event != nil:
		canon := []byte(e.Event)
		if !e.eventCanonical {
			var err error
			if canon, err = Canonicalize(e.Event); err != nil {
				return nil, fmt.Errorf("entry seq %d: event: %w", e.Seq, err)
			}
		}
		b.WriteString(`,"event":`)
		b.Write(canon)
	case e.Genesis != nil:
		b.WriteString(`,"genesis":{"created_at":`)
		writeString(&b, formatTime(e.Genesis.CreatedAt))
		b.WriteString(`,"key_name":`)
		writeString(&b, e.Genesis.KeyName)
		b.WriteString(`,"verifier_key":`)
		writeString(&b, e.Genesis.VerifierKey)
		b.WriteByte('}')
	}
	if e.Invalid != nil {
		b.WriteString(`,"invalid":{`)
		if e.Invalid.Raw != "" {
			b.WriteString(`"raw":`)
			writeString(&b, e.Invalid.Raw)
			b.WriteByte(',')
		}
		b.WriteString(`"reason":`)
		writeString(&b, e.Invalid.Reason)
		b.WriteString(`,"sha256":"` + e.Invalid.SHA256.String() + `","size":` + strconv.Itoa(e.Invalid.Size) + `}`)
	}
	b.WriteString(`,"prev":"` + e.Prev.String() + `","sealed_at":`)
	writeString(&b, formatTime(e.SealedAt))
	b.WriteString(`,"seq":` + strconv.FormatUint(e.Seq, 10))
	if e.Source != nil {
		b.WriteString(`,"source":{"offset":` + strconv.FormatInt(e.Source.Offset, 10) +
			`,"partition":` + strconv.FormatInt(int64(e.Source.Partition), 10) + `,"timestamp":`)
		writeString(&b, formatTime(e.Source.Timestamp))
		b.WriteString(`,"topic":`)
		writeString(&b, e.Source.Topic)
		b.WriteByte('}')
	}
	b.WriteString(`,"type":`)
	writeString(&b, string(e.Type))
	b.WriteString(`,"v":` + strconv.Itoa(e.V) + `}`)
	if e.Seq > MaxSafeInteger || e.Source != nil && (e.Source.Offset > MaxSafeInteger || e.Source.Offset < -MaxSafeInteger) {
		return nil, fmt.Errorf("entry seq %d: number outside ±(2^53-1)", e.Seq)
	}
	return b.Bytes(), nil
}

// formatTime is how every time in an entry is written: RFC 3339 in UTC with
// the fraction's trailing zeros removed (Go's time.RFC3339Nano).
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// writeString writes s as an RFC 8785 string: only '"', '\' and control
// characters are escaped, with the short forms where JSON has them. Invalid
// UTF-8 (never expected in the sealer's own strings) becomes U+FFFD.
func writeString(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// ComputeHash returns SHA-256(EntryHashPrefix || prev || CanonicalBody).
func (e *Entry) ComputeHash() (Hash, error) {
	body, err := e.CanonicalBody()
	if err != nil {
		return Hash{}, err
	}
	return hashBody(e.Prev, body), nil
}

func hashBody(prev Hash, body []byte) Hash {
	h := sha256.New()
	h.Write([]byte(EntryHashPrefix))
	h.Write(prev[:])
	h.Write(body)
	var out Hash
	h.Sum(out[:0])
	return out
}

// Line returns the sealed line: canonical JSON of the entry including its
// hash, without a trailing newline.
func (e *Entry) Line() ([]byte, error) {
	body, err := e.CanonicalBody()
	if err != nil {
		return nil, err
	}
	return withHash(body, e.Type, e.Hash)
}

// withHash inserts the "hash" member into a canonical body at its sorted
// place: just before the top-level "invalid" member of an INVALID entry,
// else just before the top-level "prev". The last occurrence is the top-level
// one: everything after it in a canonical body is fixed-key members whose
// string values cannot contain an unescaped quote.
func withHash(body []byte, t EntryType, h Hash) ([]byte, error) {
	marker := []byte(`,"prev":"`)
	if t == EntryInvalid {
		marker = []byte(`,"invalid":{`)
	}
	i := bytes.LastIndex(body, marker)
	if i < 0 {
		return nil, fmt.Errorf("entry body has no %s member", marker)
	}
	member := `,"hash":"` + h.String() + `"`
	out := make([]byte, 0, len(body)+len(member))
	out = append(out, body[:i]...)
	out = append(out, member...)
	return append(out, body[i:]...), nil
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

// NewGenesis builds the seq 0 entry of chain.
func NewGenesis(chain string, createdAt time.Time, keyName, verifierKey string) (*Entry, error) {
	if chain == "" {
		return nil, errors.New("genesis: chain id is required")
	}
	e := &Entry{
		V: FormatVersion, Chain: chain, Seq: 0, Type: EntryGenesis, Prev: ZeroHash,
		SealedAt: createdAt.UTC(),
		Genesis:  &Genesis{CreatedAt: createdAt.UTC(), KeyName: keyName, VerifierKey: verifierKey},
	}
	var err error
	if e.Hash, err = e.ComputeHash(); err != nil {
		return nil, err
	}
	return e, nil
}

// SealRecord seals one record read from the decisions topic as the successor
// of h. A record that is a valid Envelope of chain h.Chain becomes an EVENT
// entry holding the record's canonical bytes; anything else becomes an
// INVALID entry with the reason. It never fails on bad input: the only
// errors are internal encoding failures.
func SealRecord(h Head, src Source, raw []byte, sealedAt time.Time) (*Entry, error) {
	e := &Entry{Type: EntryEvent, Source: &src, SealedAt: sealedAt}
	env, canon, err := parseEnvelope(raw)
	if err == nil && env.Environment != h.Chain {
		err = fmt.Errorf("%w: environment %q does not belong to chain %q", ErrInvalidEvent, env.Environment, h.Chain)
	}
	if err == nil {
		e.Event, e.eventCanonical, e.decisionID = canon, true, env.DecisionID()
	}
	if err != nil {
		e.Type, e.Event = EntryInvalid, nil
		e.Invalid = &Invalid{Reason: err.Error(), Size: len(raw), SHA256: sha256.Sum256(raw)}
		if len(raw) <= MaxInvalidRaw {
			e.Invalid.Raw = base64.StdEncoding.EncodeToString(raw)
		}
	}
	return h.seal(e)
}

// Envelope decodes the event of an EVENT entry.
func (e *Entry) Envelope() (*Envelope, error) {
	if e.Type != EntryEvent {
		return nil, fmt.Errorf("entry seq %d is %s, not an event", e.Seq, e.Type)
	}
	var env Envelope
	if err := json.Unmarshal(e.Event, &env); err != nil {
		return nil, fmt.Errorf("entry seq %d: decode event: %w", e.Seq, err)
	}
	return &env, nil
}

// DecisionID returns the id of the decision an EVENT entry is about ("" for
// other entries or an event that does not decode). Entries made by
// SealRecord answer without decoding the event again.
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

// ErrBadEntry is wrapped when a sealed line fails its own checks.
var ErrBadEntry = errors.New("bad sealed entry")

// ParseLine decodes a sealed line and checks everything the line alone can
// prove: canonical form, known version and type, the payload matching the
// type, and the hash. Links to other entries are checked by Verifier.
func ParseLine(line []byte) (*Entry, error) {
	canon, err := Canonicalize(line)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	if !bytes.Equal(canon, line) {
		return nil, fmt.Errorf("%w: line is not in canonical form", ErrBadEntry)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	if e.V != FormatVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrBadEntry, e.V)
	}
	switch {
	case e.Type == EntryGenesis && e.Genesis != nil && e.Event == nil && e.Invalid == nil && e.Source == nil:
	case e.Type == EntryEvent && e.Event != nil && e.Genesis == nil && e.Invalid == nil && e.Source != nil:
	case e.Type == EntryInvalid && e.Invalid != nil && e.Genesis == nil && e.Event == nil && e.Source != nil:
	default:
		return nil, fmt.Errorf("%w: type %q does not match its payload", ErrBadEntry, e.Type)
	}
	// The hash is recomputed from the line's own bytes, not from the decoded
	// struct, so it covers exactly what is stored: the body is the line
	// without its top-level hash member (see withHash).
	member := []byte(`,"hash":"` + e.Hash.String() + `"`)
	i := bytes.LastIndex(line, member)
	if i < 0 {
		return nil, fmt.Errorf("%w: no top-level hash member", ErrBadEntry)
	}
	body := make([]byte, 0, len(line)-len(member))
	body = append(append(body, line[:i]...), line[i+len(member):]...)
	if want := hashBody(e.Prev, body); want != e.Hash {
		return nil, fmt.Errorf("%w: hash mismatch: line says %s, content hashes to %s", ErrBadEntry, e.Hash, want)
	}
	return &e, nil
}

// ErrChainBroken is wrapped when entries do not link into one chain.
var ErrChainBroken = errors.New("chain broken")

// Verifier checks that entries, fed in order, form one gap-free chain from
// genesis.
type Verifier struct {
	head    Head
	started bool
}

// NewVerifier starts at genesis of chain.
func NewVerifier(chain string) *Verifier { return &Verifier{head: Head{Chain: chain}} }

// Head returns the last verified entry's head.
func (v *Verifier) Head() Head { return v.head }

// Add checks that e is the next entry of the chain.
func (v *Verifier) Add(e *Entry) error {
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
	if e.Source.Offset <= v.head.Offset {
		return fmt.Errorf("%w: seq %d source offset %d does not follow offset %d", ErrChainBroken, e.Seq, e.Source.Offset, v.head.Offset)
	}
	v.head = v.head.Next(e)
	return nil
}
