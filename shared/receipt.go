package shared

import "fmt"

// Receipt is what a producer is told about an event it recorded. In Durable
// mode it names the event only; in Sealed mode it also says where the
// sealed entry is: its chain, seq and entry hash, the S3 object (key,
// version, line) and the seq of the signed checkpoint covering it.
//
// A receipt is a claim, not evidence: it comes from the sealed topic, which
// an auditor does not trust. replayer.VerifyReceipt (`aegis verify-receipt`)
// checks it against S3 and the signed checkpoint, and writes the evidence
// bundle that `aegis verify-proof` checks offline.
type Receipt struct {
	EventID    string `json:"event_id"`
	DecisionID string `json:"decision_id,omitempty"`
	// Durability is "durable" (acknowledged by every in-sync Kafka
	// replica) or "sealed" (in S3 under a signed checkpoint).
	Durability string `json:"durability"`

	Chain         string `json:"chain,omitempty"`
	Seq           uint64 `json:"seq,omitempty"`
	EntryHash     string `json:"entry_hash,omitempty"`
	Object        string `json:"object,omitempty"`
	VersionID     string `json:"version_id,omitempty"`
	Line          int    `json:"line,omitempty"`
	CheckpointSeq uint64 `json:"checkpoint_seq,omitempty"`
}

// Durability names in receipts.
const (
	DurabilityDurable = "durable"
	DurabilitySealed  = "sealed"
)

// SealedReceipt is the receipt of a sealed entry read from the sealed
// topic.
func SealedReceipt(e *Entry, rec *SealedRecord) *Receipt {
	return &Receipt{EventID: e.EventID(), DecisionID: e.DecisionID(), Durability: DurabilitySealed,
		Chain: e.Chain, Seq: e.Seq, EntryHash: e.Hash.String(), Object: rec.Object, VersionID: rec.VersionID,
		Line: rec.Line, CheckpointSeq: rec.Checkpoint}
}

// CheckSealed checks that the receipt is a complete Sealed-mode receipt
// (before it is verified against S3).
func (r *Receipt) CheckSealed() error {
	switch {
	case r.Durability != DurabilitySealed:
		return fmt.Errorf("receipt of event %q is %q, not sealed: it names no entry", r.EventID, r.Durability)
	case !ValidIdentifier(r.Chain):
		return fmt.Errorf("receipt: chain %q is not a valid chain id", r.Chain)
	case r.Object == "" || r.Line < 1 || r.CheckpointSeq < r.Seq:
		return fmt.Errorf("receipt: object %q, line %d, seq %d, checkpoint %d do not point at a sealed entry", r.Object, r.Line, r.Seq, r.CheckpointSeq)
	}
	if _, err := ParseHash(r.EntryHash); err != nil {
		return fmt.Errorf("receipt: entry_hash: %w", err)
	}
	return nil
}
