// Package replayer serves auditors and recovery from the bytes in S3 alone:
// Verify recomputes the whole chain and checks every object's lock and every
// checkpoint signature against a trusted key.
//
// Invariants: nothing read from the index or Kafka is trusted; the first
// broken place is reported exactly (object, line, seq, what is wrong); memory
// is bounded by the objects fetched ahead, a page of the listing and the
// days the log spans, not by its objects (the listing is streamed:
// archive/stream.go).
package replayer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.uber.org/zap"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/setting"
	"github.com/aegisai/audit/shared"
)

// ErrVerifyFailed is wrapped by every *Failure.
var ErrVerifyFailed = shared.ErrVerifyFailed

// ErrRewritten is wrapped when a key of the chain was written again or
// deleted after it was sealed (it holds more than one version).
var ErrRewritten = errors.New("sealed object written over or deleted")

// Failure is the first broken place found by Verify: object, line, seq and
// what is wrong.
type Failure = shared.Failure

// Config configures Verify.
type Config struct {
	// S3, Bucket, Prefix locate the log (Prefix default "audit").
	S3     archive.S3API
	Bucket string
	Prefix string
	// Chain is the chain to verify (required).
	Chain string
	// VerifierKey is the trusted checkpoint key, or the keyset of a chain whose key was rotated (docs/FORMAT.md section 7.4; ParseKeyset) (required). The key recorded
	// in the genesis entry is never trusted in its place.
	VerifierKey string
	// KnownCheckpoint is a signed checkpoint the auditor kept from an earlier
	// run (optional). Verification fails unless the chain in S3 extends it,
	// which catches a log cut back together with its checkpoints.
	KnownCheckpoint []byte
	// KnownCheckpointName names it in messages (a file name). Default
	// "known checkpoint".
	KnownCheckpointName string
	// Pruned accepts a chain whose oldest objects were deleted after their
	// retention (docs/FORMAT.md section 6.1): without its genesis object it
	// is verified from its lowest remaining object, and Report.StartSeq
	// says where. Off, such a chain fails (no genesis object).
	Pruned bool
	// Parallelism is how many objects are fetched and parsed ahead. Default 8.
	Parallelism int
	// Progress, if set, is called after each object with the objects done,
	// the objects in all and the entries verified.
	Progress func(done, total int, entries uint64)
	// Now is the clock that retention is checked against. Default time.Now.
	Now func() time.Time
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// anchor, if set, is told of each checkpoint that signs an entry the
	// chain holds, as it verifies (findAnchors). When it returns true the
	// verification stops there: Verify fails the keys written again,
	// wherever they are, and otherwise returns errAnchored with the
	// report so far.
	anchor func(shared.Checkpoint) bool
}

func (c *Config) validate() (shared.Keyset, error) {
	var errs []error
	if c.S3 == nil {
		errs = append(errs, errors.New("S3 is required"))
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New("Bucket is required"))
	}
	if !shared.ValidIdentifier(c.Chain) {
		errs = append(errs, setting.Errorf("Chain", "%q is not a valid chain id", c.Chain))
	}
	trusted, err := shared.ParseKeyset(c.VerifierKey)
	if err != nil {
		errs = append(errs, setting.Errorf("VerifierKey", "%v", err))
	}
	if err := errors.Join(errs...); err != nil {
		return trusted, fmt.Errorf("verify config: %w", err)
	}
	if c.Prefix == "" {
		c.Prefix = "audit"
	}
	if c.Parallelism <= 0 {
		c.Parallelism = 8
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.KnownCheckpointName == "" {
		c.KnownCheckpointName = "known checkpoint"
	}
	return trusted, nil
}

