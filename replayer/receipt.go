package replayer

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/shared"
)

// VerifyReceipt checks a Sealed-mode receipt (what a producer or the ingest
// service was told) against S3, trusting nothing in it but where to look:
// the entry's object is read (Object Lock checked, every line verified and
// linked), its checkpoint verified with the trusted key, and the entry at
// the receipt's line must have the receipt's seq, hash, event id and
// decision id, under a checkpoint at the receipt's checkpoint seq. It
// returns the evidence bundle of the entry (docs/FORMAT.md section 11),
// which `aegis verify-proof` checks offline, when the entry is a
// decision; for an override's receipt it returns no bundle (nil): a
// bundle must hold the decision's entry, which the receipt does not point
// at (aegis prove of the decision writes one with its overrides).
//
// cfg.Chain is the chain the auditor trusts the key for; empty takes the
// receipt's, which must then match the key's checkpoints.
func VerifyReceipt(ctx context.Context, cfg ProveConfig, r *shared.Receipt) ([]byte, shared.ProofReport, error) {
	var rep shared.ProofReport
	if err := r.CheckSealed(); err != nil {
		return nil, rep, err
	}
	if cfg.Chain == "" {
		cfg.Chain = r.Chain
	}
	if cfg.Chain != r.Chain {
		return nil, rep, fmt.Errorf("receipt of chain %q, verifying chain %q", r.Chain, cfg.Chain)
	}
	cfg.fromReceipt = true
	sealed := ""
	cfg.sealedVersion = func(key, versionID string) {
		if key == r.Object {
			sealed = versionID
		}
	}
	bundle, rep, err := Prove(ctx, cfg, r.DecisionID, []EntryRef{{Seq: r.Seq, Object: r.Object, Line: r.Line}})
	if err != nil {
		return nil, rep, fmt.Errorf("receipt of event %s: %w", r.EventID, err)
	}
	if len(rep.Entries) != 1 {
		return nil, rep, fmt.Errorf("receipt of event %s: the bundle proves %d entries, want 1", r.EventID, len(rep.Entries))
	}
	pe := rep.Entries[0]
	switch {
	case pe.Entry.Hash.String() != r.EntryHash:
		return nil, rep, fmt.Errorf("receipt of event %s: seq %d in S3 has hash %s, the receipt says %s", r.EventID, r.Seq, pe.Entry.Hash, r.EntryHash)
	case pe.Envelope.EventID != r.EventID:
		return nil, rep, fmt.Errorf("receipt of event %s: seq %d in S3 is event %s", r.EventID, r.Seq, pe.Envelope.EventID)
	case pe.Envelope.DecisionID() != r.DecisionID:
		return nil, rep, fmt.Errorf("receipt of event %s: seq %d in S3 is about decision %s, the receipt says %s", r.EventID, r.Seq, pe.Envelope.DecisionID(), r.DecisionID)
	case pe.Checkpoint.Seq != r.CheckpointSeq:
		return nil, rep, fmt.Errorf("receipt of event %s: the checkpoint signing seq %d is at seq %d, the receipt says %d", r.EventID, r.Seq, pe.Checkpoint.Seq, r.CheckpointSeq)
	}
	if r.VersionID != "" && r.VersionID != sealed && cfg.Warn != nil {
		if why := receiptVersionDiffers(ctx, cfg, r); why != "" {
			cfg.Warn(why)
		}
	}
	if rep.Action == "" {
		// An override's receipt: its entry is proved, but a bundle is a
		// decision's evidence (FORMAT.md section 11 needs the decision's
		// entry, which the receipt does not point at).
		bundle = nil
	}
	return bundle, rep, nil
}

// receiptVersionDiffers says why the version the receipt names (its
// version_id, not the sealed version the proof read) does not hold the
// receipt's entry at its line, "" when it does or S3 could not be asked. The entry was proved from the sealed
// version whatever the receipt names: the version id is no part of the
// evidence, but a receipt naming another version was accepted without a
// word (an outside trial). On a copy of the bucket every version id is
// new, so it is said, not failed.
func receiptVersionDiffers(ctx context.Context, cfg ProveConfig, r *shared.Receipt) string {
	if cfg.Prefix == "" {
		cfg.Prefix = "audit"
	}
	store := &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix}
	obj, err := store.Get(ctx, r.Object, r.VersionID)
	// Named in the warning quoted and cut: the receipt is a file anyone
	// can write, and a version id of 200 KB of terminal escapes was
	// repeated whole.
	named := r.VersionID
	if len(named) > 128 {
		named = named[:128] + "…"
	}
	named = strconv.Quote(named)
	const copied = " (a copy of the bucket, a replica or a restore, gives every version a new id; otherwise the receipt was altered or names a version written over the sealed one)"
	switch {
	case errors.Is(err, archive.ErrNotFound):
		return fmt.Sprintf("the receipt names version %s of %s, which the bucket does not hold; the entry was proved from the sealed version%s", named, r.Object, copied)
	case err != nil && (ctx.Err() != nil || awsconn.Unavailable(err) || awsconn.Refused(err)):
		return "" // not asked: the proof stands without it
	case err != nil:
		// S3 answered about the version: not one it gives as an object
		// holding the entry (a version id it does not take as one, 400; a
		// delete marker's, 405; one in an archive storage class:
		// archive.ErrUnreadable). Before, these were taken for "not
		// asked", and such a receipt was accepted without a word (trial 32).
		return fmt.Sprintf("the receipt names version %s of %s, which S3 does not read as a version holding an object (%v); the entry was proved from the sealed version%s", named, r.Object, err, copied)
	}
	seq, err := firstSeq(cfg.Prefix, cfg.Chain, r.Object)
	if err == nil {
		var entries []*shared.Entry
		if entries, _, err = shared.ParseObject(r.Object, seq, obj.Body); err == nil &&
			r.Line <= len(entries) && entries[r.Line-1].Hash.String() == r.EntryHash {
			return ""
		}
	}
	return fmt.Sprintf("the receipt names version %s of %s, which does not hold its entry at line %d; the entry was proved from the sealed version%s", named, r.Object, r.Line, copied)
}
