package shared

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrVerifyFailed is wrapped by every *Failure.
var ErrVerifyFailed = errors.New("audit log verification failed")

// Failure is the first broken place of a log: which object, which line,
// which seq, and what is wrong.
type Failure struct {
	// Key is the object; Version the version read (when known); Line is the
	// 1-based line (0: the object as a whole).
	Key     string `json:"key"`
	Version string `json:"version,omitempty"`
	Line    int    `json:"line,omitempty"`
	// Seq is the entry's seq when known (HasSeq).
	Seq    uint64 `json:"seq"`
	HasSeq bool   `json:"has_seq"`
	// Reason says what is wrong.
	Reason string `json:"reason"`
	// Keyset is, for a key hand-over the verifier's keyset does not have,
	// the text of the keyset that would trust it (to check and save
	// after the new key's id is checked out of band).
	Keyset string `json:"keyset,omitempty"`
	// Err is the sentinel of the broken rule (ErrBadEntry, ErrChainBroken,
	// ErrBadCheckpoint, ...).
	Err error `json:"-"`
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: object %s", ErrVerifyFailed, f.Key)
	if f.Version != "" {
		fmt.Fprintf(&b, " version %s", f.Version)
	}
	if f.Line > 0 {
		fmt.Fprintf(&b, " line %d", f.Line)
	}
	if f.HasSeq {
		fmt.Fprintf(&b, " seq %d", f.Seq)
	}
	fmt.Fprintf(&b, ": %s", f.Reason)
	return b.String()
}

// Unwrap returns ErrVerifyFailed and the cause, for errors.Is.
func (f *Failure) Unwrap() []error { return []error{ErrVerifyFailed, f.Err} }

// ObjectRoot is the Merkle root a checkpoint signs for an object's entries.
func ObjectRoot(entries []*Entry) Hash {
	leaves := make([]Hash, len(entries))
	for i, e := range entries {
		leaves[i] = e.Hash
	}
	return MerkleRoot(leaves)
}

// ParseObject splits a stored object into lines and parses each with
// ParseLine. firstSeq is the seq its key names, used to say which seq a
// broken line should have held. It checks nothing across lines.
func ParseObject(key string, firstSeq uint64, body []byte) ([]*Entry, [][]byte, error) {
	n, err := checkLines(body)
	var le *LineError
	if errors.As(err, &le) {
		return nil, nil, &Failure{Key: key, Line: le.Line, Seq: firstSeq + uint64(le.Line-1), HasSeq: le.Line > 0,
			Reason: le.Reason + " (seq from the line's position)", Err: ErrBadEntry}
	}
	if err != nil {
		return nil, nil, &Failure{Key: key, Reason: err.Error(), Err: ErrBadEntry}
	}
	// The lines are cut and their entries made as they are read, in room
	// that grows with the lines read, never for every line at once: an
	// object of tiny lines (64 MiB of "x\n" is 32 million lines) is refused
	// at its first line having made room for a few. One string for the
	// object's text and a few allocations for its entries, not one of each
	// per line (a tenth of the verifier's CPU went to them): the entries'
	// strings are cut from text, so they keep the object's text alive
	// while any of them is.
	text := string(body)
	// A batch object holds 1,000 lines by default (the sealer's
	// BatchMaxRecords): room for that many pointers
	// and slices at first (32 KB), grown by append past it.
	room := min(n, 1024)
	entries, lines := make([]*Entry, 0, room), make([][]byte, 0, room)
	var slots []entryWithSource
	scanner := new(canonScanner) // one for all the lines
	for i, at := 0, 0; i < n; i++ {
		end := at + bytes.IndexByte(body[at:], '\n')
		l := body[at:end:end]
		if len(slots) == 0 {
			slots = make([]entryWithSource, min(n-i, max(16, i)))
		}
		e, err := parseLine(scanner, &slots[0], l, text[at:end], false)
		slots = slots[1:]
		if err != nil {
			return nil, nil, &Failure{Key: key, Line: i + 1, Seq: firstSeq + uint64(i), HasSeq: true,
				Reason: err.Error() + " (seq from the line's position)", Err: err}
		}
		entries, lines = append(entries, e), append(lines, l)
		at = end + 1
	}
	return entries, lines, nil
}