// Report summarises a successful verification. After a failure it counts
// only the objects and entries that verified before it (Objects, Entries).
type Report struct {
	shared.LogReport
	// LatestCheckpoint is the signed note of the latest checkpoint, for the
	// auditor to keep and hand back as KnownCheckpoint next time.
	LatestCheckpoint []byte
	// Known is the known checkpoint the chain was checked to extend (zero
	// when none was given).
	Known shared.Checkpoint
	// PastRetention counts the objects and checkpoints of a pruned chain
	// (Config.Pruned) whose Object Lock retention has ended, read before
	// any still under it: the ones a lifecycle rule deletes next.
	PastRetention int `json:"past_retention"`
	// PrunedMarkers counts the keys of a pruned chain (Config.Pruned)
	// under a delete marker whose every version's retention has ended (an
	// S3 lifecycle expiration at work): taken as deleted.
	PrunedMarkers int `json:"pruned_markers"`
}

// Verify reads the chain from S3 and checks it end to end under every rule
// of docs/FORMAT.md. It returns a *Failure for the first broken place.
// Entries after the latest checkpoint verify but are counted in
// Report.Unsigned: the caller decides whether that is acceptable.
func Verify(ctx context.Context, cfg Config) (Report, error) {
	var rep Report
	trusted, err := cfg.validate()
	if err != nil {
		return rep, err
	}
	store := &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix}
	// One streaming pass over the listing finds what fails before anything
	// is read (stray keys, deleted objects) and what the second pass needs;
	// the second reads the objects in seq order a page at a time
	// (archive/stream.go).
	sv, err := store.Survey(ctx, cfg.Chain)
	if err != nil {
		return rep, err
	}
	if sv.Strays > 0 {
		return rep, &Failure{Key: sv.FirstStray, Reason: fmt.Sprintf("object in the chain's folders is not a genesis, batch or checkpoint key of chain %s (%d such objects)", cfg.Chain, sv.Strays), Err: shared.ErrChainBroken}
	}
	// A key deleted after sealing hides its object: say so before anything
	// else. A key written again is read as it is now, so that a changed
	// line is named; the extra versions are reported after, if nothing else
	// is wrong.
	now := cfg.Now()
	// pruned counts the keys under delete markers taken as pruned: every
	// key under one, or the chain fails here.
	pruned := 0
	if sv.HasDeleted && cfg.Pruned {
		if pruned, err = markersOfPruning(ctx, store, cfg.Chain, now); err != nil {
			return rep, err
		}
		rep.PrunedMarkers = pruned
		// Keys under markers are read by the readers of a scope, from
		// the sealed version under the marker (StreamBatches); those
		// pruning deleted are not read at all: as if their versions were
		// gone.
		sv.Deleted = nil
	} else if sv.HasDeleted {
		return rep, rewrittenFailure(sv.FirstDeleted, sv.RewrittenCount)
	}
	// Nothing of the chain at all, and no kept checkpoint that says there
	// was: a chain id, bucket or prefix given wrong, most likely (every
	// deletion of a sealed key leaves a delete marker, failed above), but
	// for keys under markers taken as pruned: the chain was there.
	if sv.Objects == 0 && sv.Checkpoints == 0 && cfg.KnownCheckpoint == nil && pruned > 0 {
		f := rewrittenFailure(sv.FirstDeleted, sv.RewrittenCount)
		f.Reason += fmt.Sprintf("; every key of the chain is under a delete marker over versions past their retention (%d keys): nothing of it remains to verify", pruned)
		return rep, f
	}
	if sv.Objects == 0 && sv.Checkpoints == 0 && cfg.KnownCheckpoint == nil {
		return rep, fmt.Errorf("%w: chain %q has no object in s3://%s/%s (no genesis, no batch, no checkpoint)", ErrNoChain, cfg.Chain, cfg.Bucket,
			shared.GenesisKey(cfg.Prefix, cfg.Chain))
	}
	rewritten := map[string]archive.Rewritten{}
	for _, r := range sv.Rewritten {
		rewritten[r.Key] = r
	}
	note := func(err error) error {
		var f *Failure
		if errors.As(err, &f) {
			if r, ok := rewritten[f.Key]; ok {
				f.Reason += fmt.Sprintf(" (the key holds %d versions: %s, newest first; it was written again after it was sealed)", r.Count, versionList(r))
				f.Err = errors.Join(f.Err, ErrRewritten)
			}
		}
		return err
	}
	var pinned []uint64
	if cfg.KnownCheckpoint != nil {
		known, err := trusted.Open(cfg.KnownCheckpoint)
		if err != nil {
			return rep, &Failure{Key: cfg.KnownCheckpointName, Reason: err.Error(), Err: err}
		}
		pinned = append(pinned, known.Seq)
	}
	lv := shared.NewLogVerifier(cfg.Prefix, cfg.Chain, trusted, pinned)
	// One time for every retention checked in this run (now, above):
	// objects and checkpoints are judged against the same instant,
	// wherever the run is when each is read.
	if cfg.Pruned {
		lv.AllowPruned()
	}
	done, entries := 0, uint64(0)

	// One pipeline fetches objects and checkpoints ahead, in parallel: each
	// checkpoint right after the object that holds its seq (by the keys),
	// so that checking it waits for nothing. The verdict is the same as
	// checking every object first and then every checkpoint: the first
	// broken object wins; a broken checkpoint is kept and reported only if
	// every object verifies. A checkpoint is checked once the chain has
	// passed its seq (it signs the last entry of an object before the next
	// object's first seq, or fails either way).
	var latest []byte
	var cpFailure error
	// live: an object still under its retention was read. Of a pruned
	// chain, the objects before it may be past theirs; none after it.
	live := false
	// liveLast is the last seq of the first object read under its
	// retention: a checkpoint must sign it, or nothing the sealer wrote
	// is locked (an object of anyone's is locked by its writer).
	var liveLast uint64
	// lastEnded is the failure of the last object taken past its
	// retention: the verdict if no object under it follows.
	var lastEnded *Failure
	// Each object is followed by (about) one small checkpoint: twice the
	// items in flight keeps Parallelism objects ahead.
	items := newLogItems(store.StreamBatches(sv, cfg.Chain), store.StreamCheckpoints(sv, cfg.Chain))
	err = fetchStream(ctx, items.next, 2*cfg.Parallelism, func(ctx context.Context, it logItem) (*batchResult, error) {
		if it.checkpoint != "" {
			obj, err := store.GetLocked(ctx, it.checkpoint)
			if err != nil {
				return nil, err
			}
			return &batchResult{checkpoint: obj}, nil
		}
		return readBatch(ctx, store, it.batch, now)
	}, func(it logItem, b *batchResult) error {
		if it.checkpoint != "" {
			if cpFailure != nil {
				return nil
			}
			f, ended := lockState(b.checkpoint, now)
			if ended && (endedBelowStart(lv, cfg, it.checkpoint) || cfg.Pruned && !live) {
				// Past its retention, of an object past its own or of
				// one deleted (section 6.1).
				f, rep.PastRetention = "", rep.PastRetention+1
			}
			if f != "" {
				cpFailure = &Failure{Key: it.checkpoint, Reason: f, Err: ErrVerifyFailed}
			} else if cp, err := lv.Checkpoint(it.checkpoint, b.checkpoint.Body); err != nil {
				cpFailure = note(err)
			} else {
				latest = b.checkpoint.Body
				// Below a pruned chain's start only the checkpoint of
				// the seq right before it is matched with a hash
				// (FORMAT.md 6.1). No checkpoint before this one failed
				// (cpFailure).
				if cfg.anchor != nil && cp.Seq+1 >= lv.Start() && cfg.anchor(cp) {
					return errAnchored
				}
			}
			return nil
		}
		if b.failure != nil {
			return note(b.failure)
		}
		switch {
		case b.retentionEnded == "":
			if !live && len(b.entries) > 0 {
				liveLast = b.entries[len(b.entries)-1].Seq
			}
			live = true
		case cfg.Pruned && !live:
			// One of the oldest objects that remain, past its retention:
			// what a lifecycle rule deletes next (section 6.1).
			rep.PastRetention++
			lastEnded = b.endedFailure(it.batch.Key)
		default:
			return note(b.endedFailure(it.batch.Key))
		}
		err := lv.Object(it.batch.Key, b.entries)
		var f *Failure
		if errors.As(err, &f) && f.Key == it.batch.Key {
			f.Version = b.version
			if f.Keyset != "" {
				if err := offerKeyset(ctx, store, cfg, trusted, f, b.entries); err != nil {
					return err
				}
			}
		}
		if err == nil {
			done++
			entries += uint64(len(b.entries))
			if cfg.Progress != nil {
				cfg.Progress(done, sv.Objects, entries)
			}
		}
		return note(err)
	})
	rewrittenAgain := func() error {
		if n := sv.RewrittenCount - pruned; n > 0 {
			// A key written again (not under a marker: those were judged).
			for _, r := range sv.Rewritten {
				if !r.DeleteMarker {
					return rewrittenFailure(r, n)
				}
			}
			return &Failure{Err: ErrRewritten, Reason: fmt.Sprintf("%d keys were written again after they were sealed, past the first %d keys under delete markers listed", n, archive.MaxRewrittenKept)}
		}
		return nil
	}
	if errors.Is(err, errAnchored) {
		rep.Objects, rep.Entries = done, entries
		if err := rewrittenAgain(); err != nil {
			return rep, err
		}
		rep.LogReport, _ = lv.Report()
		return rep, errAnchored
	}
	err = listingChanged(err, "verification", "verify")
	if err == nil && lastEnded != nil && !live {
		// The run past retention is the whole chain: nothing is under
		// Object Lock, so its newest objects (and their checkpoints) may
		// have been deleted without a trace (section 6.1).
		lastEnded.Reason += "; no object of the chain is still under its retention (the newest objects could have been deleted)"
		err = note(lastEnded)
	}
	if err == nil {
		err = cpFailure
	}
	if err != nil {
		// What verified before the failure, for the report.
		rep.Objects, rep.Entries = done, entries
		return rep, err
	}
	if cfg.KnownCheckpoint != nil {
		if rep.Known, err = lv.Extends(cfg.KnownCheckpointName, cfg.KnownCheckpoint); err != nil {
			return rep, err
		}
	}
	rep.LogReport, err = lv.Report()
	rep.LatestCheckpoint = latest
	if err == nil && lastEnded != nil && liveLast > rep.CheckpointedSeq {
		// The objects under their retention are all after the last
		// checkpoint: anyone with write access to the bucket can put
		// such an object, linked to the entry before, under a retention
		// of their own, once the head's object and checkpoint are gone
		// (deleted or under delete markers past their retention). What
		// the checkpoints sign is past its retention, as in a chain
		// with no object under it (section 6.1).
		lastEnded.Reason += fmt.Sprintf("; no object of the chain that a checkpoint signs is still under its retention (the newest objects could have been deleted; "+
			"the objects under it, from seq %d, are signed by no checkpoint, and anyone with write access to the bucket can put such)", rep.CheckpointedSeq+1)
		return rep, note(lastEnded)
	}
	if err == nil {
		err = rewrittenAgain()
	}
	return rep, err
}

