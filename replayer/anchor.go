package replayer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// anchors are the checkpoints of retired keys that a verification of the
// whole chain (Verify, docs/FORMAT.md section 8) linked, entry hash by
// entry hash, to a checkpoint of the keyset's current key: the ones the
// retired-key rule of FORMAT.md 7.4 may refuse on S3's dates alone.
//
// That rule dates a retired key's checkpoints by when S3 stored them, so
// that a thief of the key who can write to the bucket cannot pass off a
// forgery to a reader of part of the chain. A copy of the bucket made
// after the hand-over (S3 Replication to another account, a restore from
// a backup) is dated by when it was copied, and every checkpoint of the
// retired key fails the rule there. The whole chain's hashes vouch for
// them instead: the current key signs an entry whose hash covers its
// prev, and so on back to the genesis, and a thief of a retired key cannot
// make a twin of the retired range that links to what the current key
// signs. A checkpoint held here is taken whatever its dates: it signs
// the very entry (seq and hash) that the verification read, so the object
// it names is the one read (an entry's hash covers the ones before it).
// Anything written to the bucket after the verification can only repeat
// it.
//
// Memory: about 60 bytes per checkpoint of a retired key.
type anchors struct {
	chain  string
	hashes map[uint64]shared.Hash
}

// holds reports whether cp signs an entry the verification anchored.
func (a *anchors) holds(cp shared.Checkpoint) bool {
	if a == nil || cp.Chain != a.chain {
		return false
	}
	h, ok := a.hashes[cp.Seq]
	return ok && h == cp.Hash
}

// anchoring finds a run's anchors once, when a reader first meets a
// retired key's checkpoint, or an object one signs, that is the first
// version of its key but stored after the key's retirement (FORMAT.md
// 7.4): on a copy of the bucket, every one of them. A bucket the sealer
// wrote never needs it. Safe for concurrent use (the readers read ahead
// in parallel).
type anchoring struct {
	find func(context.Context) (*anchors, error)
	// retry: a failure is tried again that long after (ShareAnchors);
	// 0, it is the answer for good (one run of a reader).
	retry time.Duration
	// mu is held by the one caller that finds the anchors; the others
	// wait for it, each only as long as its own context lasts (a request
	// of aegis serve whose client gave up stops waiting).
	mu   chan struct{}
	done bool
	at   time.Time
	a    *anchors
	err  error
}

// newAnchoring anchors the chain cfg reads (pruned: a chain whose oldest
// objects were deleted is verified from where it starts).
func newAnchoring(store *archive.Store, cfg DiscoverConfig, trusted shared.Keyset, pruned bool) *anchoring {
	return &anchoring{mu: make(chan struct{}, 1), find: func(ctx context.Context) (*anchors, error) {
		return findAnchors(ctx, store, cfg, trusted, pruned)
	}}
}

// vouches reports whether the anchors hold cp. A verification that finds
// none says why in err: a *Failure of the chain or errNoAnchor (the cp is
// then refused, and the reason told), or an error reading S3.
func (s *anchoring) vouches(ctx context.Context, cp shared.Checkpoint) (bool, error) {
	if s == nil {
		return false, nil
	}
	select { // the others wait for the one verification
	case s.mu <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.mu }()
	if !s.done || s.err != nil && s.retry > 0 && time.Since(s.at) >= s.retry {
		s.a, s.err = s.find(ctx)
		// A run cancelled does not answer for the next one.
		s.done, s.at = ctx.Err() == nil, time.Now()
	}
	return s.a.holds(cp), s.err
}

// ShareAnchors makes every Prove with c, or a copy of it, share the
// verification of the whole chain that a retired key's checkpoint stored
// after the key's retirement calls for (on a copy of the bucket made
// after a hand-over; docs/FORMAT.md 7.4): a server answering many proofs
// verifies the chain once, not once a request. What the verification
// vouches for holds for good (a retired range does not change); a
// verification that fails is tried again a minute after.
func (c *ProveConfig) ShareAnchors() error {
	trusted, err := shared.ParseKeyset(c.VerifierKey)
	if err != nil {
		return err
	}
	prefix := c.Prefix
	if prefix == "" {
		prefix = "audit"
	}
	c.anchors = newAnchoring(&archive.Store{S3: c.S3, Bucket: c.Bucket, Prefix: prefix},
		DiscoverConfig{Chain: c.Chain, VerifierKey: c.VerifierKey, Parallelism: 8, Now: c.Now, Warn: c.Warn}, trusted, true)
	c.anchors.retry = time.Minute
	return nil
}

// errNoAnchor: nothing a thief of a retired key cannot sign vouches for
// its checkpoints.
var errNoAnchor = errors.New("no checkpoint of the keyset's current key vouches for the retired keys' checkpoints")

// findAnchors verifies the whole chain and returns its anchors. It fails
// when the chain does not verify, when the keyset has no current key
// (its last range closed), or when no checkpoint of the current key signs
// an entry after the last hand-over: then nothing the retired keys
// signed is vouched for by a key a thief of theirs cannot use.
func findAnchors(ctx context.Context, store *archive.Store, cfg DiscoverConfig, trusted shared.Keyset, pruned bool) (*anchors, error) {
	n := len(trusted.Ranges)
	if n < 2 || !trusted.Ranges[n-1].Open {
		return nil, fmt.Errorf("%w: the keyset trusts no key from a seq on (its last range is closed)", errNoAnchor)
	}
	last := trusted.Ranges[n-2].To // the last hand-over
	if cfg.Warn != nil {
		cfg.Warn("a retired key's checkpoint is stored after the key's retirement, by S3's dates (a copy of the bucket made after the hand-over?): " +
			"the whole chain is verified, to take the retired keys' checkpoints it links by hashes to the current key's, as aegis verify takes them (docs/FORMAT.md 7.4)")
	}
	a := &anchors{chain: cfg.Chain, hashes: map[uint64]shared.Hash{}}
	rep, err := Verify(ctx, Config{S3: store.S3, Bucket: store.Bucket, Prefix: store.Prefix, Chain: cfg.Chain, VerifierKey: cfg.VerifierKey,
		Pruned: pruned, Parallelism: cfg.Parallelism, Now: cfg.Now,
		anchor: func(cp shared.Checkpoint) {
			if cp.Seq <= last {
				a.hashes[cp.Seq] = cp.Hash
			}
		}})
	var f *Failure
	switch {
	case errors.As(err, &f):
		return nil, fmt.Errorf("the whole chain, which would vouch for the retired keys' checkpoints, does not verify (aegis verify says where): %w", err)
	case err != nil:
		return nil, err
	case rep.CheckpointedSeq <= last:
		return nil, fmt.Errorf("%w: none signs an entry after the hand-over at seq %d yet (the highest checkpoint signs seq %d)", errNoAnchor, last, rep.CheckpointedSeq)
	}
	return a, nil
}