// LineError is a line that breaks the JSON Lines rules of an object.
type LineError struct {
	Line   int
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// SplitLines splits an object into its lines: UTF-8 JSON Lines, each line
// ending in "\n" (the last one too), no empty line, no CR, no byte order
// mark (docs/FORMAT.md section 1). A line that breaks the rules is a
// *LineError naming the first such line.
func SplitLines(body []byte) ([][]byte, error) {
	n, err := checkLines(body)
	if err != nil {
		return nil, err
	}
	return bytes.SplitN(body, []byte("\n"), n+1)[:n], nil
}

// checkLines applies section 1's line rules to the whole object without
// splitting it (no allocation) and returns the number of lines. The
// failure is the first line, in line order, that breaks any of them, as
// the Python reference splits and checks line by line before reading any
// line alone: a CR or bad UTF-8 on line 1 is named before an empty line 4,
// and before a bad hash on an earlier line (which is only read after). Of
// one line's faults the first in the reference's order is named: a byte
// order mark, empty, a CR, not UTF-8, no newline at the end.
func checkLines(body []byte) (int, error) {
	if len(body) == 0 {
		return 0, errors.New("empty object")
	}
	n := bytes.Count(body, []byte("\n"))
	var first *LineError
	rank := 0
	// note records a fault of the line holding byte at, ranked within a
	// line by the reference's order.
	note := func(at, r int, reason string) {
		line := bytes.Count(body[:at], []byte("\n")) + 1
		if first == nil || line < first.Line || line == first.Line && r < rank {
			first, rank = &LineError{Line: line, Reason: reason}, r
		}
	}
	if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
		note(0, 0, "the object starts with a byte order mark")
	}
	if body[0] == '\n' {
		note(0, 1, "empty line")
	} else if i := bytes.Index(body, []byte("\n\n")); i >= 0 {
		note(i+1, 1, "empty line")
	}
	if i := bytes.IndexByte(body, '\r'); i >= 0 {
		note(i, 2, "the line holds a CR (\\r)")
	}
	if i := firstInvalidUTF8(body); i >= 0 {
		// '\n' is one byte of its own in UTF-8, so the whole object's
		// first bad byte is the first bad byte of its line read alone.
		note(i, 3, fmt.Sprintf("not UTF-8 (byte %d of the line)", i-bytes.LastIndexByte(body[:i], '\n')-1))
	}
	if body[len(body)-1] != '\n' {
		note(len(body)-1, 4, "the object's last line does not end in a newline (truncated?)")
	}
	if first != nil {
		return 0, first
	}
	return n, nil
}

// firstInvalidUTF8 is the offset of b's first byte that does not start a
// valid UTF-8 sequence, or -1.
func firstInvalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// LogReport summarises a verified log.
type LogReport struct {
	Objects     int    `json:"objects"`
	Entries     uint64 `json:"entries"`
	Events      uint64 `json:"events"`
	Invalid     uint64 `json:"invalid"`
	Checkpoints int    `json:"checkpoints"`
	// Head is the last entry of the chain.
	Head Head `json:"-"`
	// CheckpointedSeq is the seq of the latest valid checkpoint.
	CheckpointedSeq uint64 `json:"checkpointed_seq"`
	// Unsigned counts the entries after the latest checkpoint: verified
	// links and hashes, but no signature covers them yet.
	Unsigned uint64 `json:"unsigned"`
	// StartSeq is the first seq that remains of a pruned chain
	// (docs/FORMAT.md section 6.1), 0 for a chain that starts at its
	// genesis. StartSealedAt and StartObject are its entry's sealed_at
	// and object, for the auditor to compare with the retention.
	StartSeq      uint64    `json:"start_seq"`
	StartSealedAt time.Time `json:"start_sealed_at,omitzero"`
	StartObject   string    `json:"start_object,omitempty"`
}