// errAnchored: Verify stopped where Config.anchor had what it needs.
var errAnchored = errors.New("verified as far as the anchors need")

// maxPrunedVersions bounds the versions under one delete marker that
// markersOfPruning reads: an expiration leaves one.
const maxPrunedVersions = 16

// markersOfPruning judges every key of a pruned chain under a delete
// marker (docs/FORMAT.md section 6.1): an S3 lifecycle expiration puts a
// marker over each object and checkpoint it expires, and a noncurrent
// version expiration deletes the version once its retention allows. Such
// a key, every version of which (if any is left) is under COMPLIANCE with
// its retention ended and no legal hold, is taken as deleted: anyone may
// delete those versions now, so the marker gives no one anything deleting
// could not. It counts those keys, reading the listing once more (a
// lifecycle rule keeps a day or two of expirations under markers: more
// keys than a survey keeps); a marker over a version still under
// retention, on hold, or not under COMPLIANCE, is a deletion pruning
// cannot have made, and fails as without --pruned. Whether the keys so
// taken are the chain's oldest is the chain's check: one in the middle
// leaves a hole.
func markersOfPruning(ctx context.Context, store *archive.Store, chain string, now time.Time) (int, error) {
	n := 0
	err := store.DeletedKeys(ctx, chain, func(k archive.KeyVersions) error {
		key, ids := k.Key, k.ObjectVersions
		if k.Objects > len(ids) {
			// More than the listing pass keeps: listed again, alone.
			var err error
			if ids, err = store.SealedVersions(ctx, key); err != nil {
				return err
			}
		}
		if len(ids) > maxPrunedVersions {
			return &Failure{Key: key, Err: ErrRewritten,
				Reason: fmt.Sprintf("a delete marker hides %d versions of this key, more than pruning leaves (%d): it was written again after it was sealed", len(ids), maxPrunedVersions)}
		}
		for _, id := range ids {
			obj, err := store.LockedHead(ctx, key, id)
			if err != nil {
				return err
			}
			f, past := lockState(obj, now)
			switch {
			case past && obj.RetainUntil.IsZero():
				f, past = "object lock retain-until date not given", false
			case past && obj.LegalHold:
				f, past = "a legal hold is on it", false
			case !past && f == "":
				f = "object lock retention runs until " + obj.RetainUntil.UTC().Format(time.RFC3339)
			}
			if !past {
				return &Failure{Key: key, Version: id, Err: ErrRewritten,
					Reason: fmt.Sprintf("a delete marker hides this sealed version, which pruning cannot have deleted: %s", f)}
			}
		}
		n++
		return nil
	})
	return n, err
}

