package replayer

import (
	"context"
	"fmt"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// SignedHead returns the newest checkpoint of chain that carries the
// trusted signature: the head S3 vouches for (aegis index status). Objects
// at checkpoint keys that do not verify are passed over, as the sealer
// passes them over.
//
// Each checkpoint is read as the readers read one (signedAt): its sealed
// version counts, whatever was written over it since, and keys past the
// one found are listed by version, so that a key under a delete marker is
// seen. Someone with write access to the bucket hid the newest
// checkpoints before, with a marker or a garbage version over each: the
// head reported was an older one, and the index's lag looked smaller
// than it was (TestSignedHeadSeesPastMarkersAndVersionsWrittenOver).
func SignedHead(ctx context.Context, s3 archive.S3API, bucket, prefix, chain, verifierKey string) (shared.Checkpoint, error) {
	trusted, err := shared.ParseKeyset(verifierKey)
	if err != nil {
		return shared.Checkpoint{}, err
	}
	if prefix == "" {
		prefix = "audit"
	}
	store := &archive.Store{S3: s3, Bucket: bucket, Prefix: prefix}
	// Newest first, a few listing pages however long the chain.
	walk := store.NewestCheckpoints(chain)
	var head shared.Checkpoint
	found := false
	for !found {
		key, ok, err := walk.Next(ctx)
		if err != nil {
			return shared.Checkpoint{}, err
		}
		if !ok {
			break
		}
		seq, ok := shared.ParseCheckpointKey(prefix, chain, key)
		if !ok {
			continue
		}
		if head, found, err = signedAt(ctx, store, trusted, nil, chain, key, seq, false); err != nil {
			return shared.Checkpoint{}, err
		}
	}
	if !found { // the genesis's checkpoint, which no listing after a seq holds
		key := shared.CheckpointKey(prefix, chain, 0)
		if head, found, err = signedAt(ctx, store, trusted, nil, chain, key, 0, false); err != nil {
			return shared.Checkpoint{}, err
		}
	}
	// The walk lists current keys only: one more listing, of versions,
	// finds those past the head under delete markers (nearly always none).
	for from := head.Seq; ; {
		_, cp, ok, err := signedCheckpointAfter(ctx, store, trusted, nil, chain, from, false)
		if err != nil {
			return shared.Checkpoint{}, err
		}
		if !ok {
			break
		}
		head, found, from = cp, true, cp.Seq
	}
	if !found {
		return shared.Checkpoint{}, fmt.Errorf("no checkpoint of chain %s signed by its keys (%s) in s3://%s/%s", chain, trusted.IDs(), bucket, shared.CheckpointPrefix(prefix, chain))
	}
	return head, nil
}