// LogVerifier applies docs/FORMAT.md sections 1, 6 and 7 to a chain's
// objects and checkpoints. It is pure: the caller reads the objects (in
// first-seq order, genesis first) and checkpoints and hands them over, each
// checkpoint after the object that holds its seq and before the next one
// (a checkpoint past the chain's end, after the last). Its memory is one
// object's entries and the chain's key hand-overs, not the log's size.
type LogVerifier struct {
	prefix, chain string
	trusted       Keyset
	chainV        *ChainVerifier
	// keys are the chain's KEY entries so far, in seq order.
	keys []keyEntry
	// pinned are the seqs told to NewLogVerifier (a known checkpoint's),
	// filled in as objects pass and kept to the end.
	pinned map[uint64]*cpTarget
	// latest is the last object handed to Object: what a checkpoint
	// handed after it is matched against.
	latest  latestObject
	rep     LogReport
	objects bool
	// pruned: a chain whose oldest objects were deleted is accepted
	// (AllowPruned, section 6.1). start is its first seq once it started
	// there (0 otherwise), startPrev that entry's prev; keyBase counts
	// the keyset's boundaries below start, whose KEY entries are gone.
	pruned    bool
	start     uint64
	startPrev Hash
	keyBase   int
}

// latestObject is the last object handed to Object.
type latestObject struct {
	key     string
	entries []*Entry
	// offsets[i] is the chain's Kafka offset after entries[i].
	offsets []int64
	root    Hash
	hasRoot bool
}

// target is what a checkpoint at seq must match, from the latest object
// or a pinned seq.
func (v *LogVerifier) target(seq uint64) (cpTarget, bool) {
	l := &v.latest
	if n := len(l.entries); n > 0 && seq >= l.entries[0].Seq && seq <= l.entries[n-1].Seq {
		i := int(seq - l.entries[0].Seq)
		if !l.hasRoot {
			l.root, l.hasRoot = ObjectRoot(l.entries), true
		}
		return cpTarget{seen: true, hash: l.entries[i].Hash, offset: l.offsets[i], object: l.key, last: i == n-1, root: l.root}, true
	}
	if t, ok := v.pinned[seq]; ok {
		return *t, true
	}
	return cpTarget{}, false
}

// cpTarget is what a checkpoint at a seq must match.
type cpTarget struct {
	seen   bool
	hash   Hash
	offset int64
	object string
	last   bool
	root   Hash // the object's Merkle root, when last
}

// keyEntry is a hand-over the chain records: KEY entry at seq, in object;
// signed once a stored checkpoint at its seq verified.
type keyEntry struct {
	seq    uint64
	key    string
	object string
	line   int
	signed bool
}

// NewLogVerifier verifies chain under prefix with the trusted checkpoint
// keys (each for its seq range; docs/FORMAT.md section 7.4). pinned are
// the seqs of checkpoints that will be handed to Extends (a known
// checkpoint's), so that the objects holding them are remembered as they
// pass.
func NewLogVerifier(prefix, chain string, trusted Keyset, pinned []uint64) *LogVerifier {
	v := &LogVerifier{prefix: prefix, chain: chain, trusted: trusted, chainV: NewChainVerifier(chain), pinned: map[uint64]*cpTarget{}}
	for _, s := range pinned {
		v.pinned[s] = &cpTarget{}
	}
	return v
}

// AllowPruned makes the verifier accept a chain whose oldest objects
// were deleted (docs/FORMAT.md section 6.1): without its genesis object,
// it starts at the first object handed to Object.
func (v *LogVerifier) AllowPruned() { v.pruned = true }