// offerKeyset keeps f's offer of the keyset that would trust a hand-over
// the verifier's keyset does not have (f.Keyset, printed by aegis verify
// for the operator to save) only when the retiring key's checkpoint signs
// the KEY entry: anyone with write access to the bucket can put an
// object after the head ending in a KEY entry that names their own key,
// and no checkpoint signs it.
func offerKeyset(ctx context.Context, store *archive.Store, cfg Config, trusted shared.Keyset, f *Failure, entries []*shared.Entry) error {
	e := entries[len(entries)-1]
	cpKey := shared.CheckpointKey(store.Prefix, cfg.Chain, e.Seq)
	obj, err := store.Get(ctx, cpKey, "")
	if err != nil && !errors.Is(err, archive.ErrNotFound) && !errors.Is(err, archive.ErrUnreadable) {
		return err
	}
	if err == nil {
		cp, err := trusted.Open(obj.Body)
		if err == nil && cp.Chain == cfg.Chain && cp.Seq == e.Seq && cp.Hash == e.Hash && cp.Object == f.Key {
			return nil
		}
	}
	f.Keyset = ""
	f.Reason += fmt.Sprintf("; but no checkpoint of the retiring key signs this KEY entry (%s): anyone with write access to the bucket can write one, do not trust its key", cpKey)
	return nil
}

