package replayer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// ErrMissingObject is wrapped when a signed checkpoint names an object of
// the scope that the listing does not hold: its entries would be left out
// of an answer without a word.
var ErrMissingObject = errors.New("sealed object missing from the listing")

// sequence checks that a reader of a scope (discover, rebuild, index
// check) is handed every object of the scope, not only objects that are
// each fine. Each object links to the one before through the signed
// checkpoint of the seq before it, and each checkpoint names the object it
// signs (docs/FORMAT.md section 7): so each object read names its
// neighbours in the chain, whatever the listing says. When a neighbour's
// date is in the scope, it must be the object handed just before (or
// after): otherwise it is missing from the listing (a delete marker hides
// it, or it was removed from the storage itself), and its entries would be
// left out without a word. A neighbour of a date outside the scope is
// skipped rightly: Kafka timestamps can go back, so a scope's days need
// not hold consecutive objects.
//
// The object before is named by the link every object is read with; the
// object after by the checkpoint that follows the object's own, read only
// where the objects handed do not follow one another (and after the last):
// one listing request and one checkpoint. What this cannot see is a hidden
// object both of whose neighbours lie outside the scope, which only
// happens where timestamps went back over midnight; aegis verify, which
// reads the whole chain, finds that one.
type sequence struct {
	store       *archive.Store
	cfg         DiscoverConfig
	chain       string
	trusted     shared.Keyset
	first, last time.Time // the scope's dates; zero: every date
	prevKey     string    // the object handed before, "" before the first
	prevSeq     uint64    // its last seq
}

func newSequence(store *archive.Store, cfg DiscoverConfig, trusted shared.Keyset) *sequence {
	s := &sequence{store: store, cfg: cfg, chain: cfg.Chain, trusted: trusted}
	if !cfg.From.IsZero() {
		s.first, s.last = shared.FileDate(cfg.From), shared.FileDate(cfg.To.Add(-time.Nanosecond))
	}
	return s
}

// inScope reports whether key is a batch key whose date is in the scope.
func (s *sequence) inScope(key string) bool {
	if shared.ClassifyKey(s.store.Prefix, s.chain, key) != shared.KeyBatch {
		return false // the genesis, which no reader hands on
	}
	info, err := shared.ParseBatchKey(s.store.Prefix, key)
	if err != nil {
		return false
	}
	return s.first.IsZero() || !info.Date.Before(s.first) && !info.Date.After(s.last)
}

// filedElsewhere reports whether key is a batch key of the chain whose
// date is outside the scope: an object the scope does not read.
func (s *sequence) filedElsewhere(key string) bool {
	if s.first.IsZero() || shared.ClassifyKey(s.store.Prefix, s.chain, key) != shared.KeyBatch {
		return false
	}
	info, err := shared.ParseBatchKey(s.store.Prefix, key)
	return err == nil && info.Chain == s.chain && (info.Date.Before(s.first) || info.Date.After(s.last))
}

// follow takes the next object handed on, read into d: it fails when the
// object before it in the chain, or the object after the one handed
// before, is in the scope but was not handed in between. A resumed
// rebuild hands on every object too (those a killed run finished are read
// again, not written), so nothing here depends on a kill.
func (s *sequence) follow(ctx context.Context, ref archive.BatchRef, d *discovered) error {
	defer func() { s.prevKey, s.prevSeq = ref.Key, d.entries[len(d.entries)-1].Seq }()
	if d.after == s.prevKey {
		return nil
	}
	if s.inScope(d.after) {
		err := s.missing(ctx, d.after, false, fmt.Sprintf("the checkpoint of seq %d names it as the object before %s", d.entries[0].Seq-1, ref.Key))
		if !errors.Is(err, ErrMissingObject) {
			return err
		}
		// Pruned: the object before, with every checkpoint below its
		// own, deleted (the checkpoint of the seq before this object
		// may stay, FORMAT.md section 6.1).
		start, why, perr := prunedStart(ctx, s.store, s.cfg, s.trusted, d.entries[0].Seq-1)
		if perr != nil || !start {
			var f *Failure
			if perr == nil && errors.As(err, &f) {
				f.Reason += why
			}
			return errors.Join(perr, err)
		}
		d.prunedStart = true
		return nil
	}
	if s.prevKey == "" {
		return nil
	}
	return s.successor(ctx, false)
}

// end checks, once every object was handed on, the object after the last.
func (s *sequence) end(ctx context.Context) error {
	if s.prevKey == "" {
		return nil
	}
	return s.successor(ctx, true)
}