// Object checks the next object of the chain: stored at the key its first
// entry implies (the genesis object alone, with exactly one line), every
// entry linking to the one before.
func (v *LogVerifier) Object(key string, entries []*Entry) error {
	if len(entries) == 0 {
		return &Failure{Key: key, Reason: "empty object", Err: ErrBadEntry}
	}
	first := entries[0]
	startHere := false
	if !v.objects {
		v.objects = true
		if key != GenesisKey(v.prefix, v.chain) {
			if !v.pruned {
				return &Failure{Key: GenesisKey(v.prefix, v.chain), Err: ErrChainBroken,
					Reason: "no genesis object: the chain starts at " + key + " (if its oldest objects were deleted after their retention, verify what remains as a pruned chain: FORMAT.md section 6.1)"}
			}
			startHere = true
		}
	}
	// Only the genesis object's key holds the genesis object: a batch that
	// starts with the genesis entry is at the wrong key (line 1, below).
	if key == GenesisKey(v.prefix, v.chain) && first.Type == EntryGenesis && len(entries) != 1 {
		return &Failure{Key: key, Line: 2, Seq: entries[1].Seq, HasSeq: true,
			Reason: fmt.Sprintf("the genesis object holds %d lines, want exactly 1", len(entries)), Err: ErrChainBroken}
	}
	// The key the first entry implies in the chain verified, not in the
	// chain the line names: a line of another chain breaks a rule of the
	// chain (third bullet), named after the object's own rules, as the
	// Python reference names it (TestFirstLineOfAnotherChainAsPython).
	if want := batchKeyIn(v.prefix, v.chain, first); want != key {
		return &Failure{Key: key, Line: 1, Seq: first.Seq, HasSeq: true,
			Reason: fmt.Sprintf("object is stored at the wrong key; its first entry belongs at %s", want), Err: ErrChainBroken}
	}
	// Every entry of the object is of its key's day (the object's rules,
	// section 6's second bullet) before any is linked to the chain (the
	// third): the first failure in the order of the Python reference.
	var day time.Time
	if first.Source != nil { // nil: the genesis object, of one line
		day = FileDate(first.Source.Timestamp)
	}
	for i, e := range entries[1:] {
		if e.Source == nil {
			return &Failure{Key: key, Line: i + 2, Seq: e.Seq, HasSeq: true, Err: ErrChainBroken,
				Reason: "the genesis entry in a batch object: it has no source.timestamp of the object's date " + day.Format("2006-01-02")}
		}
		if d := FileDate(e.Source.Timestamp); d != day {
			return &Failure{Key: key, Line: i + 2, Seq: e.Seq, HasSeq: true, Err: ErrChainBroken,
				Reason: fmt.Sprintf("source.timestamp %s is not on the object's date %s: every entry of an object is of its key's day",
					FormatTime(e.Source.Timestamp), day.Format("2006-01-02"))}
		}
	}
	if head := v.chainV.Head(); len(v.latest.entries) > 0 && first.Seq <= head.Seq {
		// Two objects hold this seq (a fork put at another day's key is
		// read first when its folder is listed first): name both, so
		// that the sealer's object is not the only one blamed.
		return &Failure{Key: key, Line: 1, Seq: first.Seq, HasSeq: true, Err: ErrChainBroken,
			Reason: fmt.Sprintf("chain broken: seq %d was read already, the chain is at seq %d from %s: two objects hold seq %d and at most one is the sealer's (the checkpoints name it)",
				first.Seq, head.Seq, v.latest.key, first.Seq)}
	}
	if head := v.chainV.Head(); len(v.latest.entries) > 0 && first.Seq > head.Seq+1 {
		// Where an object begins past the next seq, the objects between
		// are missing: say so, rather than only blame this one.
		missing := fmt.Sprintf("seq %d", head.Seq+1)
		if first.Seq > head.Seq+2 {
			missing = fmt.Sprintf("seqs %d to %d", head.Seq+1, first.Seq-1)
		}
		return &Failure{Key: key, Line: 1, Seq: first.Seq, HasSeq: true, Err: ErrChainBroken,
			Reason: fmt.Sprintf("chain broken: seq %d follows seq %d (%s): no object in the bucket holds %s: one was removed from the storage, or this object does not continue the chain",
				first.Seq, head.Seq, v.latest.key, missing)}
	}
	v.latest = latestObject{key: key, entries: entries, offsets: v.latest.offsets[:0]}
	if startHere {
		if err := v.startAt(key, first); err != nil {
			return err
		}
	}
	for i, e := range entries {
		if startHere && i == 0 {
			// started at it (startAt)
		} else if err := v.chainV.Add(e); err != nil {
			return &Failure{Key: key, Line: i + 1, Seq: e.Seq, HasSeq: true, Reason: err.Error(), Err: err}
		}
		v.latest.offsets = append(v.latest.offsets, v.chainV.Head().Offset)
		if t, ok := v.pinned[e.Seq]; ok {
			*t = cpTarget{seen: true, hash: e.Hash, offset: v.chainV.Head().Offset, object: key, last: i == len(entries)-1}
			if t.last {
				t.root = ObjectRoot(entries)
			}
		}
		switch e.Type {
		case EntryEvent:
			v.rep.Events++
		case EntryInvalid:
			v.rep.Invalid++
		case EntryKey:
			if err := v.handOver(key, i, len(entries), e); err != nil {
				return err
			}
		}
	}
	v.rep.Objects++
	v.rep.Entries += uint64(len(entries))
	return nil
}