// listingChanged names, as a Failure, a folder whose keys changed between
// the survey of the listing and the pass that read it (the job, and the
// command that runs it again); other errors pass as they are.
func listingChanged(err error, job, command string) error {
	var changed *archive.ListingChangedError
	if !errors.As(err, &changed) {
		return err
	}
	return &Failure{Key: changed.Prefix, Err: archive.ErrListingChanged,
		Reason: fmt.Sprintf("%d of the chain's keys up to %s were listed when the %s started, %d are listed now: keys were deleted (or added among them) while it read; %s again",
			changed.Surveyed, changed.Last, job, changed.Found, command)}
}

func rewrittenFailure(r archive.Rewritten, n int) *Failure {
	reason := fmt.Sprintf("the key holds %d versions (%s, newest first): it was written again after it was sealed", r.Count, versionList(r))
	if r.DeleteMarker {
		reason = fmt.Sprintf("a delete marker (version %s) hides the sealed object: it was deleted after it was sealed", r.Versions[0])
	}
	return &Failure{Key: r.Key, Version: r.Versions[0], Reason: fmt.Sprintf("%s (%d such keys)", reason, n), Err: ErrRewritten}
}

// versionList names the versions kept of a key, and how many more it has.
func versionList(r archive.Rewritten) string {
	l := strings.Join(r.Versions, ", ")
	if more := r.Count - len(r.Versions); more > 0 {
		l += fmt.Sprintf(" and %d more", more)
	}
	return l
}

