package shared

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// SealedRecord is the value of a record on the sealed topic: one entry and
// where it is stored, so consumers can point back at its proof.
type SealedRecord struct {
	// Object is the S3 key of the batch holding the entry.
	Object string `json:"object"`
	// VersionID is the object's version id ("" if the store has none).
	VersionID string `json:"version_id,omitempty"`
	// Line is the entry's 1-based line number in the object.
	Line int `json:"line"`
	// Checkpoint is the seq of the signed checkpoint that covers the entry
	// (its object's last entry): the sealer publishes a record only after
	// that checkpoint is durable in S3. Zero when not known (records of
	// older versions, or built by a rebuild).
	Checkpoint uint64 `json:"checkpoint,omitempty"`
	// Entry is the sealed line exactly as stored.
	Entry json.RawMessage `json:"entry"`
}

// Encode writes r as JSON without re-encoding the entry (a sealed line is
// canonical JSON already): what encoding/json writes, at a fraction of the
// cost.
func (r *SealedRecord) Encode() []byte {
	return r.AppendEncode(make([]byte, 0, r.EncodedSizeHint()))
}

// EncodedSizeHint is about the length of r encoded: a size to allocate
// for, not a bound.
func (r *SealedRecord) EncodedSizeHint() int {
	return len(r.Entry) + len(r.Object) + len(r.VersionID) + 128
}

// AppendEncode appends r encoded (see Encode) to b.
func (r *SealedRecord) AppendEncode(b []byte) []byte {
	b = append(b, `{"object":`...)
	b = appendString(b, r.Object)
	if r.VersionID != "" {
		b = append(b, `,"version_id":`...)
		b = appendString(b, r.VersionID)
	}
	b = append(b, `,"line":`...)
	b = strconv.AppendInt(b, int64(r.Line), 10)
	if r.Checkpoint != 0 {
		b = append(b, `,"checkpoint":`...)
		b = strconv.AppendUint(b, r.Checkpoint, 10)
	}
	b = append(b, `,"entry":`...)
	b = append(b, r.Entry...)
	return append(b, '}')
}

// MaxObjectKey is the longest S3 object key (and version id) a sealed
// record may name: S3's own limit on keys.
const MaxObjectKey = 1024

// ErrBadPointer is wrapped when a sealed record does not point where the
// sealer would have stored its entry.
var ErrBadPointer = errors.New("sealed record points where its entry cannot be")

// CheckPointer checks that r points where the sealer stores e: an object
// key of at most MaxObjectKey bytes that is a batch key (section 1, under
// any prefix) of e's chain whose first seq puts e at r.Line, and a version
// id of at most MaxObjectKey bytes. The sealed topic is read by every
// indexer; a record that names another place (or a key of megabytes) is
// not one the sealer wrote, and its pointer must not reach the index.
func (r *SealedRecord) CheckPointer(e *Entry) error {
	if len(r.Object) > MaxObjectKey || len(r.VersionID) > MaxObjectKey {
		return fmt.Errorf("%w: object key or version id longer than %d bytes", ErrBadPointer, MaxObjectKey)
	}
	_, info, err := splitBatchKey(r.Object)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadPointer, err)
	}
	if info.Chain != e.Chain || r.Line < 1 || info.FirstSeq > e.Seq || e.Seq-info.FirstSeq != uint64(r.Line-1) {
		return fmt.Errorf("%w: seq %d of chain %s is not line %d of %s", ErrBadPointer, e.Seq, e.Chain, r.Line, r.Object)
	}
	return nil
}
