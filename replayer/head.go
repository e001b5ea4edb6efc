package replayer

import (
	"context"
	"fmt"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// SignedHead returns the newest checkpoint of chain that carries the
// trusted signature: the head S3 vouches for. Objects at checkpoint keys
// that do not verify are passed over, as the sealer passes them over.
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
	for {
		key, ok, err := walk.Next(ctx)
		if err != nil {
			return shared.Checkpoint{}, err
		}
		if !ok {
			break
		}
		obj, err := store.Get(ctx, key, "")
		if err != nil {
			return shared.Checkpoint{}, err
		}
		cp, err := trusted.Open(obj.Body)
		if err == nil && cp.Chain == chain && shared.CheckpointKey(prefix, chain, cp.Seq) == key {
			return cp, nil
		}
	}
	return shared.Checkpoint{}, fmt.Errorf("no checkpoint of chain %s signed by its keys (%s) in s3://%s/%s", chain, trusted.IDs(), bucket, shared.CheckpointPrefix(prefix, chain))
}