// startAt starts a pruned chain at first, the first entry of the object
// at key (section 6.1).
func (v *LogVerifier) startAt(key string, first *Entry) error {
	if err := v.chainV.StartAt(first); err != nil {
		return &Failure{Key: key, Line: 1, Seq: first.Seq, HasSeq: true, Reason: err.Error(), Err: err}
	}
	v.start, v.startPrev = first.Seq, first.Prev
	v.rep.StartSeq, v.rep.StartSealedAt, v.rep.StartObject = first.Seq, first.SealedAt, key
	for _, r := range v.trusted.Ranges[:len(v.trusted.Ranges)-1] {
		if r.To < first.Seq {
			v.keyBase++
		}
	}
	return nil
}

// Start is the first seq of a pruned chain once its first object was
// handed to Object (docs/FORMAT.md section 6.1), 0 otherwise.
func (v *LogVerifier) Start() uint64 { return v.start }

// prunedCheckpoint checks a checkpoint of a seq below a pruned chain's
// start: the one of the seq right before it must sign the start's prev;
// it is not counted (it signs no entry that remains).
func (v *LogVerifier) prunedCheckpoint(key string, cp Checkpoint) error {
	if cp.Seq+1 == v.start && cp.Hash != v.startPrev {
		return &Failure{Key: key, Seq: cp.Seq, HasSeq: true, Err: ErrChainBroken,
			Reason: fmt.Sprintf("checkpoint signs hash %s at seq %d, but the first entry that remains (seq %d, %s) links to %s: they are not of one chain",
				cp.Hash, cp.Seq, v.start, v.rep.StartObject, v.startPrev)}
	}
	return nil
}