// successor fails when the object after the one handed last is in the
// scope (it was not handed next): the first checkpoint after that
// object's own that verifies at its own key names it
// (signedCheckpointAfter). At the end (last) the object named may be
// newer than the listing.
func (s *sequence) successor(ctx context.Context, last bool) error {
	key, cp, ok, err := signedCheckpointAfter(ctx, s.store, s.trusted, s.cfg.anchors, s.chain, s.prevSeq, false)
	if err != nil || !ok || !s.inScope(cp.Object) {
		return err
	}
	return s.missing(ctx, cp.Object, last, fmt.Sprintf("%s (seq %d) signs it as the object after %s", key, cp.Seq, s.prevKey))
}

// errNotSignedHere: no version of a checkpoint key is a checkpoint of that
// key's seq signed by the trusted keys.
var errNotSignedHere = errors.New("not a checkpoint signed for its key")

// signedCheckpointAfter returns the chain's first checkpoint after seq
// that verifies with the trusted keys at its own key (ok false: none).
// Files at checkpoint keys that do not (garbage, or a checkpoint copied
// to another seq's key: anyone with write access to the bucket can put
// one) are passed over, as the sealer passes them over; verify reports
// them. older is signedAt's.
func signedCheckpointAfter(ctx context.Context, store *archive.Store, trusted shared.Keyset, a *anchoring, chain string, seq uint64, older bool) (string, shared.Checkpoint, bool, error) {
	for {
		key, at, ok, err := store.CheckpointAfter(ctx, chain, seq)
		if err != nil || !ok {
			return "", shared.Checkpoint{}, false, err
		}
		seq = at
		cp, ok, err := signedAt(ctx, store, trusted, a, chain, key, at, older)
		if err != nil || ok {
			return key, cp, ok, err
		}
		// no version of it verifies at its own key (or it was deleted
		// since the listing): verify reports that
	}
}

// signedAt reads the checkpoint at key, of seq at, as signedCheckpointAfter
// takes it: ok when a version of it verifies at its own key. With older
// it only shows that the chain holds something older (prunedStart): a
// retired key's checkpoint then counts whenever it was stored. The
// retired-key rule (FORMAT.md 7.4) keeps a stolen key's forgeries from
// being taken as signed; applied here it let anyone who removes the
// checkpoint of the range's last seq from the storage make every
// checkpoint of that key, the sealer's included, show nothing, and a
// hole look like pruning. A forgery that counts here only makes a reader
// refuse.
func signedAt(ctx context.Context, store *archive.Store, trusted shared.Keyset, a *anchoring, chain, key string, at uint64, older bool) (shared.Checkpoint, bool, error) {
	// The sealed version counts, whatever was written over it or put
	// on it since: a checkpoint garbled or hidden under a delete marker
	// after a forged object still signs a later seq (before, the
	// forged object passed as the unsigned newest).
	var cp shared.Checkpoint
	signedHere := func(obj *archive.Object) error {
		c, err := trusted.Open(obj.Body)
		if err != nil || c.Chain != chain || c.Seq != at {
			return errNotSignedHere
		}
		if older {
			cp = c
			return nil
		}
		if err := retiredSignsFirstVersion(ctx, store, trusted, a, key, obj, c); err != nil {
			if errors.Is(err, ErrRetiredRewrite) {
				return errNotSignedHere
			}
			return err
		}
		cp = c
		return nil
	}
	// The current version with a plain GET first: nearly always it is
	// the sealed one, and nothing here needs its lock state (a HEAD
	// more on versitygw). Only when it is not are the versions read.
	if obj, gerr := store.Get(ctx, key, ""); gerr == nil && signedHere(obj) == nil {
		return cp, true, nil
	}
	_, err := readSealedVersion(ctx, store, nil, key, signedHere)
	switch {
	case err == nil:
		return cp, true, nil
	case errors.Is(err, archive.ErrNotFound), errors.Is(err, errNotSignedHere):
		return shared.Checkpoint{}, false, nil
	}
	return shared.Checkpoint{}, false, err
}