type batchResult struct {
	entries []*shared.Entry
	lines   [][]byte
	version string
	failure *Failure
	// retentionEnded says the object is in COMPLIANCE mode but its
	// retention has ended: a failure, but where a pruned chain's oldest
	// objects may be past their retention (docs/FORMAT.md section 6.1).
	retentionEnded string
	// checkpoint is a checkpoint object, for a checkpoint item.
	checkpoint *archive.Object
}

// logItem is one object to verify: a batch, or a checkpoint (by key).
type logItem struct {
	batch      archive.BatchRef
	checkpoint string
}

// logItems yields the items to verify in order: the objects in seq order,
// each followed by the checkpoints (oldest first) whose seq is before the
// next object's first seq; the rest follow the last object. It reads both
// listings a page at a time and holds one object ahead.
type logItems struct {
	batches *archive.BatchStream
	cps     *archive.CheckpointStream
	// ahead is the object after the last one yielded (hasNext), read ahead
	// to place the checkpoints; started once the first is read.
	ahead            archive.BatchRef
	hasNext, started bool
	// afterObject is set once an object was yielded: checkpoints follow it.
	afterObject bool
}

func newLogItems(batches *archive.BatchStream, cps *archive.CheckpointStream) *logItems {
	return &logItems{batches: batches, cps: cps}
}

func (l *logItems) next(ctx context.Context) (logItem, bool, error) {
	var err error
	if !l.started {
		if l.ahead, l.hasNext, err = l.batches.Next(ctx); err != nil {
			return logItem{}, false, err
		}
		l.started = true
	}
	if l.afterObject || !l.hasNext {
		cp, ok, err := l.cps.Peek(ctx)
		if err != nil {
			return logItem{}, false, err
		}
		if ok && (!l.hasNext || cp.Seq < l.ahead.FirstSeq) {
			l.cps.Pop()
			return logItem{checkpoint: cp.Key}, true, nil
		}
	}
	if !l.hasNext {
		return logItem{}, false, nil
	}
	it := logItem{batch: l.ahead}
	if l.ahead, l.hasNext, err = l.batches.Next(ctx); err != nil {
		return logItem{}, false, err
	}
	l.afterObject = true
	return it, true, nil
}

// readBatch fetches one object and checks everything it can prove alone:
// Object Lock, stored checksum, and each line on its own.
func readBatch(ctx context.Context, store *archive.Store, ref archive.BatchRef, now time.Time) (*batchResult, error) {
	obj, err := store.GetLocked(ctx, ref.Key)
	if errors.Is(err, archive.ErrTooLarge) { // not a batch the sealer wrote
		return &batchResult{failure: &Failure{Key: ref.Key, Reason: err.Error(), Err: ErrVerifyFailed}}, nil
	}
	if err != nil {
		return nil, err
	}
	return checkBatch(ref, obj, now)
}