// Checkpoint checks one checkpoint stored at key against the object last
// handed to Object (the one that holds its seq): the trusted key's
// signature, the key it is stored at, and that it signs the last entry of
// the object it names, with that entry's hash, Kafka offset and the
// object's Merkle root. Of a pruned chain (AllowPruned), a checkpoint of a
// seq below its start, handed after its first object (the order of the
// keys' seqs puts it there: no object holds its seq), is checked as
// section 6.1 says.
func (v *LogVerifier) Checkpoint(key string, msg []byte) (Checkpoint, error) {
	cp, err := v.open(key, msg)
	if err != nil {
		return cp, err
	}
	if want := CheckpointKey(v.prefix, v.chain, cp.Seq); want != key {
		return cp, &Failure{Key: key, Seq: cp.Seq, HasSeq: true,
			Reason: "checkpoint is stored under another seq than it signs (want " + want + ")", Err: ErrBadCheckpoint}
	}
	if v.start > 0 && cp.Seq < v.start {
		return cp, v.prunedCheckpoint(key, cp)
	}
	if err := v.matches(key, cp); err != nil {
		return cp, err
	}
	for i := len(v.keys) - 1; i >= 0 && v.keys[i].seq >= cp.Seq; i-- {
		if v.keys[i].seq == cp.Seq {
			v.keys[i].signed = true
		}
	}
	v.rep.Checkpoints++
	v.rep.CheckpointedSeq = max(v.rep.CheckpointedSeq, cp.Seq)
	return cp, nil
}

// Extends checks that the chain handed to Object extends a checkpoint the
// auditor kept from an earlier verification (name says where it came
// from): it holds the signed entry at that seq with that hash. A log cut
// back behind it (its tail and checkpoints deleted, or rewritten) fails.
func (v *LogVerifier) Extends(name string, msg []byte) (Checkpoint, error) {
	cp, err := v.open(name, msg)
	if err != nil {
		return cp, err
	}
	if err := v.matches(name, cp); err != nil {
		var f *Failure
		if errors.As(err, &f) {
			f.Reason = "S3 does not extend the known checkpoint: " + f.Reason
		}
		return cp, err
	}
	return cp, nil
}

// handOver checks a KEY entry (line i of n in object key) against the
// keyset: it ends its object (so the retiring key signs it), and the
// keyset retires its current key exactly at this seq and trusts the key
// the entry names from the next seq on.
func (v *LogVerifier) handOver(key string, i, n int, e *Entry) error {
	fail := func(format string, args ...any) error {
		return &Failure{Key: key, Line: i + 1, Seq: e.Seq, HasSeq: true, Reason: fmt.Sprintf(format, args...), Err: ErrKeyChange}
	}
	if i != n-1 {
		return fail("a key entry must be the last line of its object (the retiring key's checkpoint signs it); %d lines follow it", n-1-i)
	}
	next, _ := ParseVerifierKey(e.Key.VerifierKey) // ParseLine checked it
	idx := v.keyBase + len(v.keys)                 // the keyset's boundaries below a pruned chain's start have no KEY entry left
	v.keys = append(v.keys, keyEntry{seq: e.Seq, key: e.Key.VerifierKey, object: key, line: i + 1})
	if idx+1 >= len(v.trusted.Ranges) {
		last := v.trusted.Ranges[len(v.trusted.Ranges)-1]
		f := fail("the chain hands its checkpoints over to key %s from seq %d (this KEY entry is seq %d), but the keyset trusts %s: "+
			"if this hand-over is the operator's, check the new key out of band and trust it in the keyset (section 7.4)",
			next.ID(), e.Seq+1, e.Seq, last)
		if ks, err := v.trusted.HandOver(e.Seq, next); err == nil {
			f.(*Failure).Keyset = ks.String()
		}
		return f
	}
	cur, nr := v.trusted.Ranges[idx], v.trusted.Ranges[idx+1]
	switch {
	case cur.To != e.Seq:
		return fail("the chain hands over from %s to %s after seq %d, but the keyset trusts %s", cur.Key.ID(), next.ID(), e.Seq, cur)
	case nr.Key.Text != e.Key.VerifierKey:
		return fail("the chain hands over to key %s from seq %d, but the keyset trusts %s", next.ID(), e.Seq+1, nr)
	}
	return nil
}

// ErrKeyChange is wrapped when the chain's key hand-overs and the
// verifier's keyset disagree.
var ErrKeyChange = errors.New("key hand-over does not match the keyset")