// missing reports key, named by a signed checkpoint, as missing from the
// listing. If it is there now, it was written after the listing was read:
// as the scope's last object's successor (late) by a sealer at work, and
// the answer is as of the listing; before an object listed, the listing
// changed under the reader, which is run again.
func (s *sequence) missing(ctx context.Context, key string, late bool, why string) error {
	_, err := s.store.Head(ctx, key, "")
	switch {
	case err == nil && late:
		return nil
	case err == nil:
		return &Failure{Key: key, Err: archive.ErrListingChanged,
			Reason: fmt.Sprintf("the object was not listed but exists now (%s): the listing changed while it was read; run it again", why)}
	case !errors.Is(err, archive.ErrNotFound):
		return err
	}
	return &Failure{Key: key, Err: ErrMissingObject,
		Reason: fmt.Sprintf("no current version of this object is listed, yet %s: it was deleted after it was sealed (a delete marker, or removed from the storage), and its entries would be left out: run aegis verify", why)}
}

// prunedStart reports whether an object whose predecessor ends at seq
// before and is gone (its object, or its checkpoint too) is where a pruned
// chain that remains starts: the reader was asked to accept one
// (DiscoverConfig.Pruned), no checkpoint of a seq below before that
// verifies at its own key signs an object that remains (pruning deletes
// the oldest objects, so none older stays; checkpoints of deleted ones
// may, for a while), and the genesis object has no version. Otherwise why is what to add to the failure: a hint at --pruned,
// or the lower checkpoint that shows the gap is not pruning.
//
// It trusts the checkpoints' listing for where the chain starts, as far
// as the scope is concerned: an object of a lower seq whose checkpoint was
// removed from the storage is not looked for (aegis verify --pruned reads
// the whole chain and fails on it).
func prunedStart(ctx context.Context, store *archive.Store, cfg DiscoverConfig, trusted shared.Keyset, before uint64) (start bool, why string, err error) {
	key, cp, signed, err := lowestSignedCheckpoint(ctx, store, cfg, trusted)
	switch {
	case err != nil:
		return false, "", err
	case !cfg.Pruned:
		return false, prunedHint(signed && cp.Seq >= before), nil
	}
	// A checkpoint below the gap shows it is not pruning while the object
	// it signs remains (a version of it, under a delete marker too).
	// Pruning leaves checkpoints of deleted objects for a while: the
	// sealer writes an object before the checkpoint of the one before it,
	// so a lifecycle rule, which expires by the day a version was
	// created, can delete the objects of a midnight a day before their
	// checkpoints (FORMAT.md 6.1 checks such checkpoints and does not
	// count them).
	for signed && cp.Seq < before {
		ids, err := store.SealedVersions(ctx, cp.Object)
		switch {
		case err != nil:
			return false, "", err
		case len(ids) > 0:
			return false, fmt.Sprintf("; not pruning: %s (seq %d) is older and remains, and so does the object it signs, %s", key, cp.Seq, cp.Object), nil
		}
		if key, cp, signed, err = signedCheckpointAfter(ctx, store, trusted, nil, cfg.Chain, cp.Seq, true); err != nil {
			return false, "", err
		}
	}
	// A chain whose genesis object is there is not pruned (FORMAT.md
	// section 6.1), whatever checkpoints were removed from the storage
	// with the object before this one. A delete marker on it hides
	// nothing: its versions are listed.
	genesis := shared.GenesisKey(cfg.Prefix, cfg.Chain)
	ids, err := store.SealedVersions(ctx, genesis)
	switch {
	case err != nil:
		return false, "", err
	case len(ids) > 0:
		return false, fmt.Sprintf("; not pruning: the genesis object %s remains", genesis), nil
	}
	return true, "", nil
}

// prunedHint is what a reader not asked to accept a pruned chain adds to
// its failure when the chain may be one.
func prunedHint(mayBe bool) string {
	if !mayBe {
		return ""
	}
	return "; if the chain's oldest objects were deleted after their retention, read it with --pruned (docs/FORMAT.md section 6.1)"
}

// lowestSignedCheckpoint is the chain's checkpoint of the lowest seq that
// verifies at its own key (signed false: none does), a retired key's
// whenever it was stored (signedAt's older).
func lowestSignedCheckpoint(ctx context.Context, store *archive.Store, cfg DiscoverConfig, trusted shared.Keyset) (key string, cp shared.Checkpoint, signed bool, err error) {
	key = shared.CheckpointKey(cfg.Prefix, cfg.Chain, 0)
	if cp, ok, err := signedAt(ctx, store, trusted, nil, cfg.Chain, key, 0, true); err != nil || ok {
		return key, cp, ok, err
	}
	return signedCheckpointAfter(ctx, store, trusted, nil, cfg.Chain, 0, true)
}
