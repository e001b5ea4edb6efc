package replayer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// anchors are the checkpoints of retired keys that a verification of the
// chain (Verify, docs/FORMAT.md section 8, from its start to the current
// key's first checkpoint past the last hand-over) linked, entry hash by
// entry hash, to a checkpoint of the keyset's current key: the ones the
// retired-key rule of FORMAT.md 7.4 may refuse on S3's dates alone.
//
// That rule dates a retired key's checkpoints by when S3 stored them, so
// that a thief of the key who can write to the bucket cannot pass off a
// forgery to a reader of part of the chain. A copy of the bucket made
// after the hand-over (S3 Replication to another account, a restore from
// a backup) is dated by when it was copied, and every checkpoint of the
// retired key fails the rule there. The chain's hashes vouch for them
// instead: the current key signs an entry whose hash covers its
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
// 7.4), on a bucket where the retiring checkpoint of that key's range is
// itself dated after the retirement, or gone: on a copy of the bucket,
// every one of them. On the bucket the sealer wrote, the retiring
// checkpoint passes the date rule, and such a version is a forgery the
// anchors could not take anyway: a thief's file there costs no
// verification of the whole chain (TestAttack31AStrayRetiredCheckpoint
// MakesOtherDaysVerifyTheWholeChain). Safe for concurrent use (the
// readers read ahead in parallel).
type anchoring struct {
	store   *archive.Store
	trusted shared.Keyset
	find    func(context.Context) (*anchors, error)
	// retry: a failure is tried again that long after, and the
	// verification runs apart from the context of the caller that
	// started it (ShareAnchors: a request whose client gave up does not
	// drop it for the others); 0, a failure is the answer for good (one
	// run of a reader) and the run's context is the verification's.
	retry time.Duration
	mu    sync.Mutex
	run   *anchorRun      // the verification under way or done
	dated map[uint64]bool // by the last seq of a retired range: its retiring checkpoint fails the date rule
}

// anchorRun is one verification of the whole chain: done is closed when
// a, err and at are set.
type anchorRun struct {
	done      chan struct{}
	a         *anchors
	err       error
	at        time.Time
	cancelled bool
}

// newAnchoring anchors the chain cfg reads (pruned: a chain whose oldest
// objects were deleted is verified from where it starts).
func newAnchoring(store *archive.Store, cfg DiscoverConfig, trusted shared.Keyset, pruned bool) *anchoring {
	return &anchoring{store: store, trusted: trusted, find: func(ctx context.Context) (*anchors, error) {
		return findAnchors(ctx, store, cfg, trusted, pruned)
	}}
}

// vouches reports whether the anchors hold cp: false and no error when cp
// does not call for them (archive.Store.RetirementDatedLate). Otherwise err says why they do not
// hold it: a *Failure of the chain, errNoAnchor or errNotAnchored (cp is
// then refused, and the reason told; anchorReason), or an error reading
// S3. A caller waits for the verification only as long as its own
// context lasts.
func (s *anchoring) vouches(ctx context.Context, cp shared.Checkpoint) (bool, error) {
	if s == nil {
		return false, nil
	}
	if called, err := s.store.RetirementDatedLate(ctx, s.trusted, cp.Chain, cp.Seq); err != nil || !called {
		return false, err
	}
	s.mu.Lock()
	r := s.run
	start := r == nil || r.over() && r.err != nil && (r.cancelled || s.retry > 0 && time.Since(r.at) >= s.retry)
	if start {
		r = &anchorRun{done: make(chan struct{})}
		s.run = r
	}
	s.mu.Unlock()
	if start {
		verify := func(ctx context.Context) {
			r.a, r.err = s.find(ctx)
			r.at, r.cancelled = time.Now(), ctx.Err() != nil
			close(r.done)
		}
		if s.retry == 0 {
			verify(ctx) // one run's: it ends with the run
		} else {
			go verify(context.WithoutCancel(ctx))
		}
	}
	select {
	case <-r.done:
		if r.err == nil && !r.a.holds(cp) {
			return false, errNotAnchored
		}
		return r.a.holds(cp), r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// over reports whether the run is done.
func (r *anchorRun) over() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
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
	c.anchors = c.newAnchoring(&archive.Store{S3: c.S3, Bucket: c.Bucket, Prefix: prefix}, trusted)
	c.anchors.retry = time.Minute
	return nil
}

// newAnchoring is the anchoring of the chain c proves from, on store: a
// pruned chain verifies from where it starts (nothing in a proof asks for
// its genesis).
func (c *ProveConfig) newAnchoring(store *archive.Store, trusted shared.Keyset) *anchoring {
	return newAnchoring(store, DiscoverConfig{Chain: c.Chain, VerifierKey: c.VerifierKey, Parallelism: 8, Now: c.Now, Warn: c.Warn}, trusted, true)
}

// errNotAnchored: the whole chain verified, and its anchors do not hold
// the checkpoint.
var errNotAnchored = errors.New("the whole chain verifies, but not with this checkpoint in it")

// anchorReason reports whether err, from vouches, is why a checkpoint is
// refused rather than a failure to read.
func anchorReason(err error) bool {
	var f *Failure
	return errors.As(err, &f) || errors.Is(err, errNoAnchor) || errors.Is(err, errNotAnchored)
}

// errNoAnchor: nothing a thief of a retired key cannot sign vouches for
// its checkpoints.
var errNoAnchor = errors.New("no checkpoint of the keyset's current key vouches for the retired keys' checkpoints")

// findAnchors verifies the chain up to the first checkpoint of the
// keyset's current key after the last hand-over (what vouches for the
// retired ranges: the rest need not be read, and the keys written again
// are failed wherever they are) and returns its anchors. It fails
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
			"the chain is verified from its start to the current key's first checkpoint, to take the retired keys' checkpoints it links by hashes to the current key's, as aegis verify takes them (docs/FORMAT.md 7.4)")
	}
	a := &anchors{chain: cfg.Chain, hashes: map[uint64]shared.Hash{}}
	rep, err := Verify(ctx, Config{S3: store.S3, Bucket: store.Bucket, Prefix: store.Prefix, Chain: cfg.Chain, VerifierKey: cfg.VerifierKey,
		Pruned: pruned, Parallelism: cfg.Parallelism, Now: cfg.Now,
		anchor: func(cp shared.Checkpoint) bool {
			if cp.Seq <= last {
				a.hashes[cp.Seq] = cp.Hash
			}
			// The current key signs past the last hand-over: it vouches
			// for everything before, and the rest of the chain need not
			// be read.
			return cp.Seq > last
		}})
	if errors.Is(err, errAnchored) {
		return a, nil
	}
	var f *Failure
	switch {
	case errors.As(err, &f):
		return nil, fmt.Errorf("the chain, which would vouch for the retired keys' checkpoints, does not verify (aegis verify says where): %w", err)
	case err != nil:
		return nil, err
	case rep.CheckpointedSeq <= last:
		return nil, fmt.Errorf("%w: none signs an entry after the hand-over at seq %d yet (the highest checkpoint signs seq %d)", errNoAnchor, last, rep.CheckpointedSeq)
	}
	return a, nil
}