func (v *LogVerifier) open(key string, msg []byte) (Checkpoint, error) {
	cp, err := v.trusted.Open(msg)
	if err != nil {
		return cp, &Failure{Key: key, Reason: err.Error(), Err: err}
	}
	if cp.Chain != v.chain {
		return cp, &Failure{Key: key, Seq: cp.Seq, HasSeq: true, Reason: fmt.Sprintf("checkpoint signs chain %q, not %q", cp.Chain, v.chain), Err: ErrBadCheckpoint}
	}
	return cp, nil
}

func (v *LogVerifier) matches(key string, cp Checkpoint) error {
	fail := func(sentinel error, format string, args ...any) error {
		return &Failure{Key: key, Seq: cp.Seq, HasSeq: true, Reason: fmt.Sprintf(format, args...), Err: sentinel}
	}
	head := v.chainV.Head()
	if !v.objects || cp.Seq > head.Seq {
		return fail(ErrChainBroken, "checkpoint signs seq %d but the chain ends at seq %d: entries are missing", cp.Seq, head.Seq)
	}
	t, ok := v.target(cp.Seq)
	if !ok || !t.seen {
		return fail(ErrChainBroken, "no entry at seq %d was read", cp.Seq)
	}
	switch {
	case t.hash != cp.Hash:
		return fail(ErrChainBroken, "checkpoint signs hash %s but the chain has %s at that seq", cp.Hash, t.hash)
	case t.object != cp.Object:
		return fail(ErrBadCheckpoint, "checkpoint names object %s, but seq %d is in %s", cp.Object, cp.Seq, t.object)
	case !t.last:
		return fail(ErrBadCheckpoint, "seq %d is not the last entry of %s", cp.Seq, t.object)
	case t.offset != cp.Offset:
		return fail(ErrBadCheckpoint, "checkpoint says Kafka offset %d, the entry at seq %d was read at %d", cp.Offset, cp.Seq, t.offset)
	case t.root != cp.Root:
		return fail(ErrBadCheckpoint, "checkpoint signs root %s, the entries of %s have root %s", cp.Root, t.object, t.root)
	}
	return nil
}

// Report returns the summary so far. It fails if the log has no genesis
// or no valid checkpoint.
func (v *LogVerifier) Report() (LogReport, error) {
	rep := v.rep
	rep.Head = v.chainV.Head()
	if !v.objects {
		return rep, &Failure{Key: GenesisKey(v.prefix, v.chain), Reason: "no objects: the chain has no genesis", Err: ErrChainBroken}
	}
	if rep.Checkpoints == 0 {
		return rep, &Failure{Key: CheckpointPrefix(v.prefix, v.chain), Reason: "no signed checkpoint", Err: ErrBadCheckpoint}
	}
	rep.Unsigned = rep.Head.Seq - rep.CheckpointedSeq
	for _, k := range v.keys {
		if k.seq < rep.CheckpointedSeq && !k.signed {
			return rep, &Failure{Key: k.object, Line: k.line, Seq: k.seq, HasSeq: true, Err: ErrKeyChange,
				Reason: "no checkpoint signs the key entry, yet later checkpoints exist: the retiring key did not sign the hand-over"}
		}
	}
	// Every hand-over the keyset knows of must be in the chain: a keyset
	// boundary the chain does not record is a chain cut back behind it, or a
	// keyset that does not belong to this chain.
	if v.keyBase+len(v.keys) < len(v.trusted.Ranges)-1 {
		r := v.trusted.Ranges[v.keyBase+len(v.keys)]
		return rep, &Failure{Key: CheckpointPrefix(v.prefix, v.chain), Seq: r.To, HasSeq: true, Err: ErrKeyChange,
			Reason: fmt.Sprintf("the keyset retires %s after seq %d, but the chain holds no key entry there (it ends at seq %d)", r.Key.ID(), r.To, rep.Head.Seq)}
	}
	return rep, nil
}
