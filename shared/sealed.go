package shared

import "encoding/json"

// SealedRecord is the value of a record on the sealed topic: one entry and
// where it is stored, so consumers can point back at its proof.
type SealedRecord struct {
	// Object is the S3 key of the batch holding the entry.
	Object string `json:"object"`
	// VersionID is the object's version id ("" if the store has none).
	VersionID string `json:"version_id,omitempty"`
	// Line is the entry's 1-based line number in the object.
	Line int `json:"line"`
	// Entry is the sealed line exactly as stored.
	Entry json.RawMessage `json:"entry"`
}
