package shared

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ProofFormat is the format member of every evidence bundle.
const ProofFormat = "aegis-audit/proof/v1"

// maxProofPath bounds an inclusion path: 64 levels hold any object.
const maxProofPath = 64

// ErrBadBundle is wrapped when an evidence bundle does not verify.
var ErrBadBundle = errors.New("evidence bundle does not verify")

// Bundle is the evidence for one decision (docs/FORMAT.md section 11): its
// sealed entries, each with the Merkle path to the root its object's signed
// checkpoint carries. A third party verifies it offline with the chain's
// verifier key alone.
type Bundle struct {
	Chain      string
	DecisionID string
	// KeyID is "<name>+<key hash>" of the key the checkpoints are signed by.
	KeyID string
	Items []BundleItem
}

// BundleItem proves one entry.
type BundleItem struct {
	// Object is the key of the object holding the entry.
	Object string
	// Line is the sealed line exactly as stored.
	Line []byte
	// Index is the entry's 0-based line in the object; Size the object's
	// number of lines.
	Index, Size uint64
	// Path is the inclusion proof of the entry's hash (RFC 6962).
	Path []Hash
	// Checkpoint is the signed note of the object's checkpoint.
	Checkpoint []byte
}

// Encode writes the bundle as canonical JSON (section 3), so that every
// byte of it is checked: any other spelling of the same bundle is refused.
func (b *Bundle) Encode() []byte {
	out := []byte(`{"chain":`)
	out = appendString(out, b.Chain)
	out = append(out, `,"decision_id":`...)
	out = appendString(out, b.DecisionID)
	out = append(out, `,"entries":[`...)
	for i, it := range b.Items {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"checkpoint":`...)
		out = appendString(out, string(it.Checkpoint))
		out = append(out, `,"index":`...)
		out = strconv.AppendUint(out, it.Index, 10)
		out = append(out, `,"line":`...)
		out = appendString(out, string(it.Line))
		out = append(out, `,"object":`...)
		out = appendString(out, it.Object)
		out = append(out, `,"path":[`...)
		for j, h := range it.Path {
			if j > 0 {
				out = append(out, ',')
			}
			out = append(out, '"')
			out = append(out, h.String()...)
			out = append(out, '"')
		}
		out = append(out, `],"size":`...)
		out = strconv.AppendUint(out, it.Size, 10)
		out = append(out, '}')
	}
	out = append(out, `],"format":`...)
	out = appendString(out, ProofFormat)
	out = append(out, `,"key_id":`...)
	out = appendString(out, b.KeyID)
	return append(out, '}', '\n')
}

// ProvedEntry is one entry a bundle proves.
type ProvedEntry struct {
	Entry    *Entry
	Envelope *Envelope
	Object   string
	// Index is the entry's 0-based line in Object (its inclusion proof's
	// leaf index).
	Index      uint64
	Checkpoint Checkpoint
	// KeyID is "<name>+<hash>" of the key that signs Checkpoint.
	KeyID string
	// Retired is true when that key is retired in the keyset (its range
	// is closed). Offline, a retired key's signature is worth what its
	// keeping since its retirement is: whoever stole it signs bundles of
	// any entry of its range, and they verify. Verifying the whole chain
	// (aegis verify, which refuses forged objects) and finding the entry
	// in it (aegis discover) rules that out.
	Retired bool

	note string // Checkpoint as the bundle holds it
	size uint64 // the object's lines, as the bundle says
}

// ProofReport is what a verified bundle proves.
type ProofReport struct {
	Chain      string
	DecisionID string
	// Entries are the decision's entries the bundle proves, by seq.
	Entries []ProvedEntry
	// Action is the decision's action (of its first decision entry) and
	// CurrentAction the new action of its latest override, if any;
	// CurrentSeq is the seq of the entry that set CurrentAction (that
	// override's, else the decision's).
	Action, CurrentAction Action
	CurrentSeq            uint64
}

// VerifyBundle checks an evidence bundle offline against the trusted key:
// canonical form and exact members; each line alone (sections 2 to 5), of
// the bundle's chain and about its decision; its inclusion path to the root
// of a checkpoint signed by the trusted key, at the index the checkpoint's
// seq and the object key imply. It proves that each entry is in the signed
// log; it cannot prove that no other entry about the decision exists.
//
// Each checkpoint must verify with the keyset's key for the seq it signs
// (section 7.4); key_id names the key that signs the last entry's
// checkpoint, one of the keyset's.
func VerifyBundle(raw []byte, trusted Keyset) (ProofReport, error) {
	return verifyBundle(raw, trusted, true)
}

// VerifyEntryBundle checks raw as VerifyBundle does but for the rule that
// one of its entries is the decision itself: what the receipt of one
// override proves (replayer.VerifyReceipt), its entry in the signed log.
// Such a bundle is not a decision's evidence (docs/FORMAT.md section 11
// needs the decision) and is not handed out; Action is then empty, and
// CurrentAction the latest override's.
func VerifyEntryBundle(raw []byte, trusted Keyset) (ProofReport, error) {
	return verifyBundle(raw, trusted, false)
}

func verifyBundle(raw []byte, trusted Keyset, decision bool) (ProofReport, error) {
	var rep ProofReport
	bad := func(format string, args ...any) (ProofReport, error) {
		return rep, fmt.Errorf("%w: %s", ErrBadBundle, fmt.Sprintf(format, args...))
	}
	body, ok := strings.CutSuffix(string(raw), "\n")
	if !ok {
		return bad("a bundle ends in one newline")
	}
	// Every value of a bundle that verifies takes dozens of bytes: an
	// entry is 7 values around a sealed line and a signed checkpoint (each
	// of hundreds of bytes), and each of its path's hashes takes 67 (the
	// vectors' bundles take 117 to 127 bytes a value; a path of 64 hashes
	// about 70). One value per 32 bytes is twice what any holds, and bounds
	// what reading a hostile file of tiny values keeps (96 bytes and more
	// a value: 1.2 GB for 4 MiB before).
	v, err := parseJSON([]byte(body), parseOptions{maxDepth: 4, canonical: true, maxValues: len(body)/32 + 64, valuesOf: "bundle of this size"})
	if err != nil {
		return bad("%v", err)
	}
	if err := objectFields(&v, "", []string{"format", "chain", "decision_id", "key_id", "entries"}, nil); err != nil {
		return bad("%v", err)
	}
	format, _ := getString(&v, "", "format")
	if format != ProofFormat {
		return bad("format %q, want %q", clip(format), ProofFormat)
	}
	if rep.Chain, err = getString(&v, "", "chain"); err != nil || !ValidIdentifier(rep.Chain) {
		return bad("chain is not a chain id")
	}
	if rep.DecisionID, err = getString(&v, "", "decision_id"); err != nil {
		return bad("%v", err)
	}
	if err := checkID("decision_id", rep.DecisionID); err != nil {
		return bad("%v", err)
	}
	keyID, err := getString(&v, "", "key_id")
	if err != nil {
		return bad("%v", err)
	}
	if _, ok := trusted.byID(keyID); !ok {
		return bad("the bundle says its checkpoints are signed by %s; the keys given are %s", shownText(clip(keyID)), trusted.IDs())
	}
	items, _ := v.member("entries")
	if items.kind != jsonArray || len(items.elems) == 0 {
		return bad("entries is not a non-empty array")
	}
	for i := range items.elems {
		pe, err := verifyItem(&items.elems[i], rep.Chain, rep.DecisionID, trusted)
		if err != nil {
			return bad("entry %d%s: %v", i+1, itemPlace(&items.elems[i], pe), err)
		}
		if n := len(rep.Entries); n > 0 && pe.Entry.Seq <= rep.Entries[n-1].Entry.Seq {
			return bad("entry %d%s: seq %d does not follow seq %d", i+1, itemPlace(&items.elems[i], pe), pe.Entry.Seq, rep.Entries[n-1].Entry.Seq)
		}
		rep.Entries = append(rep.Entries, pe)
	}
	if err := oneHistory(rep.Entries); err != nil {
		return bad("%v", err)
	}
	if last := rep.Entries[len(rep.Entries)-1]; last.KeyID != keyID {
		return bad("key_id is %s, but the last entry's checkpoint is signed by %s", shownText(clip(keyID)), shownText(last.KeyID))
	}
	var latest Action
	var latestSeq uint64
	for _, pe := range rep.Entries { // by seq
		switch env := pe.Envelope; {
		case env.Decision != nil && rep.Action == "":
			rep.Action, rep.CurrentSeq = env.Decision.Action, pe.Entry.Seq
		case env.Override != nil:
			latest, latestSeq = env.Override.NewAction, pe.Entry.Seq
		}
	}
	if rep.Action == "" && decision {
		return bad("no entry is the decision itself")
	}
	rep.CurrentAction = rep.Action
	if latest != "" {
		rep.CurrentAction, rep.CurrentSeq = latest, latestSeq
	}
	return rep, nil
}

// itemPlace names where a refused item says its line is (its object, the
// line's 1-based number in it, and the seq its line says it has), so that
// a refusal can be looked up in S3; "" when it says nothing usable. It is
// what the bundle says, not verified: a line refused for its hash or its
// form still names the seq it carries, when it is JSON with one.
func itemPlace(v *jsonValue, pe ProvedEntry) string {
	object, err := getString(v, "", "object")
	if err != nil || object == "" {
		return ""
	}
	if len(object) > 200 { // the bundle's, hostile: a key of the chain is far shorter
		object = object[:197] + "..."
	}
	place := " (object " + shownText(object)
	if index, err := getInt(v, "", "index", 0, MaxSafeInteger); err == nil {
		place += fmt.Sprintf(", line %d", index+1)
	}
	if pe.Entry != nil {
		place += fmt.Sprintf(", seq %d", pe.Entry.Seq)
	} else if line, err := getString(v, "", "line"); err == nil {
		var claimed struct{ Seq json.Number }
		if json.Unmarshal([]byte(line), &claimed) == nil {
			if seq, err := strconv.ParseUint(string(claimed.Seq), 10, 64); err == nil && seq <= MaxSafeInteger {
				place += fmt.Sprintf(", seq %d", seq)
			}
		}
	}
	return place + ")"
}

// shownText is s as an error shows it: itself when every rune of it is
// printable, else quoted in Go's syntax. A bundle's text is hostile, and
// a newline or an escape sequence in it would otherwise start a line of
// its writer's choosing on the reader's terminal.
func shownText(s string) string {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// oneHistory checks a bundle's items against each other (section 11):
// items whose objects share a seq (an object holds the seqs from its
// first to its checkpoint's) name the same object and carry the same
// checkpoint. Each item can verify alone while two of them contradict
// each other: one seq in two signed objects, or two checkpoints of one
// object, are two histories signed, which the sealer never writes (a
// thief of a retired key can, 7.4). entries are in the bundle's order.
func oneHistory(entries []ProvedEntry) error {
	first := func(i int) uint64 { return entries[i].Checkpoint.Seq + 1 - entries[i].size }
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(first(a), first(b)) })
	// Sorted by first seq, an item overlaps an earlier one exactly when
	// it starts at or before the end of the one that ends last so far.
	top := order[0]
	for _, i := range order[1:] {
		a, b := entries[min(top, i)], entries[max(top, i)]
		na, nb := min(top, i)+1, max(top, i)+1
		switch {
		case first(i) > entries[top].Checkpoint.Seq:
		case a.Object != b.Object:
			return fmt.Errorf("entries %d and %d are in two objects that share seq %d (%s, seqs %d to %d; %s, seqs %d to %d): two histories signed",
				na, nb, max(first(top), first(i)), shownText(a.Object), first(min(top, i)), a.Checkpoint.Seq, shownText(b.Object), first(max(top, i)), b.Checkpoint.Seq)
		case a.note != b.note:
			return fmt.Errorf("entries %d and %d carry two different checkpoints of the object %s: two histories signed", na, nb, shownText(a.Object))
		}
		if entries[i].Checkpoint.Seq > entries[top].Checkpoint.Seq {
			top = i
		}
	}
	return nil
}

func verifyItem(v *jsonValue, chain, decisionID string, trusted Keyset) (ProvedEntry, error) {
	var pe ProvedEntry
	if err := objectFields(v, "", []string{"object", "line", "index", "size", "path", "checkpoint"}, nil); err != nil {
		return pe, err
	}
	var err error
	if pe.Object, err = getString(v, "", "object"); err != nil {
		return pe, err
	}
	line, err := getString(v, "", "line")
	if err != nil {
		return pe, err
	}
	index, err := getInt(v, "", "index", 0, MaxSafeInteger)
	if err != nil {
		return pe, err
	}
	pe.Index = uint64(index)
	size, err := getInt(v, "", "size", 1, MaxSafeInteger)
	if err != nil {
		return pe, err
	}
	pv, _ := v.member("path")
	if pv.kind != jsonArray || len(pv.elems) > maxProofPath {
		return pe, fmt.Errorf("path is not an array of at most %d hashes", maxProofPath)
	}
	path := make([]Hash, len(pv.elems))
	for i, h := range pv.elems {
		if h.kind != jsonString {
			return pe, fmt.Errorf("path[%d] is not a hash", i)
		}
		if path[i], err = ParseHash(h.text); err != nil {
			return pe, fmt.Errorf("path[%d]: %v", i, err)
		}
	}
	note, err := getString(v, "", "checkpoint")
	if err != nil {
		return pe, err
	}

	if pe.Entry, err = ParseLine([]byte(line)); err != nil {
		return pe, err
	}
	e := pe.Entry
	if e.Chain != chain {
		return pe, fmt.Errorf("seq %d belongs to chain %q, not %q", e.Seq, e.Chain, chain)
	}
	if e.Type != EntryEvent {
		return pe, fmt.Errorf("seq %d is %s, not an event", e.Seq, e.Type)
	}
	if pe.Envelope, err = e.Envelope(); err != nil {
		return pe, err
	}
	if id := pe.Envelope.DecisionID(); id != decisionID {
		return pe, fmt.Errorf("seq %d is about decision %q, not %q", e.Seq, clip(id), clip(decisionID))
	}
	pe.note, pe.size = note, uint64(size)
	if pe.Checkpoint, err = trusted.Open([]byte(note)); err != nil {
		return pe, err
	}
	pe.KeyID = SignedBy([]byte(note))
	if r, ok := trusted.byID(pe.KeyID); ok {
		pe.Retired = !r.Open
	}
	cp := pe.Checkpoint
	if cp.Chain != chain || cp.Object != pe.Object {
		return pe, fmt.Errorf("the checkpoint signs chain %q object %s, not chain %q object %s", cp.Chain, shownText(cp.Object), chain, shownText(pe.Object))
	}
	if uint64(index) >= uint64(size) || cp.Seq+1 < uint64(size) {
		return pe, fmt.Errorf("index %d and size %d do not fit checkpoint seq %d", index, size, cp.Seq)
	}
	first := cp.Seq + 1 - uint64(size)
	if e.Seq != first+uint64(index) {
		return pe, fmt.Errorf("seq %d is not line %d of an object of %d lines ending at seq %d", e.Seq, index+1, size, cp.Seq)
	}
	prefix, info, kerr := splitBatchKey(pe.Object)
	if kerr != nil || first == 0 || info.FirstSeq != first || info.Chain != chain || !info.Date.Equal(dateOf(e)) ||
		BatchKey(prefix, &Entry{Type: EntryEvent, Chain: chain, Seq: first, Source: e.Source}) != pe.Object {
		return pe, fmt.Errorf("object %s is not the batch key of an object of chain %s starting at seq %d on %s (entries are filed under their own date)",
			shownText(pe.Object), chain, first, dateOf(e).Format("2006-01-02"))
	}
	if uint64(index) == uint64(size)-1 && e.Hash != cp.Hash {
		return pe, fmt.Errorf("seq %d is the object's last line but the checkpoint signs hash %s", e.Seq, cp.Hash)
	}
	if err := VerifyInclusion(e.Hash, uint64(index), uint64(size), path, cp.Root); err != nil {
		return pe, fmt.Errorf("seq %d: %w", e.Seq, err)
	}
	return pe, nil
}

// dateOf is the UTC date an entry's object is filed under.
func dateOf(e *Entry) time.Time { return FileDate(e.Source.Timestamp) }

// splitBatchKey reads a batch key under any prefix: the prefix is what
// comes before its last five segments.
func splitBatchKey(key string) (string, BatchKeyInfo, error) {
	i := strings.LastIndex(key, "/year=")
	if i <= 0 || !validPrefix(key[:i]) {
		return "", BatchKeyInfo{}, fmt.Errorf("key %q is not a batch key under a prefix (non-empty, not ending in /)", key)
	}
	info, err := ParseBatchKey(key[:i], key)
	return key[:i], info, err
}
