package shared

import (
	"encoding/json"
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
	b := make([]byte, 0, len(r.Entry)+len(r.Object)+len(r.VersionID)+64)
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
