package sealer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/kafkaconn"
	"github.com/aegisai/audit/shared"
)

// checkpointed is a signed checkpoint, read from S3.
type checkpointed struct {
	key string
	cp  shared.Checkpoint
}

// recoverHead sets the head from S3: the latest checkpoint that carries the
// trusted signature gives seq, hash and Kafka offset, so no batch line has
// to be read (an unreadable line cannot keep the sealer from starting). A
// new chain gets its genesis entry first. It returns the chain's valid
// checkpoints, newest first, read as loadUncommitted goes on from them.
//
// The checkpoints are read newest first (archive.CheckpointWalk) up to the
// first that verifies, and those before it only as loadUncommitted asks:
// a start or a takeover reads a few checkpoints and a few listing pages
// however long the chain, where reading them all cost a request per
// checkpoint (TestStartReadsAFewCheckpointsOfALongChain).
func (s *Sealer) recoverHead(ctx context.Context) (*signedCheckpoints, error) {
	// A hand-over to the staged key that the keyset does not know of
	// retires the old key before any checkpoint is read (handover.go).
	if err := s.followHandOverNote(ctx); err != nil {
		return nil, err
	}
	// One from the keyset's last key, which the sealer may hold alone.
	if err := s.followHandOverEntry(ctx); err != nil {
		return nil, err
	}
	h := &signedCheckpoints{s: s, walk: s.store.NewestCheckpoints(s.cfg.Chain)}
	// unverified are the checkpoints the keyset does not verify (yet),
	// newer than the first that does: kept only until a hand-over is
	// followed.
	type stored struct {
		key  string
		body signedBody
		err  error
	}
	var unverified []stored
	for len(h.read) == 0 {
		key, body, ok, err := h.next(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		cp, err := s.openSigned(key, body)
		if errors.Is(err, shared.ErrBadCheckpoint) {
			unverified = append(unverified, stored{key: key, body: body, err: err})
			continue
		}
		if err != nil {
			return nil, err
		}
		h.read = append(h.read, checkpointed{key: key, cp: cp})
	}
	for len(h.read) > 0 {
		// A hand-over the keyset does not know yet (this sealer sealed it
		// before a restart, or another one did): the checkpoints of the new
		// key verify once the keyset follows it.
		followed, err := s.followHandOver(ctx, h, h.read[0])
		if err != nil {
			return nil, err
		}
		if !followed {
			break
		}
		// The checkpoint that showed the hand-over was taken while its
		// key was trusted for every seq (a keyset from before the
		// rotation); that key is retired at its seq now. Read it again,
		// so that a version a thief of the retired key wrote over the
		// sealed one is passed over for it, with its object.
		c, err := s.rereadRetired(ctx, h.read[0])
		if err != nil {
			return nil, err
		}
		if c.cp.Hash != h.read[0].cp.Hash || c.cp.Root != h.read[0].cp.Root {
			h.read[0], h.objects = c, nil
		}
		still := unverified[:0]
		for _, u := range unverified {
			if u.body.body == nil {
				// No version verified with the keyset before the
				// hand-over; read the versions again with the one after
				// it (the new key's checkpoints were reported as forged
				// on every restart that followed a hand-over).
				if u.body, err = s.readSignedCheckpoint(ctx, u.key); err != nil {
					return nil, err
				}
			}
			cp, err := s.openSigned(u.key, u.body)
			if err != nil {
				u.err = err
				still = append(still, u)
				continue
			}
			h.read = append(h.read, checkpointed{key: u.key, cp: cp})
		}
		unverified = still
		sort.Slice(h.read, func(i, j int) bool { return h.read[i].cp.Seq > h.read[j].cp.Seq })
	}
	for _, u := range unverified {
		s.ignoreCheckpoint(u.key, u.err)
	}
	if len(h.read) == 0 {
		return nil, s.genesis(ctx)
	}
	s.setHead(h.read[0].cp.Head())
	if _, err := s.keys.signerFor(h.read[0].cp.Seq + 1); err != nil {
		return nil, err
	}
	if err := s.recoverRetainFloor(ctx, h.read[0].key); err != nil {
		return nil, err
	}
	s.recoveredFloor.Store(s.retainFloor.Load())
	s.recoveredAt.Store(s.cfg.Now().UnixNano())
	return h, nil
}

// recoverRetainFloor takes the retain-until date of the newest checkpoint
// (key) as the chain's latest (retainFloor): that of its first version
// written by a single PUT, the one a sealer wrote (a version put over it
// carries its writer's date). It is taken no further than the longer of
// --retention and the default from now: whoever may write to the bucket
// may also extend a version's retention (PutObjectRetention), and must
// not lock everything sealed after for as long as they like.
func (s *Sealer) recoverRetainFloor(ctx context.Context, key string) error {
	l, err := s.listVersions(ctx, key) // a page at a time, as getSealed
	if err == nil {
		err = s.retry(ctx, "read the retention of "+key, func(ctx context.Context) error {
			// Not a multipart upload's object, which S3 dates (and
			// orders) by when its upload was begun: anyone can begin one
			// at a checkpoint key before the sealer writes it, complete
			// it with a lock of their own, and set the floor, which
			// also bounds what an adopted object must be locked until
			// (lockedAsSealed).
			first := l.First()
			if first.ID == "" {
				return nil
			}
			obj, err := s.store.LockedHead(ctx, key, first.ID)
			if errors.Is(err, archive.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			until, now := obj.RetainUntil, s.cfg.Now()
			if limit := now.Add(max(s.cfg.Retention, defaultRetention)); until.After(limit) {
				until = limit
			}
			if until.After(now.Add(s.cfg.Retention)) {
				s.log.Warn("the chain's newest checkpoint is locked longer than --retention from now: what is sealed is locked as long, so that no object's retention ends before an older one's",
					zap.String("key", key), zap.Time("retain_until", until), zap.Duration("retention", s.cfg.Retention))
			}
			s.raiseRetainFloor(until)
			return nil
		})
	}
	if err != nil && ctx.Err() == nil {
		// Not worth stopping the chain for: without the floor, only a
		// shortened --retention shows (README).
		s.log.Warn("could not read the retention of the newest checkpoint; objects are locked for --retention from now", zap.String("key", key), zap.Error(err))
		return nil
	}
	return err
}

// ignoreCheckpoint reports an object at a checkpoint key that does not
// verify. Someone with write access to the bucket can put a file at a
// checkpoint key; it cannot carry the signature. Say so and keep looking:
// it must not stop the chain.
func (s *Sealer) ignoreCheckpoint(key string, err error) {
	if errors.Is(err, errRetiredOnACopy) {
		s.log.Warn("a retired key's checkpoint stored after the key's retirement, as all of its range is (a copy of the bucket made after the hand-over?): not taken by the sealer; "+
			"aegis verify reads the chain whole, and aegis rebuild --only-missing indexes the range (docs/LIMITS.md)", zap.String("key", key), zap.Error(err))
		return
	}
	s.m.badCheckpoints.Inc()
	s.log.Error("object at a checkpoint key does not verify with the trusted keys; ignored (verify will report it)",
		zap.String("key", key), zap.Error(err))
}

// signedCheckpoints are the chain's checkpoints that verify, newest first:
// read holds those read so far, walk reads on.
type signedCheckpoints struct {
	s    *Sealer
	walk *archive.CheckpointWalk
	// first holds the keys to hand out before the walk's next: the
	// walk's last key and those above it under delete markers, newest
	// first (nextKey).
	first []string
	// below is the seq of the walk's last key (the keys under markers
	// between it and the one before it are listed), walked that the walk
	// handed out one, done that it has none left.
	below        uint64
	walked, done bool
	read         []checkpointed
	// objects are the signed objects read in this recovery, by key: each
	// is read (and a rewrite of it counted) once.
	objects map[string]signedObject
}

type signedObject struct {
	obj     *archive.Object
	entries []*shared.Entry
	lines   [][]byte
}

// readSigned is Sealer.readSigned, reading the newest signed object once
// in a recovery (the hand-over check, the head's record check and the
// uncommitted entries all start from it). Only that one is kept: a
// recovery whose group offsets expired reads the whole chain.
func (h *signedCheckpoints) readSigned(ctx context.Context, c checkpointed) (*archive.Object, []*shared.Entry, [][]byte, error) {
	newest := len(h.read) > 0 && c.cp.Object == h.read[0].cp.Object
	if o, ok := h.objects[c.cp.Object]; ok && newest {
		return o.obj, o.entries, o.lines, nil
	}
	obj, entries, lines, err := h.s.readSigned(ctx, c)
	if err != nil || !newest {
		return obj, entries, lines, err
	}
	h.objects = map[string]signedObject{c.cp.Object: {obj, entries, lines}}
	return obj, entries, lines, nil
}

// next reads the next checkpoint key of the walk and its object.
func (h *signedCheckpoints) next(ctx context.Context) (key string, body signedBody, ok bool, err error) {
	key, ok, err = h.nextKey(ctx)
	if err != nil || !ok {
		return "", signedBody{}, false, err
	}
	body, err = h.s.readSignedCheckpoint(ctx, key)
	if err != nil {
		return "", signedBody{}, false, err
	}
	return key, body, true, nil
}

// nextKey is the walk's next checkpoint key, newest first, after the
// keys between it and the walk's one before it that only a listing by
// version holds. The walk lists current keys only, and a delete marker
// (free on S3, put by anyone with write access to the bucket) leaves its
// key out: one over the newest checkpoint made a start take the one
// before as the head, and the sealer stopped at the next batch, at every
// start while the marker stood (TestStartSeesCheckpointsUnderDeleteMarkers).
// Listing by version only the keys past the walk's newest left that to
// whoever wrote the newest current key: a file at a checkpoint key far
// past the head (it need not verify) and a marker over the head made the
// start take an older head again, and sealing on signed a second run of
// seqs (TestStartSeesTheHeadUnderAMarkerPastAFileAheadOfIt); a marker
// over a checkpoint between two current ones hid it from loadUncommitted
// (TestCheckpointsUnderMarkersBetweenTheWalksKeysAreHandedOut). So each
// key of the walk comes after the keys above it, up to the walk's key
// before (from the genesis's when the walk has none left), listed by
// version: nearly always none, at the cost of a listing request for each
// key the walk hands out. Each is read as any checkpoint is, its sealed
// version under the marker.
func (h *signedCheckpoints) nextKey(ctx context.Context) (string, bool, error) {
	for len(h.first) == 0 {
		if h.done {
			return "", false, nil
		}
		var key string
		var ok bool
		err := h.s.retry(ctx, "list checkpoints", func(ctx context.Context) error {
			var err error
			key, ok, err = h.walk.Next(ctx)
			return err
		})
		if err != nil {
			return "", false, err
		}
		from := uint64(0)
		if ok {
			seq, _ := shared.ParseCheckpointKey(h.s.cfg.Prefix, h.s.cfg.Chain, key)
			from = seq + 1
		}
		var gap []string // the keys of seqs [from, below), under markers
		for !h.walked || from < h.below {
			k, at, found, err := h.s.store.CheckpointFrom(ctx, h.s.cfg.Chain, from) // a page a call (store.Call)
			if err != nil {
				return "", false, err
			}
			if !found || h.walked && at >= h.below {
				break
			}
			gap = append(gap, k)
			from = at + 1
		}
		slices.Reverse(gap)
		h.first = gap
		if ok {
			h.first = append(h.first, key)
			h.below, _ = shared.ParseCheckpointKey(h.s.cfg.Prefix, h.s.cfg.Chain, key)
		}
		h.walked, h.done = true, !ok
		if ok && h.below == 0 {
			h.done = true // the genesis's: nothing is below it
		}
	}
	key := h.first[0]
	h.first = h.first[1:]
	return key, true, nil
}

// signedBody is what readSignedCheckpoint read at a checkpoint key: the
// body of the version that verifies with the keyset held, or, when none
// does, a nil body and why the last version read was refused (nil when
// the key holds none S3 gives).
type signedBody struct {
	body    []byte
	refused error
}

// readSignedCheckpoint reads the version of the checkpoint at key that
// verifies with the keyset held now; a nil body when none does (judged by
// the caller as a checkpoint that does not verify, openSigned).
//
// The sealed version: someone with write access to the bucket can put a
// version of their own over a checkpoint (garbage, or one S3 will not
// give); read as current, the walk fell back to an older checkpoint and
// the sealer stopped on a chain fork at the next batch's key, for as long
// as that version is locked.
func (s *Sealer) readSignedCheckpoint(ctx context.Context, key string) (signedBody, error) {
	obj, err := s.getSealed(ctx, key, func(obj *archive.Object) error {
		cp, err := s.openCheckpoint(key, obj.Body)
		if err != nil {
			return err
		}
		return s.retiredSignsFirstVersion(ctx, key, obj, cp)
	})
	// A file over the size limit is no checkpoint either: one at a key
	// past the head failed every start (and kept failing it while its
	// writer's lock lasted). Nor is a key under a delete marker none of
	// whose versions verifies, which the start reads since it lists keys
	// by version: a file and a marker over it past the head failed every
	// start (TestAFileUnderAMarkerPastTheHeadIsPassedOver).
	// The refusal goes with the nil body: one by a copy's dates alone is
	// no forgery (ignoreCheckpoint).
	if errors.Is(err, archive.ErrUnreadable) || errors.Is(err, archive.ErrTooLarge) || errors.Is(err, archive.ErrNotFound) ||
		errors.Is(err, shared.ErrBadCheckpoint) {
		return signedBody{refused: err}, nil
	}
	if err != nil {
		return signedBody{}, err
	}
	return signedBody{body: obj.Body}, nil
}

// at returns the i-th newest checkpoint that verifies (ok false: there are
// fewer), reading on from S3 when it was not read yet.
func (h *signedCheckpoints) at(ctx context.Context, i int) (checkpointed, bool, error) {
	for len(h.read) <= i {
		key, body, ok, err := h.next(ctx)
		if err != nil || !ok {
			return checkpointed{}, false, err
		}
		cp, err := h.s.openSigned(key, body)
		if errors.Is(err, shared.ErrBadCheckpoint) {
			h.s.ignoreCheckpoint(key, err)
			continue
		}
		if err != nil {
			return checkpointed{}, false, err
		}
		h.read = append(h.read, checkpointed{key: key, cp: cp})
	}
	return h.read[i], true, nil
}

// followHandOver reads the object the newest trusted checkpoint signs and,
// if it ends in a KEY entry the keyset does not know yet, extends the
// keyset as the entry says. It reports whether it did.
func (s *Sealer) followHandOver(ctx context.Context, h *signedCheckpoints, c checkpointed) (bool, error) {
	_, entries, _, err := h.readSigned(ctx, c)
	if err != nil && ctx.Err() != nil {
		return false, err
	}
	if err != nil {
		// No version of the object ends at the signed hash: the head is
		// the checkpoint's all the same, and sealing goes on from it
		// (verify reports the object). A hand-over in it stays unknown,
		// and the keys held say whether this sealer can sign on.
		s.log.Error("the object the newest checkpoint signs cannot be read as sealed; sealing goes on from the checkpoint",
			zap.String("checkpoint", c.key), zap.Error(err))
		return false, nil
	}
	last := entries[len(entries)-1]
	if last.Type != shared.EntryKey {
		return false, nil
	}
	followed, err := s.keys.handOver(last)
	if followed {
		s.log.Info("followed the chain's checkpoint key hand-over", zap.Uint64("seq", last.Seq),
			zap.String("new_key", logKeyLabel(last.Key.VerifierKey)), zap.String("keyset", s.keys.keyset().IDs()))
		// A hand-over sealed without its note (by a version before the
		// note, or a sealer killed between the checkpoint and the note).
		s.leaveHandOverNote(ctx, last)
	}
	return followed, err
}

// genesis writes (or adopts) the genesis object and its checkpoint. An
// existing genesis object, the key's first version of one PUT, is adopted
// only if it is the genesis this sealer would write, apart from its time:
// this chain, this checkpoint key.
func (s *Sealer) genesis(ctx context.Context) error {
	key := shared.GenesisKey(s.cfg.Prefix, s.cfg.Chain)
	first := s.keys.keyset().First()
	mine, err := shared.NewGenesis(s.cfg.Chain, s.cfg.Now(), first.Name, first.Text)
	if err != nil {
		return err
	}
	line, err := mine.Line()
	if err != nil {
		return err
	}
	// The key's first version of one PUT counts, as for a batch or
	// checkpoint key (putFirst): a genesis this sealer wrote before a
	// crash, or before its checkpoint's PUT failed, was read again as the
	// key's current version, so a bucket writer's genesis put over it was
	// signed as seq 0 and the chain built on it, and a delete marker over
	// it failed every start (TestAGenesisWrittenOverBeforeItsCheckpointIsNotSigned).
	body := joinLines([][]byte{line})
	version, firstVersion, err := s.putFirst(ctx, key, body, true)
	written := err == nil
	obj := &archive.Object{Key: key, VersionID: version, Body: body}
	switch {
	case written:
		s.log.Info("genesis written", zap.String("key", key), zap.Stringer("hash", mine.Hash))
	case errors.Is(err, archive.ErrExists):
		obj, err = s.getVersion(ctx, key, firstVersion)
	}
	if err != nil {
		return fmt.Errorf("read genesis: %w", err)
	}
	entries, _, err := shared.ParseObject(key, 0, obj.Body)
	if err != nil {
		return s.forked(key, fmt.Errorf("%w: genesis object %s does not verify: %w", ErrChainForked, key, err))
	}
	v := shared.NewChainVerifier(s.cfg.Chain)
	if len(entries) != 1 {
		return s.forked(key, fmt.Errorf("%w: genesis object %s holds %d entries, want 1", ErrChainForked, key, len(entries)))
	}
	g := entries[0]
	if err := v.Add(g); err != nil {
		return s.forked(key, fmt.Errorf("%w: genesis object %s: %w", ErrChainForked, key, err))
	}
	if first := s.keys.keyset().First(); g.Genesis.VerifierKey != first.Text {
		return s.forked(key, fmt.Errorf("%w: genesis object %s names checkpoint key %s, not this sealer's first key %s",
			ErrChainForked, key, g.Genesis.VerifierKey, first.Text))
	}
	if !written {
		if err := s.genesisLocked(ctx, key, obj.VersionID); err != nil {
			return s.forked(key, err)
		}
	}
	if err := s.writeCheckpoint(ctx, entries, -1, key); err != nil {
		return err
	}
	s.setHead(v.Head())
	return nil
}

// genesisLocked refuses a genesis object this sealer did not write unless
// it is locked as a sealer locks what it writes: COMPLIANCE, for the
// retention from when S3 stored it (less adoptLockSkew). Whoever writes
// the genesis this sealer would write (its time is theirs to choose)
// before the chain's first start, unlocked or locked for a day, had it
// adopted and signed, and deleted it once its lock ended: the chain had
// no genesis (TestAGenesisLockedLessThanTheSealersIsNotAdopted).
func (s *Sealer) genesisLocked(ctx context.Context, key, versionID string) error {
	obj, err := s.lockedHead(ctx, key, versionID)
	if err != nil {
		return err
	}
	want := obj.Stored.Add(s.cfg.Retention).Add(-adoptLockSkew)
	if obj.LockMode != types.ObjectLockModeCompliance || obj.Stored.IsZero() || obj.RetainUntil.Before(want) {
		return fmt.Errorf("%w: genesis object %s version %s, stored %s, is locked %q until %s, where this sealer locks what it seals COMPLIANCE for %s (until %s or later)",
			ErrChainForked, key, versionID, shared.FormatTime(obj.Stored), obj.LockMode, shared.FormatTime(obj.RetainUntil), s.cfg.Retention, shared.FormatTime(want))
	}
	return nil
}

// readCheckpoint reads and verifies the checkpoint at key. Errors wrapping
// shared.ErrBadCheckpoint mean the object is not a checkpoint of this chain
// signed by the trusted key.
func (s *Sealer) readCheckpoint(ctx context.Context, key string) (shared.Checkpoint, error) {
	obj, err := s.get(ctx, key)
	if err != nil {
		return shared.Checkpoint{}, err
	}
	return s.openCheckpoint(key, obj.Body)
}

// openCheckpoint verifies the checkpoint body stored at key with the
// keyset trusted now.
func (s *Sealer) openCheckpoint(key string, body []byte) (shared.Checkpoint, error) {
	cp, err := s.keys.open(body)
	if err != nil {
		return cp, fmt.Errorf("checkpoint %s: %w", key, err)
	}
	if cp.Chain != s.cfg.Chain || shared.CheckpointKey(s.cfg.Prefix, cp.Chain, cp.Seq) != key {
		return cp, fmt.Errorf("checkpoint %s: %w: signs chain %q seq %d", key, shared.ErrBadCheckpoint, cp.Chain, cp.Seq)
	}
	return cp, nil
}

// rereadRetired reads the checkpoint at c.key again as sealed, now that
// the keyset may retire the key that signs it: a retired key's checkpoint
// counts only in the first version of its key (retiredSignsFirstVersion).
func (s *Sealer) rereadRetired(ctx context.Context, c checkpointed) (checkpointed, error) {
	body, err := s.readSignedCheckpoint(ctx, c.key)
	if err != nil {
		return c, fmt.Errorf("read the checkpoint of the hand-over again: %w", err)
	}
	cp, err := s.openSigned(c.key, body)
	if err != nil {
		return c, fmt.Errorf("read the checkpoint of the hand-over again: %w", err)
	}
	return checkpointed{key: c.key, cp: cp}, nil
}

// openSigned is openCheckpoint of a body readSignedCheckpoint read: an
// error wrapping shared.ErrBadCheckpoint and the last refusal when no
// version of the key verified with the keyset held.
func (s *Sealer) openSigned(key string, b signedBody) (shared.Checkpoint, error) {
	if b.body == nil {
		if b.refused == nil {
			return shared.Checkpoint{}, fmt.Errorf("%w: no version of it that S3 gives verifies with the trusted keys", shared.ErrBadCheckpoint)
		}
		return shared.Checkpoint{}, fmt.Errorf("%w: no version of it that S3 gives verifies with the trusted keys: %w", shared.ErrBadCheckpoint, b.refused)
	}
	return s.openCheckpoint(key, b.body)
}

// retiredSignsFirstVersion refuses obj, a version of the checkpoint key
// key that verifies as cp, when a retired key (a keyset range that is
// closed) signs it and it is not the key's first version, the one this
// sealer or another wrote. A retired key may be stolen after its
// retirement; its signature on a version written over a checkpoint (and
// its object) must not give the chain a forged head. The error wraps
// shared.ErrBadCheckpoint, so the sealed version underneath is read.
func (s *Sealer) retiredSignsFirstVersion(ctx context.Context, key string, obj *archive.Object, cp shared.Checkpoint) error {
	// Each S3 request of the rule is retried on its own (store.Call).
	why, err := s.store.RetiredVersion(ctx, s.keys.keyset(), cp.Chain, cp.Seq, key, obj.VersionID)
	if err != nil || why == "" {
		return err
	}
	err = fmt.Errorf("checkpoint %s version %s: %w: signed by the retired key %s, whose checkpoints count only as the sealer wrote them before the key's retirement; this version is %s",
		key, obj.VersionID, shared.ErrBadCheckpoint, shared.SignedBy(obj.Body), why)
	if why != archive.RetiredNotFirst {
		if late, lerr := s.store.RetirementDatedLate(ctx, s.keys.keyset(), cp.Chain, cp.Seq); lerr == nil && late {
			err = fmt.Errorf("%w (%w)", err, errRetiredOnACopy)
		}
	}
	return err
}

// errRetiredOnACopy marks a retired key's checkpoint refused by its date
// alone where the checkpoint that closes its range is dated late too: a
// copy of the bucket made after the hand-over, where every version is
// dated by the copy. The sealer does not take it, as before, but it is
// not reported as a forgery (the forged-checkpoint alert fired on every
// genuine checkpoint of a copy's retired range, found by an outside
// trial); aegis verify reads the chain whole.
var errRetiredOnACopy = errors.New("the retiring checkpoint of its range is dated after the retirement too: a copy of the bucket made after the hand-over?")

// readSigned reads the batch a verified checkpoint names and checks that its
// lines link and end at the signed hash, so every line in it is authentic.
// Lines are read leniently (shared.ParseLineLenient): a line an older
// version wrote under looser rules is still republished, never a reason to
// stop.
func (s *Sealer) readSigned(ctx context.Context, c checkpointed) (*archive.Object, []*shared.Entry, [][]byte, error) {
	var entries []*shared.Entry
	var lines [][]byte
	obj, err := s.getSealed(ctx, c.cp.Object, func(obj *archive.Object) error {
		var err error
		entries, lines, err = s.signedLines(c, obj)
		return err
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("batch of checkpoint seq %d: %w", c.cp.Seq, err)
	}
	for i, l := range lines {
		if _, serr := shared.ParseLine(l); serr != nil {
			s.log.Warn("a signed line breaks the current format rules; it is republished as it is",
				zap.String("object", c.cp.Object), zap.Int("line", i+1), zap.Error(serr))
		}
	}
	return obj, entries, lines, nil
}

// signedLines reads obj's lines and checks that they link and end at the
// seq and hash c signs.
func (s *Sealer) signedLines(c checkpointed, obj *archive.Object) ([]*shared.Entry, [][]byte, error) {
	lines, err := shared.SplitLines(obj.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", shared.ErrChainBroken, c.cp.Object, err)
	}
	entries := make([]*shared.Entry, len(lines))
	for i, l := range lines {
		e, err := shared.ParseLineLenient(l)
		if err == nil && i > 0 && (e.Seq != entries[i-1].Seq+1 || e.Prev != entries[i-1].Hash) {
			err = fmt.Errorf("%w: does not follow line %d", shared.ErrChainBroken, i)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s line %d: %w (the signed checkpoint %s covers it: the object was replaced)", c.cp.Object, i+1, err, c.key)
		}
		entries[i] = e
	}
	if last := entries[len(entries)-1]; last.Seq != c.cp.Seq || last.Hash != c.cp.Hash {
		return nil, nil, fmt.Errorf("%w: checkpoint %s signs seq %d hash %s, but %s ends at seq %d hash %s (the object was replaced)",
			shared.ErrChainBroken, c.key, c.cp.Seq, c.cp.Hash, c.cp.Object, last.Seq, last.Hash)
	}
	return entries, lines, nil
}

// getSealed reads the sealed version of key: its current version when
// sealed checks it, else the first of its older versions, the oldest
// first, that it does. Someone with write access to the bucket can put a
// delete marker on a sealed key or write a new version over it (Object
// Lock keeps the sealed version, and keeps theirs too); read as current,
// either stopped every start of the sealer, and for good, since a version
// written over a sealed key is itself locked for the retention period. A
// version is taken only when sealed passes, which for a batch means its
// lines end at the hash a trusted checkpoint signs: nothing written by
// someone without the signing key passes. It is logged and counted
// (aegis_sealer_rewritten_keys_total); aegis verify reports the key.
func (s *Sealer) getSealed(ctx context.Context, key string, sealed func(*archive.Object) error) (*archive.Object, error) {
	cur, err := s.get(ctx, key)
	switch {
	case err == nil:
		if err = sealed(cur); err == nil {
			return cur, nil
		}
	case errors.Is(err, archive.ErrUnreadable) || errors.Is(err, archive.ErrTooLarge):
		// A version S3 will not give written over it (an archive storage
		// class, another's encryption key): it stopped every start, as a
		// version written over it did (found by an attack). So did one
		// over the size limit, refused unread
		// (TestAnOversizedFileAtACheckpointKeyIsPassedOver).
		cur = archive.Unreadable
	case !errors.Is(err, archive.ErrNotFound):
		return nil, err
	}
	// The versions are listed a page at a time, and each read in its own
	// call: delete markers (free on S3) or versions put over the key, in
	// one call, took longer than a call may and were asked for ever, and
	// every start stalled (TestMarkersOverTheNewestObjectDoNotStallAStart).
	l, lerr := s.listVersions(ctx, key)
	if lerr != nil {
		return nil, fmt.Errorf("read the sealed version of %s: %w", key, lerr)
	}
	// Each version in one call, one it cannot read passed over: a version
	// written over the key may fail every read.
	obj, ok := archive.FirstSealed(ctx, l.Versions(), cur, func(ctx context.Context, id string) (*archive.Object, error) {
		gctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		defer cancel()
		return s.store.Get(gctx, key, id)
	}, sealed)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if !ok {
		return nil, err
	}
	s.m.rewritten.Inc()
	s.log.Error("a sealed object was deleted or written over after it was sealed; its sealed version is read (aegis verify reports the key)",
		zap.String("key", key), zap.String("sealed_version", obj.VersionID), zap.String("current", archive.CurrentName(cur)), zap.Error(err))
	return obj, nil
}

// loadUncommitted fills pending with the sealed entries whose offsets the
// group has not committed (a crash between the S3 write and the Kafka
// transaction), so they are republished, not sealed again. It walks the
// checkpoints back from the newest.
func (s *Sealer) loadUncommitted(ctx context.Context, admin *kgo.Client, cps *signedCheckpoints) error {
	head := s.Head()
	if head.Offset < 0 {
		return s.checkNewChainCommit(ctx, admin)
	}
	he, hline, known, err := s.headEntry(ctx, cps)
	if err != nil {
		return err
	}
	if known {
		err = s.checkHeadTopic(he)
	} else {
		err = s.checkOlderTopic(ctx, cps)
	}
	if err != nil {
		return err
	}
	adm := kadm.NewClient(admin)
	ends, err := adm.ListEndOffsets(ctx, s.cfg.Topic)
	if err != nil {
		return fmt.Errorf("list the end offset of topic %s: %w", s.cfg.Topic, err)
	}
	if end, ok := ends.Lookup(s.cfg.Topic, 0); ok && end.Err == nil && end.Offset <= head.Offset {
		return s.topicLost(fmt.Errorf("%w: topic %s ends at offset %d, but the chain's head (seq %d) was sealed from its record at offset %d",
			ErrTopicLost, s.cfg.Topic, end.Offset, head.Seq, head.Offset))
	}
	// The topic's start, listed once for the head's record and for where
	// the group resumes.
	starts, err := adm.ListStartOffsets(ctx, s.cfg.Topic)
	if err != nil {
		return fmt.Errorf("list the start offset of topic %s: %w", s.cfg.Topic, err)
	}
	start := int64(-1)
	if st, ok := starts.Lookup(s.cfg.Topic, 0); ok && st.Err == nil {
		start = st.Offset
	}
	if known {
		if err := s.checkHeadRecord(ctx, adm, hline, start); err != nil {
			return err
		}
	}
	offsets, err := adm.FetchOffsets(ctx, s.cfg.Group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		// The group never committed here, or Kafka dropped its offsets
		// (offsets.retention.minutes after its last member left, a new
		// cluster, a deleted group): read as a group with no commit,
		// which Kafka's classic coordinator answers. Before, kfake's
		// answer made every session fail, the sealer sealing nothing.
		s.log.Warn("the sealer's group has no committed offsets; the sealed entries whose records the topic still holds are published again",
			zap.String("group", s.cfg.Group), zap.String("topic", s.cfg.Topic), zap.Uint64("head_seq", head.Seq))
		offsets, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("fetch committed offsets of group %s: %w", s.cfg.Group, err)
	}
	committed, hasCommit := int64(0), false
	if o, ok := offsets.Lookup(s.cfg.Topic, 0); ok && o.Err == nil && o.At >= 0 {
		committed, hasCommit = o.At, true
	}
	// The group consumes from its commit, or else from the topic's start:
	// entries of records the topic no longer holds would be held here for
	// good, never read again (the whole chain, for a group without a commit).
	committed = max(committed, start)
	if hasCommit && committed > head.Offset+1 {
		return s.checkCommitPastHead(ctx, committed)
	}
	// Records below the group's commit are sealed and committed: a
	// consumer that resumes below it passes over them. One does after a
	// commit whose answer was lost (the broker died after committing, or
	// the connection reset): the session's client keeps the commit before
	// it and polls those records again. Before, the first of them stopped
	// the sealer for good with ErrInconsistent, though nothing was wrong
	// (TestAttack34TxnCommitAnswerLost).
	s.floor = committed
	if committed > head.Offset {
		return nil
	}
	seen := map[string]bool{}
	lowest, reached := head.Offset+1, false
	for i := 0; ; i++ {
		c, ok, err := cps.at(ctx, i)
		if err != nil {
			return err
		}
		if ok && c.cp.Offset < committed {
			reached = true
		}
		if !ok || seen[c.cp.Object] || c.cp.Offset < committed {
			break
		}
		seen[c.cp.Object] = true
		obj, entries, lines, err := cps.readSigned(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// Sealing goes on from the checkpoint (headEntry); the
			// entries of this object and those before are not published
			// again (the floor below). Before, the walk failed every
			// session here while a group with a commit sealed on.
			s.log.Warn("a signed object cannot be read; its entries and older ones are not published again", zap.String("key", c.cp.Object), zap.Error(err))
			break
		}
		done := false
		for j, e := range entries {
			if e.Source == nil || e.Source.Offset < committed {
				done = true
				continue
			}
			lowest = min(lowest, e.Source.Offset)
			s.mu.Lock()
			ref := newSealedRef(e, &shared.SealedRecord{Object: c.cp.Object, VersionID: obj.VersionID, Line: j + 1,
				Checkpoint: c.cp.Seq, Entry: lines[j]})
			s.pending[e.Source.Offset] = &ref
			s.mu.Unlock()
		}
		if done {
			reached = true
			break
		}
	}
	if lowest > committed {
		// Records from where the group resumes to the lowest entry loaded
		// have no entry to publish again: the walk stopped at checkpoints
		// this sealer does not take (a retired key's range read from a
		// copy of the bucket, whose S3 dates are the copy's: FORMAT.md
		// 7.4) or an object it cannot read, or they come before the
		// chain's first record. Those at or below the head are sealed,
		// or not of this chain: write passes over them, and a group
		// without a commit starts after them. Before, the first of them
		// stopped every session (ErrInconsistent).
		s.floor = lowest
		if !hasCommit {
			s.resetAt = lowest
		}
		if !reached {
			s.log.Warn("sealed entries whose checkpoints or objects this sealer does not take are not published again; aegis index check lists what the index lacks",
				zap.Int64("from_offset", committed), zap.Int64("to_offset", lowest-1), zap.Uint64("head_seq", head.Seq))
		}
	}
	s.log.Info("uncommitted sealed entries will be republished", zap.Int64("committed_offset", committed),
		zap.Int64("head_offset", head.Offset), zap.Int("entries", len(s.pending)))
	return nil
}

// headEntry reads the head's sealed line from the object of the newest
// checkpoint; ok is false when that checkpoint does not sign the head or
// no version of its object ends at the signed hash (the head is the
// checkpoint's all the same and sealing goes on from it, as
// followHandOver decided; verify reports the object).
func (s *Sealer) headEntry(ctx context.Context, cps *signedCheckpoints) (e *shared.Entry, line []byte, ok bool, err error) {
	head := s.Head()
	c, ok, err := cps.at(ctx, 0)
	if err != nil || !ok || c.cp.Seq != head.Seq {
		return nil, nil, false, err
	}
	_, entries, lines, err := cps.readSigned(ctx, c)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, false, err
		}
		return nil, nil, false, nil
	}
	for i, e := range entries {
		if e.Seq == head.Seq {
			return e, lines[i], true, nil
		}
	}
	return nil, nil, false, nil
}

// checkHeadTopic stops the sealer when the chain's records were read from
// another topic or partition than its own: a chain is sealed from one
// (docs/FORMAT.md section 6), and an entry sealed from another would break
// it for good. Before, a sealer started with another --topic (a topic
// renamed in a migration, a restore under a new name) sealed on, and every
// verifier refused the chain from that entry on.
func (s *Sealer) checkHeadTopic(e *shared.Entry) error {
	if e.Source == nil || e.Source.Topic == s.cfg.Topic && e.Source.Partition == 0 {
		return nil
	}
	err := fmt.Errorf("%w: the chain's entry of seq %d was sealed from topic %s partition %d, and this sealer reads topic %s partition 0",
		ErrTopicChanged, e.Seq, e.Source.Topic, e.Source.Partition, s.cfg.Topic)
	s.log.Error("the sealer reads another topic than the one the chain was sealed from; stopping without sealing: "+
		"a chain is sealed from one topic (docs/FORMAT.md section 6). Start the sealer with --topic "+e.Source.Topic+
		" (restore that topic's data if it was lost), or seal a new chain", zap.String("topic", s.cfg.Topic), zap.Error(err))
	return err
}

// checkOlderTopic checks the topic of the chain's records when the head's
// own object cannot be read: on the newest entry with a source among the
// objects of the next checkpoints (a copy of the bucket may lack the
// newest object, and a restore under a new topic name is what the check
// is for). When none of them reads either, sealing goes on as before,
// unchecked, and that is logged.
func (s *Sealer) checkOlderTopic(ctx context.Context, cps *signedCheckpoints) error {
	const tries = 16
	for i := 1; i <= tries; i++ {
		c, ok, err := cps.at(ctx, i)
		if err != nil || !ok {
			return err
		}
		_, entries, _, err := cps.readSigned(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			continue
		}
		for j := len(entries) - 1; j >= 0; j-- {
			if entries[j].Source != nil {
				return s.checkHeadTopic(entries[j])
			}
		}
	}
	s.log.Warn("the topic the chain was sealed from cannot be checked: no object of its newest checkpoints can be read", zap.Int("checkpoints", tries+1))
	return nil
}

// checkHeadRecord checks that the record at the head's offset is the one
// the head entry was sealed from (line), when the topic still holds it
// (start, the topic's start offset, -1 when Kafka gave none). A topic
// recreated and filled past the head's offset before this start ends
// after it, yet holds other records: the group's committed offset would
// skip them.
func (s *Sealer) checkHeadRecord(ctx context.Context, adm *kadm.Client, line []byte, start int64) error {
	head := s.Head()
	if start < 0 || start > head.Offset {
		return nil // the topic's retention took it: nothing to compare
	}
	recs, err := s.fetchRecords(ctx, head.Offset, 1, s.cfg.CallTimeout)
	if err != nil {
		return fmt.Errorf("read the record of the head (offset %d): %w", head.Offset, err)
	}
	if recs[0].Offset != head.Offset {
		// Retention may have taken the record since the start was listed.
		if starts, err := adm.ListStartOffsets(ctx, s.cfg.Topic); err == nil {
			if start, ok := starts.Lookup(s.cfg.Topic, 0); ok && start.Err == nil && start.Offset > head.Offset {
				return nil
			}
		}
		return s.topicLost(fmt.Errorf("%w: topic %s holds no record at offset %d, where the chain's head (seq %d) was sealed from (the next is at %d)",
			ErrTopicLost, s.cfg.Topic, head.Offset, head.Seq, recs[0].Offset))
	}
	return s.sameRecord(line, recs[0])
}

// topicLost logs that the decisions topic lost sealed records, and what
// to do, before the sealer stops with err.
func (s *Sealer) topicLost(err error) error {
	s.log.Error("the decisions topic no longer holds the records the chain sealed (recreated, or Kafka lost its data); "+
		"stopping without sealing: records published since are kept in the topic, unsealed. "+
		"Restore the topic's data; a chain cannot go on over a topic whose offsets started over (README, \"When things fail\")",
		zap.String("topic", s.cfg.Topic), zap.Error(err))
	return err
}

// sameAsSealed checks that rec, polled at an offset the chain has sealed,
// is the record ref was sealed from: against the bytes and time this
// process sealed, when it sealed it, else against the sealed line.
func (s *Sealer) sameAsSealed(ref *sealedRef, rec *kgo.Record, prepared *shared.Entry) error {
	if ref.value == nil && ref.at.IsZero() {
		return s.sameRecord(ref.rec.Entry, rec)
	}
	if bytes.Equal(rec.Value, ref.value) && prepared.Source != nil && prepared.Source.Timestamp.Equal(ref.at) {
		return nil
	}
	return s.topicLost(fmt.Errorf("%w: the record at offset %d of topic %s (Kafka time %s) is not the one this sealer sealed there (Kafka time %s)",
		ErrTopicLost, rec.Offset, s.cfg.Topic, shared.FormatTime(recordTime(rec)), shared.FormatTime(ref.at)))
}

// sameRecord checks that rec, read at an offset the chain has sealed, is
// the record sealed there (line is its sealed entry): the same Kafka
// timestamp, and for an event the same event, for an invalid entry the
// same bytes. A topic recreated after a loss holds other records at the
// same offsets, which would otherwise be taken for sealed ones and never
// sealed. An event today's rules refuse (sealed by an older version) and
// a key hand-over are compared by their timestamps alone.
func (s *Sealer) sameRecord(line []byte, rec *kgo.Record) error {
	theirs, err := shared.ParseLineLenient(line)
	if err != nil || theirs.Source == nil {
		return fmt.Errorf("%w: the sealed entry of offset %d does not parse: %v", ErrInconsistent, rec.Offset, err)
	}
	// Prepared as the sealer seals it: its timestamp as sealed (clamped
	// into the years 0000 to 9999), its event canonical.
	mine, err := s.prepareRecord(nil, rec)
	if err != nil {
		return err
	}
	differs := func(what string) error {
		return s.topicLost(fmt.Errorf("%w: the record at offset %d of topic %s (Kafka time %s) is not the one sealed there at seq %d (Kafka time %s): %s differs",
			ErrTopicLost, rec.Offset, s.cfg.Topic, shared.FormatTime(mine.Source.Timestamp), theirs.Seq, shared.FormatTime(theirs.Source.Timestamp), what))
	}
	// Before 2026-11-28 the sealer wrote franz-go's time of a record
	// outside the years 0000 to 9999 as it was (wrapped: the year 10000
	// came out as 1816); such a line is the same record's too.
	sameTime := theirs.Source.Timestamp.Equal(mine.Source.Timestamp) ||
		!mine.Source.Timestamp.Equal(recordTime(rec)) && theirs.Source.Timestamp.Equal(rec.Timestamp.UTC())
	if theirs.Source.Offset != rec.Offset || !sameTime {
		return differs("its timestamp")
	}
	switch theirs.Type {
	case shared.EntryInvalid:
		if theirs.Invalid == nil || theirs.Invalid.Size != len(rec.Value) || theirs.Invalid.SHA256 != shared.Hash(sha256.Sum256(rec.Value)) {
			return differs("its bytes")
		}
	case shared.EntryEvent:
		if mine.Type == shared.EntryEvent && !bytes.Equal(mine.Event, theirs.Event) {
			return differs("its event")
		}
	}
	return nil
}

// forked counts and logs a fork before the sealer stops with err.
func (s *Sealer) forked(key string, err error) error {
	s.m.forks.Inc()
	s.log.Error("chain fork: stopping without committing; an operator must look at the object", zap.String("key", key), zap.Error(err))
	return err
}

// adopt checks an object another writer stored at the next batch key
// before the sealer signs over it. Each of its entries must be exactly the
// entry this sealer seals from the record at the same Kafka offset (same
// offsets in order, the same payload from the same record bytes, linked
// hashes); only the sealed_at times may differ. records are the records this
// sealer holds from the batch's first offset on; when the object covers more,
// the rest are read from the topic by offset. Anything else is a fork.
func (s *Sealer) adopt(ctx context.Context, key string, body []byte, records []*kgo.Record) ([]*shared.Entry, [][]byte, error) {
	fork := func(format string, args ...any) error { // the caller counts and logs it (forked)
		return fmt.Errorf("%w: %s %s", ErrChainForked, key, fmt.Sprintf(format, args...))
	}
	lines, err := shared.SplitLines(body)
	if err != nil {
		return nil, nil, fork("is not a batch: %v", err)
	}
	head := s.Head()
	entries := make([]*shared.Entry, len(lines))
	for i, line := range lines {
		theirs, err := shared.ParseLineLenient(line)
		if err != nil {
			return nil, nil, fork("line %d does not parse: %v", i+1, err)
		}
		// The records past those held are read from the topic only once
		// every line before is this sealer's: an object of a hundred
		// thousand lines of garbage is a fork at its first line, not a
		// wait for records the topic never had (the sealer then started
		// over, and waited again, at every session).
		if i == len(records) {
			more, err := s.fetchRecords(ctx, records[len(records)-1].Offset+1, len(lines)-len(records), s.cfg.CallTimeout)
			if err != nil {
				return nil, nil, fmt.Errorf("read records to check %s: %w", key, err)
			}
			records = append(records[:len(records):len(records)], more...)
		}
		if i > 0 && theirs.Source != nil && shared.FileDate(theirs.Source.Timestamp) != shared.FileDate(entries[0].Source.Timestamp) {
			return nil, nil, fork("line %d (seq %d) is of another day than the object's first line", i+1, theirs.Seq)
		}
		if i >= len(records) {
			return nil, nil, fork("line %d (seq %d) claims a record beyond the end of the topic", i+1, theirs.Seq)
		}
		mine, err := s.prepareRecord(nil, records[i])
		if err != nil {
			return nil, nil, err
		}
		s.keys.decide(mine)
		want, err := head.SealNext(mine, theirs.SealedAt)
		if err != nil {
			return nil, nil, err
		}
		if mine.Type == shared.EntryKey && i != len(lines)-1 {
			return nil, nil, fork("line %d (seq %d) hands the checkpoint key over but does not end the object", i+1, mine.Seq)
		}
		if !bytes.Equal(want, line) {
			return nil, nil, fork("line %d (seq %d) is not what this sealer seals from the record at offset %d (seq %d)",
				i+1, theirs.Seq, records[i].Offset, mine.Seq)
		}
		entries[i] = mine
		head = head.Next(mine)
	}
	return entries, lines, nil
}

// fetchRecords reads n committed records of the decisions topic from
// offset on, as the sealer's own consumer would see them.
func (s *Sealer) fetchRecords(ctx context.Context, offset int64, n int, timeout time.Duration) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topic: {0: kgo.NewOffset().At(offset)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, slices.Concat(s.cfg.KafkaOptions, kafkaconn.BoundedDecompression(0))...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out []*kgo.Record
	unreadable := unreadableBatches{topic: s.cfg.Topic}
	for len(out) < n {
		fetches := cl.PollRecords(ctx, n-len(out))
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("%d of %d records from offset %d: %w", len(out), n, offset, err)
		}
		fetches.EachError(func(t string, _ int32, err error) { unreadable.note(t, err) })
		polled := len(out)
		fetches.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		if len(out) > polled {
			continue // the batch waits until every record before it is polled
		}
		after := offset - 1
		if len(out) > 0 {
			after = out[len(out)-1].Offset
		}
		r, err := unreadable.take(ctx, cl, after)
		if err != nil {
			return out, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// logKeyLabel is shared.KeyLabel for a log field, without the quotes a
// message needs (the log's JSON quotes it once).
func logKeyLabel(text string) string {
	l := shared.KeyLabel(text)
	if u, err := strconv.Unquote(l); err == nil {
		return u
	}
	return l
}

// checkNewChainCommit is checkCommitPastHead for a chain that holds no
// record yet (its genesis alone): its group must not have consumed any.
// One that did sealed them into a chain this bucket and prefix do not hold:
// a --bucket or --prefix that is not the chain's, or a bucket emptied.
// Before, the sealer sealed on from the commit as a new chain's seq 1
// (after writing its genesis), while aegis verify and index status of the
// chain's own prefix said all was well and its head stopped growing
// (found by the operators' outside trial, h1).
func (s *Sealer) checkNewChainCommit(ctx context.Context, admin *kgo.Client) error {
	offsets, err := kadm.NewClient(admin).FetchOffsets(ctx, s.cfg.Group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fetch committed offsets of group %s: %w", s.cfg.Group, err)
	}
	if o, ok := offsets.Lookup(s.cfg.Topic, 0); ok && o.Err == nil && o.At > 0 {
		return s.checkCommitPastHead(ctx, o.At)
	}
	return nil
}

// newestSignedOffset is the Kafka offset of S3's newest checkpoint that
// verifies with the keyset held (ok false: none does), read now.
func (s *Sealer) newestSignedOffset(ctx context.Context) (offset int64, ok bool, err error) {
	walk := s.store.NewestCheckpoints(s.cfg.Chain)
	for {
		key, more, err := walk.Next(ctx)
		if err != nil || !more {
			return 0, false, err
		}
		body, err := s.readSignedCheckpoint(ctx, key)
		if err != nil {
			return 0, false, err
		}
		cp, err := s.openSigned(key, body)
		if errors.Is(err, shared.ErrBadCheckpoint) {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		return cp.Offset, true, nil
	}
}

// checkCommitPastHead fails when the group's committed offset is past a
// record the chain does not hold: one after the head's and before the
// commit. Between the two there may be only transaction markers (a
// transactional producer's), which hold no record; a record there was
// consumed, sealed and committed into a chain the bucket no longer holds
// (restored from an older backup; before, the sealer went on from the
// commit and those acknowledged records were never sealed again, without
// a word, found by an outside trial). The probe waits a few seconds at
// most for a record after the head: an idle topic ending in markers has
// none.
func (s *Sealer) checkCommitPastHead(ctx context.Context, committed int64) error {
	head := s.Head()
	recs, err := s.fetchRecords(ctx, head.Offset+1, 1, min(s.cfg.CallTimeout, 5*time.Second))
	if err != nil || len(recs) == 0 || recs[0].Offset >= committed {
		return ctx.Err() // nothing but markers (or nothing read): as before
	}
	// The head was read from S3 before the commit from Kafka: a sealer of
	// the group (the active one, this being a standby that starts) may
	// have sealed and committed in between. It writes the checkpoint
	// before it commits, so S3's newest checkpoint read now covers any
	// commit read before it. Only one still short of the commit is a
	// bucket that lacks what the group consumed. Before, a standby started
	// while the active sealer sealed stopped for good here (an attack on
	// this check found it).
	if newest, ok, err := s.newestSignedOffset(ctx); err != nil {
		return err
	} else if ok && newest+1 >= committed {
		s.log.Info("the chain moved on while this sealer started (another sealer of the group seals it); the head is recovered again when this one is assigned the partition",
			zap.Int64("committed", committed), zap.Int64("read_head_offset", head.Offset), zap.Int64("newest_checkpoint_offset", newest))
		return nil
	}
	err = fmt.Errorf("%w: group %s committed offset %d of topic %s, but the chain's head (seq %d) was sealed from offset %d, and the topic holds a record at offset %d between them: "+
		"the bucket lacks what the group consumed (restored from an older backup? or --bucket %s --prefix %s not the chain's?)", ErrCommitPastHead, s.cfg.Group, committed, s.cfg.Topic, head.Seq, head.Offset, recs[0].Offset, s.cfg.Bucket, s.cfg.Prefix)
	s.log.Error("the sealer's group committed records the chain does not hold; stopping without sealing, so that they are not skipped. "+
		"To seal them again, with every sealer of the chain stopped, set the group's offset of the topic's partition 0 to the head's offset + 1 "+
		"(aegis rewind-sealer --execute, or kafka-consumer-groups.sh --reset-offsets --to-offset <reset_to> --group <group> --topic <topic>:0 --execute), then start the sealer (README, \"When things fail\")",
		zap.String("group", s.cfg.Group), zap.String("topic", s.cfg.Topic), zap.Int64("committed", committed), zap.Int64("head_offset", head.Offset),
		zap.Int64("reset_to", head.Offset+1), zap.Uint64("head_seq", head.Seq), zap.Error(err))
	return err
}