// checkBatch checks obj, a version of ref's key, alone: its lines, Object
// Lock and stored checksum.
func checkBatch(ref archive.BatchRef, obj *archive.Object, now time.Time) (*batchResult, error) {
	fail := func(reason string) (*batchResult, error) {
		return &batchResult{failure: &Failure{Key: ref.Key, Version: obj.VersionID, Reason: reason, Err: ErrVerifyFailed}}, nil
	}
	// Lines first, so that a changed byte is named by its line.
	entries, lines, err := shared.ParseObject(ref.Key, ref.FirstSeq, obj.Body)
	var f *Failure
	if errors.As(err, &f) {
		f.Version = obj.VersionID
		return &batchResult{failure: f}, nil
	}
	if err != nil {
		return nil, err
	}
	lock, past := lockState(obj, now)
	ended := ""
	if past {
		ended = lock // the caller decides (Verify of a pruned chain)
	} else if lock != "" {
		return fail(lock)
	}
	if obj.ChecksumSHA256 != "" {
		sum := sha256.Sum256(obj.Body)
		if got := base64.StdEncoding.EncodeToString(sum[:]); got != obj.ChecksumSHA256 {
			return fail(fmt.Sprintf("object bytes hash to SHA-256 %s, the stored checksum is %s", got, obj.ChecksumSHA256))
		}
	}
	return &batchResult{entries: entries, lines: lines, version: obj.VersionID, retentionEnded: ended}, nil
}

// endedFailure is b's failure of ended retention, if it has one.
func (b *batchResult) endedFailure(key string) *Failure {
	if b.retentionEnded == "" {
		return nil
	}
	return &Failure{Key: key, Version: b.version, Reason: b.retentionEnded, Err: ErrVerifyFailed}
}

// endedBelowStart reports whether the checkpoint at key, whose Object
// Lock retention ended (COMPLIANCE still), is of a seq below the start of
// a pruned chain: it was written with the objects deleted after theirs
// and signs no entry that remains (docs/FORMAT.md section 6.1: checked
// for its signature, key and chain, and the one of the seq before the
// start for that entry's prev, but not counted), so the end of its
// retention does not fail the chain. Any other object past its retention
// fails (section 1).
func endedBelowStart(lv *shared.LogVerifier, cfg Config, key string) bool {
	seq, ok := shared.ParseCheckpointKey(cfg.Prefix, cfg.Chain, key)
	start := lv.Start()
	return cfg.Pruned && ok && start > 0 && seq < start
}

// lockState is checkLock's failure of obj, and whether that failure is
// only that its retention ended in COMPLIANCE mode (past): what a pruned
// chain's oldest objects may show (section 6.1).
func lockState(obj *archive.Object, now time.Time) (failure string, past bool) {
	f := checkLock(obj, now)
	return f, f != "" && obj.LockMode == types.ObjectLockModeCompliance
}

func checkLock(obj *archive.Object, now time.Time) string {
	if obj.LockMode != types.ObjectLockModeCompliance {
		return fmt.Sprintf("object lock mode is %q, want COMPLIANCE", obj.LockMode)
	}
	if !obj.RetainUntil.After(now) {
		return fmt.Sprintf("object lock retention ended at %s", obj.RetainUntil.UTC().Format(time.RFC3339))
	}
	return ""
}

// fetchStream runs fetch for the keys next yields with at most n in
// flight and hands the results to use in order. It asks next for a key
// only when a slot is free, so a listing behind next is read no further
// ahead than n keys and its page. It stops at the first error (next's
// included, in its place in the order).
func fetchStream[K, R any](ctx context.Context, next func(context.Context) (K, bool, error), n int,
	fetch func(context.Context, K) (R, error), use func(K, R) error) error {
	ctx, cancel := context.WithCancel(ctx)
	// On return nothing started here is left running: the listing and the
	// fetches stop (cancelled) before the caller goes on.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	type result struct {
		k   K
		r   R
		err error
		end bool // next had no more
	}
	slots := make(chan chan result, n)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(slots)
		for {
			ch := make(chan result, 1)
			select {
			case slots <- ch:
			case <-ctx.Done():
				return
			}
			k, ok, err := next(ctx)
			if err != nil || !ok {
				ch <- result{err: err, end: true}
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := fetch(ctx, k)
				ch <- result{k: k, r: r, err: err}
			}()
		}
	}()
	for ch := range slots {
		res := <-ch
		if res.err != nil {
			return res.err
		}
		if res.end {
			break
		}
		if err := use(res.k, res.r); err != nil {
			return err
		}
	}
	return ctx.Err()
}
